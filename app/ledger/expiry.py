"""Expiry: what is left of past-due lots posted to the expired account."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from app.extensions import db
from app.ledger.books import EXPIRED_CODE, Book, lock_book, system_account_id
from app.ledger.journal import write
from app.ledger.models import EXPIRED, Lot
from app.sharding import fan_out
from app.sql import execute as _sql


def users_with_due_lots(now: datetime, *, after: int = 0, limit: int = 500) -> list[int]:
    """Users with points past their expiry, in id order from after `after`: a scan of
    every user's lots (the expiry job's)."""
    with fan_out("expire-lots-scan"):
        return list(db.session.scalars(
            select(Lot.user_id).where(Lot.expires_at <= now, Lot.open_amount > 0,
                                      Lot.user_id > after)
            .group_by(Lot.user_id).order_by(Lot.user_id).limit(limit)))


def expire_user_lots(user_id: int, now: datetime) -> int:
    """Post what is left of the user's past-due lots to the expired account.

    One transaction per lot, keyed by the lot and how much of it had expired before,
    so a rerun after a crash finds nothing left to do rather than posting twice.
    """
    return expire_due_lots(lock_book(user_id), now)


def expire_due_lots(book: Book, now: datetime) -> int:
    """expire_user_lots for a user whose lock the caller holds (`book`)."""
    due = _sql(
        select(Lot.id, Lot.open_amount, Lot.expired_amount)
        .where(Lot.user_id == book.user_id, Lot.expires_at <= now, Lot.open_amount > 0)
        .order_by(Lot.expires_at, Lot.id)).all()
    expired_account = system_account_id(EXPIRED_CODE, EXPIRED) if due else None
    total = 0
    for lot_id, open_amount, expired_before in due:
        write(book, "expire", f"expire:lot:{lot_id}:{expired_before}",
              [(book.available_id, -open_amount), (expired_account, open_amount)],
              cause_type="lot", cause_id=str(lot_id), actor_id=None)
        _sql(update(Lot).where(Lot.user_id == book.user_id, Lot.id == lot_id).values(
            open_amount=0, expired_amount=Lot.expired_amount + open_amount))
        total += open_amount
    return total
