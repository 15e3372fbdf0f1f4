"""合作方 pages: register, the secret shown once, methodologies, rotate, revoke, batches."""

from __future__ import annotations

import json
import re

from tests.conftest import run_sql

SECRET = re.compile(r'id="f-secret"[^>]*value="(ps_[^"]+)"')


def _register(admin, name="地铁数据公司", codes=("green_travel",), attempt="a1"):
    return admin.post("/console/admin/partners/new",
                      {"name": name, "methodologies": list(codes), "attempt": attempt})


def test_register_shows_the_secret_once_and_a_resend_shows_nothing(app, signed_in):
    admin = signed_in("admin")
    resp = _register(admin)
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    secret = SECRET.search(page).group(1)
    assert "copy.js" in page and "data-copy" in page
    (partner_id, name), = run_sql(app, "SELECT id, name FROM partners")
    assert name == "地铁数据公司"
    # The same form again (a reload, Back and resend): no second partner, no secret.
    again = _register(admin)
    assert again.status_code == 302 and "again=1" in again.headers["Location"]
    assert secret not in admin.client.get(again.headers["Location"]).get_data(as_text=True)
    assert secret not in admin.client.get(f"/console/admin/partners/{partner_id}").get_data(
        as_text=True)
    assert run_sql(app, "SELECT count(*) FROM partners") == [(1,)]
    # Nothing but the key row holds it (HMAC needs it there): not the audit log.
    assert all(secret not in str(d) for (d,) in run_sql(app, "SELECT details FROM audit_events"))


def test_bad_registration_comes_back_with_field_errors_and_writes_nothing(app, signed_in):
    admin = signed_in("admin")
    resp = admin.post("/console/admin/partners/new", {"name": " ", "attempt": "x"})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "请填写名称" in page and "请至少选择一个已登记的方法学" in page
    resp = _register(admin, codes=("no_such_code",), attempt="y")
    assert resp.status_code == 422 and "请至少选择一个已登记的方法学" in resp.get_data(as_text=True)
    _register(admin, attempt="z")
    resp = _register(admin, attempt="w")
    assert resp.status_code == 409 and "已有同名的合作方" in resp.get_data(as_text=True)
    assert run_sql(app, "SELECT count(*) FROM partners") == [(1,)]


def test_methodologies_rotate_and_revoke(app, signed_in):
    admin = signed_in("admin")
    _register(admin)
    (pid,), = run_sql(app, "SELECT id FROM partners")
    resp = admin.post(f"/console/admin/partners/{pid}/methodologies",
                      {"methodologies": ["green_travel", "clean_plate"]})
    assert resp.status_code == 302
    (codes,), = run_sql(app, "SELECT methodologies FROM partners")
    assert sorted(json.loads(codes) if isinstance(codes, str) else codes) == [
        "clean_plate", "green_travel"]
    empty = admin.post(f"/console/admin/partners/{pid}/methodologies", {})
    assert empty.status_code == 422
    rotated = admin.post(f"/console/admin/partners/{pid}/keys", {"attempt": "r1"})
    assert rotated.status_code == 200 and SECRET.search(rotated.get_data(as_text=True))
    assert admin.post(f"/console/admin/partners/{pid}/keys", {"attempt": "r1"}).status_code == 302
    keys = run_sql(app, "SELECT key_id, expires_at FROM partner_keys ORDER BY created_at")
    assert len(keys) == 2 and keys[0][1] is not None and keys[1][1] is None
    resp = admin.post(f"/console/admin/partners/{pid}/keys/{keys[1][0]}/revoke")
    assert resp.status_code == 302
    (revoked,), = run_sql(app, "SELECT revoked_at FROM partner_keys WHERE key_id = :k",
                          k=keys[1][0])
    assert revoked is not None
    page = admin.client.get(f"/console/admin/partners/{pid}").get_data(as_text=True)
    assert "已吊销" in page and "尚未报送数据" in page
    assert admin.post(f"/console/admin/partners/{pid}/keys/pk_nope/revoke").status_code == 404


def test_partner_page_lists_recent_batches_with_their_outcomes(app, signed_in):
    from datetime import UTC, datetime, timedelta

    from app.partners import service as partners
    from app.uow import unit_of_work

    admin = signed_in("admin")
    _register(admin)
    (pid,), = run_sql(app, "SELECT id FROM partners")
    record = {"external_id": "t1", "user_ref": "nobody", "methodology": "green_travel",
              "occurred_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
              "data": {"mode": "bus", "distance_km": "3"}}
    with app.app_context(), unit_of_work():
        partners.submit_batch(partners.get(pid), [record, "not a record"])
    page = admin.client.get(f"/console/admin/partners/{pid}").get_data(as_text=True)
    row = page.split("data-batch=")[1].split("</tr>")[0]
    assert '<td class="num">2</td>' in row
    assert '已拒绝: <span data-count="rejected">1</span>' in row
    assert '无效: <span data-count="invalid">1</span>' in row
