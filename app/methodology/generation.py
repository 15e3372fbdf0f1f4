"""The reference generation: one counter that moves whenever the reference data judging
reads (methodology versions, conversion rates) changes.

Processes keep that data between requests (app/behaviours/reference.py). Every flush that
writes a watched model moves the counter in the same transaction, so a process that reads
the counter after taking a user's lock knows whether what it keeps is still what the
database holds. The row is created by its first move (an empty table reads as 0).
"""

from __future__ import annotations

from sqlalchemy import event, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from app.extensions import db
from app.methodology.models import MethodologyVersion, ReferenceGeneration
from app.sql import execute

GENERATION = ReferenceGeneration.__table__
_WATCHED: set[type] = set()
_KEPT_PER_UNIT: set[str] = set()
_MOVED = "reference_generation_moved"

# The current generation as a scalar subquery, for statements a request runs anyway.
CURRENT = func.coalesce(
    select(GENERATION.c.generation).where(GENERATION.c.id == 1).scalar_subquery(), 0)
_READ = select(CURRENT.label("generation"))


def watch(model: type) -> None:
    """Move the generation with every flush that writes a row of `model`."""
    _WATCHED.add(model)


def current() -> int:
    """The generation committed before this statement (one round trip)."""
    return execute(_READ).scalar_one()


def bump(session: Session | None = None) -> None:
    """Move the generation in the session's transaction (the caller's by default: for
    rows written past the ORM)."""
    session = session or db.session()
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(GENERATION).values(id=1, generation=1)
    session.connection().execute(stmt.on_conflict_do_update(
        index_elements=[GENERATION.c.id],
        set_={"generation": GENERATION.c.generation + literal(1)}))
    session.info[_MOVED] = True
    for key in _KEPT_PER_UNIT:
        session.info.pop(key, None)


def forget_on_change(info_key: str) -> None:
    """Drop `info_key` from the session's info when its transaction moves the generation:
    what the unit of work read before its own change is no longer what it sees."""
    _KEPT_PER_UNIT.add(info_key)


def moved_here(session: Session | None = None) -> bool:
    """Whether this transaction moved the generation (its data is not yet everyone's: it
    must not fill a cache other units of work share)."""
    return bool((session or db.session()).info.get(_MOVED))


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _transaction_over(session: Session) -> None:
    session.info.pop(_MOVED, None)


@event.listens_for(Session, "after_flush")
def _bump_on_change(session: Session, _context) -> None:
    if any(type(obj) in _WATCHED
           for objects in (session.new, session.dirty, session.deleted) for obj in objects):
        bump(session)


watch(MethodologyVersion)
