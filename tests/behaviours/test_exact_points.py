"""Exact points: each user's sub-point remainder carries forward, also through a reversal."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from app import behaviours
from app.db_types import utcnow
from app.uow import unit_of_work
from tests.behaviours.test_crediting import partner_submit
from tests.conftest import run_sql

BUS_KM = {"mode": "bus", "distance_km": "1"}  # 1.0.0: 167.25 / 1.5 − 103.85 = 7.65 g


@pytest.fixture(autouse=True)
def _approved(approve_all):
    approve_all()


def _batch(app, user_id, partner_id, moments, prefix):
    """The records as one partner batch (submit_many, the path a batch takes)."""
    with app.app_context(), unit_of_work():
        drafts = behaviours.submit_many([behaviours.report(
            user_id=user_id, methodology="green_travel", occurred_at=at, data=BUS_KM,
            evidence=None, source="partner", partner_id=partner_id,
            external_id=f"{prefix}{i}") for i, at in enumerate(moments)])
        return [(d.id, d.status, d.points) for d in drafts]


def _totals(app, user_id):
    rows = run_sql(app, "SELECT credited_g, points FROM credit_totals WHERE user_id = :u",
                   u=user_id)
    return [(Decimal(str(g)).quantize(Decimal("0.001")), p) for g, p in rows]


def _verify(app):
    from app.ledger.verify import verify

    with app.app_context():
        assert verify() == []


def test_twenty_small_records_earn_what_their_sum_earns(app, api, partner_id):
    me = api.caller()
    start = utcnow() - timedelta(hours=3)
    moments = [start + timedelta(minutes=5 * i) for i in range(20)]
    # Ten one by one, ten in one batch: both paths share the running totals.
    single = [partner_submit(app, me.id, "green_travel", BUS_KM, at, f"s{i}", partner_id)
              for i, at in enumerate(moments[:10])]
    batch = _batch(app, me.id, partner_id, moments[10:], "b")
    points = [s["points"] for s in single] + [p for _, _, p in batch]
    assert all(s["status"] == "credited" for s in single)
    assert all(status == "credited" for _, status, _ in batch)
    # Record n earns floor(7.65 n) − floor(7.65 (n − 1)): 7 or 8, never the 7 of rounding
    # each record on its own.
    assert points == [int(Decimal("7.65") * n) - int(Decimal("7.65") * (n - 1))
                      for n in range(1, 21)]
    assert sum(points) == 153  # floor(20 × 7.65), not 20 × 7 = 140
    account = api.get("/api/v1/account", me).get_json()
    assert account["posted"] == 153 and Decimal(account["lifetime_reduction_g"]) == 153
    assert _totals(app, me.id) == [(Decimal("153.000"), 153)]
    _verify(app)


def test_a_reversal_gives_back_what_its_record_added(app, api, partner_id):
    admin, me = api.caller("admin"), api.caller()
    start = utcnow() - timedelta(hours=3)
    first = partner_submit(app, me.id, "green_travel", BUS_KM, start, "r0", partner_id)
    rest = _batch(app, me.id, partner_id,
                  [start + timedelta(minutes=5 * i) for i in range(1, 20)], "b")
    assert first["points"] == 7 and _totals(app, me.id) == [(Decimal("153.000"), 153)]
    resp = api.post(f"/api/v1/admin/behaviours/{first['id']}/reverse", admin,
                    json={"reason": "test"})
    assert resp.status_code == 200, resp.get_json()
    # 145.35 g stand, with 146 points issued for them: one ahead of floor(145.35), which
    # the next credit absorbs.
    assert _totals(app, me.id) == [(Decimal("145.350"), 146)]
    assert api.get("/api/v1/account", me).get_json()["posted"] == 146
    late = partner_submit(app, me.id, "green_travel", BUS_KM, start + timedelta(minutes=100),
                          "late", partner_id)
    assert late["points"] == 153 - 146 == 7
    assert _totals(app, me.id) == [(Decimal("153.000"), 153)]
    account = api.get("/api/v1/account", me).get_json()
    assert account["posted"] == 153 and Decimal(account["lifetime_reduction_g"]) == 153
    assert len(rest) == 19
    _verify(app)


def test_below_one_point_per_gram_small_records_still_add_up(app, api, partner_id):
    admin, me = api.caller("admin"), api.caller()
    resp = api.post("/api/v1/admin/conversion-rates", admin, json={
        "points_per_gram": "0.1", "reason": "a tenth",
        "effective_from": (utcnow() - timedelta(days=2)).isoformat()})
    assert resp.status_code == 201, resp.get_json()
    start = utcnow() - timedelta(hours=3)
    # 7.65 g at 0.1 point per gram is 0.765 point: each on its own would earn nothing.
    batch = _batch(app, me.id, partner_id,
                   [start + timedelta(minutes=5 * i) for i in range(10)], "t")
    assert sum(p for _, _, p in batch) == 7  # floor(76.5 × 0.1)
    assert [p for _, _, p in batch[:4]] == [0, 1, 1, 1]  # 0.765, 1.53, 2.295, 3.06
    assert api.get("/api/v1/account", me).get_json()["posted"] == 7
    rates = run_sql(app, "SELECT points_per_gram FROM credit_totals")
    assert [Decimal(str(r)) for (r,) in rates] == [Decimal("0.1")]
    _verify(app)
