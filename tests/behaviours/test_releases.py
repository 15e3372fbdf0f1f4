"""Two releases of a methodology installed at once: 2.0.0 is discovered pending beside the
approved 1.0.0, credits nothing until approved (four-eyes for proposals unchanged), and
every 1.0.0 credit still recomputes to its stored figure once 2.0.0 is in force."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from app import behaviours
from app.db_types import utcnow
from app.extensions import db
from app.uow import unit_of_work
from tests.conftest import run_sql
from tests.helpers import assert_problem


@pytest.fixture
def partner_id(app, api):
    from app.partners.models import Partner

    admin = api.create_user("admin")
    with app.app_context(), unit_of_work():
        partner = Partner(name="Transit Co", status="active",
                          methodologies=["green_travel", "recycling", "paperless"],
                          created_by=admin)
        db.session.add(partner)
        db.session.flush()
        return partner.id


def submit(app, user_id, methodology, data, occurred_at, external_id, partner_id) -> dict:
    with app.app_context(), unit_of_work():
        b = behaviours.submit(user_id=user_id, methodology=methodology, occurred_at=occurred_at,
                              data=data, evidence=None, source="partner",
                              partner_id=partner_id, external_id=external_id)
        return {"id": b.id, "status": b.status, "reasons": b.reasons,
                "reduction_g": b.reduction_g, "version_id": b.methodology_version_id}


def pending_2_0_0(app, code: str) -> int:
    [(vid,)] = run_sql(app, "SELECT id FROM methodology_versions WHERE code = :c AND "
                            "version = '2.0.0' AND status = 'pending'", c=code)
    return vid


def test_1_0_0_credits_recompute_after_2_0_0_is_approved(app, api, approve_all, partner_id):
    approve_all()  # 1.0.0, in force from a year ago; 2.0.0 stays pending
    me = api.caller()
    before = utcnow() - timedelta(hours=2)
    old = submit(app, me.id, "green_travel", {"mode": "bus", "distance_km": "10"}, before,
                 "bus-1", partner_id)
    # 1.0.0: 10 km × (167.25 ÷ 1.5 − 103.85) = 76.5 g
    assert old["status"] == "credited" and old["reduction_g"] == Decimal("76.5")
    # Pending, 2.0.0 credits nothing: a mode only it knows is refused under 1.0.0.
    e_bike = submit(app, me.id, "green_travel", {"mode": "e_bike", "distance_km": "3"},
                    before + timedelta(minutes=30), "ebike-1", partner_id)
    assert e_bike["status"] == "rejected" and "release 1.0.0" in e_bike["reasons"][0]

    bob = api.caller("admin")  # not the one who approved 1.0.0
    starts = utcnow()  # from now: later than 1.0.0's date, not before the request
    vid = pending_2_0_0(app, "green_travel")
    resp = api.post(f"/api/v1/admin/methodology-versions/{vid}/approve", bob,
                    json={"effective_from": starts.isoformat()})
    assert resp.status_code == 200 and resp.get_json()["status"] == "approved"

    check = api.get(f"/api/v1/admin/behaviours/{old['id']}/recompute", bob).get_json()
    assert check["matches"] and Decimal(check["recomputed_reduction_g"]) == Decimal("76.5")
    assert check["methodology_version_id"] == old["version_id"]

    new = submit(app, me.id, "green_travel", {"mode": "bus", "distance_km": "10"},
                 starts + timedelta(seconds=1), "bus-2", partner_id)
    assert new["status"] == "credited" and new["reduction_g"] == Decimal("269.0")  # × 26.9
    assert new["version_id"] == vid
    check = api.get(f"/api/v1/admin/behaviours/{new['id']}/recompute", bob).get_json()
    assert check["matches"]

    shown = api.get("/api/v1/methodologies/green_travel").get_json()
    assert shown["version"].startswith("2.0.0+") and shown["module_version"] == "2.0.0"
    assert "e_bike" in shown["record_schema"]["properties"]["mode"]["enum"]


def test_proposals_under_2_0_0_keep_four_eyes(app, api, approve_all):
    approve_all("2.0.0")
    alice, bob = api.caller("admin"), api.caller("admin")
    resp = api.post("/api/v1/admin/methodologies/green_travel/versions", alice, json={
        "parameters": {"grid_ef_g_per_kwh": {"value": "598.0",
                                             "source": "Jiangsu 2022 row, same announcement"}}})
    assert resp.status_code == 201 and resp.get_json()["version"] == "2.0.0"
    vid = resp.get_json()["id"]
    assert_problem(api.post(f"/api/v1/admin/methodology-versions/{vid}/approve", alice,
                            json={}), 403, "four-eyes")
    ok = api.post(f"/api/v1/admin/methodology-versions/{vid}/approve", bob,
                  json={"effective_from": (utcnow() + timedelta(seconds=1)).isoformat()})
    assert ok.status_code == 200


def test_public_view_shows_the_release_in_force_and_links_its_filing(app, api, approve_all):
    approve_all()
    paperless = api.get("/api/v1/methodologies/paperless").get_json()
    assert paperless["module_version"] == "1.0.0" and "a4_sheet_mass_g" in paperless["parameters"]
    # 1.0.0 is in force and has no filing document: none is linked, not 2.0.0's.
    assert paperless["filing_document"] is None
    assert_problem(api.get("/api/v1/methodologies/paperless/filing?release=1.0.0"), 404)

    bob = api.caller("admin")  # not the one who approved 1.0.0
    vid = pending_2_0_0(app, "paperless")
    assert api.post(f"/api/v1/admin/methodology-versions/{vid}/approve", bob, json={
        "effective_from": utcnow().isoformat()}).status_code == 200
    paperless = api.get("/api/v1/methodologies/paperless").get_json()
    assert paperless["module_version"] == "2.0.0"
    assert paperless["filing_document"] == "/api/v1/methodologies/paperless/filing?release=2.0.0"
    filing = api.get(paperless["filing_document"])
    assert filing.status_code == 200 and filing.mimetype == "text/markdown"
    text = filing.get_data(as_text=True)
    assert "基准线情景 Baseline scenario" in text and "issuer_paper_default" in text
    assert api.get("/api/v1/methodologies/paperless/filing").get_data(as_text=True) == text
    assert_problem(api.get("/api/v1/methodologies/paperless/filing?release=9.9.9"), 404)
    assert_problem(api.get("/api/v1/methodologies/teleport/filing"), 404)


@pytest.mark.parametrize("first_is_steps", [True, False])
def test_steps_and_walk_trips_of_one_day_exclude_each_other_in_either_order(
        app, api, approve_all, partner_id, first_is_steps):
    """The crediting passes the day's records of the methodology both ways round."""
    approve_all("2.0.0")
    me = api.caller()
    morning = utcnow() - timedelta(hours=1)
    steps, walk = {"mode": "walk", "steps": 9000}, {"mode": "walk", "distance_km": "1.5"}
    first, second = (steps, walk) if first_is_steps else (walk, steps)
    out = submit(app, me.id, "green_travel", first, morning, "first", partner_id)
    assert out["status"] == "credited"
    out = submit(app, me.id, "green_travel", second, morning + timedelta(minutes=5), "second",
                 partner_id)
    assert out["status"] == "rejected" and "exclude each other" in out["reasons"][0]


@pytest.mark.parametrize("steps_first", [True, False])
def test_a_days_steps_are_not_a_trip_they_are_stamped_inside(
        app, api, approve_all, partner_id, steps_first):
    """Steps stamped 08:30 and a metro trip 08:10-08:50 from another source are two acts;
    steps match only another source's steps of the same instant."""
    from tests.behaviours.test_crediting import post, trip

    approve_all("2.0.0")
    me = api.caller()
    start = utcnow() - timedelta(hours=3)
    stamped = start + timedelta(minutes=20)

    def steps(key: str) -> dict:
        return submit(app, me.id, "green_travel", {"mode": "walk", "steps": 9000}, stamped,
                      key, partner_id)

    def metro() -> dict:
        return post(api, me, "green_travel", trip(start, 40), start + timedelta(minutes=40),
                    "metro").get_json()

    first, second = (steps("steps"), metro()) if steps_first else (metro(), steps("steps"))
    assert first["status"] == second["status"] == "credited", (first, second)
    # The same count from another source at the same instant is the same act.
    counted = first if steps_first else second
    again = post(api, me, "green_travel", {"mode": "walk", "steps": 9000}, stamped, "again")
    assert again.get_json()["status"] == "rejected"
    assert again.get_json()["reasons"] == [
        f"duplicate of behaviour {counted['id']} (partner) covering the same time"]


def test_admin_listing_names_every_installed_release(api):
    listing = api.get("/api/v1/admin/methodologies", api.caller("admin")).get_json()
    for module in listing["loaded"]:
        assert module["module_version"] == "2.0.0"
        assert module["releases"] == ["1.0.0", "2.0.0"]
        assert sorted(v["version"] for v in module["versions"]) == ["1.0.0", "2.0.0"]


def test_the_demo_seed_runs_on_2_0_0_with_1_0_0_in_force_before(app, api):
    from app.demo.cli import approve_builtin_methodologies

    email = "demo-admin@example.org"
    api.create_user("admin", email=email)
    with app.app_context():
        approved = approve_builtin_methodologies(admin_email=email)
        again = approve_builtin_methodologies(admin_email=email)
    assert sorted(approved) == sorted(f"{code} {release}" for code in (
        "clean_plate", "green_travel", "paperless", "recycling") for release in ("1.0.0", "2.0.0"))
    assert again == []
    rows = run_sql(app, "SELECT code, version, status, effective_from, effective_until "
                        "FROM methodology_versions ORDER BY code, version")
    by_code: dict[str, list] = {}
    for code, release, status, starts, until in rows:
        by_code.setdefault(code, []).append((release, status, starts, until))
    for code, ((v1, s1, from1, until1), (v2, s2, from2, until2)) in by_code.items():
        assert (v1, s1, v2, s2) == ("1.0.0", "superseded", "2.0.0", "approved"), code
        assert from1 < until1 == from2 and until2 is None, code  # 1.0.0 up to the seed
