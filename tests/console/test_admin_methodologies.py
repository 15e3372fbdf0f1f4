"""方法学 in the console: the diff, proposals, four-eyes, decisions, and nothing written
on bad input."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from app.db_types import utcnow
from app.localtime import local_zone
from tests.conftest import run_sql
from tests.console.review_data import approve_defaults

RECEIPT = "ef_receipt_g_per_sheet"


@pytest.fixture
def in_force(app):
    return approve_defaults(app)


def _versions(app, code="paperless") -> dict[int, str]:
    return dict(run_sql(app, "SELECT id, status FROM methodology_versions WHERE code = :c",
                        c=code))


def _propose(staff, value="2.0", source="南京市抽样调查 2026,表 3", **more):
    return staff.post("/console/admin/methodologies/paperless/propose",
                      {f"value-{RECEIPT}": value, f"source-{RECEIPT}": source, **more})


def _new_id(resp) -> int:
    assert resp.status_code == 302, resp.get_data(as_text=True)[:800]
    return int(re.search(r"/methodology-versions/(\d+)$", resp.headers["Location"]).group(1))


def test_list_shows_codes_versions_and_states(app, signed_in, in_force):
    admin = signed_in("admin")
    page = admin.client.get("/console/admin/methodologies").get_data(as_text=True)
    for code in ("paperless", "green_travel", "recycling", "clean_plate"):
        assert f"<code>{code}</code>" in page
    assert "已批准" in page and "提出参数变更" in page


def test_proposal_shows_a_diff_and_its_proposer_cannot_approve(app, signed_in, in_force):
    alice, bob = signed_in("admin"), signed_in("admin")
    before = _versions(app)
    new = _new_id(_propose(alice))
    assert _versions(app)[new] == "pending" and len(_versions(app)) == len(before) + 1
    params = run_sql(app, "SELECT parameters FROM methodology_versions WHERE id = :i", i=new)[0][0]
    if isinstance(params, str):  # SQLite hands JSON back as text
        import json
        params = json.loads(params)
    assert params[RECEIPT]["value"] == "2.0"
    assert params[RECEIPT]["source"] == "南京市抽样调查 2026,表 3"

    page = alice.client.get(f"/console/admin/methodology-versions/{new}").get_data(as_text=True)
    row = re.search(rf'<tr class="changed" data-parameter="{RECEIPT}">(.*?)</tr>', page, re.S)
    assert row and "1.7" in row.group(1) and "2.0" in row.group(1) and "已修改" in row.group(1)
    assert page.count("已修改") == 1 and "未修改" in page
    # The proposer is told why there is no approve button, and the server refuses anyway.
    assert "须由另一位管理员审批" in page and "审批通过</button>" not in page
    refused = alice.post(f"/console/admin/methodology-versions/{new}/approve")
    assert refused.status_code == 403
    assert "您不能审批自己提交的版本" in refused.get_data(as_text=True)
    assert _versions(app)[new] == "pending"

    assert "审批通过</button>" in bob.client.get(
        f"/console/admin/methodology-versions/{new}").get_data(as_text=True)
    with app.app_context():  # the local zone is configuration
        start = (utcnow() + timedelta(minutes=5)).astimezone(local_zone()).replace(
            second=0, microsecond=0)
    ok = bob.post(f"/console/admin/methodology-versions/{new}/approve",
                  {"effective_from": start.strftime("%Y-%m-%dT%H:%M")})
    assert ok.status_code == 302
    statuses = _versions(app)
    assert statuses[new] == "approved" and "superseded" in statuses.values()
    page = bob.client.get(f"/console/admin/methodology-versions/{new}").get_data(as_text=True)
    assert start.strftime("%Y-%m-%d %H:%M") in page and "已批准" in page


def test_bad_proposals_come_back_with_the_fields_error_and_write_nothing(app, signed_in,
                                                                          in_force):
    admin = signed_in("admin")
    before = _versions(app)
    no_source = _propose(admin, source="")
    assert no_source.status_code == 422
    assert "请注明新值的来源" in no_source.get_data(as_text=True)
    assert 'aria-invalid="true" aria-describedby="f-source-ef_receipt_g_per_sheet-error"' in \
        no_source.get_data(as_text=True)
    nothing = admin.post("/console/admin/methodologies/paperless/propose", {})
    assert nothing.status_code == 422 and "没有修改任何参数" in nothing.get_data(as_text=True)
    wrong_type = admin.post("/console/admin/methodologies/paperless/propose", {
        "value-max_records_per_day": "many", "source-max_records_per_day": "a long source"})
    assert wrong_type.status_code == 422 and "数值格式不对" in wrong_type.get_data(as_text=True)
    too_big = _propose(admin, value="-1")
    assert too_big.status_code == 422 and "数值超出允许范围" in too_big.get_data(as_text=True)
    assert _versions(app) == before

    with admin.client.session_transaction("/console/") as session:
        session["lang"] = "en"
    english = _propose(admin, source="")
    assert english.status_code == 422
    assert "Cite the new value" in english.get_data(as_text=True)
    assert _versions(app) == before


def test_reject_needs_a_reason_and_retire_stops_a_version(app, signed_in, in_force):
    alice, bob = signed_in("admin"), signed_in("admin")
    new = _new_id(_propose(alice))
    empty = bob.post(f"/console/admin/methodology-versions/{new}/reject", {"reason": " "})
    assert empty.status_code == 422 and "请填写理由" in empty.get_data(as_text=True)
    assert _versions(app)[new] == "pending"
    assert bob.post(f"/console/admin/methodology-versions/{new}/reject",
                    {"reason": "来源不足"}).status_code == 302
    assert _versions(app)[new] == "rejected"
    again = bob.post(f"/console/admin/methodology-versions/{new}/reject", {"reason": "又一次"})
    assert again.status_code == 409 and "已不是待审批状态" in again.get_data(as_text=True)

    current = next(i for i, s in _versions(app).items() if s == "approved")
    assert bob.post(f"/console/admin/methodology-versions/{current}/retire",
                    {"retire_reason": "模块停用"}).status_code == 302
    assert _versions(app)[current] == "retired"
    actions = [r[0] for r in run_sql(app, "SELECT action FROM audit_events WHERE "
                                          "target_type = 'methodology_version'")]
    assert {"methodology.proposed", "methodology.rejected", "methodology.retired"} <= set(
        actions)


def test_unknown_code_and_version_are_404(signed_in):
    admin = signed_in("admin")
    assert admin.client.get("/console/admin/methodologies/nope/propose").status_code == 404
    assert admin.client.get("/console/admin/methodology-versions/999999").status_code == 404
