"""The table of scheduled jobs, which every domain's jobs module writes itself into.

A leaf: it imports nothing of the app, so a domain's `jobs.py` can declare its jobs
(`@job(...)`) without importing the scheduler, and the scheduler imports the domains'
job modules (app.scheduler.jobs.JOB_MODULES) without a circle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class JobSpec:
    func: Callable[[], Any]
    trigger: str
    trigger_args: dict[str, Any] = field(default_factory=dict)


JOBS: dict[str, JobSpec] = {}


def job(name: str, trigger: str, **trigger_args: Any) -> Callable:
    """Register the decorated function as the job `name` (APScheduler trigger and args)."""
    def register(func: Callable[[], Any]) -> Callable[[], Any]:
        JOBS[name] = JobSpec(func, trigger, trigger_args)
        return func

    return register
