"""The dashboard's figures agree with the statistics and settlement endpoints for the same
period, its CSVs with its figures, and its statements do not grow with the rows."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, timedelta

import pytest

from app import behaviours, ledger, rewards
from app.behaviours.schemas import StatsSchema
from app.behaviours.stats import GROUPINGS
from app.db_types import utcnow
from app.extensions import db
from app.http.problems import ApiError
from app.localtime import local_date
from app.partners.models import Partner
from app.reports import service as reports
from app.uow import unit_of_work
from tests.conftest import run_sql
from tests.helpers import counting_statements

pytestmark = pytest.mark.usefixtures("approved")


def _partner(app, admin_id: int) -> int:
    with app.app_context(), unit_of_work():
        partner = Partner(name="Metro Co", status="active",
                          methodologies=["green_travel", "clean_plate", "recycling"],
                          created_by=admin_id)
        db.session.add(partner)
        db.session.flush()
        return partner.id


def _from_partner(app, user_id: int, partner_id: int, methodology: str, data: dict,
                  hours_ago: float) -> dict:
    with app.app_context(), unit_of_work():
        b = behaviours.submit(user_id=user_id, methodology=methodology,
                              occurred_at=utcnow() - timedelta(hours=hours_ago), data=data,
                              evidence=None, source="partner", partner_id=partner_id,
                              external_id=uuid.uuid4().hex)
        return {"id": b.id, "status": b.status, "points": b.points}


def _self_report(api, who, methodology: str, data: dict, hours_ago: float) -> dict:
    resp = api.post("/api/v1/behaviours", who, json={
        "methodology": methodology, "occurred_at": (utcnow() - timedelta(hours=hours_ago))
        .isoformat(), "data": data}, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _trip(hours_ago: float) -> dict:
    end = utcnow() - timedelta(hours=hours_ago)
    return {"mode": "metro", "started_at": (end - timedelta(minutes=20)).isoformat(),
            "ended_at": end.isoformat(),
            "start": {"lat": 32.0, "lon": 118.8}, "end": {"lat": 32.09, "lon": 118.8}}


class Scene:
    """Behaviours from a partner and self-reports, one in review, a reversal, redemptions
    fulfilled, cancelled, expired and still reserved, expired points; all relative to now."""

    def __init__(self, world, api, app) -> None:
        self.world, self.api, self.app = world, api, app
        self.partner_id = _partner(app, world.admin.id)
        self.reward_id = world.reward()
        self.redeemed_codes: list[str] = []

    def behaviours(self, n: int = 1) -> None:
        for _ in range(n):
            me = self.world.citizen()
            _from_partner(self.app, me.id, self.partner_id, "clean_plate", {"meals": 1}, 2)
            _from_partner(self.app, me.id, self.partner_id, "recycling",
                          {"items": [{"material": "paper", "kg": "1"}]}, 50)
            _self_report(self.api, me, "green_travel", _trip(4), 4)
            wrong = _from_partner(self.app, me.id, self.partner_id, "clean_plate",
                                  {"meals": 1}, 30)
            resp = self.api.post(f"/api/v1/admin/behaviours/{wrong['id']}/reverse",
                                 self.world.admin, json={"reason": "sent twice"})
            assert resp.status_code == 200, resp.get_json()
            queued = _self_report(self.api, me, "paperless",
                                  {"kind": "e_invoice", "sheets": 3}, 1)
            assert queued["status"] == "pending_review"

    def redemptions(self, n: int = 1) -> None:
        for _ in range(n):
            me = self.world.citizen(450)
            used, cancelled, lapsed, _kept = (self.world.redeem(me, self.reward_id).get_json()
                                              for _ in range(4))
            assert self.world.verify(used["code"]).status_code == 200
            self.api.post(f"/api/v1/redemptions/{cancelled['id']}/cancel", me)
            run_sql(self.app, "UPDATE redemptions SET expires_at = :at WHERE id = :id",
                    at=utcnow() - timedelta(minutes=1), id=lapsed["id"])
            with self.app.app_context(), unit_of_work():
                assert rewards.expire(lapsed["id"], utcnow())
            # The 250 points still available lapse (the expiry job's work a year ahead);
            # the 100 of the reservation kept stay held.
            with self.app.app_context(), unit_of_work():
                assert ledger.expire_user_lots(me.id, utcnow() + timedelta(days=400)) == 250


def _dashboard(app, **kw):
    with app.app_context():
        report = reports.dashboard(**kw)
        db.session.rollback()
        return report


def _csv(app, report, table: str) -> list[list[str]]:
    with app.test_request_context():
        resp = reports.csv(report, table)
    assert resp.mimetype == "text/csv"
    assert resp.get_data().startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(resp.get_data(as_text=True).removeprefix("\ufeff"))))


def local(day: str) -> date:
    return date.fromisoformat(day)


def _period(app) -> tuple[str, str]:
    with app.app_context():
        today = local_date(utcnow())
    return (today - timedelta(days=9)).isoformat(), today.isoformat()


def test_every_figure_agrees_with_the_statistics_and_settlement_endpoints(world, api, app):
    scene = Scene(world, api, app)
    scene.behaviours(2)
    scene.redemptions(2)
    world.propose(title_zh="待审批的奖品")  # a reward revision waiting
    date_from, date_to = _period(app)
    query = f"from={date_from}&to={date_to}"
    report = _dashboard(app, date_from=local(date_from), date_to=local(date_to))

    for group in GROUPINGS:
        stats = api.get(f"/api/v1/admin/stats/reductions?group_by={group}&{query}", world.admin)
        assert StatsSchema().dump(report["reductions"][group]) == stats.get_json(), group
        exported = api.get(f"/api/v1/admin/stats/reductions?group_by={group}&{query}"
                           "&format=csv", world.admin)
        assert _csv(app, report, f"reductions_{group}") == list(
            csv.reader(io.StringIO(exported.get_data(as_text=True).removeprefix("\ufeff"))))
    assert report["reductions"]["source"]["total_points"] > 0
    assert {r["key"] for r in report["reductions"]["source"]["rows"]} == {"partner",
                                                                         "self_report"}

    settlement = api.get(f"/api/v1/admin/merchants/settlement?{query}", world.admin).get_json()
    [merchant] = report["merchants"]["rows"]
    [settled] = settlement["merchants"]
    assert (merchant["merchant_id"], merchant["fulfilled"], merchant["fulfilled_points"]) == (
        settled["merchant_id"], settled["redemptions"], settled["points"]) == (
        world.merchant_id, 2, 200)
    assert (merchant["reserved"], merchant["reserved_points"], merchant["cancelled"],
            merchant["expired"]) == (8, 800, 2, 2)

    flows = report["ledger"]
    with app.app_context():
        earned = sum(-amount for (amount,) in db.session.execute(db.text(
            "SELECT p.amount FROM ledger_postings p JOIN ledger_system_accounts a "
            "ON a.id = p.system_account_id JOIN ledger_transactions t ON t.id = p.transaction_id "
            "WHERE a.kind = 'issuance' AND t.type = 'earn'")))
    reversed_points = next(r for r in report["reductions"]["methodology"]["rows"]
                           if r["key"] == "clean_plate")["points"] // 2  # one of two per citizen
    assert flows["totals"] == {"earned": earned, "adjusted": 0, "reversed": 2 * reversed_points,
                               "redeemed": settlement["points"], "expired": 500}
    # Every point earned is still held, was redeemed, expired or reversed.
    assert flows["rows"][-1]["held"] == flows["holdings"]["held"] == (
        earned - 2 * reversed_points - 200 - 500)
    assert [r["held"] for r in flows["rows"][:-1]] == [0] * 9  # nothing before today
    assert len(flows["rows"]) == 10
    with app.app_context():
        held = sum(ledger.summary(user_id)["posted"] for (user_id,) in db.session.execute(
            db.text("SELECT DISTINCT user_id FROM ledger_accounts WHERE user_id IS NOT NULL")))
    assert flows["holdings"]["held"] == held

    citizens = report["citizens"]
    assert citizens["total"] == 6  # the admin, four citizens and the merchant's staff
    assert citizens["active"] == {"day": 4, "week": 4, "month": 4}
    assert sum(r["registered"] for r in citizens["rows"]) == 6
    waiting = report["waiting"]
    # The 1.0.0 releases are approved; the four built-ins' 2.0.0 releases wait.
    assert {q: w["count"] for q, w in waiting.items()} == {
        "methodology_versions": 4, "behaviours_in_review": 2, "reward_revisions": 1}
    assert waiting["behaviours_in_review"]["waiting_s"] >= 0


def test_each_csv_holds_the_figures(world, api, app):
    scene = Scene(world, api, app)
    scene.behaviours()
    scene.redemptions()
    date_from, date_to = _period(app)
    report = _dashboard(app, date_from=local(date_from), date_to=local(date_to), grain="week")
    for table in reports.TABLES:
        with app.app_context():
            rows = reports.table_rows(report, table)
        expected = [["" if cell is None else str(cell) for cell in row] for row in rows]
        assert _csv(app, report, table) == expected, table
    ledger_rows = _csv(app, report, "ledger")
    assert ledger_rows[0] == ["week", "earned", "adjusted", "reversed", "redeemed", "expired",
                              "held"]
    assert ledger_rows[1:-1] == [[r["key"], *(str(r[f]) for f in (
        "earned", "adjusted", "reversed", "redeemed", "expired", "held"))]
        for r in report["ledger"]["rows"]]
    merchants = _csv(app, report, "merchants")
    assert merchants[1] == [str(world.merchant_id), "绿色超市 Green Mart", "4", "400", "1",
                            "100", "1", "1"]
    assert merchants[-1][0] == "total"
    citizens = dict(_csv(app, report, "citizens")[1:])
    assert citizens == {"registered": "4", "active_day": "2", "active_week": "2",
                        "active_month": "2"}
    with app.app_context(), pytest.raises(ApiError) as refused:
        reports.table_rows(report, "passwords")
    assert refused.value.status == 404


def test_the_dashboards_statements_do_not_grow_with_the_rows(world, api, app):
    scene = Scene(world, api, app)
    scene.behaviours()
    scene.redemptions()

    def statements() -> int:
        with counting_statements(app) as sent:
            _dashboard(app)
        return len(sent)

    few = statements()
    scene.behaviours(3)
    scene.redemptions(3)
    assert statements() == few == 12


def test_a_new_platforms_dashboard_is_all_zeros(app):
    report = _dashboard(app, grain="month")
    assert report["ledger"]["totals"] == dict.fromkeys(
        ("earned", "adjusted", "reversed", "redeemed", "expired"), 0)
    assert [r["held"] for r in report["ledger"]["rows"]] == [0]
    assert report["citizens"]["total"] == 0
    assert report["citizens"]["active"] == {"day": 0, "week": 0, "month": 0}
    assert report["merchants"] == {"rows": [], "totals": dict.fromkeys(
        ("reserved", "reserved_points", "fulfilled", "fulfilled_points", "cancelled",
         "expired"), 0)}
    # Nothing waits but the built-ins' 2.0.0 releases (1.0.0 is approved for these tests).
    assert {q: w["count"] for q, w in report["waiting"].items()} == {
        "methodology_versions": 4, "behaviours_in_review": 0, "reward_revisions": 0}


def test_a_bad_period_or_grain_is_a_422(app):
    with app.app_context():
        for kw in ({"date_from": local("2026-03-02"), "date_to": local("2026-03-01")},
                   {"date_from": local("2024-01-01"), "date_to": local("2026-01-01")},
                   {"grain": "hour"}):
            with pytest.raises(ApiError) as refused:
                reports.dashboard(**kw)
            assert refused.value.status == 422
