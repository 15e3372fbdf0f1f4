"""Methodologies and the review queue in a real browser: four-eyes on a parameter change,
approval from a date that the public endpoint then honours, and review decisions that
the citizen's ledger shows."""

from __future__ import annotations

import re
from datetime import timedelta

from app.behaviours.models import Behaviour
from app.db_types import utcnow
from app.localtime import local_zone
from app.methodology import views as methodology_views
from app.methodology.models import MethodologyVersion
from tests.browser.conftest import sign_in
from tests.conftest import run_sql
from tests.console.review_data import approve_defaults, queued_behaviour, status_of

RECEIPT = "ef_receipt_g_per_sheet"


def _sign_out(page) -> None:
    page.get_by_role("button", name="退出登录").click()
    page.wait_for_url(re.compile(r"/console/login"))


def test_a_proposer_cannot_approve_and_a_second_admin_approves_from_a_date(
        app, api, page, accounts, monkeypatch):
    approve_defaults(app)
    alice, bob = accounts.admin(), accounts.admin()
    old_id = api.get("/api/v1/methodologies/paperless").get_json()["version_id"]

    sign_in(page, alice)
    page.get_by_role("navigation", name="主菜单").get_by_role("link", name="方法学").click()
    page.locator("section", has=page.locator("#m-paperless")).get_by_role(
        "link", name="提出参数变更").click()
    page.get_by_label(f"{RECEIPT} 的新值").fill("2.0")
    page.get_by_label(f"{RECEIPT} 新值的来源").fill("南京市抽样调查 2026,表 3")
    page.get_by_role("button", name="提交审批").click()
    page.wait_for_url(re.compile(r"/console/admin/methodology-versions/\d+$"))
    new_id = int(page.url.rsplit("/", 1)[1])
    changed = page.locator(f'tr[data-parameter="{RECEIPT}"]')
    assert "已修改" in changed.inner_text() and "1.7" in changed.inner_text()
    assert page.locator('[data-changed="yes"]').count() == 1
    # Four-eyes in the page: no approve button, and the reason why.
    assert "须由另一位管理员审批" in page.locator("#four-eyes").inner_text()
    assert page.get_by_role("button", name="审批通过").count() == 0
    assert status_of(app, MethodologyVersion, new_id) == "pending"
    _sign_out(page)

    sign_in(page, bob)
    page.goto(f"/console/admin/methodology-versions/{new_id}")
    with app.app_context():
        start = (utcnow() + timedelta(minutes=2)).astimezone(local_zone()).replace(
            second=0, microsecond=0)
    page.get_by_label(re.compile("^生效时间")).fill(start.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="审批通过").click()
    page.wait_for_load_state()
    assert page.locator('[data-status="approved"]').inner_text() == "已批准"
    assert page.locator("[data-effective-from]").inner_text() == start.strftime(
        "%Y-%m-%d %H:%M")
    assert dict(run_sql(app, "SELECT id, status FROM methodology_versions "
                             "WHERE id IN (:a, :b)", a=old_id, b=new_id)) == {
        old_id: "superseded", new_id: "approved"}

    # The public endpoint: the version in force until that minute, the new one from it.
    before = api.get("/api/v1/methodologies/paperless").get_json()
    assert before["version_id"] == old_id
    monkeypatch.setattr(methodology_views, "utcnow", lambda: start + timedelta(seconds=1))
    after = api.get("/api/v1/methodologies/paperless").get_json()
    assert after["version_id"] == new_id
    assert after["parameters"][RECEIPT]["value"] == "2.0"


def _balance(api, email: str) -> int:
    token = api.login(email).get_json()["access_token"]
    return api.get("/api/v1/account", headers={"Authorization": f"Bearer {token}"}
                   ).get_json()["posted"]


def test_review_approve_reject_and_reverse(app, api, page, accounts):
    approve_defaults(app)
    citizen = accounts.citizen()
    first, _ = queued_behaviour(app, citizen.user_id)
    second, _ = queued_behaviour(app, citizen.user_id, sheets=3)
    assert _balance(api, citizen.email) == 0

    sign_in(page, accounts.admin())
    page.get_by_role("navigation", name="主菜单").get_by_role("link", name="减排行为审核").click()
    assert page.locator(f'tr[data-behaviour="{first}"]').count() == 1
    page.get_by_role("link", name=f"行为 {first}").click()
    assert "✓ 一致" in page.locator('[data-check="matches"]').inner_text()
    page.get_by_label("审核意见(可选)").fill("发票已核")
    page.get_by_role("button", name="通过并计入积分").click()
    page.wait_for_load_state()
    assert page.locator('[data-status="credited"]').inner_text() == "已计入"
    assert page.locator("[data-points]").inner_text() == "67"
    assert status_of(app, Behaviour, first) == "credited"
    assert _balance(api, citizen.email) == 67

    page.goto(f"/console/admin/behaviours/{second}")
    page.get_by_role("button", name="驳回").click()  # no reason: refused, nothing changes
    assert page.locator(".error-summary").is_visible()
    assert "请填写理由" in page.locator("#f-reason-error").inner_text()
    assert status_of(app, Behaviour, second) == "pending_review"
    page.get_by_label("驳回理由(必填)").fill("发票模糊,无法辨认")
    page.get_by_role("button", name="驳回").click()
    page.wait_for_load_state()
    assert page.locator('[data-status="rejected"]').inner_text() == "已驳回"
    assert status_of(app, Behaviour, second) == "rejected"

    page.goto(f"/console/admin/behaviours/{first}")
    page.get_by_label("撤销理由(必填)").fill("同一张发票重复申报")
    page.get_by_role("button", name="撤销此笔计入").click()
    page.wait_for_load_state()
    assert page.locator('[data-status="reversed"]').inner_text() == "已撤销"
    assert status_of(app, Behaviour, first) == "reversed"
    assert _balance(api, citizen.email) == 0

    # The ledger still balances, run from the page (htmx POST with the CSRF header).
    page.get_by_role("navigation", name="主菜单").get_by_role("link", name="账本健康检查").click()
    page.get_by_role("button", name="立即校验").click()
    assert "账本正常" in page.locator('[data-ledger="ok"]').inner_text()
    # The audit log shows what the administrators did, filtered by action.
    page.goto("/console/admin/audit")
    page.get_by_label("操作", exact=True).fill("methodology.approved")
    page.get_by_role("button", name="查询").click()
    page.wait_for_load_state()
    assert page.locator("tr[data-event]").count() == 4  # the four default versions
