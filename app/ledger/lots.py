"""Lots: earned points by when they expire, consumed soonest-expiring first."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Row, bindparam, func, select, update

from app.ledger.models import Lot
from app.localtime import local_date, local_midnight
from app.sql import execute as _sql

LOTS = Lot.__table__


def lot_expiry(earned_at: datetime) -> datetime:
    """Rolling validity: the start of the local day `validity` days after the earn date."""
    return local_midnight(local_date(earned_at)
                          + timedelta(days=current_app.config["POINTS_VALIDITY_DAYS"]))


def take_from_lots(user_id: int, points: int, *, first_lot_id: int | None = None,
                   ) -> list[tuple[int, int]]:
    """Consume `points` of open lots, soonest-expiring first (`first_lot_id` before all)."""
    return consume_lots(user_id, points, lots_needed(user_id, points, first_lot_id))


def lots_needed(user_id: int, points: int, first_lot_id: int | None = None) -> list[Row]:
    """The open lots `points` would consume, in order: (id, open_amount, expires_at)."""
    order = ((LOTS.c.id != first_lot_id) if first_lot_id else LOTS.c.expires_at,
             LOTS.c.expires_at, LOTS.c.id)
    # Only the lots needed: those whose running total before them is still short.
    running = func.sum(LOTS.c.open_amount).over(order_by=order) - LOTS.c.open_amount
    ranked = (select(LOTS.c.id, LOTS.c.open_amount, LOTS.c.expires_at, running.label("before"))
              .where(LOTS.c.user_id == user_id, LOTS.c.open_amount > 0).subquery())
    return _sql(select(ranked.c.id, ranked.c.open_amount, ranked.c.expires_at)
                .where(ranked.c.before < points).order_by(ranked.c.before)).all()


def consume_lots(user_id: int, points: int, lots: list[Row]) -> list[tuple[int, int]]:
    """Consume `points` of `lots` (from lots_needed), in their order."""
    taken, left = [], points
    for lot_id, open_amount, _ in lots:
        if left == 0:
            break
        take = min(open_amount, left)
        taken.append((lot_id, take))
        left -= take
    if left:
        raise AssertionError(f"lots of user {user_id} hold {points - left} < {points}")
    move_lots(user_id, [(lot_id, -take) for lot_id, take in taken])
    return taken


_MOVE_LOT = (update(LOTS).where(LOTS.c.user_id == bindparam("uid"),
                                LOTS.c.id == bindparam("lot"))
             .values(open_amount=LOTS.c.open_amount + bindparam("change")))


def move_lots(user_id: int, changes: list[tuple[int, int]]) -> None:
    """Move each of the user's lots' open amount by its change (negative: spent, positive:
    given back)."""
    if changes:
        _sql(_MOVE_LOT, [{"uid": user_id, "lot": lot_id, "change": change}
                         for lot_id, change in changes])
