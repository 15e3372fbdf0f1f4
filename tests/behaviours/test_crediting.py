"""Behaviour crediting: worked credit, policies, caps, duplicates, review, reversal, stats."""

from __future__ import annotations

import csv
import io
from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from app import behaviours, ledger
from app.behaviours.models import Behaviour
from app.db_types import utcnow
from app.extensions import db
from app.uow import unit_of_work
from tests.conftest import run_sql
from tests.helpers import assert_problem

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def _approved(approve_all):
    approve_all()


def post(api, who, methodology, data, occurred_at, key, evidence=None):
    return api.post("/api/v1/behaviours", who, json={
        "methodology": methodology, "occurred_at": occurred_at.isoformat(), "data": data,
        "evidence": evidence}, headers={"Idempotency-Key": key})


def trip(start: datetime, minutes: int, mode: str = "metro", km: str = "10") -> dict:
    # Self-reported trips give their end points; 0.09° of latitude is about 10 km.
    return {"mode": mode, "started_at": start.isoformat(),
            "ended_at": (start + timedelta(minutes=minutes)).isoformat(),
            "start": {"lat": 32.0, "lon": 118.8}, "end": {"lat": 32.0 + float(km) / 111.2,
                                                           "lon": 118.8}}


def partner_submit(app, user_id, methodology, data, occurred_at, external_id, partner_id):
    with app.app_context(), unit_of_work():
        b = behaviours.submit(user_id=user_id, methodology=methodology, occurred_at=occurred_at,
                              data=data, evidence=None, source="partner",
                              partner_id=partner_id, external_id=external_id)
        return {"id": b.id, "status": b.status, "points": b.points, "reasons": b.reasons,
                "reduction_g": b.reduction_g}


def test_self_reported_trip_is_discounted_and_credited_to_the_ledger(api, app):
    me = api.caller()
    start = utcnow() - timedelta(hours=2)
    resp = post(api, me, "green_travel", trip(start, 20), start + timedelta(minutes=20), "t1")
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["status"] == "credited", body
    # Great-circle 10.000 km, rounded down: baseline 10 × 167.25 / 1.5 = 1115 g,
    # metro 10 × 27.8 = 278 g → 837 g; a self-report gets 0.495 of it: 414.315 g → 414 points.
    reduction = Decimal(body["reduction_g"])
    assert Decimal("836") < reduction <= Decimal("837")
    assert Decimal(body["credited_g"]) == (reduction * Decimal("0.495")).quantize(
        Decimal("0.001"), rounding="ROUND_DOWN")
    assert body["points"] == int(Decimal(body["credited_g"]))
    assert any("0.495" in r for r in body["reasons"])
    account = api.get("/api/v1/account", me).get_json()
    assert account["posted"] == body["points"]
    assert Decimal(account["lifetime_reduction_g"]) == Decimal(body["credited_g"])
    again = post(api, me, "green_travel", trip(start, 20), start + timedelta(minutes=20), "t1")
    assert again.get_json() == body and again.headers["Idempotent-Replayed"] == "true"
    mine = api.get("/api/v1/behaviours", me).get_json()
    assert mine["total"] == 1 and mine["items"][0]["id"] == body["id"]


def test_invalid_data_is_422_and_writes_nothing(api, app):
    me = api.caller()
    now = utcnow() - timedelta(minutes=1)
    resp = post(api, me, "green_travel", {"mode": "rocket", "distance_km": "-3"}, now, "x")
    body = assert_problem(resp, 422, "validation-error")
    assert "data" in body["errors"]
    assert_problem(post(api, me, "teleport", {}, now, "y"), 404)
    assert_problem(post(api, me, "paperless", {"kind": "e_receipt", "sheets": 1},
                        utcnow() + timedelta(days=1), "z"), 422)
    assert run_sql(app, "SELECT count(*) FROM behaviours")[0][0] == 0


def test_implausible_walk_is_rejected_with_reasons(api):
    me = api.caller()
    start = utcnow() - timedelta(hours=3)
    body = post(api, me, "green_travel", trip(start, 15, mode="walk"),
                start + timedelta(minutes=15), "w").get_json()
    assert body["status"] == "rejected" and body["points"] == 0
    assert any("km/h" in r for r in body["reasons"]), body["reasons"]


def test_partner_only_methodology_refuses_self_reports(api):
    me = api.caller()
    body = post(api, me, "clean_plate", {"meals": 1}, utcnow() - timedelta(minutes=3),
                "m").get_json()
    assert body["status"] == "rejected"


def test_partner_resend_never_credits_twice(app, api, partner_id):
    me = api.caller()
    at = utcnow() - timedelta(hours=1)
    first = partner_submit(app, me.id, "clean_plate", {"meals": 1}, at, "meal-1", partner_id)
    again = partner_submit(app, me.id, "clean_plate", {"meals": 1}, at, "meal-1", partner_id)
    assert first == again and first["status"] == "credited" and first["points"] == 144
    assert api.get("/api/v1/account", me).get_json()["posted"] == 144


def test_same_trip_from_partner_and_self_report_is_a_duplicate(app, api, partner_id):
    me = api.caller()
    start = utcnow() - timedelta(hours=4)
    partner = partner_submit(app, me.id, "green_travel", {
        "mode": "bus", "distance_km": "8", "started_at": start.isoformat(),
        "ended_at": (start + timedelta(minutes=30)).isoformat()}, start, "card-77", partner_id)
    assert partner["status"] == "credited"
    mine = post(api, me, "green_travel", trip(start + timedelta(minutes=10), 25, mode="bus",
                                              km="8"), start + timedelta(minutes=35),
                "dup").get_json()
    assert mine["status"] == "rejected"
    assert any(f"duplicate of behaviour {partner['id']}" in r for r in mine["reasons"])


def test_caps_apply_per_local_day(app, api, partner_id, monkeypatch):
    monkeypatch.setitem(app.config, "DAILY_CAP_G", 1000)
    me = api.caller()
    # Yesterday, local time, ten minutes before midnight: inside the claim window whatever
    # today's date is.
    yesterday = datetime.now(SHANGHAI).date() - timedelta(days=1)
    late = datetime(yesterday.year, yesterday.month, yesterday.day, 23, 50, tzinfo=SHANGHAI)
    paper = {"items": [{"material": "paper", "kg": "2"}]}  # 2 × 295 = 590 g
    outcomes = [partner_submit(app, me.id, "recycling", paper, late + timedelta(minutes=i),
                               f"r{i}", partner_id) for i in range(3)]
    assert [o["status"] for o in outcomes] == ["credited", "credited", "capped"]
    assert [o["points"] for o in outcomes] == [590, 410, 0]
    after_midnight = late + timedelta(minutes=15)
    next_day = partner_submit(app, me.id, "recycling", paper, after_midnight, "r9", partner_id)
    assert next_day["status"] == "credited" and next_day["points"] == 590


def test_review_queue_approve_reject_and_reverse(api, app):
    admin, me = api.caller("admin"), api.caller()
    at = utcnow() - timedelta(hours=1)
    queued = [post(api, me, "paperless", {"kind": "e_invoice", "sheets": 10},
                   at + timedelta(minutes=i), f"p{i}").get_json() for i in range(2)]
    assert {q["status"] for q in queued} == {"pending_review"}
    assert api.get("/api/v1/account", me).get_json()["posted"] == 0
    queue = api.get("/api/v1/admin/behaviours", admin).get_json()
    assert [b["id"] for b in queue["items"]] == [q["id"] for q in queued]

    approved = api.post(f"/api/v1/admin/behaviours/{queued[0]['id']}/approve", admin,
                        json={"note": "invoice checked"}).get_json()
    # 10 A4 sheets: 10 × 4.99 g × 1.345 = 67.1155 g → 67 points.
    assert approved["status"] == "credited" and approved["points"] == 67
    rejected = api.post(f"/api/v1/admin/behaviours/{queued[1]['id']}/reject", admin,
                        json={"reason": "blurry photo"}).get_json()
    assert rejected["status"] == "rejected"
    assert_problem(api.post(f"/api/v1/admin/behaviours/{queued[1]['id']}/approve", admin,
                            json={}), 409, "behaviour-state")
    assert api.get("/api/v1/account", me).get_json()["posted"] == 67

    reversed_ = api.post(f"/api/v1/admin/behaviours/{queued[0]['id']}/reverse", admin,
                         json={"reason": "invoice was cancelled"}).get_json()
    assert reversed_["status"] == "reversed"
    account = api.get("/api/v1/account", me).get_json()
    assert account["posted"] == 0 and account["lifetime_earned"] == 0
    assert_problem(api.post(f"/api/v1/admin/behaviours/{queued[0]['id']}/reverse", admin,
                            json={"reason": "again"}), 409)
    assert_problem(api.get(f"/api/v1/admin/behaviours/{queued[0]['id']}", me), 403)


def test_stored_credit_recomputes_to_the_stored_reduction(app, api, partner_id):
    me = api.caller()
    at = utcnow() - timedelta(hours=1)
    out = partner_submit(app, me.id, "recycling", {"items": [
        {"material": "plastic", "kg": "1.25"}, {"material": "glass", "kg": "3"}]}, at, "mix",
        partner_id)
    with app.app_context():
        stored = db.session.get(Behaviour, out["id"])
        assert behaviours.recompute(stored) == stored.reduction_g == out["reduction_g"]
        assert stored.parameters_hash and stored.methodology_version_id
    admin = api.caller("admin")
    check = api.get(f"/api/v1/admin/behaviours/{out['id']}/recompute", admin).get_json()
    assert check["matches"] and check["parameters_hash_matches"]
    assert Decimal(check["recomputed_reduction_g"]) == out["reduction_g"]
    # A stored input altered after the fact no longer recomputes to the stored reduction.
    run_sql(app, "UPDATE behaviours SET data = :d WHERE id = :i",
            d='{"items": [{"material": "plastic", "kg": "12.5"}]}', i=out["id"])
    check = api.get(f"/api/v1/admin/behaviours/{out['id']}/recompute", admin).get_json()
    assert not check["matches"] and check["stored_reduction_g"] == str(out["reduction_g"])
    version = run_sql(app, "SELECT id FROM methodology_versions WHERE code = 'clean_plate' "
                           "AND status = 'approved'")[0][0]
    api.post(f"/api/v1/admin/methodology-versions/{version}/retire", admin,
             json={"reason": "replaced"})
    unassessed = partner_submit(app, me.id, "clean_plate", {"meals": 1}, at, "no-version",
                                partner_id)
    assert unassessed["status"] == "rejected"
    assert_problem(api.get(f"/api/v1/admin/behaviours/{unassessed['id']}/recompute", admin),
                   409, "behaviour-state")


def test_a_version_whose_arithmetic_fails_cannot_recompute_and_says_so(app, api, partner_id):
    """An approved car occupancy of 0 (a typo both admins missed): its records are refused
    as the methodology's failure, and auditing one is a 409 rather than a 500."""
    alice, bob, me = api.caller("admin"), api.caller("admin"), api.caller()
    vid = api.post("/api/v1/admin/methodologies/green_travel/versions", alice, json={
        "parameters": {"car_occupancy": {"value": "0", "source": "typo in a survey"}}}
    ).get_json()["id"]
    assert api.post(f"/api/v1/admin/methodology-versions/{vid}/approve", bob,
                    json={}).status_code == 200
    out = partner_submit(app, me.id, "green_travel", {"mode": "metro", "distance_km": "5"},
                         utcnow(), "zero", partner_id)
    assert out["status"] == "rejected" and "could not assess" in out["reasons"][0]
    problem = assert_problem(api.get(f"/api/v1/admin/behaviours/{out['id']}/recompute", bob),
                             409, "not-recomputable")
    assert "installed green_travel module" in problem["detail"]


def test_conversion_rate_is_versioned(app, api, partner_id):
    admin, me = api.caller("admin"), api.caller()
    resp = api.post("/api/v1/admin/conversion-rates", admin, json={
        "points_per_gram": "0.5", "reason": "budget 2026",
        "effective_from": (utcnow() - timedelta(hours=2)).isoformat()})
    assert resp.status_code == 201
    out = partner_submit(app, me.id, "clean_plate", {"meals": 1},
                         utcnow() - timedelta(hours=1), "m1", partner_id)
    assert out["points"] == 72  # 144 g × 0.5
    with app.app_context():
        assert db.session.get(Behaviour, out["id"]).conversion_rate_id == resp.get_json()["id"]
    assert len(api.get("/api/v1/admin/conversion-rates", admin).get_json()) == 1


def test_a_credit_below_one_point_still_counts_its_reduction(app, api, partner_id):
    """At 0.001 point per gram a 144 g meal makes no whole point: it is credited, and the
    account and the statistics count its reduction alike; a reversal takes it back."""
    admin, me = api.caller("admin"), api.caller()
    api.post("/api/v1/admin/conversion-rates", admin, json={
        "points_per_gram": "0.001", "reason": "coarse rate",
        "effective_from": (utcnow() - timedelta(hours=2)).isoformat()})
    out = partner_submit(app, me.id, "clean_plate", {"meals": 1},
                         utcnow() - timedelta(hours=1), "small", partner_id)
    assert (out["status"], out["points"]) == ("credited", 0)
    account = api.get("/api/v1/account", me).get_json()
    assert (account["posted"], Decimal(account["lifetime_reduction_g"])) == (0, 144)
    stats = api.get("/api/v1/admin/stats/reductions", admin).get_json()
    assert Decimal(stats["total_reduction_g"]) == 144
    api.post(f"/api/v1/admin/behaviours/{out['id']}/reverse", admin, json={"reason": "test"})
    assert Decimal(api.get("/api/v1/account", me).get_json()["lifetime_reduction_g"]) == 0


def test_stats_by_methodology_day_month_source_and_csv(app, api, partner_id, monkeypatch):
    monkeypatch.setitem(app.config, "CLAIM_WINDOW", timedelta(days=3650))  # fixed dates
    admin, me = api.caller("admin"), api.caller()
    # Noon on the last day of the month before last, then the next day: two months, both
    # in the past and after the versions' approval a year back, whatever today's date is.
    first_of_last_month = (datetime.now(SHANGHAI).replace(day=1) - timedelta(days=1)).replace(
        day=1)
    at = datetime.combine(first_of_last_month - timedelta(days=1), time(12), tzinfo=SHANGHAI)
    month_before, last_month = f"{at:%Y-%m}", f"{first_of_last_month:%Y-%m}"
    partner_submit(app, me.id, "clean_plate", {"meals": 1}, at, "a", partner_id)
    partner_submit(app, me.id, "recycling", {"items": [{"material": "paper", "kg": "1"}]},
                   at + timedelta(days=1), "b", partner_id)
    by_method = api.get("/api/v1/admin/stats/reductions?group_by=methodology", admin).get_json()
    assert {r["key"]: r["points"] for r in by_method["rows"]} == {"clean_plate": 144,
                                                                  "recycling": 295}
    assert by_method["total_points"] == 439
    by_month = api.get("/api/v1/admin/stats/reductions?group_by=month", admin).get_json()
    assert [(r["key"], r["points"]) for r in by_month["rows"]] == [(month_before, 144),
                                                                   (last_month, 295)]
    by_day = api.get("/api/v1/admin/stats/reductions?group_by=day&from="
                     f"{first_of_last_month:%Y-%m-%d}", admin)
    assert [r["key"] for r in by_day.get_json()["rows"]] == [f"{first_of_last_month:%Y-%m-%d}"]
    by_source = api.get("/api/v1/admin/stats/reductions?group_by=source", admin).get_json()
    assert [r["key"] for r in by_source["rows"]] == ["partner"]
    exported = api.get("/api/v1/admin/stats/reductions?group_by=methodology&format=csv", admin)
    assert exported.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(exported.data.decode("utf-8-sig"))))
    assert rows[0] == ["methodology", "behaviours", "reduction_g", "points"]
    assert rows[-1][0] == "total" and rows[-1][3] == "439"
    post(api, me, "green_travel", trip(utcnow() - timedelta(hours=2), 20),
         utcnow() - timedelta(hours=1, minutes=40), "self")
    by_partner = api.get("/api/v1/admin/stats/reductions?group_by=partner", admin).get_json()
    assert [(r["key"], r["partner_id"], r["points"]) for r in by_partner["rows"]] == [
        ("(self-reported)", None, 414), ("Metro Co", partner_id, 439)]
    # A partner may be called anything, "(self-reported)" included: rows go by partner id.
    run_sql(app, "UPDATE partners SET name = '(self-reported)' WHERE id = :id", id=partner_id)
    by_partner = api.get("/api/v1/admin/stats/reductions?group_by=partner", admin).get_json()
    assert [(r["partner_id"], r["points"]) for r in by_partner["rows"]] == [
        (None, 414), (partner_id, 439)]
    exported = api.get("/api/v1/admin/stats/reductions?group_by=partner&format=csv", admin)
    rows = list(csv.reader(io.StringIO(exported.data.decode("utf-8-sig"))))
    assert rows == [["partner", "partner_id", "behaviours", "reduction_g", "points"],
                    ["(self-reported)", "", "1", rows[1][3], "414"],
                    ["(self-reported)", str(partner_id), "2", rows[2][3], "439"],
                    ["total", "", "3", rows[3][3], "853"]]
    assert_problem(api.get("/api/v1/admin/stats/reductions", me), 403)
    assert_problem(api.get("/api/v1/admin/stats/reductions?from=2026-02-01&to=2026-01-01",
                           admin), 422)


def test_ledger_stays_consistent(app, api, partner_id):
    me = api.caller()
    partner_submit(app, me.id, "clean_plate", {"meals": 2}, utcnow() - timedelta(hours=1),
                   "q", partner_id)
    with app.app_context():
        from app.ledger.verify import verify

        assert verify() == []
        assert ledger.summary(me.id)["posted"] == 288


def test_reversing_a_behaviours_earn_in_the_ledger_reverses_the_behaviour(app, api,
                                                                          partner_id):
    """The ledger's own reversal endpoint took the points back but left the behaviour
    credited: the statistics still counted it, the day's caps still saw it, and reversing
    the behaviour itself was then refused."""
    admin, me = api.caller("admin"), api.caller()
    out = partner_submit(app, me.id, "clean_plate", {"meals": 1}, utcnow() - timedelta(hours=1),
                         "meal", partner_id)
    with app.app_context():
        tx = db.session.get(Behaviour, out["id"]).ledger_tx_id
    resp = api.post(f"/api/v1/admin/ledger/transactions/{tx}/reversal", admin,
                    json={"reason": "canteen withdrew it"}, headers={"Idempotency-Key": "r"})
    assert resp.status_code == 201 and resp.get_json()["reverses_id"] == tx
    mine = api.get(f"/api/v1/behaviours/{out['id']}", me).get_json()
    assert mine["status"] == "reversed" and mine["reasons"][-1] == "reversed: canteen withdrew it"
    stats = api.get("/api/v1/admin/stats/reductions", admin).get_json()
    account = api.get("/api/v1/account", me).get_json()
    assert stats["total_points"] == account["posted"] == 0
    assert Decimal(stats["total_reduction_g"]) == Decimal(account["lifetime_reduction_g"]) == 0
    assert_problem(api.post(f"/api/v1/admin/behaviours/{out['id']}/reverse", admin,
                            json={"reason": "again"}), 409, "behaviour-state")


@pytest.mark.parametrize("tapped", ["start", "end"])
def test_partner_tap_time_at_either_end_of_a_self_reported_trip_is_a_duplicate(
        app, api, partner_id, tapped):
    """A transit operator sends one instant (tap-in or tap-out): the trip it falls in, ends
    included, is the same trip, whichever of the two arrives first."""
    me, other = api.caller(), api.caller()
    start = utcnow() - timedelta(hours=3)
    tap = start if tapped == "start" else start + timedelta(minutes=20)
    ride = {"mode": "metro", "distance_km": "10"}
    first = partner_submit(app, me.id, "green_travel", ride, tap, "tap-1", partner_id)
    mine = post(api, me, "green_travel", trip(start, 20), start + timedelta(minutes=20),
                "k1").get_json()
    assert first["status"] == "credited" and mine["status"] == "rejected"
    assert mine["reasons"] == [f"duplicate of behaviour {first['id']} (partner) covering the "
                               "same time"]
    # The other way round: the self-report first, then the partner's instant.
    theirs = post(api, other, "green_travel", trip(start, 20), start + timedelta(minutes=20),
                  "k2").get_json()
    late = partner_submit(app, other.id, "green_travel", ride, tap, "tap-2", partner_id)
    assert theirs["status"] == "credited" and late["status"] == "rejected"


def test_trips_that_only_touch_are_two_trips(api):
    me = api.caller()
    start = utcnow() - timedelta(hours=3)
    bus = post(api, me, "green_travel", trip(start, 20, mode="bus", km="8"),
               start + timedelta(minutes=20), "leg-1").get_json()
    metro = post(api, me, "green_travel", trip(start + timedelta(minutes=20), 20),
                 start + timedelta(minutes=40), "leg-2").get_json()
    again = post(api, me, "green_travel", trip(start + timedelta(minutes=20), 20),
                 start + timedelta(minutes=40), "leg-3").get_json()
    assert (bus["status"], metro["status"], again["status"]) == (
        "credited", "credited", "rejected")


def test_one_partners_records_at_the_same_instant_are_separate_acts(app, api, partner_id):
    """Two drop-offs weighed in the same second are two; a resend is answered as the first."""
    me = api.caller()
    at = utcnow() - timedelta(hours=2)
    paper = {"items": [{"material": "paper", "kg": "1"}]}
    first = partner_submit(app, me.id, "recycling", paper, at, "weigh-1", partner_id)
    second = partner_submit(app, me.id, "recycling", paper, at, "weigh-2", partner_id)
    again = partner_submit(app, me.id, "recycling", paper, at, "weigh-1", partner_id)
    assert (first["status"], second["status"]) == ("credited", "credited")
    assert again == first
    assert api.get("/api/v1/account", me).get_json()["posted"] == 2 * 295


def test_a_reversed_trip_cannot_be_reported_again(api):
    admin, me = api.caller("admin"), api.caller()
    start = utcnow() - timedelta(hours=2)
    first = post(api, me, "green_travel", trip(start, 20), start + timedelta(minutes=20),
                 "t1").get_json()
    api.post(f"/api/v1/admin/behaviours/{first['id']}/reverse", admin,
             json={"reason": "spoofed GPS"})
    again = post(api, me, "green_travel", trip(start, 20), start + timedelta(minutes=20),
                 "t2").get_json()
    assert again["status"] == "rejected" and f"behaviour {first['id']}" in again["reasons"][0]
    assert api.get("/api/v1/account", me).get_json()["posted"] == 0


def test_behaviours_older_than_the_claim_window_are_refused(app, api):
    me = api.caller()
    window = app.config["CLAIM_WINDOW"]
    inside = utcnow() - window + timedelta(hours=1)
    assert post(api, me, "green_travel", trip(inside - timedelta(minutes=20), 20), inside,
                "in").get_json()["status"] == "credited"
    old = utcnow() - window - timedelta(hours=1)
    resp = post(api, me, "green_travel", trip(old - timedelta(minutes=20), 20), old, "old")
    problem = assert_problem(resp, 422, "validation-error")
    assert "claim window" in problem["errors"]["occurred_at"][0]


def test_a_trip_must_hold_its_occurred_at_and_not_end_in_the_future(api):
    me = api.caller()
    now = utcnow()
    elsewhere = post(api, me, "green_travel", trip(now + timedelta(days=3), 20),
                     now - timedelta(hours=1), "later")
    problem = assert_problem(elsewhere, 422, "validation-error")
    assert set(problem["errors"]) == {"occurred_at", "data"}
    earlier = post(api, me, "green_travel", trip(now - timedelta(hours=5), 20),
                   now - timedelta(hours=1), "earlier")
    assert_problem(earlier, 422, "validation-error")
    assert api.get("/api/v1/behaviours", me).get_json()["total"] == 0


@pytest.mark.parametrize("field, moment", [
    ("started_at", "0001-01-01T00:00:00+00:00"),
    ("started_at", "0001-01-01T00:00:00+14:00"),  # not even a UTC moment
    ("ended_at", "9999-12-31T23:59:59+00:00"),
    ("ended_at", "9999-12-31T23:59:59-14:00"),
])
def test_a_trip_at_the_ends_of_the_calendar_is_a_422(app, api, field, moment):
    """A span starting in year 1 or ending in 9999 cannot be shifted by the clock skew or
    stored in UTC: a 422 like any other bad time, never a 500."""
    me = api.caller()
    start = utcnow() - timedelta(hours=2)
    data = {**trip(start, 20), field: moment}
    resp = post(api, me, "green_travel", data, start + timedelta(minutes=20), "edge")
    assert "data" in assert_problem(resp, 422, "validation-error")["errors"]
    assert run_sql(app, "SELECT count(*) FROM behaviours")[0][0] == 0


def test_a_report_in_flight_when_its_account_is_erased_stores_nothing(app, api, partner_id):
    """The report passed its checks, then the erasure committed before it took the user's
    lock: it stores none of the erased person's data."""
    from app.http.problems import ApiError

    gone, other = api.caller(), api.caller()
    at = utcnow() - timedelta(hours=1)
    with app.app_context(), unit_of_work():
        reports = [behaviours.report(user_id=u, methodology="clean_plate", occurred_at=at,
                                     data={"meals": 1, "canteen_id": "c-9"}, evidence=None,
                                     source="partner", partner_id=partner_id,
                                     external_id=f"m-{u}") for u in (gone.id, other.id)]
        db.session.execute(db.text("UPDATE users SET deleted_at = :t WHERE id = :i"),
                           {"t": utcnow(), "i": gone.id})  # an erasure, committed meanwhile
        out = behaviours.submit_many(reports)
        assert [(b.user_id, b.status) for b in out] == [(gone.id, "rejected"),
                                                        (other.id, "credited")]
        assert out[0].id is None and out[0].reasons == ["the account was erased"]
        with pytest.raises(ApiError) as refused:
            behaviours.submit_many(reports[:1])
        assert refused.value.status == 401
    assert run_sql(app, "SELECT user_id FROM behaviours") == [(other.id,)]
