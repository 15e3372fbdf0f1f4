"""Approval workflow: nothing credits until approved; four-eyes; effective dates; retire."""

from __future__ import annotations

from datetime import timedelta

from app.db_types import utcnow
from tests.conftest import run_sql
from tests.helpers import assert_problem

TRIP = {"mode": "metro", "distance_km": "10"}


def report(api, who, occurred_at=None, data=None, key="k1", methodology="paperless"):
    body = {"methodology": methodology,
            "occurred_at": (occurred_at or utcnow() - timedelta(minutes=5)).isoformat(),
            "data": data or {"kind": "e_receipt", "sheets": 3}}
    return api.post("/api/v1/behaviours", who, json=body, headers={"Idempotency-Key": key})


def test_a_release_never_synced_credits_nothing(app_env, tmp_path):
    """Without `flask methodologies sync` after a deploy, the installed releases have no
    version in the database, and what is not recorded cannot have been approved."""
    from app import create_app
    from app.extensions import db
    from tests.helpers import Api

    app = create_app(app_env, instance_path=str(tmp_path / "unsynced"), TESTING=True)
    api = Api(app, app.test_client())
    body = report(api, api.caller()).get_json()
    assert body["status"] == "rejected" and "no approved version" in body["reasons"][0]
    assert run_sql(app, "SELECT count(*) FROM methodology_versions") == [(0,)]
    with app.app_context():
        db.engine.dispose()


def test_discovered_versions_start_pending_and_credit_nothing(api, app):
    """Every installed release is recorded, each pending: 1.0.0 and the 2.0.0 beside it."""
    rows = run_sql(app, "SELECT code, version, status FROM methodology_versions "
                        "ORDER BY code, version")
    assert rows == [(code, release, "pending")
                    for code in ("clean_plate", "green_travel", "paperless", "recycling")
                    for release in ("1.0.0", "2.0.0")]
    citizen = api.caller()
    body = report(api, citizen).get_json()
    assert body["status"] == "rejected" and "no approved version" in body["reasons"][0]
    assert body["points"] == 0
    assert api.get("/api/v1/methodologies").get_json() == []


def test_public_listing_shows_version_in_force_with_cited_parameters(api, approve_all):
    approve_all()
    listing = api.get("/api/v1/methodologies").get_json()
    assert [m["code"] for m in listing] == ["clean_plate", "green_travel", "paperless",
                                            "recycling"]
    travel = api.get("/api/v1/methodologies/green_travel").get_json()
    assert travel["name_zh"] == "绿色出行" or travel["name_zh"]
    car = travel["parameters"]["ef_car_g_per_vkm"]
    assert car["value"] == "167.25" and "DESNZ" in car["source"] and car["unit"]
    assert travel["record_schema"]["properties"]["mode"]["enum"] == ["bus", "metro", "bike",
                                                                     "walk"]
    assert travel["version"].startswith("1.0.0+")
    assert_problem(api.get("/api/v1/methodologies/teleport"), 404)


def version_id(app, code, status):
    return run_sql(app, "SELECT id FROM methodology_versions WHERE code = :c AND status = :s "
                        "ORDER BY id DESC", c=code, s=status)[0][0]


def test_four_eyes_and_effective_dates(api, app, approve_all):
    approve_all()
    alice, bob = api.caller("admin"), api.caller("admin")
    old = version_id(app, "paperless", "approved")
    resp = api.post("/api/v1/admin/methodologies/paperless/versions", alice, json={
        "parameters": {"ef_receipt_g_per_sheet": {"value": "2.0",
                                                  "source": "city survey 2026, table 3"}},
        "note": "local receipts are larger"})
    assert resp.status_code == 201
    proposed = resp.get_json()
    assert proposed["status"] == "pending"
    assert proposed["parameters"]["ef_receipt_g_per_sheet"]["source"] == \
        "city survey 2026, table 3"
    new = proposed["id"]
    assert_problem(api.post(f"/api/v1/admin/methodology-versions/{new}/approve", alice, json={}),
                   403, "four-eyes")
    backdated = utcnow() - timedelta(hours=1)
    assert_problem(api.post(f"/api/v1/admin/methodology-versions/{new}/approve", bob,
                            json={"effective_from": backdated.isoformat()}),
                   409, "effective-date")
    starts = utcnow() + timedelta(seconds=1)
    ok = api.post(f"/api/v1/admin/methodology-versions/{new}/approve", bob,
                  json={"effective_from": starts.isoformat()})
    assert ok.status_code == 200 and ok.get_json()["status"] == "approved"
    statuses = dict(run_sql(app, "SELECT id, status FROM methodology_versions "
                                 "WHERE code = 'paperless' AND version = '1.0.0'"))
    assert statuses == {old: "superseded", new: "approved"}

    citizen = api.caller()
    before = report(api, citizen, utcnow() - timedelta(hours=2), key="a").get_json()
    after = report(api, citizen, starts + timedelta(seconds=1), key="b").get_json()
    assert before["methodology_version_id"] == old
    assert after["methodology_version_id"] == new
    assert before["status"] == after["status"] == "pending_review"  # paperless self-reports
    actions = [r[0] for r in run_sql(app, "SELECT action FROM audit_events "
                                          "WHERE target_type = 'methodology_version'")]
    assert actions.count("methodology.approved") == 5 and "methodology.proposed" in actions


def test_proposals_are_validated(api, approve_all):
    approve_all()
    admin = api.caller("admin")
    path = "/api/v1/admin/methodologies/paperless/versions"
    assert_problem(api.post(path, admin, json={"parameters": {"nope": {
        "value": "1", "source": "somewhere"}}}), 422)
    assert_problem(api.post(path, admin, json={"parameters": {"ef_receipt_g_per_sheet": {
        "value": "2.0"}}}), 422)  # a changed value must cite its source
    assert_problem(api.post(path, admin, json={"parameters": {"self_report_policy": {
        "value": "sometimes", "source": "a whim"}}}), 422)


def test_proposed_numbers_outside_any_physical_range_are_refused(api, app, approve_all):
    """A daily cap of 1e9999999 was stored and then failed every record's arithmetic."""
    approve_all()
    admin = api.caller("admin")
    path = "/api/v1/admin/methodologies/green_travel/versions"
    before = run_sql(app, "SELECT count(*) FROM methodology_versions")
    for name, value in [("daily_cap_g", "1e9999999"), ("ef_bus_g_per_pkm", "-5"),
                        ("car_occupancy", "1.0000000001"), ("max_trips_per_day", 10**12)]:
        body = assert_problem(api.post(path, admin, json={"parameters": {name: {
            "value": value, "source": "a typo"}}}), 422, "validation-error")
        assert list(body["errors"]) == [name], body
    assert run_sql(app, "SELECT count(*) FROM methodology_versions") == before
    ok = api.post(path, admin, json={"parameters": {"daily_cap_g": {
        "value": "4500.5", "source": "city plan 2027"}}})
    assert ok.status_code == 201, ok.get_json()


def test_reject_and_retire(api, app, approve_all):
    approve_all()
    alice, bob = api.caller("admin"), api.caller("admin")
    proposed = api.post("/api/v1/admin/methodologies/clean_plate/versions", alice, json={
        "parameters": {"ef_baseline_waste_g_per_meal": {"value": "340",
                                                        "source": "CAS 2020 as reported"}}})
    vid = proposed.get_json()["id"]
    rejected = api.post(f"/api/v1/admin/methodology-versions/{vid}/reject", bob,
                        json={"reason": "not conservative"})
    assert rejected.get_json()["status"] == "rejected"
    assert_problem(api.post(f"/api/v1/admin/methodology-versions/{vid}/approve", bob, json={}),
                   409, "version-not-pending")

    current = version_id(app, "paperless", "approved")
    assert api.post(f"/api/v1/admin/methodology-versions/{current}/retire", bob,
                    json={"reason": "programme ended"}).status_code == 200
    citizen = api.caller()
    body = report(api, citizen).get_json()
    assert body["status"] == "rejected" and "no approved version" in body["reasons"][0]
    assert [m["code"] for m in api.get("/api/v1/methodologies").get_json()] == [
        "clean_plate", "green_travel", "recycling"]


def test_admin_listing_shows_versions_and_broken_modules(api, app_env, tmp_path):
    from app import create_app
    from tests.helpers import Api

    app = create_app({**app_env, "METHODOLOGIES": "paperless,teleportation"},
                     instance_path=str(tmp_path / "i2"), TESTING=True)
    other = Api(app, app.test_client())
    admin = other.caller("admin")
    listing = other.get("/api/v1/admin/methodologies", admin).get_json()
    assert [m["code"] for m in listing["loaded"]] == ["paperless"]
    assert "teleportation" in listing["failed"]
    assert listing["loaded"][0]["versions"][0]["status"] == "pending"
    assert_problem(other.get("/api/v1/admin/methodologies", other.caller()), 403)


def test_approvals_at_once_leave_one_version_in_force(api, app, approve_all):
    """Two administrators approve two new versions of one methodology at the same moment
    (real parallel clients): they queue, and exactly one version is in force after."""
    from tests.rewards.test_concurrency import parallel

    approve_all()
    alice, bob, carol = (api.caller("admin") for _ in range(3))
    proposed = [api.post("/api/v1/admin/methodologies/paperless/versions", alice, json={
        "parameters": {"ef_receipt_g_per_sheet": {"value": value, "source": "survey"}}}
    ).get_json()["id"] for value in ("2.0", "2.5")]

    def approve(caller, vid):
        return lambda client: client.post(f"/api/v1/admin/methodology-versions/{vid}/approve",
                                          headers=caller.headers, json={})

    results = parallel(app, [approve(bob, proposed[0]), approve(carol, proposed[1])])
    assert all(not isinstance(r, Exception) and r.status_code in (200, 409) for r in results)
    in_force = run_sql(app, "SELECT id FROM methodology_versions WHERE code = 'paperless' "
                            "AND status = 'approved' AND effective_until IS NULL")
    assert len(in_force) == 1
    approved = {vid for vid, r in zip(proposed, results, strict=True) if r.status_code == 200}
    assert in_force[0][0] in approved
    statuses = dict(run_sql(app, "SELECT id, status FROM methodology_versions "
                                 "WHERE id IN (:a, :b)", a=proposed[0], b=proposed[1]))
    # The one approved first was superseded by the second; a refused one is still pending.
    assert sorted(statuses.values()) == (["approved", "superseded"] if len(approved) == 2
                                         else ["approved", "pending"])


def test_retiring_a_version_before_its_effective_date_keeps_the_one_it_was_to_replace(
        api, app, approve_all):
    """It never credited; without this the version in force stopped at that date, and its
    parameter set could not even be proposed again (a version with them exists)."""
    from app.methodology import service as methodology

    approve_all()
    alice, bob = api.caller("admin"), api.caller("admin")
    current = version_id(app, "paperless", "approved")
    vid = api.post("/api/v1/admin/methodologies/paperless/versions", alice, json={
        "parameters": {"ef_receipt_g_per_sheet": {"value": "2.0", "source": "city survey"}}}
    ).get_json()["id"]
    starts = utcnow() + timedelta(days=30)
    assert api.post(f"/api/v1/admin/methodology-versions/{vid}/approve", bob,
                    json={"effective_from": starts.isoformat()}).status_code == 200
    assert api.post(f"/api/v1/admin/methodology-versions/{vid}/retire", bob,
                    json={"reason": "wrong survey"}).status_code == 200
    rows = run_sql(app, "SELECT id, status, effective_until FROM methodology_versions "
                        "WHERE code = 'paperless' AND version = '1.0.0' ORDER BY id")
    assert [(i, s, u) for i, s, u in rows] == [(current, "approved", None),
                                               (vid, "retired", None)]
    with app.app_context():
        later = methodology.active_version("paperless", starts + timedelta(days=1))
        assert later is not None and later.id == current


def test_a_version_the_installed_module_cannot_read_is_not_approved(api, app, approve_all):
    """A version recorded by hand under an installed release, with parameters that release
    does not take: approved, it superseded the working version and every record was then
    refused as the methodology's failure."""
    import json

    approve_all()
    admin = api.caller("admin")
    current = version_id(app, "paperless", "approved")
    stored = run_sql(app, "SELECT parameters FROM methodology_versions WHERE id = :i",
                     i=current)[0][0]
    parameters = json.loads(stored) if isinstance(stored, str) else stored  # SQLite: text
    del parameters["ef_digital_g_per_sheet"]  # what an older release did not have
    parameters["ef_pdf_g_per_sheet"] = {"value": "0", "unit": "g", "source": "old",
                                        "description": "gone"}
    run_sql(app, "INSERT INTO methodology_versions (code, version, parameters, "
                 "parameters_hash, status, created_at) VALUES ('paperless', '1.0.0', :p, :h, "
                 "'pending', :t)", p=json.dumps(parameters), h="0" * 64, t=utcnow())
    old = version_id(app, "paperless", "pending")
    resp = api.post(f"/api/v1/admin/methodology-versions/{old}/approve", admin, json={})
    problem = assert_problem(resp, 409, "version-not-installable")
    assert "ef_digital_g_per_sheet" in problem["detail"]
    statuses = dict(run_sql(app, "SELECT id, status FROM methodology_versions "
                                 "WHERE code = 'paperless' AND version = '1.0.0'"))
    assert statuses == {current: "approved", old: "pending"}


def test_a_version_of_a_release_not_installed_is_not_approved(api, app, approve_all):
    """Nothing could quantify under it: the release's class is what credits."""
    approve_all()
    run_sql(app, "INSERT INTO methodology_versions (code, version, parameters, "
                 "parameters_hash, status, created_at) VALUES ('paperless', '0.9.0', '{}', "
                 ":h, 'pending', :t)", h="0" * 64, t=utcnow())
    [(old,)] = run_sql(app, "SELECT id FROM methodology_versions WHERE version = '0.9.0'")
    resp = api.post(f"/api/v1/admin/methodology-versions/{old}/approve", api.caller("admin"),
                    json={})
    assert "0.9.0" in assert_problem(resp, 409, "version-not-installable")["detail"]


def test_retiring_a_future_version_between_two_others_leaves_no_gap(api, app, approve_all):
    from app.methodology import service as methodology

    approve_all()
    alice, bob = api.caller("admin"), api.caller("admin")
    current = version_id(app, "paperless", "approved")
    later = []
    for value, days in (("2.0", 30), ("2.5", 60)):
        vid = api.post("/api/v1/admin/methodologies/paperless/versions", alice, json={
            "parameters": {"ef_receipt_g_per_sheet": {"value": value, "source": "survey"}}}
        ).get_json()["id"]
        starts = utcnow() + timedelta(days=days)
        assert api.post(f"/api/v1/admin/methodology-versions/{vid}/approve", bob,
                        json={"effective_from": starts.isoformat()}).status_code == 200
        later.append((vid, starts))
    (middle, middle_from), (last, last_from) = later
    assert api.post(f"/api/v1/admin/methodology-versions/{middle}/retire", bob,
                    json={"reason": "wrong survey"}).status_code == 200
    with app.app_context():
        for at, expected in ((middle_from + timedelta(days=1), current),
                             (last_from + timedelta(days=1), last)):
            assert methodology.active_version("paperless", at).id == expected


def test_dates_with_no_utc_moment_are_a_422(api, app):
    """Year 1 at +14:00 has no UTC moment to store: the approval (of a first version, which
    may be backdated) and a conversion rate were 500s when the row was written."""
    admin = api.caller("admin")
    vid = version_id(app, "paperless", "pending")
    for moment in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):
        approval = api.post(f"/api/v1/admin/methodology-versions/{vid}/approve", admin,
                            json={"effective_from": moment})
        assert "effective_from" in assert_problem(approval, 422, "validation-error")["errors"]
        rate = api.post("/api/v1/admin/conversion-rates", admin, json={
            "points_per_gram": "2", "reason": "new budget", "effective_from": moment})
        assert "effective_from" in assert_problem(rate, 422, "validation-error")["errors"]
    assert run_sql(app, "SELECT status FROM methodology_versions WHERE id = :i",
                   i=vid) == [("pending",)]
    assert run_sql(app, "SELECT count(*) FROM conversion_rates") == [(0,)]
