from __future__ import annotations

import re
import threading
import time

import click
import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from app.extensions import db
from app.scheduler import cli as scheduler_cli
from app.scheduler import jobs
from tests.conftest import run_sql
from tests.helpers import PASSWORD


def test_create_admin(app, api):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create-admin", "--email", "boss@example.com",
                                 "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    tokens = api.login("boss@example.com").get_json()
    me = api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert set(me.get_json()["roles"]) == {"admin", "citizen"}


def test_create_admin_refuses_weak_password_and_duplicates(app):
    runner = app.test_cli_runner()
    weak = runner.invoke(args=["users", "create-admin", "--email", "b@example.com",
                               "--password", "short"])
    assert weak.exit_code != 0 and "password" in weak.output
    ok = runner.invoke(args=["users", "create-admin", "--email", "b@example.com",
                             "--password", PASSWORD])
    assert ok.exit_code == 0
    dup = runner.invoke(args=["users", "create-admin", "--email", "b@example.com",
                              "--password", PASSWORD])
    assert dup.exit_code != 0 and "already exists" in dup.output
    assert run_sql(app, "SELECT count(*) FROM users")[0][0] == 1


def test_seed_demo_prints_working_credentials_and_can_run_twice(app, api):
    runner = app.test_cli_runner()
    for _ in range(2):
        result = runner.invoke(args=["seed-demo"])
        assert result.exit_code == 0, result.output
        creds = re.findall(r"(\S+@demo\.carbon-points\.test)\s+(\S+)", result.output)
        assert len(creds) == 4
        for email, password in creds:
            assert api.login(email, password).status_code == 200
    assert run_sql(app, "SELECT count(*) FROM users")[0][0] == 4
    roles = run_sql(app, "SELECT role FROM user_roles ORDER BY role")
    assert {r[0] for r in roles} == {"admin", "citizen", "merchant"}
    # The demo is usable at once: methodologies credit, the staff has a merchant and a reward.
    creds = dict(creds)
    staff = api.login("staff@demo.carbon-points.test",
                      creds["staff@demo.carbon-points.test"]).get_json()["access_token"]
    mine = api.client.get("/api/v1/merchant", headers={"Authorization": f"Bearer {staff}"})
    assert mine.status_code == 200, mine.get_json()
    citizen = api.login("li.lei@demo.carbon-points.test",
                        creds["li.lei@demo.carbon-points.test"]).get_json()["access_token"]
    listed = api.client.get("/api/v1/rewards", headers={"Authorization": f"Bearer {citizen}"})
    assert listed.get_json()["total"] == 2
    assert len(api.client.get("/api/v1/methodologies").get_json()) == 4


def test_scheduler_run_heartbeat_records_the_run(app):
    runner = app.test_cli_runner()
    for expected_runs in (1, 2):
        result = runner.invoke(args=["scheduler", "run", "heartbeat"])
        assert result.exit_code == 0, result.output
        assert run_sql(app, "SELECT runs FROM job_runs WHERE job = 'heartbeat'")[0][0] == \
            expected_runs


def test_failed_job_rolls_back_its_work(app, monkeypatch):
    def broken():
        from app.audit import service as audit

        audit.record(None, "job.partial", "job", 1)
        db.session.flush()
        raise RuntimeError("half-way")

    monkeypatch.setitem(jobs.JOBS, "broken", jobs.JobSpec(broken, "interval",
                                                           {"seconds": 60}))
    jobs.bind_app(app)
    with pytest.raises(RuntimeError):
        jobs.run_job("broken")
    assert run_sql(app, "SELECT count(*) FROM audit_events")[0][0] == 0
    assert run_sql(app, "SELECT count(*) FROM job_runs")[0][0] == 0


def test_purge_job_drops_old_keys_only(app, api):
    me = api.caller()
    api.post("/api/v1/auth/logout", me)
    result = app.test_cli_runner().invoke(args=["scheduler", "run", "purge_expired_keys"])
    assert result.exit_code == 0, result.output
    # The revoked tokens have not expired yet, so they stay in the blocklist.
    assert run_sql(app, "SELECT count(*) FROM revoked_tokens")[0][0] == 2


def test_scheduler_registers_jobs_in_the_sqlalchemy_store(app):
    with app.app_context():
        scheduler = scheduler_cli.build_scheduler(BackgroundScheduler)
        scheduler.start(paused=True)
        try:
            ids = sorted(j.id for j in scheduler.get_jobs())
        finally:
            scheduler.shutdown(wait=False)
    assert ids == sorted(jobs.JOBS)
    stored = {r[0] for r in run_sql(app, "SELECT id FROM apscheduler_jobs")}
    assert stored == set(jobs.JOBS)


def test_only_one_scheduler_may_run(app):
    holding = threading.Event()
    done = threading.Event()

    def hold():
        with app.app_context(), scheduler_cli.single_instance():
            holding.set()
            done.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert holding.wait(10)
        with app.app_context(), pytest.raises(click.ClickException, match="already running"), \
                scheduler_cli.single_instance():
            pass
    finally:
        done.set()
        t.join(10)
    time.sleep(0.05)
    with app.app_context(), scheduler_cli.single_instance():
        pass


def test_a_daily_job_that_did_not_finish_runs_when_the_scheduler_starts(app):
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    # Yesterday's local midnight in Shanghai (the default TIMEZONE), as UTC: a day the real
    # clock has already passed, whatever today's date is.
    today = datetime.now(ZoneInfo("Asia/Shanghai")).replace(hour=0, minute=0, second=0,
                                                            microsecond=0)
    shanghai_midnight = (today - timedelta(days=1)).astimezone(UTC)
    with app.app_context():
        # Never run: every daily job is caught up once.
        assert set(scheduler_cli.missed_jobs(shanghai_midnight)) == {
            n for n, s in jobs.JOBS.items() if s.trigger == "cron"}
    run_sql(app, "INSERT INTO job_runs (job, finished_at, runs) SELECT job, :at, 1 FROM "
            "(SELECT 'expire_points' AS job) j",
            at=shanghai_midnight - timedelta(days=1) + timedelta(minutes=7))
    with app.app_context():
        # expire_points (00:05 local) last finished yesterday at 00:07: today's 00:05 run
        # is due from 16:05 UTC; before it, nothing is missed.
        early = shanghai_midnight + timedelta(minutes=4)
        late = shanghai_midnight + timedelta(minutes=30)
        assert "expire_points" not in scheduler_cli.missed_jobs(early)
        assert "expire_points" in scheduler_cli.missed_jobs(late)
        scheduler = scheduler_cli.build_scheduler(BackgroundScheduler)
        scheduler.start(paused=True)
        try:
            soon = {j.id: j.next_run_time for j in scheduler.get_jobs()}
        finally:
            scheduler.shutdown(wait=False)
    # Missed as of now (the real clock is past that day's 00:05 +08): due at once.
    assert soon["expire_points"] <= datetime.now(UTC)


def test_a_scheduler_that_lost_its_guard_exits(app, monkeypatch):
    exits = []
    monkeypatch.setattr(jobs, "guard_held", lambda: False)
    monkeypatch.setattr(jobs.os, "_exit", exits.append)
    jobs.heartbeat()
    assert exits == [3]
    monkeypatch.setattr(jobs, "guard_held", lambda: True)
    assert jobs.heartbeat() == "alive"


def test_the_guard_check_sees_the_lock(app, is_postgres):
    if not is_postgres:
        pytest.skip("the advisory-lock guard is PostgreSQL's")
    with app.app_context(), scheduler_cli.single_instance() as guard_held:
        assert guard_held()
        run_sql(app, "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = "
                "'advisory' AND objid = :k", k=scheduler_cli.SCHEDULER_LOCK_ID)
        time.sleep(0.2)
        assert not guard_held()
