"""Earning: points issued to users, one at a time or as a partner's batch; debt is
settled first, the rest opens a lot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Row

from app.db_types import utcnow
from app.ledger.books import ISSUANCE_CODE, Book, own_book, system_account_id
from app.ledger.journal import (
    MOVE_BALANCE,
    Entry,
    carry_balances,
    key_reused,
    new_entry,
    positive,
    replayed,
    write_entries,
    write_entry,
)
from app.ledger.lots import lot_expiry
from app.ledger.models import ISSUANCE
from app.sql import execute as _sql


def credit_entry(book: Book, tx_type: str, points: int, key: str, *, cause_type: str,
                 cause_id: str | None, actor_id: int | None, reason: str | None = None,
                 reduction_g: Decimal = Decimal(0), lifetime: bool = False,
                 now: datetime | None = None, lot_expires_at: datetime | None = None
                 ) -> Entry:
    """Issue points to the user: debt is settled first, the rest becomes a new lot."""
    settle = min(points, -book.debt)
    to_available = points - settle
    return new_entry(book, tx_type, key, [
        (system_account_id(ISSUANCE_CODE, ISSUANCE), -points),
        (book.available_id, to_available), (book.debt_id, settle),
    ], cause_type=cause_type, cause_id=cause_id, actor_id=actor_id, reason=reason,
        reduction_g=reduction_g, lifetime=(points, reduction_g) if lifetime else None,
        new_lot=to_available, now=now, lot_expires_at=lot_expires_at)


def earn(user_id: int, points: int, *, key: str, cause_type: str, cause_id: str | None = None,
         reduction_g: Decimal = Decimal(0), actor_id: int | None = None,
         book: Book | None = None) -> Row:
    """Credit earned points (and the reduction behind them) to a user.

    `book`: the user's book when the caller already holds the lock in this transaction.
    """
    positive(points)
    book = own_book(user_id, book)
    # The key is checked by the write itself (an earn writes nothing before it): one
    # round trip fewer on the platform's busiest path.
    entry = credit_entry(book, "earn", points, key, cause_type=cause_type, cause_id=cause_id,
                         actor_id=actor_id, reduction_g=reduction_g, lifetime=True)
    tx = write_entry(book, entry, replay_ok=True)
    return tx if tx is not None else replayed(book, key, "earn", cause_type, cause_id)


@dataclass
class Earning:
    """One earn of a batch (see earn_many)."""

    user_id: int
    points: int
    key: str
    cause_type: str
    cause_id: str | None
    reduction_g: Decimal


def earn_many(earnings: list[Earning], books: dict[int, Book]) -> list[Row]:
    """Several earns, one user or many, written together (a partner batch); for each, its
    transaction's id (the rows may hold no more than id, user_id and idempotency_key).

    The caller holds every user's lock (`books`, from lock_books). The keys must be new
    (a batch keys its earns by the behaviours it has just inserted): a used key is a 409
    and the caller's transaction rolls back. One user's earns follow each other in order,
    each settling debt first and recording the balances after it.
    """
    now = utcnow()
    expires_at = lot_expiry(now)  # the same for every earn of the batch
    entries = []
    for e in earnings:
        positive(e.points)
        book = books[e.user_id]
        entry = credit_entry(book, "earn", e.points, e.key, cause_type=e.cause_type,
                             cause_id=e.cause_id, actor_id=None, reduction_g=e.reduction_g,
                             lifetime=True, now=now, lot_expires_at=expires_at)
        carry_balances(book, entry)  # the user's next earn starts from this one's balances
        entries.append(entry)
    txs = write_entries(entries, whole_rows=False)
    if any(tx is None for tx in txs):
        raise key_reused()
    return txs


def count_reduction(book: Book, grams: Decimal) -> None:
    """The reduction behind a credit too small for a whole point: the user's lifetime
    reduction moves by `grams` (negative when such a credit is reversed) although the
    journal has no points to post. The caller holds the user's lock (`book`)."""
    _sql(MOVE_BALANCE, [{"uid": book.user_id, "account": book.available_id,
                         "change": 0, "points": 0, "grams": grams}])
