"""`flask scheduler`: the one process that runs scheduled jobs."""

from __future__ import annotations

import fcntl
import logging
import os
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path

import click
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.db_types import utcnow
from app.extensions import db
from app.scheduler import jobs
from app.scheduler.models import JobRun

log = logging.getLogger(__name__)
SCHEDULER_LOCK_ID = 0x63617262  # fixed PostgreSQL advisory lock key for "the scheduler"


@contextmanager
def single_instance():
    """APScheduler's job store must not be shared: refuse to start a second scheduler.

    On PostgreSQL the guard is an advisory lock held by one connection; yields a check
    that the lock is still ours (the heartbeat job runs it: if that connection was killed,
    a second scheduler could start, so this one stops).
    """
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as conn:
            if not conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": SCHEDULER_LOCK_ID}):
                raise click.ClickException("another scheduler is already running")
            pid = conn.scalar(text("SELECT pg_backend_pid()"))
            conn.commit()
            try:
                yield lambda: _guard_held(pid)
            finally:
                with suppress(DBAPIError):  # a dead connection has released it already
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"),
                                 {"k": SCHEDULER_LOCK_ID})
        return
    path = Path(current_app.instance_path) / "scheduler.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise click.ClickException("another scheduler is already running") from None
        yield lambda: True  # a file lock lives as long as this process
    finally:
        os.close(fd)


def _guard_held(pid: int) -> bool:
    return bool(db.session.scalar(text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 0 "
        "AND objid = :k AND objsubid = 1 AND pid = :pid AND granted"),
        {"k": SCHEDULER_LOCK_ID, "pid": pid}))


def missed_jobs(now: datetime | None = None) -> list[str]:
    """Daily jobs whose last scheduled run did not finish: the scheduler was down at the
    time, or killed mid-job. APScheduler would wait for the next day; they run at start
    instead (every job is safe to run twice)."""
    now = now or utcnow()
    missed = []
    for name, spec in jobs.JOBS.items():
        if spec.trigger != "cron":
            continue  # interval jobs come round again within minutes
        last = db.session.get(JobRun, name)
        if last is None:
            missed.append(name)
            continue
        trigger = CronTrigger(timezone=current_app.config["TIMEZONE"], **spec.trigger_args)
        due = trigger.get_next_fire_time(None, last.finished_at)
        if due is not None and due <= now:
            missed.append(name)
    return missed


def build_scheduler(kind: type[BaseScheduler] = BlockingScheduler) -> BaseScheduler:
    scheduler = kind(
        jobstores={"default": SQLAlchemyJobStore(engine=db.engine)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        timezone=current_app.config["TIMEZONE"],
    )
    missed = set(missed_jobs())
    db.session.remove()
    for name, spec in jobs.JOBS.items():
        catch_up = {"next_run_time": utcnow()} if name in missed else {}
        scheduler.add_job("app.scheduler.jobs:run_job", spec.trigger, args=[name], id=name,
                          name=name, replace_existing=True, **spec.trigger_args, **catch_up)
    if missed:
        log.info("catching up missed jobs", extra={"fields": {"jobs": sorted(missed)}})
    return scheduler


@click.group("scheduler", cls=AppGroup, invoke_without_command=True)
@click.pass_context
@with_appcontext
def scheduler_cli(ctx: click.Context) -> None:
    """Run the scheduler in the foreground (the one scheduler process), or a sub-command."""
    if ctx.invoked_subcommand is None:
        _start()


def _start() -> None:
    jobs.bind_app(current_app._get_current_object())
    with single_instance() as guard_held:
        jobs.guard_held = guard_held
        scheduler = build_scheduler()
        log.info("scheduler starting", extra={"fields": {"jobs": sorted(jobs.JOBS)}})
        try:
            scheduler.start()
        except (KeyboardInterrupt, SystemExit):
            log.info("scheduler stopped")


@scheduler_cli.command("run")
@click.argument("name", type=click.Choice(sorted(jobs.JOBS)))
def run(name: str) -> None:
    """Run one job now, once, in this process."""
    jobs.bind_app(current_app._get_current_object())
    click.echo(f"{name}: {jobs.run_job(name)}")


@scheduler_cli.command("list")
def list_jobs() -> None:
    """List the jobs and their triggers."""
    for name, spec in sorted(jobs.JOBS.items()):
        click.echo(f"{name}\t{spec.trigger}\t{spec.trigger_args}")
