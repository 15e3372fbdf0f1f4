"""Scheduled ledger jobs. Expiry commits per user, so a crash keeps what was done."""

from __future__ import annotations

import logging

from app import ledger
from app.db_types import utcnow
from app.ledger.verify import verify
from app.scheduler.registry import job
from app.uow import unit_of_work

log = logging.getLogger(__name__)

EXPIRY_PAGE = 500  # users read at a time


@job("expire_points", "cron", hour=0, minute=5)
def expire_points() -> dict[str, int]:
    """Expire what is left of every past-due lot; safe to rerun after any failure."""
    now = utcnow()
    users = points = 0
    after = 0
    # Paged by user id: a user due again after their turn (a release to an expired lot)
    # waits for the next run, or for their next hold, which expires first.
    while batch := ledger.users_with_due_lots(now, after=after, limit=EXPIRY_PAGE):
        for user_id in batch:
            with unit_of_work():
                points += ledger.expire_user_lots(user_id, now)
        users += len(batch)
        after = batch[-1]
    return {"users": users, "points": points}


@job("verify_ledger", "cron", hour=2, minute=30)
def verify_ledger() -> dict[str, int]:
    """Nightly check of every invariant; violations are logged as errors."""
    problems = verify()
    for problem in problems:
        log.error("ledger invariant violated", extra={"fields": {"violation": problem}})
    return {"violations": len(problems)}
