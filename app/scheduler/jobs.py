"""Scheduled jobs. Each runs in an app context and owns one unit of work.

APScheduler stores `run_job` plus the job's name (an importable reference, never a
pickled closure), so a restarted scheduler finds every job again. Jobs must be safe
to run twice: a crash between the work and the bookkeeping happens.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Flask, current_app

from app.auth.service import purge_expired
from app.auth.throttle import purge_login_failures
from app.db_types import utcnow
from app.extensions import db
from app.http.idempotency import purge_older_than
from app.scheduler.models import JobRun
from app.scheduler.registry import JOBS, JobSpec, job
from app.uow import unit_of_work

__all__ = ["JOBS", "JOB_MODULES", "JobSpec", "bind_app", "job", "run_job"]
log = logging.getLogger(__name__)

# Each domain's jobs, declared with app.scheduler.registry.job; importing them fills JOBS.
JOB_MODULES = ("app.ledger.jobs", "app.partners.jobs", "app.rewards.jobs")

_app: Flask | None = None
# Set by the scheduler process: is its single-instance guard still held?
guard_held: Callable[[], bool] | None = None


def bind_app(app: Flask) -> None:
    global _app
    _app = app


def run_job(name: str) -> Any:
    """Entry point APScheduler calls; also `flask scheduler run NAME`."""
    spec = JOBS[name]
    if _app is None:
        return _run(name, spec)
    with _app.app_context():
        return _run(name, spec)


def _run(name: str, spec: JobSpec) -> Any:
    with unit_of_work():
        result = spec.func()
        row = db.session.get(JobRun, name) or JobRun(job=name, runs=0)
        row.finished_at = utcnow()
        row.runs += 1
        db.session.add(row)
    log.info("job finished", extra={"fields": {"job": name, "result": result}})
    return result


@job("heartbeat", "interval", seconds=60)
def heartbeat() -> str:
    """Proves the scheduler process is alive: job_runs.finished_at of `heartbeat` is at
    most a minute old while it runs (docs/operations.md has the alert query).

    Also checks the single-instance guard: a scheduler that lost it (its lock connection
    was killed) exits, so a supervisor restarts it under the guard, rather than run beside
    a second one.
    """
    if guard_held is not None and not guard_held():
        log.error("scheduler lost its single-instance guard; exiting")
        logging.shutdown()
        os._exit(3)
    return "alive"


@job("purge_expired_keys", "cron", hour=3, minute=17)
def purge_expired_keys() -> dict[str, int]:
    """Drop idempotency keys past their retention and blocklist rows past expiry."""
    now = utcnow()
    ttl = timedelta(hours=current_app.config["IDEMPOTENCY_KEY_TTL_HOURS"])
    return {"idempotency_keys": purge_older_than(now - ttl), "revoked_tokens": purge_expired(now),
            "login_failures": purge_login_failures(now)}


def _load_domain_jobs() -> None:
    """Import every module of JOB_MODULES: the list is complete wherever this module is."""
    for module in JOB_MODULES:
        importlib.import_module(module)


_load_domain_jobs()
