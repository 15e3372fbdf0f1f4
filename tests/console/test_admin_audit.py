"""审计与账本 in the console: the audit log's filters, pages and CSV; ledger verify on a
POST with the CSRF token."""

from __future__ import annotations

import csv
import io

from app.audit import service as audit
from app.uow import unit_of_work


def _events(app, n: int, action: str = "test.thing") -> None:
    with app.app_context(), unit_of_work():
        for i in range(n):
            audit.record(None, action, "thing", i, note=f"=cmd {i}")


def test_audit_log_filters_pages_and_csv(app, signed_in):
    admin = signed_in("admin")
    _events(app, 25)
    _events(app, 2, action="other.thing")
    page = admin.client.get("/console/admin/audit?action=test.thing").get_data(as_text=True)
    assert "共 25 条记录" in page and page.count('data-event="') == 20
    assert "other.thing" not in page.split("<tbody>")[1]
    assert "第 1 / 2 页" in page and "action=test.thing" in page  # the next page keeps it
    second = admin.client.get("/console/admin/audit?action=test.thing&page=2").get_data(
        as_text=True)
    assert second.count('data-event="') == 5

    resp = admin.client.get("/console/admin/audit?action=test.thing&format=csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:4] == ["id", "at_local", "actor_id", "action"] and len(rows) == 26
    assert all(r[3] == "test.thing" for r in rows[1:])

    for query, message in (("from=2026-13-01", "请按 年-月-日 填写日期"),
                           ("from=2026-02-01&to=2026-01-01", "开始日期不晚于结束日期"),
                           ("actor_id=abc", "操作人编号应为正整数")):
        bad = admin.client.get(f"/console/admin/audit?{query}")
        assert bad.status_code == 422 and message in bad.get_data(as_text=True), query


def test_ledger_verify_runs_on_a_post_with_the_token(app, signed_in):
    admin = signed_in("admin")
    page = admin.client.get("/console/admin/ledger").get_data(as_text=True)
    assert "立即校验" in page and 'data-ledger="ok"' not in page
    ok = admin.post("/console/admin/ledger/verify")
    assert ok.status_code == 200 and 'data-ledger="ok"' in ok.get_data(as_text=True)
    partial = admin.post("/console/admin/ledger/verify", headers={"HX-Request": "true"})
    assert "<html" not in partial.get_data(as_text=True)
    assert 'data-ledger="ok"' in partial.get_data(as_text=True)
    refused = admin.client.post("/console/admin/ledger/verify")  # no CSRF token
    assert refused.status_code == 403 and "页面已过期" in refused.get_data(as_text=True)
