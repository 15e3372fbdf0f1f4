from __future__ import annotations

from datetime import timedelta

from flask_jwt_extended import create_access_token

from tests.conftest import run_sql
from tests.helpers import PASSWORD, assert_problem


def count_users(app) -> int:
    return run_sql(app, "SELECT count(*) FROM users")[0][0]


def test_register_with_email_then_login_and_me(api):
    resp = api.post("/api/v1/auth/register",
                    json={"email": " Li.Lei@Example.com ", "password": PASSWORD})
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["email"] == "li.lei@example.com"
    assert body["roles"] == ["citizen"]
    assert "password" not in body and "password_hash" not in body

    tokens = api.login("LI.LEI@example.com").get_json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 900
    me = api.client.get("/api/v1/me",
                        headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200
    assert me.get_json()["id"] == body["id"]


def test_register_with_mainland_mobile_is_normalised(api):
    resp = api.post("/api/v1/auth/register", json={"mobile": "138 0013 8000",
                                                   "password": PASSWORD})
    assert resp.status_code == 201
    assert resp.get_json()["mobile"] == "+8613800138000"
    assert api.login("13800138000").status_code == 200
    assert api.login("+8613800138000").status_code == 200


def test_duplicate_email_is_409_and_writes_nothing(api, app):
    api.post("/api/v1/auth/register", json={"email": "a@example.com", "password": PASSWORD})
    resp = api.post("/api/v1/auth/register", json={"email": "A@example.com",
                                                  "password": PASSWORD})
    body = assert_problem(resp, 409, "account-exists")
    assert "email" in body["errors"]
    assert count_users(app) == 1


def test_weak_password_is_refused_by_field(api, app):
    for weak in ("short1", "aaaaaaaaaaaa", "abcdefghijkl", "password123", "nobody-example-1"):
        resp = api.post("/api/v1/auth/register",
                        json={"email": "nobody-example-1@example.com"[: 28], "password": weak})
        body = assert_problem(resp, 422, "validation-error")
        assert "password" in body["errors"], weak
    assert count_users(app) == 0


def test_register_needs_email_or_mobile(api):
    body = assert_problem(api.post("/api/v1/auth/register", json={"password": PASSWORD}), 422)
    assert "email" in body["errors"]


def test_wrong_types_and_unknown_fields_are_422(api, app):
    body = assert_problem(api.post("/api/v1/auth/register",
                                   json={"email": 42, "password": ["x"], "is_admin": True}),
                          422, "validation-error")
    assert set(body["errors"]) >= {"email", "password", "is_admin"}
    assert_problem(api.post("/api/v1/auth/register", json=["not", "an", "object"]), 422)
    assert count_users(app) == 0


def test_malformed_json_is_400(api, app):
    resp = api.post("/api/v1/auth/register", data='{"email": "a@example.com",',
                    content_type="application/json")
    assert_problem(resp, 400, "malformed-json")
    assert count_users(app) == 0


def test_login_failure_does_not_reveal_whether_account_exists(api):
    api.create_user(email="known@example.com")
    wrong_pw = assert_problem(api.login("known@example.com", "Wrong-password-1"), 401)
    no_user = assert_problem(api.login("unknown@example.com", "Wrong-password-1"), 401)
    assert wrong_pw == no_user


def test_refresh_rotates_and_old_refresh_token_dies(api):
    me = api.caller()
    resp = api.client.post("/api/v1/auth/refresh",
                           headers={"Authorization": f"Bearer {me.refresh_token}"})
    assert resp.status_code == 200
    new = resp.get_json()
    assert new["refresh_token"] != me.refresh_token
    again = api.client.post("/api/v1/auth/refresh",
                            headers={"Authorization": f"Bearer {me.refresh_token}"})
    assert_problem(again, 401, "revoked-token")
    # The access token minted from the rotated refresh token is gone with it.
    assert_problem(api.get("/api/v1/me", me), 401, "revoked-token")
    ok = api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {new['access_token']}"})
    assert ok.status_code == 200


def test_access_token_cannot_refresh_and_refresh_token_cannot_call_api(api):
    me = api.caller()
    assert_problem(api.client.post("/api/v1/auth/refresh", headers=me.headers), 401)
    assert_problem(api.client.get("/api/v1/me", headers={
        "Authorization": f"Bearer {me.refresh_token}"}), 401)


def test_logout_revokes_access_and_refresh_tokens(api):
    me = api.caller()
    assert api.post("/api/v1/auth/logout", me).status_code == 204
    assert_problem(api.get("/api/v1/me", me), 401, "revoked-token")
    refresh = api.client.post("/api/v1/auth/refresh",
                              headers={"Authorization": f"Bearer {me.refresh_token}"})
    assert_problem(refresh, 401, "revoked-token")


def test_logout_with_refresh_token_also_kills_its_access_tokens(api):
    me = api.caller()
    resp = api.client.post("/api/v1/auth/logout",
                           headers={"Authorization": f"Bearer {me.refresh_token}"})
    assert resp.status_code == 204
    assert_problem(api.get("/api/v1/me", me), 401, "revoked-token")


def test_disabled_account_tokens_stop_at_once_and_login_is_refused(api):
    admin = api.caller("admin")
    citizen = api.caller()
    assert api.post(f"/api/v1/admin/users/{citizen.id}/disable", admin).status_code == 200
    assert_problem(api.get("/api/v1/me", citizen), 401, "revoked-token")
    assert_problem(api.login(citizen.email), 403, "account-disabled")
    assert api.post(f"/api/v1/admin/users/{citizen.id}/enable", admin).status_code == 200
    assert api.login(citizen.email).status_code == 200


def test_password_change_needs_old_password_and_signs_out(api):
    me = api.caller()
    wrong = api.patch("/api/v1/me", me, json={"password": "New-password-99",
                                              "old_password": "nope-nope-1"})
    assert_problem(wrong, 403, "wrong-password")
    missing = api.patch("/api/v1/me", me, json={"password": "New-password-99"})
    assert "old_password" in assert_problem(missing, 422)["errors"]
    assert api.login(me.email).status_code == 200  # nothing changed

    ok = api.patch("/api/v1/me", me, json={"password": "New-password-99",
                                           "old_password": PASSWORD})
    assert ok.status_code == 200
    assert_problem(api.get("/api/v1/me", me), 401, "revoked-token")
    assert_problem(api.login(me.email), 401)
    assert api.login(me.email, "New-password-99").status_code == 200


def test_display_name_change(api):
    me = api.caller()
    resp = api.patch("/api/v1/me", me, json={"display_name": "绿色骑行者"})
    assert resp.status_code == 200
    assert api.get("/api/v1/me", me).get_json()["display_name"] == "绿色骑行者"
    assert_problem(api.patch("/api/v1/me", me, json={}), 422)


def test_missing_garbage_and_expired_tokens_are_401_problems(api, app):
    me = api.caller()
    assert_problem(api.client.get("/api/v1/me"), 401, "missing-token")
    assert_problem(api.client.get("/api/v1/me", headers={"Authorization": "Bearer x.y.z"}), 401,
                   "invalid-token")
    assert_problem(api.client.get("/api/v1/me", headers={"Authorization": "Basic abc"}), 401)
    with app.app_context():
        expired = create_access_token(identity=str(me.id), expires_delta=timedelta(seconds=-5),
                                      additional_claims={"ep": 0})
    assert_problem(api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {expired}"}),
                   401, "expired-token")


def test_token_signed_with_another_key_is_refused(api, app):
    import jwt as pyjwt

    me = api.caller()
    forged = pyjwt.encode({"sub": str(me.id), "type": "access", "jti": "x", "ep": 0,
                           "exp": 9999999999}, "another-key-" + "y" * 40, algorithm="HS256")
    assert_problem(api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"}),
                   401, "invalid-token")


def test_login_is_rate_limited_per_account(api, app):
    api.create_user(email="target@example.com")
    for _ in range(5):
        assert_problem(api.login("target@example.com", "Wrong-password-1"), 401)
    limited = assert_problem(api.login("target@example.com", PASSWORD), 429)
    assert limited["title"]
    # Another account from the same address is not locked by these failures.
    api.create_user(email="other@example.com")
    assert api.login("other@example.com").status_code == 200


def test_login_is_rate_limited_per_address(api, app_env):
    for i in range(30):
        api.login(f"nobody{i}@example.com", "Wrong-password-1")
    resp = api.login("nobody-else@example.com", "Wrong-password-1")
    assert_problem(resp, 429)


def test_login_with_a_json_list_is_refused_not_crashed(client):
    # The per-account limit reads the login from a JSON object or the console's form;
    # any other body has none to read.
    resp = client.post("/api/v1/auth/login", json=["someone@example.com", "password"])
    assert resp.status_code == 422, resp.get_data(as_text=True)
