"""Scheduled ledger jobs. Expiry commits per user, so a crash keeps what was done."""

from __future__ import annotations

import logging

from app.db_types import utcnow
from app.ledger import service
from app.ledger.verify import verify
from app.scheduler.jobs import job
from app.uow import unit_of_work

log = logging.getLogger(__name__)


@job("expire_points", "cron", hour=0, minute=5)
def expire_points() -> dict[str, int]:
    """Expire what is left of every past-due lot; safe to rerun after any failure."""
    now = utcnow()
    done: set[int] = set()
    points = 0
    while batch := [u for u in service.users_with_due_lots(now) if u not in done]:
        for user_id in batch:
            with unit_of_work():
                points += service.expire_user_lots(user_id, now)
            done.add(user_id)
    return {"users": len(done), "points": points}


@job("verify_ledger", "cron", hour=2, minute=30)
def verify_ledger() -> dict[str, int]:
    """Nightly check of every invariant; violations are logged as errors."""
    problems = verify()
    for problem in problems:
        log.error("ledger invariant violated", extra={"fields": {"violation": problem}})
    return {"violations": len(problems)}
