"""核销 in the console: the API's verify(), its answers, and nothing written on refusal."""

from __future__ import annotations

import re
import secrets

import pytest

from tests.console.conftest import console_login
from tests.console.shop import open_shop
from tests.helpers import PASSWORD


@pytest.fixture
def shop(app):
    return open_shop(app)


@pytest.fixture
def staff(app, shop):
    client = app.test_client()
    assert console_login(client, shop.staff_email).status_code == 302
    return client


def _post(client, code: str, attempt: str = "a1", **headers):
    with client.session_transaction("/console/") as session:
        token = session.setdefault("csrf", secrets.token_urlsafe(32))
    return client.post("/console/merchant/verify", headers=headers,
                       data={"code": code, "attempt": attempt, "csrf_token": token})


def _outcome(resp) -> str:
    return re.search(r'data-outcome="([^"]+)"', resp.get_data(as_text=True)).group(1)


def test_verify_then_again_then_a_double_submit(app, shop, staff):
    code = shop.code()
    messy = " " + code[:4].lower() + " " + code[4:] + " "  # case and spaces forgiven
    resp = _post(staff, messy, attempt="first")
    assert resp.status_code == 200 and _outcome(resp) == "fulfilled"
    assert "核销成功" in resp.get_data(as_text=True) and "低碳咖啡一杯" in resp.get_data(
        as_text=True)
    assert shop.status_of(code) == "fulfilled"
    # The same form sent twice (a double tap): its first answer again.
    again = _post(staff, code, attempt="first")
    assert again.status_code == 200 and _outcome(again) == "fulfilled"
    # A new try of the used code: already used, with when.
    used = _post(staff, code, attempt="second")
    assert used.status_code == 409 and _outcome(used) == "already-used"
    assert "核销时间" in used.get_data(as_text=True)


def test_refusals_are_big_and_change_nothing(app, shop, staff):
    other = open_shop(app)
    foreign = other.code()
    resp = _post(staff, foreign)
    assert resp.status_code == 403 and _outcome(resp) == "other-merchant"
    assert "低碳" not in resp.get_data(as_text=True).split("verify-result")[1][:300]
    assert other.status_of(foreign) == "reserved"
    resp = _post(staff, "ZZZZ-ZZZZ-ZZZZ")
    assert resp.status_code == 404 and _outcome(resp) == "unknown-code"
    resp = _post(staff, "   ")
    assert resp.status_code == 422 and "请输入券码" in resp.get_data(as_text=True)


def test_htmx_request_gets_the_panel_only(shop, staff):
    resp = _post(staff, shop.code(), HX_Request="true")
    page = resp.get_data(as_text=True)
    assert "<html" not in page and 'data-outcome="fulfilled"' in page
    assert 'role="status"' in page


def test_wrong_codes_share_the_api_limit(app, shop, staff):
    app.config["VERIFY_FAILURE_LIMIT"] = "2 per 15 minutes"
    assert _post(staff, "ZZZZ-ZZZZ-ZZZZ").status_code == 404
    assert _post(staff, "ZZZZ-ZZZZ-ZZZY").status_code == 404
    resp = _post(staff, shop.code())
    assert resp.status_code == 429 and "操作过于频繁" in resp.get_data(as_text=True)


def test_wrong_codes_in_the_api_and_the_console_count_against_one_budget(app, shop, staff):
    """One counter per account, whichever door the wrong codes come through (else each
    door would double the guessing budget)."""
    app.config["VERIFY_FAILURE_LIMIT"] = "3 per 15 minutes"
    api_client = app.test_client()
    token = api_client.post("/api/v1/auth/login", json={
        "identifier": shop.staff_email, "password": PASSWORD}).get_json()["access_token"]

    def api_verify(code: str):
        return api_client.post("/api/v1/merchant/redemptions/verify", json={"code": code},
                               headers={"Authorization": f"Bearer {token}"})

    assert api_verify("ZZZZ-ZZZZ-ZZZZ").status_code == 404
    assert _post(staff, "ZZZZ-ZZZZ-ZZZY").status_code == 404
    assert api_verify("ZZZZ-ZZZZ-ZZZX").status_code == 404
    code = shop.code()
    assert _post(staff, code).status_code == 429
    assert api_verify(code).status_code == 429
    assert shop.status_of(code) == "reserved"
