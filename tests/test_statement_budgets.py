"""The statements each hot request sends (issue 21): budgets on PostgreSQL, the exact
counts on SQLite (its step-by-step paths differ). Counted once the app is warm: the first
verification of a merchant looks its settlement account up once per app."""
# ruff: noqa: F811 - pytest passes the imported fixtures as arguments of the same name

from __future__ import annotations

from datetime import timedelta

from app.db_types import utcnow
from tests.behaviours.conftest import approve_all  # noqa: F401
from tests.helpers import counting_statements

# The rewards fixtures (a merchant, its staff, funded citizens), used by name.
from tests.rewards.conftest import _fast_hash, world  # noqa: F401


def _counted(app, send) -> tuple[object, list[str]]:
    with counting_statements(app) as sent:
        resp = send()
    return resp, sent


def _on_postgresql(app) -> bool:
    return app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")


def _warm(world):
    me = world.citizen(1000)
    reward_id = world.reward(total_stock=50)
    first = world.redeem(me, reward_id)
    assert first.status_code == 201
    assert world.verify(first.get_json()["code"]).status_code == 200
    return me, reward_id


def test_redemption_statements(world, app):
    me, reward_id = _warm(world)
    resp, sent = _counted(app, lambda: world.redeem(me, reward_id))
    assert resp.status_code == 201, resp.get_json()
    # auth; idempotency claim; lock; reward and limits; stock, hold, journal, redemption
    # and its code (redemption_codes); idempotency response.
    if _on_postgresql(app):
        assert len(sent) == 6, sent  # the budget: at most 6
    else:
        assert len(sent) == 19, sent


def test_redemption_with_limits_statements(world, app):
    me = world.citizen(1000)
    reward_id = world.reward(total_stock=50, limit_total=5, limit_per_period=3,
                             limit_period="week")
    assert world.redeem(me, reward_id).status_code == 201
    resp, sent = _counted(app, lambda: world.redeem(me, reward_id))
    assert resp.status_code == 201, resp.get_json()
    assert len(sent) == (6 if _on_postgresql(app) else 19), sent


def test_verify_statements(world, app):
    me, reward_id = _warm(world)
    code = world.redeem(me, reward_id).get_json()["code"]
    resp, sent = _counted(app, lambda: world.verify(code))
    assert resp.status_code == 200, resp.get_json()
    # auth; the staff's merchant with the code's owner (redemption_codes); the redemption
    # among the owner's rows; lock; capture and fulfil. The owner and the redemption are
    # two reads: on Citus redemption_codes is distributed by code and redemptions by
    # user, so one statement cannot join them.
    if _on_postgresql(app):
        assert len(sent) == 5, sent  # the budget: at most 5
    else:
        assert len(sent) == 13, sent


def test_account_read_statements(world, app, api):
    me = world.citizen(100)
    resp, sent = _counted(app, lambda: api.get("/api/v1/account", me))
    assert resp.status_code == 200
    assert resp.get_json()["available"] == 100
    # auth; balances and the lots expiring soon.
    assert len(sent) == 2, sent


# The target for a behaviour POST is 5 on PostgreSQL. Reached: 6, the
# statements being the caller's authentication (users, roles, revocation: app/auth), the
# Idempotency-Key claim, the user's ledger lock, the nearby read (which also carries the
# erased flag, the reference generation, the new id and the credit totals), the journal
# (with the behaviour and the totals) and the idempotency response. The claim and the
# response write a coordinator-local table (idempotency_keys), which under Citus may not
# share a statement with the user's distributed tables, and the erased flag, the
# generation and the neighbours must be read after the lock; the sixth statement goes
# only if the claim rides in the authentication's statement (both coordinator-local or
# reference tables). SQLite, without arrays or data-modifying WITH queries, reads the
# erased flags, the last id and the totals apart and writes the journal table by table.
BEHAVIOUR_POST = {"postgresql": 6, "sqlite": 15}


def trip(end) -> dict:
    start = end - timedelta(minutes=20)
    return {"methodology": "green_travel", "occurred_at": end.isoformat(),
            "data": {"mode": "metro", "started_at": start.isoformat(),
                     "ended_at": end.isoformat(), "start": {"lat": 32.0, "lon": 118.8},
                     "end": {"lat": 32.05, "lon": 118.8}}}


def test_a_behaviour_post_stays_in_its_budget(app, api, approve_all, database):
    approve_all()
    me = api.caller()
    end = utcnow() - timedelta(hours=6)
    first = api.post("/api/v1/behaviours", me, json=trip(end),
                     headers={"Idempotency-Key": "first"})
    assert first.status_code == 201 and first.get_json()["status"] == "credited"
    with counting_statements(app) as sent:
        second = api.post("/api/v1/behaviours", me, json=trip(end + timedelta(hours=2)),
                          headers={"Idempotency-Key": "second"})
    assert second.status_code == 201 and second.get_json()["status"] == "credited"
    assert len(sent) == BEHAVIOUR_POST[database["kind"]], sent
