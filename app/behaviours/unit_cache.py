"""What is in force (conversion rates, methodology versions), read once per unit of work.

The cache lives in the session's info and goes with the transaction: a commit or a
rollback drops it, so the next unit of work reads what an administrator changed meanwhile.
"""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import Session

from app.extensions import db


def unit_cache() -> dict:
    """Per unit of work: the versions and rates in force, read once per transaction."""
    return db.session().info.setdefault("behaviour_cache", {})


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop("behaviour_cache", None)
