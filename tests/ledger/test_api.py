from __future__ import annotations

from decimal import Decimal

from app import ledger
from app.uow import unit_of_work
from tests.conftest import run_sql
from tests.helpers import assert_problem


def give(app, user_id, points, key, reduction="0"):
    with app.app_context(), unit_of_work():
        return ledger.earn(user_id, points, key=key, cause_type="behaviour", cause_id=key,
                           reduction_g=Decimal(reduction)).id


def test_my_account_and_entries(api, app):
    me = api.caller()
    assert api.get("/api/v1/account", me).get_json()["posted"] == 0  # no account yet: zeros
    give(app, me.id, 100, "b1", "100.25")
    give(app, me.id, 20, "b2", "20")
    with app.app_context(), unit_of_work():
        ledger.hold(me.id, 30, key="h", cause_type="redemption", cause_id="r1")

    account = api.get("/api/v1/account", me).get_json()
    assert account == {
        "posted": 120, "held": 30, "available": 90, "debt": 0, "lifetime_earned": 120,
        "lifetime_reduction_g": "120.250", "expiring_30d": 0, "expiring": []}

    page = api.get("/api/v1/account/entries", me).get_json()
    assert [e["type"] for e in page["items"]] == ["hold", "earn", "earn"]
    hold_entry = page["items"][0]
    assert (hold_entry["points"], hold_entry["available_change"], hold_entry["balance_after"],
            hold_entry["available_after"]) == (0, -30, 120, 90)
    assert page["items"][1]["balance_after"] == 120 and page["items"][2]["balance_after"] == 100

    earns = api.get("/api/v1/account/entries?type=earn&per_page=1", me).get_json()
    assert earns["total"] == 2 and len(earns["items"]) == 1
    both = api.get("/api/v1/account/entries?type=earn&type=hold", me).get_json()
    assert both["total"] == 3
    none = api.get("/api/v1/account/entries?from=2000-01-01&to=2000-01-02", me).get_json()
    assert none["total"] == 0
    assert_problem(api.get("/api/v1/account/entries?type=steal", me), 422)
    assert_problem(api.get("/api/v1/account/entries?from=2026-02-02&to=2026-01-01", me), 422)


def test_entries_are_private(api, app):
    alice, bob = api.caller(), api.caller()
    give(app, alice.id, 10, "a")
    assert api.get("/api/v1/account/entries", bob).get_json()["total"] == 0
    assert_problem(api.get(f"/api/v1/admin/users/{alice.id}/account", bob), 403)
    assert_problem(api.get("/api/v1/account"), 401)


def test_admin_sees_any_account_and_adjusts_idempotently(api, app):
    admin, citizen = api.caller("admin"), api.caller()
    give(app, citizen.id, 10, "a")
    assert api.get(f"/api/v1/admin/users/{citizen.id}/account", admin).get_json()["posted"] == 10

    path = f"/api/v1/admin/users/{citizen.id}/account/adjustments"
    body = {"points": 25, "reason": "missed bus credit, ticket #812"}
    first = api.post(path, admin, json=body, headers={"Idempotency-Key": "adj-1"})
    assert first.status_code == 201
    entry = first.get_json()
    assert entry["type"] == "adjustment" and entry["reason"] == body["reason"]
    again = api.post(path, admin, json=body, headers={"Idempotency-Key": "adj-1"})
    assert again.get_json() == entry
    assert api.get(f"/api/v1/admin/users/{citizen.id}/account", admin).get_json()["posted"] == 35
    who = run_sql(app, "SELECT created_by FROM ledger_transactions WHERE type = 'adjustment'")
    assert who == [(admin.id,)]
    # The administrator's act is in the audit log once, though the request came twice.
    logged = run_sql(app, "SELECT actor_id, target_id FROM audit_events "
                          "WHERE action = 'ledger.adjusted'")
    assert logged == [(admin.id, str(citizen.id))]

    assert_problem(api.post(path, admin, json={"points": 5},
                            headers={"Idempotency-Key": "adj-2"}), 422)  # reason is mandatory
    assert_problem(api.post(path, admin, json={"points": 0, "reason": "nothing"},
                            headers={"Idempotency-Key": "adj-3"}), 422)
    assert_problem(api.post(path, admin, json={"points": -100, "reason": "too much"},
                            headers={"Idempotency-Key": "adj-4"}), 422, "insufficient-points")
    assert_problem(api.post(path, admin, json=body), 400, "idempotency-key-missing")
    assert_problem(api.post("/api/v1/admin/users/999999/account/adjustments", admin,
                            json=body, headers={"Idempotency-Key": "adj-5"}), 404)
    entries = api.get(f"/api/v1/admin/users/{citizen.id}/account/entries", admin).get_json()
    assert entries["total"] == 2


def test_admin_reverses_an_earn(api, app):
    admin, citizen = api.caller("admin"), api.caller()
    tx = give(app, citizen.id, 40, "trip-1")
    path = f"/api/v1/admin/ledger/transactions/{tx}/reversal"
    resp = api.post(path, admin, json={"reason": "duplicate trip"},
                    headers={"Idempotency-Key": "rev-1"})
    assert resp.status_code == 201
    assert resp.get_json()["reverses_id"] == tx
    assert api.get("/api/v1/account", citizen).get_json()["posted"] == 0
    twice = api.post(path, admin, json={"reason": "again"}, headers={"Idempotency-Key": "rev-2"})
    assert_problem(twice, 409, "already-reversed")
    assert_problem(api.post(path, citizen, json={"reason": "mine"},
                            headers={"Idempotency-Key": "x"}), 403)


def test_verify_endpoint(api, app):
    admin = api.caller("admin")
    give(app, admin.id, 5, "a")
    assert api.get("/api/v1/admin/ledger/verify", admin).get_json() == {"ok": True,
                                                                          "violations": []}
    run_sql(app, "UPDATE ledger_accounts SET balance = 99 WHERE kind = 'user_held'")
    body = api.get("/api/v1/admin/ledger/verify", admin).get_json()
    assert body["ok"] is False and body["violations"]


def test_entry_dates_at_the_ends_of_the_calendar_are_refused_not_a_500(api, app):
    """The local days' bounds of year 1 or 9999 are no UTC moment (OverflowError)."""
    admin, me = api.caller("admin"), api.caller()
    give(app, me.id, 10, "e")
    for query in ("to=9999-12-31", "from=0001-01-01", "from=0001-01-01&to=0001-01-01"):
        assert_problem(api.get(f"/api/v1/account/entries?{query}", me), 422, "validation-error")
        assert_problem(api.get(f"/api/v1/admin/users/{me.id}/account/entries?{query}", admin),
                       422, "validation-error")
    assert api.get("/api/v1/account/entries?from=0001-01-02&to=9999-12-30",
                   me).get_json()["total"] == 1
