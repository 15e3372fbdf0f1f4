"""The merchant portal in a real browser: rewards to approval, settlement, and the
refusals (another merchant's data, a forged POST, a disabled account, the login limit)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.rewards.models import Reward, RewardRevision
from app.uow import unit_of_work
from app.users import service as users
from app.users.models import User
from tests.browser.conftest import Account, sign_in
from tests.console.shop import open_shop


@pytest.fixture
def shop(app):
    return open_shop(app)


def _staff(shop) -> Account:
    return Account(shop.staff_id, shop.staff_email)


def test_staff_proposes_a_reward_and_it_waits_for_approval(page, app, shop):
    sign_in(page, _staff(shop))
    page.get_by_role("link", name="权益", exact=True).click()
    page.get_by_role("link", name="新建权益").click()
    page.get_by_label("中文名称").fill("竹制餐具一套")
    page.get_by_label("所需积分").fill("abc")
    page.get_by_label("总库存").fill("20")
    page.get_by_role("button", name="提交审批").click()
    # Bad input: the form comes back with the field's error, nothing is written.
    assert page.get_by_label("所需积分").get_attribute("aria-invalid") == "true"
    assert "积分应为 1 至 10,000,000 的整数" in page.inner_text("main")
    assert page.get_by_label("中文名称").input_value() == "竹制餐具一套"
    with app.app_context():
        assert db.session.scalar(db.select(Reward).where(Reward.title_zh == "竹制餐具一套")) \
            is None
    page.get_by_label("所需积分").fill("300")
    page.get_by_role("button", name="提交审批").click()
    expect(page.get_by_role("status")).to_have_text("已提交,等待管理员审批。")
    pending = page.locator("[data-revision]")
    assert "竹制餐具一套" in pending.inner_text()
    with app.app_context():
        reward = db.session.scalar(db.select(Reward).where(Reward.title_zh == "竹制餐具一套"))
        assert reward.merchant_id == shop.merchant_id and not reward.listed
        revision = db.session.scalar(db.select(RewardRevision).where(
            RewardRevision.reward_id == reward.id))
        assert revision.status == "pending" and revision.changes["points_price"] == 300


def test_settlement_lists_the_verified_code_and_exports_csv(page, shop):
    code = shop.code()
    sign_in(page, _staff(shop))
    page.get_by_label("券码").fill(code)
    page.get_by_role("button", name="核销", exact=True).click()
    page.get_by_role("status").wait_for()
    page.get_by_role("link", name="核销记录").click()
    assert page.locator('[data-today="redemptions"]').inner_text() == "1"
    assert "已核销" in page.inner_text("table")
    page.get_by_role("link", name="结算").click()
    page.wait_for_url(re.compile(rf"/console/merchants/{shop.merchant_id}/settlement"))
    assert page.locator('[data-total="points"]').inner_text() == "100"
    with page.expect_download() as download:
        page.get_by_role("link", name="导出 CSV").click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert text.splitlines()[0].startswith("kind,merchant_id")
    assert "低碳咖啡一杯" in text


def test_staff_cannot_open_another_merchants_settlement(page, app, shop):
    other = open_shop(app)
    sign_in(page, _staff(shop))
    response = page.goto(f"/console/merchants/{other.merchant_id}/settlement")
    assert response.status == 403
    assert "您无权访问此页面" in page.inner_text("main")


def test_a_post_without_the_csrf_token_is_refused(page, shop):
    code = shop.code()
    sign_in(page, _staff(shop))
    status = page.evaluate("""async (code) => {
        const body = new URLSearchParams({code: code, attempt: 'forged'});
        const r = await fetch('/console/merchant/verify', {method: 'POST', body: body});
        return r.status;
    }""", code)
    assert status == 403
    assert shop.status_of(code) == "reserved"
    page.reload()
    page.get_by_label("券码").fill(code)  # the real form, with its token, still works
    page.get_by_role("button", name="核销", exact=True).click()
    page.get_by_role("status").wait_for()
    assert shop.status_of(code) == "fulfilled"


def test_a_disabled_users_open_session_stops_on_the_next_click(page, app, shop):
    sign_in(page, _staff(shop))
    with app.app_context(), unit_of_work():
        users.disable(db.session.get(User, shop.admin_id), db.session.get(User, shop.staff_id))
    page.get_by_role("link", name="权益", exact=True).click()
    page.wait_for_url(re.compile(r"/console/login"))
    assert "登录已过期" in page.inner_text("main")


def test_the_sign_in_limit_holds(page, app, shop):
    app.config["LOGIN_LIMIT_PER_ACCOUNT"] = "3 per 5 minutes"
    wrong = Account(shop.staff_id, shop.staff_email, password="Not-The-Password-1")
    page.goto("/console/login")
    for _ in range(3):
        page.get_by_label("邮箱或手机号").fill(wrong.email)
        page.get_by_label("密码").fill(wrong.password)
        page.get_by_role("button", name="登录").click()
        assert page.get_by_role("alert").inner_text() == "账号或密码错误。"
    page.get_by_label("邮箱或手机号").fill(shop.staff_email)
    page.get_by_label("密码").fill(_staff(shop).password)
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_have_text("失败次数过多,请稍后再试。")
    assert "/console/login" in page.url
