"""`flask scheduler`: the one process that runs scheduled jobs."""

from __future__ import annotations

import fcntl
import logging
import os
from contextlib import contextmanager
from pathlib import Path

import click
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import text

from app.extensions import db
from app.scheduler import jobs

log = logging.getLogger(__name__)
SCHEDULER_LOCK_ID = 0x63617262  # fixed PostgreSQL advisory lock key for "the scheduler"


@contextmanager
def single_instance():
    """APScheduler's job store must not be shared: refuse to start a second scheduler."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as conn:
            if not conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": SCHEDULER_LOCK_ID}):
                raise click.ClickException("another scheduler is already running")
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": SCHEDULER_LOCK_ID})
        return
    path = Path(current_app.instance_path) / "scheduler.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise click.ClickException("another scheduler is already running") from None
        yield
    finally:
        os.close(fd)


def build_scheduler(kind: type[BaseScheduler] = BlockingScheduler) -> BaseScheduler:
    scheduler = kind(
        jobstores={"default": SQLAlchemyJobStore(engine=db.engine)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        timezone=current_app.config["TIMEZONE"],
    )
    for name, spec in jobs.JOBS.items():
        scheduler.add_job("app.scheduler.jobs:run_job", spec.trigger, args=[name], id=name,
                          name=name, replace_existing=True, **spec.trigger_args)
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
    with single_instance():
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
