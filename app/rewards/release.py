"""Giving a reservation back: the points released, the stock restored. Its owner cancels
it, the expiry job releases it past its expiry, an account's erasure ends them all.

Functions flush; the caller's unit of work (or the job's, one per redemption) commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from app import ledger
from app.db_types import utcnow
from app.http.problems import ApiError
from app.rewards.models import CANCELLED, EXPIRED, RESERVED
from app.rewards.reservations import (
    REDEMPTIONS,
    REWARDS,
    Reservation,
    end_reservation,
    ledger_refusal,
    refusal,
    reservation,
)
from app.sharding import fan_out
from app.sql import execute as _sql
from app.users.models import User


def _give_back(redemption: Reservation, status: str, actor_id: int | None,
               now: datetime) -> None:
    """Release the hold (takes the user's lock), end the redemption, return the stock."""
    try:
        ledger.release(redemption.hold_id, key=f"redemption:{redemption.id}:release",
                       actor_id=actor_id, user_id=redemption.user_id)
    except ApiError as err:
        raise ledger_refusal(redemption, err, now) from None
    end_reservation(redemption, status, actor_id, now)
    _sql(update(REWARDS).where(REWARDS.c.id == redemption.reward_id)
         .values(stock_left=REWARDS.c.stock_left + 1))


def cancel(user: User, redemption_id: int, now: datetime | None = None) -> Reservation:
    """The citizen gives a reserved, unexpired redemption back: points released, stock
    restored."""
    now = now or utcnow()
    redemption = reservation(user.id, redemption_id)
    if redemption is None:
        raise ApiError.not_found("redemption")
    # Past expires_at it is gone, as at the merchant's counter, whether or not the expiry
    # job has run yet: the job releases it (as expired, not cancelled).
    if (refused := refusal(redemption, now)) is not None:
        raise refused
    _give_back(redemption, CANCELLED, user.id, now)
    return redemption


def forget_user(user: User, now: datetime | None = None) -> None:
    """What the rewards domain does when an account is erased (the privacy domain's erasure
    calls it, in the erasure's transaction).

    Every reservation of the account ends, points and stock given back: one still valid is
    cancelled by its owner; one past its expiry, which the job has not released yet (cancel
    refuses it, 410), expires as the job would have it. Fulfilled, cancelled and expired
    redemptions stay as they are, under the anonymous user id: merchants' settlements keep
    their history. Reward revisions the user proposed or decided stay too: they name the
    user by id alone. Flushes; the erasure's unit of work commits.
    """
    now = now or utcnow()
    for redemption_id in _sql(select(REDEMPTIONS.c.id).where(
            REDEMPTIONS.c.user_id == user.id, REDEMPTIONS.c.status == RESERVED)
            .order_by(REDEMPTIONS.c.id)).scalars().all():
        redemption = reservation(user.id, redemption_id)
        if redemption.expires_at <= now:
            _give_back(redemption, EXPIRED, None, now)
        else:
            _give_back(redemption, CANCELLED, user.id, now)


class DueReservation(int):
    """The id of a reservation past its expiry, carrying its owner's id from the scan that
    found it: expire() then works among that user's rows alone. An int, so the job pages,
    logs and passes it on as the id it is."""

    user_id: int

    def __new__(cls, redemption_id: int, user_id: int) -> DueReservation:
        due = super().__new__(cls, redemption_id)
        due.user_id = user_id
        return due


def due_for_expiry(now: datetime, after_id: int = 0, limit: int = 500) -> list[DueReservation]:
    """Reservations past their expiry (whoever made them), in id order after `after_id`."""
    with fan_out("release-stale-holds"):
        rows = _sql(select(REDEMPTIONS.c.id, REDEMPTIONS.c.user_id).where(
            REDEMPTIONS.c.status == RESERVED, REDEMPTIONS.c.expires_at <= now,
            REDEMPTIONS.c.id > after_id).order_by(REDEMPTIONS.c.id).limit(limit)).all()
    return [DueReservation(redemption_id, user_id) for redemption_id, user_id in rows]


def _owner(redemption_id: int) -> int | None:
    with fan_out("release-stale-holds"):
        return _sql(select(REDEMPTIONS.c.user_id)
                    .where(REDEMPTIONS.c.id == redemption_id)).scalar()


def expire(redemption_id: int, now: datetime) -> bool:
    """Release one past-due reservation; False if it had already ended (a rerun).

    The id comes from due_for_expiry() with its owner; a bare id has its owner looked up
    first, as the job's scan would."""
    user_id = getattr(redemption_id, "user_id", None) or _owner(redemption_id)
    redemption = reservation(user_id, redemption_id) if user_id is not None else None
    if redemption is None or redemption.status != RESERVED or redemption.expires_at > now:
        return False
    try:
        _give_back(redemption, EXPIRED, None, now)
    except ApiError:
        # Ended meanwhile (fulfilled or cancelled under the lock): nothing to release.
        return False
    return True
