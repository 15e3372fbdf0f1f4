"""Administrators' partners, reward revisions and citizens pages in a real browser: what
the page shows, then what the database holds. With CONSOLE_SHOTS=<dir> the pages are
also photographed there (to look at them while working on them)."""

from __future__ import annotations

import os
import re

from app import rewards
from app.extensions import db
from app.merchants import service as merchants
from app.uow import unit_of_work
from app.users import service as users
from app.users.models import User
from tests.browser.conftest import sign_in
from tests.conftest import run_sql
from tests.console.shop import open_shop
from tests.helpers import PASSWORD

SECRET = re.compile(r"ps_[A-Za-z0-9_-]{20,}")


def _shot(page, name: str) -> None:
    folder = os.environ.get("CONSOLE_SHOTS")
    if folder:
        page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=True)


def test_partner_secret_is_shown_once_then_rotated_and_revoked(page, accounts, app):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in(page, accounts.admin())
    page.get_by_role("navigation", name="主菜单").get_by_role("link", name="合作方").click()
    page.get_by_role("link", name="登记合作方").click()
    page.get_by_label("名称").fill("南京地铁数据")
    page.get_by_label("green_travel").check()
    page.get_by_role("button", name="登记").click()

    secret = page.get_by_label("密钥(secret)").input_value()
    assert SECRET.fullmatch(secret)
    assert "离开或刷新本页后将无法再次查看" in page.inner_text("main")
    page.get_by_role("button", name="复制密钥").click()
    page.wait_for_function("document.querySelector('[data-copy-status]').textContent !== ''")
    assert page.locator("[data-copy-status]").inner_text() == "已复制到剪贴板。"
    assert page.evaluate("navigator.clipboard.readText()") == secret
    _shot(page, "partner-secret")

    page.reload()  # the form again: no second partner, no secret
    assert secret not in page.content() and "密钥只显示一次" in page.inner_text("main")
    page.go_back()
    assert secret not in page.content()
    (pid,), = run_sql(app, "SELECT id FROM partners")
    assert run_sql(app, "SELECT count(*) FROM partner_keys") == [(1,)]
    assert all(secret not in str(d) for (d,) in run_sql(app, "SELECT details FROM audit_events"))

    page.goto(f"/console/admin/partners/{pid}")
    page.get_by_role("button", name="签发新密钥(轮换)").click()
    second = page.get_by_label("密钥(secret)").input_value()
    assert SECRET.fullmatch(second) and second != secret
    new_key = page.locator("[data-key-id]").inner_text()
    page.get_by_role("link", name="我已保存,返回合作方").click()
    assert second not in page.content()
    row = page.locator(f'tr[data-key="{new_key}"]')
    row.get_by_role("button", name=re.compile("^吊销")).click()
    assert page.get_by_role("status").inner_text() == "密钥已吊销。"
    assert "已吊销" in page.locator(f'tr[data-key="{new_key}"]').inner_text()
    _shot(page, "partner-detail")
    keys = dict(run_sql(app, "SELECT key_id, revoked_at FROM partner_keys"))
    assert len(keys) == 2 and keys[new_key] is not None
    assert [k for k, revoked in keys.items() if revoked is None] != [new_key]


def test_admin_approves_a_reward_revision_and_the_catalogue_shows_it(page, accounts, app, api):
    shop = open_shop(app, points_price=100, title_zh="低碳午餐")
    with app.app_context(), unit_of_work():
        staff = db.session.get(User, shop.staff_id)
        rewards.update_reward(staff, merchants.get(shop.merchant_id), shop.reward_id,
                              {"points_price": 60})
    sign_in(page, accounts.admin())
    page.get_by_role("navigation", name="主菜单").get_by_role("link", name="权益变更审批").click()
    card = page.locator("section[data-revision]")
    row = card.locator('tr[data-field="points_price"]')
    assert re.sub(r"\s+", " ", row.inner_text()).startswith("所需积分 100 60")
    _shot(page, "reward-revisions")
    card.get_by_role("button", name=re.compile("^通过")).click()
    assert page.get_by_role("status").inner_text() == "已通过,变更已生效。"
    assert run_sql(app, "SELECT points_price FROM rewards WHERE id = :r", r=shop.reward_id) == [
        (60,)]
    citizen = api.caller("citizen")
    items = api.get("/api/v1/rewards", citizen).get_json()["items"]
    assert [i["points_price"] for i in items if i["id"] == shop.reward_id] == [60]


def test_admin_finds_a_citizen_by_mobile_adjusts_points_and_disables_them(page, accounts, app,
                                                                          api):
    with app.app_context(), unit_of_work():
        uid = users.register(password=PASSWORD, mobile="+8613812345678").id
    token = api.login("13812345678").get_json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/api/v1/me", headers=bearer).status_code == 200
    admin = accounts.admin()
    sign_in(page, admin)
    page.get_by_role("navigation", name="主菜单").get_by_role("link", name="市民").click()
    page.get_by_label("邮箱或手机号").fill("138 1234 5678")
    page.get_by_role("button", name="查找").click()
    row = page.locator(f'tr[data-user="{uid}"]')
    assert row.locator("[data-login]").inner_text() == "138****5678"
    assert "13812345678" not in page.locator("table").inner_text()
    _shot(page, "citizens-found")
    row.get_by_role("link").click()

    page.get_by_label("积分(正数增加,负数扣减)").fill("abc")
    page.get_by_role("button", name="确认调整").click()
    assert "积分应为非零整数" in page.get_by_role("alert").inner_text()
    page.get_by_label("积分(正数增加,负数扣减)").fill("30")
    page.get_by_label(re.compile("^调整理由")).fill("线下活动补记积分")
    page.get_by_role("button", name="确认调整").click()
    assert page.get_by_role("status").inner_text() == "积分已调整。"
    assert page.locator('[data-balance="available"]').inner_text() == "30"
    entries = page.locator('section[aria-labelledby="entries-heading"]').inner_text()
    assert "人工调整" in entries and "+30" in entries and "线下活动补记积分" in entries
    _shot(page, "citizen-account")
    assert api.client.get("/api/v1/account", headers=bearer).get_json()["available"] == 30
    logged = run_sql(app, "SELECT actor_id, target_id FROM audit_events "
                          "WHERE action = 'ledger.adjusted'")
    assert logged == [(admin.user_id, str(uid))]

    page.get_by_role("button", name="停用账号").click()
    assert page.get_by_role("status").inner_text() == "账号已停用。"
    assert page.locator("[data-user-status]").inner_text() == "已停用"
    assert run_sql(app, "SELECT disabled_at IS NOT NULL FROM users WHERE id = :u", u=uid)[0][0]
    assert api.client.get("/api/v1/me", headers=bearer).status_code == 401
