"""审核 in the console: approve credits the citizen once, reject and reverse need a reason,
the recompute check shows, and refusals change nothing."""

from __future__ import annotations

import pytest

from app import ledger
from app.behaviours.models import Behaviour
from tests.console.review_data import approve_defaults, queued_behaviour, status_of


@pytest.fixture
def queued(app):
    approve_defaults(app)
    return queued_behaviour(app)


def _posted(app, user_id: int) -> int:
    with app.app_context():
        return ledger.summary(user_id)["posted"]


def test_queue_shows_evidence_and_reasons(app, signed_in, queued):
    behaviour_id, _citizen = queued
    admin = signed_in("admin")
    page = admin.client.get("/console/admin/review").get_data(as_text=True)
    assert f'data-behaviour="{behaviour_id}"' in page and "invoice_no" in page
    assert "待审核" in page
    credited = admin.client.get("/console/admin/review?status=credited").get_data(as_text=True)
    assert f'data-behaviour="{behaviour_id}"' not in credited
    jump = admin.client.get(f"/console/admin/review?id={behaviour_id}")
    assert jump.status_code == 302 and jump.headers["Location"].endswith(f"/{behaviour_id}")
    bad = admin.client.get("/console/admin/review?id=abc")
    assert bad.status_code == 422 and "请填写行为编号" in bad.get_data(as_text=True)
    assert admin.client.get("/console/admin/review?status=nope").status_code == 422


def test_approve_credits_once_then_reverse_takes_it_back(app, signed_in, queued):
    behaviour_id, citizen = queued
    admin = signed_in("admin")
    page = admin.client.get(f"/console/admin/behaviours/{behaviour_id}").get_data(as_text=True)
    assert "✓ 一致" in page  # the recompute check of the stored input
    assert _posted(app, citizen) == 0
    ok = admin.post(f"/console/admin/behaviours/{behaviour_id}/approve", {"note": "发票已核"})
    assert ok.status_code == 302
    assert status_of(app, Behaviour, behaviour_id) == "credited"
    assert _posted(app, citizen) == 67
    again = admin.post(f"/console/admin/behaviours/{behaviour_id}/approve")
    assert again.status_code == 409 and "状态已改变" in again.get_data(as_text=True)
    assert _posted(app, citizen) == 67

    no_reason = admin.post(f"/console/admin/behaviours/{behaviour_id}/reverse",
                           {"reverse_reason": ""})
    assert no_reason.status_code == 422 and "请填写理由" in no_reason.get_data(as_text=True)
    assert _posted(app, citizen) == 67
    assert admin.post(f"/console/admin/behaviours/{behaviour_id}/reverse",
                      {"reverse_reason": "重复申报"}).status_code == 302
    assert status_of(app, Behaviour, behaviour_id) == "reversed"
    assert _posted(app, citizen) == 0


def test_reject_needs_a_reason(app, signed_in, queued):
    behaviour_id, citizen = queued
    admin = signed_in("admin")
    empty = admin.post(f"/console/admin/behaviours/{behaviour_id}/reject", {"reason": "x"})
    assert empty.status_code == 422
    assert status_of(app, Behaviour, behaviour_id) == "pending_review"
    assert admin.post(f"/console/admin/behaviours/{behaviour_id}/reject",
                      {"reason": "发票模糊"}).status_code == 302
    assert status_of(app, Behaviour, behaviour_id) == "rejected"
    page = admin.client.get(f"/console/admin/behaviours/{behaviour_id}").get_data(as_text=True)
    assert "rejected on review: 发票模糊" in page and _posted(app, citizen) == 0


def test_unknown_behaviour_is_404(signed_in):
    assert signed_in("admin").client.get("/console/admin/behaviours/999999").status_code == 404
