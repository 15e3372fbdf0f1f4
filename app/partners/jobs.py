"""Scheduled partner housekeeping."""

from __future__ import annotations

from app.db_types import utcnow
from app.partners.service import purge_link_codes
from app.partners.signing import purge_nonces
from app.scheduler.registry import job


@job("purge_partner_nonces", "interval", minutes=15)
def purge_partner_nonces() -> dict[str, int]:
    """Forget request signatures older than 15 minutes (their timestamps are stale by then)
    and link codes a day past their expiry."""
    now = utcnow()
    return {"nonces": purge_nonces(now), "link_codes": purge_link_codes(now)}
