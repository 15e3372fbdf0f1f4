from __future__ import annotations

from tests.conftest import run_sql
from tests.console.conftest import console_login
from tests.helpers import assert_problem


def test_anonymous_gets_401_and_citizen_403_on_admin_endpoints(api):
    citizen = api.caller()
    for method, path in [("get", "/api/v1/admin/users"), ("get", "/api/v1/admin/users/1"),
                         ("put", "/api/v1/admin/users/1/roles/admin"),
                         ("delete", "/api/v1/admin/users/1/roles/admin"),
                         ("post", "/api/v1/admin/users/1/disable"),
                         ("post", "/api/v1/admin/users/1/enable")]:
        assert_problem(getattr(api, method)(path), 401)
        assert_problem(getattr(api, method)(path, citizen), 403, "forbidden")


def test_list_and_search_users_paginated(api):
    admin = api.caller("admin", email="root@example.com")
    for i in range(25):
        api.create_user(email=f"rider{i:02d}@example.com")
    api.create_user("merchant", email="shop@example.com")

    page = api.get("/api/v1/admin/users?per_page=10&page=2", admin).get_json()
    assert (page["page"], page["per_page"], page["total"], page["pages"]) == (2, 10, 27, 3)
    assert len(page["items"]) == 10
    ids = [u["id"] for u in page["items"]]
    assert ids == sorted(ids)

    found = api.get("/api/v1/admin/users?q=RIDER1", admin).get_json()
    assert {u["email"] for u in found["items"]} == {f"rider1{i}@example.com" for i in range(10)}
    merchants = api.get("/api/v1/admin/users?role=merchant", admin).get_json()
    assert [u["email"] for u in merchants["items"]] == ["shop@example.com"]
    last = api.get("/api/v1/admin/users?per_page=10&page=9", admin).get_json()
    assert last["items"] == [] and last["total"] == 27


def test_grant_and_revoke_role_take_effect_at_once(api, app):
    admin = api.caller("admin")
    other = api.caller()
    assert_problem(api.get("/api/v1/admin/users", other), 403)
    resp = api.put(f"/api/v1/admin/users/{other.id}/roles/admin", admin)
    assert resp.status_code == 200 and "admin" in resp.get_json()["roles"]
    assert api.get("/api/v1/admin/users", other).status_code == 200  # same token
    resp = api.delete(f"/api/v1/admin/users/{other.id}/roles/admin", admin)
    assert resp.get_json()["roles"] == ["citizen"]
    assert_problem(api.get("/api/v1/admin/users", other), 403)
    actions = [r[0] for r in run_sql(app, "SELECT action FROM audit_events ORDER BY id")]
    assert actions == ["user.role_granted", "user.role_revoked"]


def test_unknown_role_and_user_are_404(api):
    admin = api.caller("admin")
    assert_problem(api.put(f"/api/v1/admin/users/{admin.id}/roles/superuser", admin), 404)
    assert_problem(api.put("/api/v1/admin/users/999999/roles/admin", admin), 404)


def test_last_admin_cannot_be_removed_or_disabled(api):
    admin = api.caller("admin")
    assert_problem(api.delete(f"/api/v1/admin/users/{admin.id}/roles/admin", admin), 409,
                   "last-admin")
    assert_problem(api.post(f"/api/v1/admin/users/{admin.id}/disable", admin), 409, "last-admin")
    second = api.caller("admin")
    assert api.post(f"/api/v1/admin/users/{admin.id}/disable", second).status_code == 200


def test_disable_is_idempotent_and_filterable(api):
    admin = api.caller("admin")
    citizen = api.caller()
    for _ in range(2):
        resp = api.post(f"/api/v1/admin/users/{citizen.id}/disable", admin)
        assert resp.status_code == 200 and resp.get_json()["disabled"] is True
    listed = api.get("/api/v1/admin/users?disabled=true", admin).get_json()
    assert [u["id"] for u in listed["items"]] == [citizen.id]


def test_disable_ends_sessions_and_tokens_for_good(api, app):
    """Enabling the account again does not bring back what disabling ended (ASVS 7.4.2):
    the old console cookie and the old refresh token stay refused."""
    admin = api.caller("admin")
    staff = api.caller("merchant")
    console = app.test_client()
    assert console_login(console, staff.email).status_code == 302
    assert console.get("/console/merchant/verify").status_code == 200
    assert api.post(f"/api/v1/admin/users/{staff.id}/disable", admin).status_code == 200
    assert api.post(f"/api/v1/admin/users/{staff.id}/enable", admin).status_code == 200
    resp = console.get("/console/merchant/verify")
    assert resp.status_code == 302 and "/console/login" in resp.headers["Location"]
    refresh = api.client.post("/api/v1/auth/refresh",
                              headers={"Authorization": f"Bearer {staff.refresh_token}"})
    assert_problem(refresh, 401)
    assert_problem(api.get("/api/v1/account", staff), 401)
    # A new sign-in works.
    assert api.login(staff.email).status_code == 200
