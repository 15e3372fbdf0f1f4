from __future__ import annotations

from datetime import timedelta

import pytest
from flask import current_app

from app import ledger
from app.db_types import utcnow
from app.ledger import jobs as ledger_jobs
from app.scheduler import jobs
from app.uow import unit_of_work
from tests.conftest import run_sql
from tests.ledger.conftest import assert_consistent


def expired_total(app) -> int:
    return run_sql(app, "SELECT coalesce(sum(amount), 0) FROM ledger_postings p "
                        "JOIN ledger_transactions t ON t.id = p.transaction_id "
                        "WHERE t.type = 'expire' AND p.amount > 0")[0][0]


@pytest.fixture
def due_users(new_user, monkeypatch):
    monkeypatch.setitem(current_app.config, "POINTS_VALIDITY_DAYS", 1)
    users = [new_user() for _ in range(4)]
    for i, u in enumerate(users):
        with unit_of_work():
            ledger.earn(u, 10 * (i + 1), key=f"e{i}", cause_type="behaviour")
    later = utcnow() + timedelta(days=3)
    monkeypatch.setattr(ledger_jobs, "utcnow", lambda: later)
    return users


def test_expiry_job_run_twice_posts_once(app, due_users):
    jobs.bind_app(app)
    assert jobs.run_job("expire_points") == {"users": 4, "points": 100}
    assert jobs.run_job("expire_points") == {"users": 0, "points": 0}
    assert expired_total(app) == 100
    assert_consistent()


def test_expiry_job_failing_part_way_leaves_a_consistent_ledger(app, due_users, monkeypatch):
    real = ledger.expire_user_lots
    calls = {"n": 0}

    def flaky(user_id, now):
        points = real(user_id, now)  # the work is flushed …
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("crash between steps")  # … and dies before its commit
        return points

    monkeypatch.setattr(ledger, "expire_user_lots", flaky)
    jobs.bind_app(app)
    with pytest.raises(RuntimeError):
        jobs.run_job("expire_points")
    assert_consistent()
    assert expired_total(app) == 10 + 20  # the first two users' units of work committed
    monkeypatch.setattr(ledger, "expire_user_lots", real)
    assert jobs.run_job("expire_points")["points"] == 30 + 40
    assert expired_total(app) == 100
    assert_consistent()


def test_expiry_job_pages_past_users_that_are_due_again(app, due_users, monkeypatch):
    """A user due again after their turn (points released to an expired lot meanwhile)
    filled a whole page of users already done, and the job stopped before the rest."""
    monkeypatch.setattr(ledger_jobs, "EXPIRY_PAGE", 1)
    real = ledger.expire_user_lots

    def first_stays_due(user_id, now):
        return 0 if user_id == due_users[0] else real(user_id, now)

    monkeypatch.setattr(ledger, "expire_user_lots", first_stays_due)
    jobs.bind_app(app)
    assert jobs.run_job("expire_points") == {"users": 4, "points": 20 + 30 + 40}
    monkeypatch.setattr(ledger, "expire_user_lots", real)
    assert jobs.run_job("expire_points") == {"users": 1, "points": 10}
    assert_consistent()


def test_verify_job_reports_violations(app, due_users, caplog):
    jobs.bind_app(app)
    assert jobs.run_job("verify_ledger") == {"violations": 0}
    run_sql(app, "UPDATE ledger_accounts SET balance = balance + 1 "
                 "WHERE kind = 'user_available'")
    result = jobs.run_job("verify_ledger")
    assert result["violations"] >= 4
    assert any("ledger invariant violated" in r.getMessage() for r in caplog.records)
