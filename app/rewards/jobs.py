"""Scheduled redemption jobs: one unit of work per redemption, so a crash keeps what was done."""

from __future__ import annotations

import logging

from app import rewards
from app.db_types import utcnow
from app.scheduler.registry import job
from app.uow import unit_of_work

log = logging.getLogger(__name__)


@job("expire_redemptions", "interval", minutes=5)
def expire_redemptions() -> dict[str, int]:
    """Release every past-due reservation (points and stock come back); safe to rerun."""
    now = utcnow()
    expired = failed = last = 0
    while batch := rewards.due_for_expiry(now, after_id=last):
        for redemption_id in batch:
            last = redemption_id
            try:
                with unit_of_work():
                    expired += rewards.expire(redemption_id, now)
            except Exception:  # noqa: BLE001 - one bad row must not stop the others
                failed += 1
                log.exception("redemption expiry failed",
                              extra={"fields": {"redemption_id": redemption_id}})
    return {"expired": expired, "failed": failed}
