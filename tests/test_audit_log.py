"""The audit log as administrators read it: GET /api/v1/admin/audit-events."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update

from app.audit.models import AuditEvent
from app.extensions import db
from tests.helpers import assert_problem

PATH = "/api/v1/admin/audit-events"


def test_administrators_read_who_did_what_newest_first(api):
    alice, bob = api.caller("admin"), api.caller("admin")
    rider = api.caller()
    assert api.post(f"/api/v1/admin/users/{rider.id}/disable", alice).status_code == 200
    assert api.post(f"/api/v1/admin/users/{rider.id}/enable", bob).status_code == 200
    assert api.put(f"/api/v1/admin/users/{rider.id}/roles/admin", bob).status_code == 200

    page = api.get(PATH, alice).get_json()
    assert [(e["action"], e["actor_id"], e["target_type"], e["target_id"])
            for e in page["items"][:3]] == [
        ("user.role_granted", bob.id, "user", str(rider.id)),
        ("user.enabled", bob.id, "user", str(rider.id)),
        ("user.disabled", alice.id, "user", str(rider.id))]
    assert page["items"][0]["details"] == {"role": "admin"} and page["items"][0]["at"]

    by_bob = api.get(f"{PATH}?actor_id={bob.id}", alice).get_json()
    assert [e["action"] for e in by_bob["items"]] == ["user.role_granted", "user.enabled"]
    chosen = api.get(f"{PATH}?action=user.disabled&action=user.enabled", alice).get_json()
    assert [e["action"] for e in chosen["items"]] == ["user.enabled", "user.disabled"]
    history = api.get(f"{PATH}?target_type=user&target_id={rider.id}&per_page=2", alice)
    assert history.get_json()["total"] == 3 and len(history.get_json()["items"]) == 2


def test_dates_are_local_days(api, app):
    admin = api.caller("admin")
    rider = api.caller()
    api.post(f"/api/v1/admin/users/{rider.id}/disable", admin)
    # 2026-03-01 16:30 UTC is 00:30 on 2 March in Shanghai (the default TIMEZONE).
    with app.app_context():
        db.session.execute(update(AuditEvent).values(at=datetime(2026, 3, 1, 16, 30,
                                                                 tzinfo=UTC)))
        db.session.commit()
    listed = lambda query: [e["action"] for e in api.get(f"{PATH}?{query}", admin)  # noqa: E731
                            .get_json()["items"]]
    assert listed("from=2026-03-02&to=2026-03-02") == ["user.disabled"]
    assert listed("to=2026-03-01") == []
    assert listed("from=2026-03-03") == []


def test_only_administrators_and_only_valid_filters(api):
    admin, citizen = api.caller("admin"), api.caller()
    assert_problem(api.get(PATH), 401)
    assert_problem(api.get(PATH, citizen), 403, "forbidden")
    assert_problem(api.get(PATH, api.caller("merchant")), 403)
    for query in ("from=2026-02-02&to=2026-02-01", "from=0001-01-01", "actor_id=0",
                  "actor_id=99999999999999999999", "target_type=" + "x" * 33, "per_page=101"):
        assert_problem(api.get(f"{PATH}?{query}", admin), 422)
