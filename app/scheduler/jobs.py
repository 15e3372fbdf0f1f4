"""Scheduled jobs. Each runs in an app context and owns one unit of work.

APScheduler stores `run_job` plus the job's name (an importable reference, never a
pickled closure), so a restarted scheduler finds every job again. Jobs must be safe
to run twice: a crash between the work and the bookkeeping happens.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import Flask, current_app

from app.auth.service import purge_expired
from app.auth.throttle import purge_login_failures
from app.db_types import utcnow
from app.extensions import db
from app.http.idempotency import purge_older_than
from app.scheduler.models import JobRun
from app.uow import unit_of_work

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobSpec:
    func: Callable[[], Any]
    trigger: str
    trigger_args: dict[str, Any] = field(default_factory=dict)


JOBS: dict[str, JobSpec] = {}
_app: Flask | None = None
# Set by the scheduler process: is its single-instance guard still held?
guard_held: Callable[[], bool] | None = None


def job(name: str, trigger: str, **trigger_args: Any) -> Callable:
    def register(func: Callable[[], Any]) -> Callable[[], Any]:
        JOBS[name] = JobSpec(func, trigger, trigger_args)
        return func

    return register


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


# Domain job modules register themselves with @job; importing them here keeps the list
# complete wherever the scheduler is built.
from app.ledger import jobs as _ledger_jobs  # noqa: E402, F401
from app.partners import jobs as _partner_jobs  # noqa: E402, F401
from app.rewards import jobs as _rewards_jobs  # noqa: E402, F401
