"""The reference data judging reads on every credit (the methodology versions that may
credit, the conversion rates), kept per process between requests.

Kept as plain snapshots, labelled with the reference generation they belong to
(app/methodology/generation.py). A unit of work uses them once it has read the generation
after taking the users' ledger locks: the behaviour POST reads it in its nearby statement
(Nearby.read) and calls `confirm`; any other caller gets it from `checked`, which reads
it. A generation other than the label replaces the process's snapshots with empty ones,
filled again from the database as judging asks, so nothing credits under a version
retired or at a rate replaced before that read. The unit of work's choice goes with its
transaction (a commit or rollback drops it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from app.behaviours.models import ConversionRate
from app.extensions import db
from app.methodology import generation
from app.methodology import service as methodology
from app.sql import execute

_KEY = "behaviour_reference"
_RATES = select(ConversionRate.id, ConversionRate.points_per_gram,
                ConversionRate.effective_from).order_by(ConversionRate.effective_from.desc())
generation.watch(ConversionRate)
generation.forget_on_change(_KEY)


@dataclass(frozen=True)
class Rate:
    id: int | None
    points_per_gram: Decimal
    effective_from: datetime | None


@dataclass(frozen=True)
class Version:
    """A crediting methodology version as judging reads it (a MethodologyVersion's
    columns, never attached to a session)."""

    id: int
    code: str
    version: str
    parameters: dict[str, Any]
    parameters_hash: str
    status: str
    effective_from: datetime
    effective_until: datetime | None

    @property
    def label(self) -> str:
        return f"{self.version}+{self.parameters_hash[:8]}"


@dataclass
class Reference:
    """One generation's versions (per methodology, newest effective date first) and rates
    (newest first), each read on first need."""

    generation: int | None
    versions: dict[str, list[Version]] = field(default_factory=dict)
    rates: list[Rate] | None = None

    def crediting_versions(self, code: str) -> list[Version]:
        found = self.versions.get(code)
        if found is None:
            found = self.versions[code] = [
                Version(v.id, v.code, v.version, v.parameters, v.parameters_hash, v.status,
                        v.effective_from, v.effective_until)
                for v in methodology.crediting_versions(code)]
        return found

    def all_rates(self) -> list[Rate]:
        if self.rates is None:
            self.rates = [Rate(*row) for row in execute(_RATES)]
        return self.rates


def provisional() -> Reference:
    """The unit of work's reference data if checked already, else the process's, not yet
    checked: what the POST judges tolerances by before its nearby statement confirms it."""
    return db.session().info.get(_KEY) or _process()


def confirm(current_generation: int) -> bool:
    """Use the process's data for the rest of the unit of work if it is of
    `current_generation` (read after the locks), else fresh data; whether it was."""
    if generation.moved_here():  # its own change, not committed: kept for itself only
        db.session().info[_KEY] = Reference(current_generation)
        return False
    kept = _process()
    if kept.generation == current_generation:
        db.session().info[_KEY] = kept
        return True
    fresh = Reference(current_generation)
    if kept.generation is None or current_generation > kept.generation:
        current_app.extensions[_KEY] = fresh
    # else a unit of work that started before another one's change: its own reads only,
    # leaving the process's newer data in place.
    db.session().info[_KEY] = fresh
    return False


def checked() -> Reference:
    """The unit of work's reference data, the generation read first if it was not yet."""
    found = db.session().info.get(_KEY)
    if found is None:
        confirm(generation.current())
        found = db.session().info[_KEY]
    return found


def _process() -> Reference:
    return current_app.extensions.setdefault(_KEY, Reference(None))


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_KEY, None)
