"""The console's shell in a real browser: sign-in, the menu, languages, the strict CSP."""

from __future__ import annotations

import re

from tests.browser.conftest import sign_in


def test_admin_signs_in_to_the_shell_in_chinese_and_switches_to_english(page, accounts):
    admin = accounts.admin()
    sign_in(page, admin)
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.get_by_role("heading", level=1).inner_text() == "数据总览"
    menu = page.get_by_role("navigation", name="主菜单")
    for group in ("总览", "方法学", "审核", "合作方", "商户与权益", "市民", "审计与账本"):
        assert menu.get_by_text(group, exact=True).count() >= 1, group
    # Both releases of each built-in wait for approval.
    assert page.locator('[data-waiting="home.pending_versions"]').inner_text() == "8"
    # The keyboard reaches the menu: the skip link first, then the page.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"

    page.get_by_role("button", name="English").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", level=1).inner_text() == "Dashboard"

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/console/login"))
    assert "You have signed out." in page.inner_text("main")
    page.goto("/console/admin")
    assert "/console/login" in page.url


def test_citizen_gets_the_403_page(page, accounts):
    sign_in(page, accounts.citizen())
    assert "您无权访问此页面" in page.inner_text("main")
    response = page.goto("/console/admin")
    assert response.status == 403


def test_wrong_password_shows_the_error_and_keeps_the_login(page, accounts):
    admin = accounts.admin()
    admin.password = "Not-The-Password-1"
    page.goto("/console/login")
    page.get_by_label("邮箱或手机号").fill(admin.email)
    page.get_by_label("密码").fill(admin.password)
    page.get_by_role("button", name="登录").click()
    assert page.get_by_role("alert").inner_text() == "账号或密码错误。"
    assert page.get_by_label("邮箱或手机号").input_value() == admin.email


def test_api_docs_render_offline(page, live_server):
    page.route(re.compile(r"^(?!http://127\.0\.0\.1).*"), lambda route: route.abort())
    page.goto("/api/v1/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "Carbon Points" in page.inner_text(".swagger-ui .info .title")
