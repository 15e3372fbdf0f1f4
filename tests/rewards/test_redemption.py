"""Redeeming: the happy path, every refusal (each changes nothing), cancelling."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from app import rewards
from app.ledger.verify import verify
from app.rewards import codes as redemption_codes
from app.rewards import redemption
from tests.conftest import run_sql
from tests.helpers import assert_problem
from tests.rewards.conftest import when

CODE_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")


def test_happy_path_reserve_verify_and_the_books_agree(world, api, app):
    reward_id = world.reward()
    me = world.citizen(250)
    resp = world.redeem(me, reward_id, key="buy-bag-1")
    assert resp.status_code == 201
    body = resp.get_json()
    assert CODE_RE.match(body["code"]) and body["qr_content"] == body["code"].replace("-", "")
    assert body["status"] == "reserved" and body["points"] == 100
    expires = datetime.fromisoformat(body["expires_at"])
    created = datetime.fromisoformat(body["created_at"])
    assert expires - created == timedelta(days=7)
    assert world.balance(me.id) == {"available": 150, "held": 100, "posted": 250}
    assert world.stock_left(reward_id) == 9

    again = world.redeem(me, reward_id, key="buy-bag-1")  # a retry: the same redemption
    assert again.headers["Idempotent-Replayed"] == "true" and again.get_json() == body
    assert world.stock_left(reward_id) == 9

    mine = api.get("/api/v1/redemptions", me).get_json()
    assert [r["code"] for r in mine["items"]] == [body["code"]]

    done = world.verify(body["code"].lower().replace("-", " "))
    assert done.status_code == 200
    result = done.get_json()
    assert result["status"] == "fulfilled" and result["verified_by"] == world.staff.id
    assert result["reward"]["title_zh"] == "环保购物袋" and result["points"] == 100
    assert world.balance(me.id) == {"available": 150, "held": 0, "posted": 150}
    assert world.settled() == 100
    assert world.stock_left(reward_id) == 9
    assert api.get(f"/api/v1/redemptions/{body['id']}", me).get_json()["status"] == "fulfilled"
    # One moment for both: a settlement by local day and the settlement account's journal
    # must agree on which day a fulfilment near midnight belongs to.
    [(ended_at, captured_at)] = run_sql(
        app, "SELECT r.ended_at, t.created_at FROM redemptions r JOIN ledger_transactions t "
             "ON t.hold_id = r.hold_id AND t.type = 'capture' WHERE r.id = :id", id=body["id"])
    assert ended_at == captured_at
    with app.app_context():
        assert verify() == []


def test_redemption_ttl_is_configurable(world, app):
    app.config["REDEMPTION_TTL_DAYS"] = 2
    reward_id = world.reward()
    body = world.redeem(world.citizen(100), reward_id).get_json()
    assert datetime.fromisoformat(body["expires_at"]) - datetime.fromisoformat(
        body["created_at"]) == timedelta(days=2)


def test_the_service_returns_the_same_redemption_for_the_same_request_key(world, app):
    from app.uow import unit_of_work

    reward_id = world.reward()
    me = world.citizen(1000)
    with app.app_context():
        with unit_of_work():
            first = rewards.redeem(me.id, reward_id, request_key="k1")
        with unit_of_work():
            again = rewards.redeem(me.id, reward_id, request_key="k1")
        with unit_of_work():
            other = rewards.redeem(me.id, reward_id, request_key="x" * 255)  # long keys hash
    assert (again.id, again.code) == (first.id, first.code) and other.id != first.id
    assert world.stock_left(reward_id) == 8 and world.balance(me.id)["held"] == 200


def test_idempotency_key_is_required(world, api):
    reward_id = world.reward()
    me = world.citizen(100)
    resp = api.post(f"/api/v1/rewards/{reward_id}/redemptions", me)
    assert_problem(resp, 400, "idempotency-key-missing")
    assert world.stock_left(reward_id) == 10


def refused_without_change(world, caller, reward_id, status, slug):
    before = world.snapshot(reward_id, caller.id)
    assert_problem(world.redeem(caller, reward_id), status, slug)
    assert world.snapshot(reward_id, caller.id) == before


def test_not_enough_points(world):
    reward_id = world.reward()
    refused_without_change(world, world.citizen(99), reward_id, 422, "insufficient-points")


def test_points_already_held_do_not_count(world):
    reward_id = world.reward()
    me = world.citizen(150)
    assert world.redeem(me, reward_id).status_code == 201
    refused_without_change(world, me, reward_id, 422, "insufficient-points")


def test_out_of_stock(world):
    reward_id = world.reward(total_stock=1)
    assert world.redeem(world.citizen(100), reward_id).status_code == 201
    refused_without_change(world, world.citizen(100), reward_id, 409, "out-of-stock")
    assert world.stock_left(reward_id) == 0


def test_per_user_limit_in_total(world):
    reward_id = world.reward(limit_total=2)
    me = world.citizen(1000)
    assert world.redeem(me, reward_id).status_code == 201
    assert world.redeem(me, reward_id).status_code == 201
    refused_without_change(world, me, reward_id, 409, "redemption-limit-reached")
    assert world.redeem(world.citizen(100), reward_id).status_code == 201  # others may


def test_cancelled_redemptions_do_not_count_towards_the_limit(world, api):
    reward_id = world.reward(limit_total=1)
    me = world.citizen(1000)
    first = world.redeem(me, reward_id).get_json()
    refused_without_change(world, me, reward_id, 409, "redemption-limit-reached")
    api.post(f"/api/v1/redemptions/{first['id']}/cancel", me)
    assert world.redeem(me, reward_id).status_code == 201


@pytest.mark.parametrize("period,step", [("day", timedelta(days=1)),
                                         ("week", timedelta(weeks=1)),
                                         ("month", timedelta(days=32))])
def test_per_user_limit_per_local_period(world, at, period, step):
    reward_id = world.reward(limit_per_period=1, limit_period=period, limit_total=2)
    me = world.citizen(1000)
    # Local noon on a Wednesday in mid-month: the next period starts after `step`.
    tz = world.app.config["TIMEZONE"]
    start = datetime(2031, 1, 15, 12, tzinfo=tz).astimezone(UTC)
    at(start)
    with world.app.app_context():
        assert redemption.period_start(period, start).astimezone(tz).hour == 0
    assert world.redeem(me, reward_id).status_code == 201
    refused_without_change(world, me, reward_id, 409, "redemption-limit-reached")
    at(start + step)
    assert world.redeem(me, reward_id).status_code == 201
    at(start + 2 * step + timedelta(days=1))
    refused_without_change(world, me, reward_id, 409, "redemption-limit-reached")  # in total


def test_day_limit_follows_local_midnight_not_utc(world, at):
    reward_id = world.reward(limit_per_period=1, limit_period="day")
    me = world.citizen(1000)
    # 23:30 and 00:30 Beijing time are different local days but the same UTC day.
    at(datetime(2031, 3, 1, 15, 30, tzinfo=UTC))
    assert world.redeem(me, reward_id).status_code == 201
    at(datetime(2031, 3, 1, 16, 30, tzinfo=UTC))
    assert world.redeem(me, reward_id).status_code == 201


def test_outside_the_window(world, at):
    later = world.reward(available_from=when(days=1))
    refused_without_change(world, world.citizen(1000), later, 409, "reward-not-available")
    ending = world.reward(available_until=when(hours=1))
    at(datetime.now(UTC) + timedelta(hours=2))
    refused_without_change(world, world.citizen(1000), ending, 409, "reward-not-available")


def test_suspended_merchant(world, api):
    reward_id = world.reward()
    api.post(f"/api/v1/admin/merchants/{world.merchant_id}/suspend", world.admin, json={})
    refused_without_change(world, world.citizen(1000), reward_id, 409, "merchant-suspended")


def test_unapproved_reward(world):
    reward_id = world.propose()["id"]
    refused_without_change(world, world.citizen(1000), reward_id, 404, "not-found")
    refused_without_change(world, world.citizen(1000), 987654, 404, "not-found")


def test_accounts_without_the_citizen_role_cannot_redeem(world):
    from tests.rewards.conftest import make_caller

    reward_id = world.reward()
    assert_problem(world.redeem(make_caller(world.app, "merchant"), reward_id), 403, "forbidden")


def test_cancel_releases_points_and_stock(world, api, app):
    reward_id = world.reward()
    me = world.citizen(100)
    body = world.redeem(me, reward_id).get_json()
    cancelled = api.post(f"/api/v1/redemptions/{body['id']}/cancel", me)
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    assert world.balance(me.id) == {"available": 100, "held": 0, "posted": 100}
    assert world.stock_left(reward_id) == 10
    before = world.snapshot(reward_id, me.id)
    assert_problem(api.post(f"/api/v1/redemptions/{body['id']}/cancel", me), 409,
                   "redemption-cancelled")
    assert_problem(world.verify(body["code"]), 409, "redemption-cancelled")
    assert world.snapshot(reward_id, me.id) == before
    with app.app_context():
        assert verify() == []


def test_cancel_after_fulfilment_is_refused(world, api):
    reward_id = world.reward()
    me = world.citizen(100)
    body = world.redeem(me, reward_id).get_json()
    assert world.verify(body["code"]).status_code == 200
    before = world.snapshot(reward_id, me.id)
    assert_problem(api.post(f"/api/v1/redemptions/{body['id']}/cancel", me), 409,
                   "already-used")
    assert world.snapshot(reward_id, me.id) == before
    assert world.settled() == 100


def test_cancel_past_expiry_is_refused_as_verification_is(world, api, at):
    """Past expires_at but before the expiry job ran: gone, as for the merchant's counter."""
    reward_id = world.reward()
    me = world.citizen(100)
    body = world.redeem(me, reward_id).get_json()
    at(datetime.fromisoformat(body["expires_at"]))
    before = world.snapshot(reward_id, me.id)
    assert_problem(api.post(f"/api/v1/redemptions/{body['id']}/cancel", me), 410,
                   "redemption-expired")
    assert_problem(world.verify(body["code"]), 410, "redemption-expired")
    assert world.snapshot(reward_id, me.id) == before
    assert api.get(f"/api/v1/redemptions/{body['id']}", me).get_json()["status"] == "reserved"


def test_only_the_owner_sees_or_cancels_a_redemption(world, api):
    reward_id = world.reward()
    me, other = world.citizen(100), world.citizen(100)
    body = world.redeem(me, reward_id).get_json()
    assert_problem(api.get(f"/api/v1/redemptions/{body['id']}", other), 404)
    assert_problem(api.post(f"/api/v1/redemptions/{body['id']}/cancel", other), 404)
    assert api.get("/api/v1/redemptions", other).get_json()["total"] == 0
    assert api.get("/api/v1/redemptions?status=reserved", me).get_json()["total"] == 1
    assert api.get("/api/v1/redemptions?status=fulfilled", me).get_json()["total"] == 0


def test_codes_are_unambiguous_and_normalised():
    codes = {redemption_codes.new_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(len(c) == 12 and not set(c) & set("ILOU") for c in codes)
    assert redemption_codes.normalize_code(" k7qm-3xpa-9d2f ") == "K7QM3XPA9D2F"
    assert redemption_codes.normalize_code("K7QM-3XPA-9D2O") == "K7QM3XPA9D20"  # O read as 0
    assert redemption_codes.normalize_code("K7QM3XPA9D2") is None
    assert redemption_codes.normalize_code("K7QM3XPA9D2U") is None


def test_erasing_an_account_with_a_past_due_reservation_expires_it(world, api, app, at):
    """Past expires_at the expiry job (every 5 minutes, or later if it is down) has not
    released it yet: erasure refused the whole deletion with that code's 410."""
    from tests.conftest import run_sql
    from tests.helpers import PASSWORD

    reward_id = world.reward()
    me = world.citizen(300)
    start = datetime.now(UTC)
    at(start)
    old = world.redeem(me, reward_id).get_json()
    at(start + timedelta(days=6))
    fresh = world.redeem(me, reward_id).get_json()
    at(start + timedelta(days=7, minutes=1))
    assert api.delete("/api/v1/me", me, json={"password": PASSWORD}).status_code == 204
    ended = {rid: (status, by) for rid, status, by in run_sql(
        app, "SELECT id, status, ended_by FROM redemptions WHERE user_id = :u", u=me.id)}
    assert ended == {old["id"]: ("expired", None), fresh["id"]: ("cancelled", me.id)}
    assert world.stock_left(reward_id) == 10
    assert world.balance(me.id) == {"available": 300, "held": 0, "posted": 300}
    with app.app_context():
        assert verify() == []
