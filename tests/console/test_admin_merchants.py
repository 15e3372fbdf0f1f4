"""商户与权益 pages: merchants and staff, suspend and reinstate, reward revisions decided
with the change shown, settlement of every merchant with its CSV."""

from __future__ import annotations

from app import rewards
from app.extensions import db
from app.merchants import service as merchants
from app.uow import unit_of_work
from app.users.models import User
from tests.conftest import run_sql
from tests.console.shop import open_shop


def test_create_suspend_reinstate_and_staff(app, signed_in, api):
    admin = signed_in("admin")
    bad = admin.post("/console/admin/merchants", {"name": "", "contact": ""})
    assert bad.status_code == 422 and "请填写商户名称" in bad.get_data(as_text=True)
    resp = admin.post("/console/admin/merchants", {"name": "青山书店", "contact": "025-1"})
    assert resp.status_code == 302
    (mid, status), = run_sql(app, "SELECT id, status FROM merchants")
    taken = admin.post("/console/admin/merchants", {"name": "青山书店", "contact": "x"})
    assert taken.status_code == 422 and "已有同名商户" in taken.get_data(as_text=True)

    assert admin.post(f"/console/admin/merchants/{mid}/suspend",
                      {"reason": "证照过期"}).status_code == 302
    assert run_sql(app, "SELECT status FROM merchants") == [("suspended",)]
    page = admin.client.get(f"/console/admin/merchants/{mid}").get_data(as_text=True)
    assert "已暂停" in page and "恢复商户" in page
    assert admin.post(f"/console/admin/merchants/{mid}/reinstate").status_code == 302
    assert run_sql(app, "SELECT status FROM merchants") == [("active",)]

    clerk = api.create_user("citizen", email="clerk@example.com")
    nobody = admin.post(f"/console/admin/merchants/{mid}/staff", {"login": "no@example.com"})
    assert nobody.status_code == 422
    assert "找不到此邮箱或手机号的账号" in nobody.get_data(as_text=True)
    assert admin.post(f"/console/admin/merchants/{mid}/staff",
                      {"login": "Clerk@Example.com"}).status_code == 302
    assert run_sql(app, "SELECT user_id, merchant_id FROM merchant_staff") == [(clerk, mid)]
    assert (clerk, "merchant") in run_sql(app, "SELECT user_id, role FROM user_roles")
    assert admin.post(f"/console/admin/merchants/{mid}/staff/{clerk}/remove").status_code == 302
    assert run_sql(app, "SELECT count(*) FROM merchant_staff") == [(0,)]


def _pending_change(app, shop, **changes) -> int:
    with app.app_context(), unit_of_work():
        staff = db.session.get(User, shop.staff_id)
        rewards.update_reward(staff, merchants.get(shop.merchant_id), shop.reward_id, changes)
    (rid,), = run_sql(app, "SELECT id FROM reward_revisions WHERE status = 'pending'")
    return rid


def test_revision_shows_field_current_proposed_and_is_approved(app, signed_in):
    admin = signed_in("admin")
    shop = open_shop(app, points_price=100)
    rid = _pending_change(app, shop, points_price=80)
    page = admin.client.get("/console/admin/revisions").get_data(as_text=True)
    row = page.split('data-field="points_price"')[1].split("</tr>")[0]
    assert "所需积分" in row and "<td>100</td>" in row and "<strong>80</strong>" in row
    assert admin.post(f"/console/admin/revisions/{rid}/approve").status_code == 302
    assert run_sql(app, "SELECT points_price FROM rewards") == [(80,)]
    again = admin.post(f"/console/admin/revisions/{rid}/approve")
    assert again.status_code == 409 and "此变更已被处理" in again.get_data(as_text=True)


def test_reject_needs_a_reason(app, signed_in):
    admin = signed_in("admin")
    shop = open_shop(app)
    rid = _pending_change(app, shop, total_stock=50)
    resp = admin.post(f"/console/admin/revisions/{rid}/reject", {"reason": " "})
    assert resp.status_code == 422 and "请填写驳回理由" in resp.get_data(as_text=True)
    assert run_sql(app, "SELECT status FROM reward_revisions WHERE id = :r", r=rid) == [
        ("pending",)]
    assert admin.post(f"/console/admin/revisions/{rid}/reject",
                      {"reason": "库存与门店不符"}).status_code == 302
    assert run_sql(app, "SELECT status, reason FROM reward_revisions WHERE id = :r", r=rid) == [
        ("rejected", "库存与门店不符")]
    assert run_sql(app, "SELECT total_stock FROM rewards") == [(100,)]


def test_settlement_of_every_merchant_and_its_csv(app, signed_in):
    admin = signed_in("admin")
    shop = open_shop(app, points_price=100)
    code = shop.code()
    with app.app_context(), unit_of_work():
        rewards.verify(db.session.get(User, shop.staff_id), merchants.get(shop.merchant_id),
                       code)
    page = admin.client.get("/console/admin/settlement").get_data(as_text=True)
    row = page.split(f'data-merchant="{shop.merchant_id}"')[1].split("</tr>")[0]
    assert '<td class="num">1</td><td class="num">100</td>' in row
    csv = admin.client.get("/console/admin/settlement?format=csv")
    lines = csv.get_data(as_text=True).splitlines()
    assert csv.mimetype == "text/csv" and lines[0].startswith("\ufeffkind,merchant_id")
    assert lines[-1].endswith(",1,100")
    bad = admin.client.get("/console/admin/settlement?from=2026-13-01")
    assert bad.status_code == 422 and "请按 年-月-日 填写日期" in bad.get_data(as_text=True)


def test_every_page_of_the_group_reads_in_english(app, signed_in):
    admin = signed_in("admin")
    shop = open_shop(app)
    _pending_change(app, shop, total_stock=40)
    admin.post("/console/admin/partners/new", {"name": "P", "methodologies": ["recycling"],
                                               "attempt": "e1"})
    (pid,), = run_sql(app, "SELECT id FROM partners")
    with admin.client.session_transaction("/console/") as session:
        session["lang"] = "en"
    for path in ("/console/admin/partners", "/console/admin/partners/new",
                 f"/console/admin/partners/{pid}", "/console/admin/merchants",
                 f"/console/admin/merchants/{shop.merchant_id}", "/console/admin/revisions",
                 "/console/admin/settlement", "/console/admin/citizens?q=example",
                 f"/console/admin/citizens/{shop.staff_id}"):
        resp = admin.client.get(path)
        page = resp.get_data(as_text=True)
        assert resp.status_code == 200 and '<html lang="en">' in page, path
    revisions = admin.client.get("/console/admin/revisions").get_data(as_text=True)
    assert "Total stock" in revisions and "Reason for rejecting (required)" in revisions
