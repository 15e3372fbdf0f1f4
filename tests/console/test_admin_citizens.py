"""市民 pages: find by email or mobile (masked), the account, disable and enable, roles,
points adjusted with a reason through the ledger (once, however often the form comes)."""

from __future__ import annotations

from app import ledger
from app.console.admin_citizens import mask_email, mask_mobile
from app.uow import unit_of_work
from app.users import service as users
from tests.conftest import run_sql
from tests.helpers import PASSWORD


def _citizen(app, mobile="+8613812345678", email=None) -> int:
    with app.app_context(), unit_of_work():
        user = users.register(password=PASSWORD, mobile=mobile, email=email)
        ledger.earn(user.id, 40, key=f"seed-{user.id}", cause_type="behaviour")
        return user.id


def test_masks():
    assert mask_email("alice@example.com") == "a***@example.com"
    assert mask_mobile("+8613812345678") == "138****5678"


def test_find_by_mobile_lists_it_masked(app, signed_in):
    admin = signed_in("admin")
    uid = _citizen(app)
    _citizen(app, mobile="+8613912340000", email="bob@example.com")
    for q in ("13812345678", "+86 138 1234 5678", "1381234"):
        page = admin.client.get("/console/admin/citizens", query_string={"q": q}).get_data(
            as_text=True)
        assert f'data-user="{uid}"' in page and "138****5678" in page, q
        assert "13812345678" not in page.split("</form>")[1]
    page = admin.client.get("/console/admin/citizens?q=bob@").get_data(as_text=True)
    assert "b***@example.com" in page and "bob@example.com" not in page.split("</form>")[1]


def test_adjust_once_with_a_reason_and_bad_input_writes_nothing(app, signed_in):
    admin = signed_in("admin")
    uid = _citizen(app)
    path = f"/console/admin/citizens/{uid}/adjust"
    bad = admin.post(path, {"points": "0", "reason": "x", "attempt": "a"})
    page = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "积分应为非零整数" in page and "请填写理由" in page
    too_much = admin.post(path, {"points": "-41", "reason": "退回多发积分", "attempt": "b"})
    assert too_much.status_code == 422 and "可用积分不足" in too_much.get_data(as_text=True)
    assert run_sql(app, "SELECT count(*) FROM ledger_transactions WHERE type = 'adjustment'"
                   ) == [(0,)]
    form = {"points": "25", "reason": "公交刷卡漏记", "attempt": "c"}
    assert admin.post(path, form).status_code == 302
    assert admin.post(path, form).status_code == 302  # sent again: the same adjustment
    with app.app_context():
        assert ledger.available(uid) == 65
    assert run_sql(app, "SELECT actor_id, details FROM audit_events WHERE action = "
                        "'ledger.adjusted'")[0][0] == admin.user_id
    assert len(run_sql(app, "SELECT id FROM audit_events WHERE action = 'ledger.adjusted'")) == 1
    page = admin.client.get(f"/console/admin/citizens/{uid}").get_data(as_text=True)
    assert 'data-balance="available">65<' in page and "公交刷卡漏记" in page


def test_disable_enable_and_roles(app, signed_in):
    admin = signed_in("admin")
    uid = _citizen(app)
    assert admin.post(f"/console/admin/citizens/{uid}/disable").status_code == 302
    assert run_sql(app, "SELECT disabled_at IS NOT NULL FROM users WHERE id = :u", u=uid)[0][0]
    assert admin.post(f"/console/admin/citizens/{uid}/enable").status_code == 302
    assert run_sql(app, "SELECT disabled_at FROM users WHERE id = :u", u=uid) == [(None,)]
    assert admin.post(f"/console/admin/citizens/{uid}/roles/admin/grant").status_code == 302
    assert (uid, "admin") in run_sql(app, "SELECT user_id, role FROM user_roles")
    assert admin.post(f"/console/admin/citizens/{uid}/roles/admin/revoke").status_code == 302
    assert (uid, "admin") not in run_sql(app, "SELECT user_id, role FROM user_roles")
    needs = admin.post(f"/console/admin/citizens/{uid}/roles/merchant/grant")
    assert needs.status_code == 409 and "商户员工角色需先" in needs.get_data(as_text=True)
    assert admin.post(f"/console/admin/citizens/{uid}/roles/pilot/grant").status_code == 404
    # The last active administrator keeps the role, and the page says why.
    last = admin.post(f"/console/admin/citizens/{admin.user_id}/disable")
    assert last.status_code == 409 and "最后一位有效的管理员" in last.get_data(as_text=True)
