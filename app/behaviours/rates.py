"""The platform's conversion rate: how many points a credited gram earns, from when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select

from app.audit import service as audit
from app.behaviours.models import Behaviour, ConversionRate
from app.behaviours.unit_cache import unit_cache
from app.extensions import db
from app.sql import execute
from app.users.models import User

DEFAULT_POINTS_PER_GRAM = Decimal(1)


@dataclass
class Rate:
    id: int | None
    points_per_gram: Decimal
    effective_from: datetime | None


_RATES = select(ConversionRate.id, ConversionRate.points_per_gram,
                ConversionRate.effective_from).order_by(ConversionRate.effective_from.desc())


def conversion_rate(at: datetime) -> Rate:
    """The platform rate in force at `at`; 1 point per gram until an admin sets one."""
    cache = unit_cache()
    if "rates" not in cache:
        cache["rates"] = [Rate(*row) for row in execute(_RATES)]
    return next((r for r in cache["rates"] if r.effective_from <= at),
                Rate(None, DEFAULT_POINTS_PER_GRAM, None))


def rate_of(behaviour: Behaviour) -> Decimal:
    """The points per gram a stored credit was made at."""
    conversion_rate(behaviour.occurred_at)  # fills the cache
    return next((r.points_per_gram for r in unit_cache()["rates"]
                 if r.id == behaviour.conversion_rate_id), DEFAULT_POINTS_PER_GRAM)


def set_rate(actor: User, points_per_gram: Decimal, effective_from: datetime,
             reason: str) -> ConversionRate:
    rate = ConversionRate(points_per_gram=points_per_gram, effective_from=effective_from,
                          reason=reason, created_by=actor.id)
    db.session.add(rate)
    db.session.flush()
    audit.record(actor.id, "conversion_rate.set", "conversion_rate", rate.id,
                 points_per_gram=str(points_per_gram), effective_from=effective_from.isoformat())
    return rate
