"""Verification (核销): who may verify what, once, and the wrong-code rate limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app.extensions import db
from app.ledger.models import LedgerTransaction
from tests.helpers import assert_problem


def reserved(world, points: int = 100):
    reward_id = world.reward()
    me = world.citizen(points)
    return reward_id, me, world.redeem(me, reward_id).get_json()


def captures(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(LedgerTransaction.id))
                                 .where(LedgerTransaction.type == "capture"))


def test_verification_by_another_merchant_is_refused_and_changes_nothing(world):
    reward_id, me, body = reserved(world)
    _, other_staff = world.merchant()
    before = world.snapshot(reward_id, me.id)
    assert_problem(world.verify(body["code"], other_staff), 403, "other-merchant")
    assert world.snapshot(reward_id, me.id) == before
    assert world.verify(body["code"]).status_code == 200  # its own merchant still can


def test_double_verification_never_captures_twice(world, app):
    reward_id, me, body = reserved(world)
    assert world.verify(body["code"]).status_code == 200
    before = world.snapshot(reward_id, me.id)
    second = world.verify(body["code"])
    detail = assert_problem(second, 409, "already-used")["detail"]
    assert "already used" in detail
    assert world.snapshot(reward_id, me.id) == before
    assert captures(app) == 1 and world.settled() == 100


def test_unknown_and_malformed_codes(world):
    reward_id, me, body = reserved(world)
    before = world.snapshot(reward_id, me.id)
    assert_problem(world.verify("0000-0000-0000"), 404, "unknown-code")
    assert_problem(world.verify("not a code"), 404, "unknown-code")
    assert_problem(world.verify(""), 422)
    assert world.snapshot(reward_id, me.id) == before


def test_expired_code_is_gone_and_changes_nothing(world, at):
    reward_id, me, body = reserved(world)
    at(datetime.now(UTC) + timedelta(days=7, minutes=1))
    before = world.snapshot(reward_id, me.id)
    assert_problem(world.verify(body["code"]), 410, "redemption-expired")
    assert world.snapshot(reward_id, me.id) == before


def test_staff_cannot_verify_their_own_redemption(world):
    from tests.rewards.conftest import give

    reward_id = world.reward()
    give(world.app, world.staff.id, 100)
    # Staff accounts are not citizens; make this one both to try.
    world.api.put(f"/api/v1/admin/users/{world.staff.id}/roles/citizen", world.admin)
    body = world.redeem(world.staff, reward_id).get_json()
    assert_problem(world.verify(body["code"]), 403, "own-redemption")


def test_verification_retry_with_the_same_idempotency_key_replays(world, app):
    _, _, body = reserved(world)
    first = world.verify(body["code"], **{"Idempotency-Key": "scan-1"})
    again = world.verify(body["code"], **{"Idempotency-Key": "scan-1"})
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert captures(app) == 1


def test_merchant_sees_its_redemptions_with_codes_masked_until_used(world, api):
    _, _, body = reserved(world)
    [item] = api.get("/api/v1/merchant/redemptions", world.staff).get_json()["items"]
    assert item["code"].startswith("****-****-") and item["code"][-4:] == body["code"][-4:]
    world.verify(body["code"])
    [item] = api.get("/api/v1/merchant/redemptions?status=fulfilled",
                     world.staff).get_json()["items"]
    assert item["code"] == body["code"]


def test_repeated_wrong_codes_are_rate_limited_per_staff_account(world, app):
    app.config["VERIFY_FAILURE_LIMIT"] = "3 per minute"
    _, _, body = reserved(world)
    _, _, other = reserved(world)
    assert world.verify(other["code"]).status_code == 200  # successes do not count
    for _ in range(3):
        assert_problem(world.verify("ZZZZ-ZZZZ-ZZZZ"), 404, "unknown-code")
    limited = world.verify(body["code"])
    assert limited.status_code == 429
    assert limited.mimetype == "application/problem+json"
    # Nothing was verified while limited; another account of the merchant is not affected.
    colleague = world.citizen()
    world.api.put(f"/api/v1/admin/merchants/{world.merchant_id}/staff/{colleague.id}",
                  world.admin)
    assert world.verify(body["code"], colleague).status_code == 200
