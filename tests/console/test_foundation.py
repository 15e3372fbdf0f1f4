"""The console's foundation: sign-in, sessions that end, CSRF, headers, roles, languages."""

from __future__ import annotations

import time

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from app.extensions import db
from app.users.models import User
from tests.console.conftest import console_login, csrf_of
from tests.helpers import PASSWORD


def test_anonymous_is_sent_to_sign_in(client):
    resp = client.get("/console/admin")
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/console/login?next=/console/admin")


def test_sign_in_page_is_chinese_by_default_and_english_on_request(client):
    page = client.get("/console/login").get_data(as_text=True)
    assert '<html lang="zh-CN">' in page and "邮箱或手机号" in page
    token = csrf_of(client)
    resp = client.post("/console/language", data={"lang": "en", "csrf_token": token,
                                                  "next": "/console/login"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/console/login"
    page = client.get("/console/login").get_data(as_text=True)
    assert '<html lang="en">' in page and "Email or mobile number" in page


def test_admin_signs_in_and_sees_what_waits(app, api, client):
    api.create_user("admin", email="boss@example.com")
    resp = console_login(client, "boss@example.com")
    assert resp.status_code == 302 and resp.headers["Location"] == "/console/admin"
    cookie = resp.headers["Set-Cookie"]
    assert "carbon_console=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Path=/console" in cookie and "Secure" not in cookie  # plain http in tests
    page = client.get("/console/admin").get_data(as_text=True)
    # The four built-in methodologies' two releases each wait for approval.
    assert 'data-waiting="home.pending_versions">8<' in page
    assert "退出登录" in page and "管理员" in page


def test_cookie_is_secure_over_https(api, client):
    api.create_user("admin", email="tls@example.com")
    token = csrf_of(client)
    resp = client.post("/console/login", base_url="https://localhost",
                       data={"identifier": "tls@example.com", "password": PASSWORD,
                             "csrf_token": token})
    assert "Secure" in resp.headers["Set-Cookie"]


def test_wrong_password_and_missing_fields_come_back_in_the_page_language(api, client):
    api.create_user("admin", email="a1@example.com")
    resp = console_login(client, "a1@example.com", "wrong-password-1")
    assert resp.status_code == 401
    assert "账号或密码错误" in resp.get_data(as_text=True)
    token = csrf_of(client)
    resp = client.post("/console/login", data={"identifier": "", "password": "",
                                               "csrf_token": token})
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert 'aria-invalid="true"' in page and "请填写此项" in page


def test_sign_in_shares_the_api_login_limit(app, api, client):
    app.config["LOGIN_LIMIT_PER_ACCOUNT"] = "3 per 5 minutes"
    api.create_user("admin", email="lim@example.com")
    for _ in range(2):
        assert api.login("lim@example.com", "wrong-password-1").status_code == 401
    assert console_login(client, "lim@example.com", "wrong-password-1").status_code == 401
    resp = console_login(client, "lim@example.com")  # right password, budget spent
    assert resp.status_code == 429
    assert "失败次数过多" in resp.get_data(as_text=True)
    assert api.login("lim@example.com").status_code == 429


def test_post_without_csrf_token_is_refused_and_changes_nothing(signed_in):
    admin = signed_in("admin")
    resp = admin.client.post("/console/logout")
    assert resp.status_code == 403
    assert "页面已过期" in resp.get_data(as_text=True)
    assert admin.client.get("/console/admin").status_code == 200  # still signed in
    resp = admin.client.post("/console/logout", data={"csrf_token": "forged"})
    assert resp.status_code == 403


def test_security_headers(client):
    resp = client.get("/console/login")
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp and "unsafe" not in csp
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["X-Frame-Options"] == "DENY"
    # The API keeps its own headers (no console CSP on JSON) and never gets a session.
    api_resp = client.get("/healthz")
    assert "Content-Security-Policy" not in api_resp.headers
    assert "Set-Cookie" not in api_resp.headers


def test_sign_out_ends_the_session_even_for_a_copied_cookie(signed_in):
    admin = signed_in("admin")
    cookie = admin.client.get_cookie("carbon_console", path="/console").value
    resp = admin.client.post("/console/logout", data={"csrf_token": admin.csrf()})
    assert resp.status_code == 302
    assert admin.client.get("/console/admin").status_code == 302
    admin.client.set_cookie("carbon_console", cookie, path="/console")  # replayed
    resp = admin.client.get("/console/admin")
    assert resp.status_code == 302 and "expired=1" in resp.headers["Location"]


def test_disabling_or_a_new_password_ends_open_sessions(app, api, signed_in):
    target = signed_in("admin")
    other = signed_in("admin")
    boss = api.caller("admin")
    resp = api.post(f"/api/v1/admin/users/{target.user_id}/disable", boss)
    assert resp.status_code == 200, resp.get_json()
    assert target.client.get("/console/admin").status_code == 302

    changed = api.client.post("/api/v1/auth/login",
                              json={"identifier": other.email, "password": PASSWORD})
    token = changed.get_json()["access_token"]
    resp = api.client.patch("/api/v1/me", headers={"Authorization": f"Bearer {token}"},
                            json={"password": "Another-Green-2027", "old_password": PASSWORD})
    assert resp.status_code == 200, resp.get_json()
    assert other.client.get("/console/admin").status_code == 302


def test_idle_and_absolute_timeouts(app, signed_in, monkeypatch):
    admin = signed_in("admin")
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 29 * 60)
    assert admin.client.get("/console/admin").status_code == 200  # seen again: idle resets
    monkeypatch.setattr(time, "time", lambda: now + 29 * 60 + 31 * 60)
    assert admin.client.get("/console/admin").status_code == 302

    monkeypatch.undo()
    admin = signed_in("admin")
    now = time.time()
    for minutes in range(25, 12 * 60, 25):  # active all day long
        monkeypatch.setattr(time, "time", lambda m=minutes: now + m * 60)
        assert admin.client.get("/console/admin").status_code == 200
    monkeypatch.setattr(time, "time", lambda: now + 12 * 3600 + 60)
    assert admin.client.get("/console/admin").status_code == 302


def test_new_session_on_sign_in(api, client):
    api.create_user("admin", email="fix@example.com")
    before = csrf_of(client)
    console_login(client, "fix@example.com")
    assert csrf_of(client, "/console/admin") != before


def test_citizen_gets_403_and_next_is_kept_inside_the_console(api, client):
    api.create_user("citizen", email="cit@example.com")
    resp = console_login(client, "cit@example.com")
    assert resp.headers["Location"] == "/console/no-access"
    assert client.get("/console/admin").status_code == 403
    assert client.get("/console/merchant/verify").status_code == 403
    token = csrf_of(client, "/console/no-access")
    resp = client.post("/console/language", data={"lang": "en", "csrf_token": token,
                                                  "next": "//evil.example/x"})
    assert resp.headers["Location"] == "/console/"


def test_swagger_ui_is_served_locally(client):
    page = client.get("/api/v1/docs").get_data(as_text=True)
    assert "/console/static/vendor/swagger-ui-dist-5.36.0/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()
    assert client.get("/console/static/vendor/swagger-ui-dist-5.36.0/swagger-ui-bundle.js"
                      ).status_code == 200


def test_nothing_written_on_refused_form(app, api, client):
    api.create_user("admin", email="nul@example.com")
    token = csrf_of(client)
    resp = client.post("/console/login", data={"identifier": "nul\x00@example.com",
                                               "password": "x", "csrf_token": token})
    assert resp.status_code == 422
    with app.app_context():
        assert db.session.query(User).count() == 1


def test_every_message_used_has_both_languages():
    import pathlib
    import re as regex

    from app.console.i18n import MESSAGES

    root = pathlib.Path(__file__).resolve().parents[2] / "app" / "console"
    used = set()
    for path in [*root.rglob("*.html"), *root.glob("*.py")]:
        used |= set(regex.findall(r"""\bt\(\s*["']([a-z_.0-9]+)["']""", path.read_text()))
    assert used, "no message keys found"
    # A prefix joined to a value ('dashboard.by_' ~ group): the joined keys are listed below.
    used = {key for key in used if not key.endswith((".", "_"))}
    from app.console.blueprint import MENUS
    from app.console.merchant_views import OUTCOMES
    from app.rewards.models import CATEGORIES, REDEMPTION_STATUSES

    used |= {key for groups in MENUS.values() for group, items in groups
             for key in (group, *(label for label, _ in items))}
    used |= {message for message, _ in OUTCOMES.values()}
    used |= {f"category.{c}" for c in CATEGORIES} | {f"status.{s}" for s in REDEMPTION_STATUSES}
    used |= {"role.admin", "role.merchant", "reward.kind.create", "reward.kind.change"}
    used |= {f"dashboard.active_{w}" for w in ("day", "week", "month")}
    used |= {f"dashboard.by_{g}" for g in ("methodology", "source", "partner", "day", "month")}
    assert not sorted(used - set(MESSAGES))
    assert all(zh.strip() and en.strip() for zh, en in MESSAGES.values())


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_every_page_renders_in_both_languages(app, signed_in, lang):
    from tests.console.shop import open_shop

    shop = open_shop(app)
    staff_client = app.test_client()
    assert console_login(staff_client, shop.staff_email).status_code == 302
    admin = signed_in("admin")
    pages = [(admin.client, "/console/admin"),
             (admin.client, f"/console/merchants/{shop.merchant_id}/settlement"),
             (staff_client, "/console/merchant/verify"),
             (staff_client, "/console/merchant/redemptions"),
             (staff_client, "/console/merchant/rewards"),
             (staff_client, "/console/merchant/rewards/new"),
             (staff_client, f"/console/merchant/rewards/{shop.reward_id}/edit")]
    for client, path in pages:
        with client.session_transaction("/console/") as session:
            session["lang"] = lang
        resp = client.get(path)
        assert resp.status_code == 200, path
        assert f'<html lang="{lang}">' in resp.get_data(as_text=True), path


def _is_console_error_page(resp, status: int) -> None:
    assert resp.status_code == status
    assert resp.mimetype == "text/html", resp.get_data(as_text=True)[:300]
    assert "<html" in resp.get_data(as_text=True)
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(("path", "status"), [
    ("/console/nonexistent", 404),
    ("/console/logout", 405),  # POST only
    ("/console/admin/citizens/abc", 404),  # not an id: no route matches
])
def test_unmatched_console_paths_get_the_console_page_and_headers(signed_in, path, status):
    """No console route matched, so the blueprint's own hooks never ran: the app-wide ones
    still answer with the console's page and headers."""
    admin = signed_in("admin")
    resp = admin.client.get(path)
    _is_console_error_page(resp, status)
    if status == 405:
        assert "POST" in resp.headers["Allow"]
    assert 'class="menu-group"' in resp.get_data(as_text=True)  # the shell knows the user


def test_unmatched_api_paths_keep_their_problems(client):
    for path, status in [("/api/v1/nonexistent", 404), ("/api/v1/auth/login", 405)]:
        resp = client.get(path)
        assert resp.status_code == status
        assert resp.mimetype == "application/problem+json"
        assert "Content-Security-Policy" not in resp.headers
    assert client.get("/api/v1/auth/login").headers["Allow"]


@pytest.mark.parametrize(("error", "status"), [
    (IntegrityError("COMMIT", {}, Exception("duplicate key")), 409),
    (OperationalError("COMMIT", {}, Exception("server closed the connection")), 503),
])
def test_failed_commit_after_a_console_page_is_the_console_page(app, signed_in, monkeypatch,
                                                                error, status):
    admin = signed_in("admin")

    def fail() -> None:
        raise error

    with app.app_context():
        monkeypatch.setattr(db.session, "commit", fail)
        resp = admin.client.get("/console/admin")
    _is_console_error_page(resp, status)  # the API's own stays a problem: test_errors.py
    if status == 503:
        assert resp.headers["Retry-After"] == "2"
