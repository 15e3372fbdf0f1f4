"""A redemption whose soonest lots are past due (the daily job has not run yet): they
expire first, as the job would, whichever way the database writes the hold."""

from __future__ import annotations

from tests.helpers import assert_problem
from tests.rewards.conftest import give


def test_redeeming_expires_past_due_points_first(world, app, monkeypatch):
    me = world.citizen()
    monkeypatch.setitem(app.config, "POINTS_VALIDITY_DAYS", 0)  # expired at midnight
    give(app, me.id, 60)
    monkeypatch.setitem(app.config, "POINTS_VALIDITY_DAYS", 365)
    give(app, me.id, 150)
    reward_id = world.reward(points_price=100)
    assert world.balance(me.id)["available"] == 210  # the job has not run yet
    resp = world.redeem(me, reward_id)
    assert resp.status_code == 201, resp.get_json()
    assert world.balance(me.id) == {"available": 50, "held": 100, "posted": 150}
    assert world.stock_left(reward_id) == 9


def test_a_redemption_past_due_points_would_pay_for_is_refused(world, app, monkeypatch):
    me = world.citizen()
    monkeypatch.setitem(app.config, "POINTS_VALIDITY_DAYS", 0)
    give(app, me.id, 60)
    monkeypatch.setitem(app.config, "POINTS_VALIDITY_DAYS", 365)
    give(app, me.id, 50)
    reward_id = world.reward(points_price=100)
    before = world.snapshot(reward_id, me.id)
    assert_problem(world.redeem(me, reward_id), 422, "insufficient-points")
    assert world.snapshot(reward_id, me.id) == before  # nor the stock, nor the expiry
