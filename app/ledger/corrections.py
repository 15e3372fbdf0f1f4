"""Corrections: reversing an earn and an administrator's adjustments."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Row, select

from app.audit import service as audit
from app.extensions import db
from app.http.problems import ApiError
from app.ledger.books import (
    EXPIRED_CODE,
    ISSUANCE_CODE,
    Book,
    lock_book,
    own_book,
    system_account_id,
)
from app.ledger.earning import credit_entry
from app.ledger.journal import insufficient, replayed, write, write_entry
from app.ledger.lots import take_from_lots
from app.ledger.models import EXPIRED, ISSUANCE, LedgerPosting, LedgerTransaction, Lot
from app.sharding import fan_out
from app.sql import execute as _sql
from app.sql import scalar as _sql_scalar

if TYPE_CHECKING:
    from app.users.models import User


def _transaction(tx_id: int, user_id: int | None) -> LedgerTransaction:
    """The transaction among `user_id`'s, or, named by id alone, found by an owner probe
    (the whole row in the one probe: it is all that is read of it). 404 if there is none."""
    by_id = select(LedgerTransaction).where(LedgerTransaction.id == tx_id)
    if user_id is not None:
        found = db.session.scalar(by_id.where(LedgerTransaction.user_id == user_id))
    else:
        with fan_out("owner-probe"):
            found = db.session.scalar(by_id)
    if found is None:
        raise ApiError.not_found("transaction")
    return found


def reverse(tx_id: int, *, key: str, reason: str, actor_id: int | None,
            book: Book | None = None) -> Row:
    """Undo an earn with a compensating transaction that references it.

    What the user still has is taken back (the earn's own lot first); what was already
    spent becomes debt, which the user's next earnings (or points coming back from a hold)
    settle before anything else. Without `book` (the owner's, locked by the caller), the
    transaction is named by id alone and its owner is found first.
    """
    return _reverse(_transaction(tx_id, book.user_id if book else None), key=key,
                    reason=reason, actor_id=actor_id, book=book)


def _reverse(original: LedgerTransaction, *, key: str, reason: str, actor_id: int | None,
             book: Book | None) -> Row:
    tx_id = original.id
    if original.type != "earn":
        raise ApiError(409, "Only an earn can be reversed.", slug="not-reversible")
    book = own_book(original.user_id, book)
    if (done := replayed(book, key, "reversal", original.cause_type,
                         original.cause_id)) is not None:
        return done
    if _sql_scalar(select(LedgerTransaction.id).where(
            LedgerTransaction.user_id == book.user_id,
            LedgerTransaction.reverses_id == tx_id)) is not None:
        raise ApiError(409, "This transaction was already reversed.", slug="already-reversed")
    issuance = system_account_id(ISSUANCE_CODE, ISSUANCE)
    points = -_sql_scalar(select(LedgerPosting.amount).where(
        LedgerPosting.user_id == book.user_id, LedgerPosting.transaction_id == tx_id,
        LedgerPosting.system_account_id == issuance))
    own_lot, lapsed = _sql(select(Lot.id, Lot.expired_amount).where(
        Lot.user_id == book.user_id, Lot.transaction_id == tx_id)).one_or_none() or (None, 0)
    # What of the earn expired has left the user already: it comes back from the expired
    # account, not a second time from the user's other points.
    owed = points - lapsed
    taken = min(owed, book.available)
    if taken:
        take_from_lots(book.user_id, taken, first_lot_id=own_lot)
    expired = system_account_id(EXPIRED_CODE, EXPIRED) if lapsed else None
    return write(book, "reversal", key, [
        (issuance, points), (expired, -lapsed), (book.available_id, -taken),
        (book.debt_id, -(owed - taken)),
    ], cause_type=original.cause_type, cause_id=original.cause_id, actor_id=actor_id,
        reason=reason, reverses_id=tx_id, reduction_g=-original.reduction_g,
        lifetime=(-points, -original.reduction_g))


def reversal_of(user_id: int, tx_id: int) -> LedgerTransaction | None:
    """The transaction that reversed the user's transaction `tx_id`, if any."""
    return db.session.scalar(select(LedgerTransaction).where(
        LedgerTransaction.user_id == user_id, LedgerTransaction.reverses_id == tx_id))


def reverse_earn(tx_id: int, *, actor: User, reason: str, key: str,
                 owner_of: Callable[[int], int | None],
                 reverse_owned: Callable[[User, int, str], object],
                 ) -> Row | LedgerTransaction | None:
    """Reverse an earn as the record that owns it is reversed, or, owned by none, here.

    A behaviour's credit is reversed as the behaviour is, so that the behaviour is no
    longer counted as credited; the answer is then the reversal that wrote. The owner comes
    in as two functions (`owner_of`: the owning record's id for an earn, or None;
    `reverse_owned`: reverse that record, given the actor, its id and the reason) rather
    than as an import: the behaviours domain builds on the ledger, and the ledger importing
    it back would close an import circle.

    The request names the transaction by id alone: the owner probe comes first (404 if
    there is no such transaction), and every later statement of the ledger's stays inside
    that user's rows.
    """
    original = _transaction(tx_id, None)
    owned = owner_of(tx_id)
    if owned is not None:
        reverse_owned(actor, owned, reason)
        return reversal_of(original.user_id, tx_id)
    return _reverse(original, key=key, reason=reason, actor_id=actor.id, book=None)


def adjust(user_id: int, points: int, *, key: str, reason: str,
           actor_id: int, lot_expires_at: datetime | None = None) -> Row:
    """A manual correction by an administrator: credit (as a new lot) or debit.

    `lot_expires_at`: when a credit's lot expires, for points carried over from an earlier
    scheme that keep their own expiry (default: the validity period from today)."""
    if not isinstance(points, int) or points == 0:
        raise ApiError(422, "An adjustment must be a non-zero whole number of points.",
                       slug="validation-error",
                       errors={"points": ["Must not be zero."]})
    book = lock_book(user_id)
    if (done := replayed(book, key, "adjustment", "admin", str(actor_id))) is not None:
        return done
    if points > 0:
        entry = write_entry(book, credit_entry(
            book, "adjustment", points, key, cause_type="admin", cause_id=str(actor_id),
            actor_id=actor_id, reason=reason, lot_expires_at=lot_expires_at))
    else:
        if book.available < -points:
            raise insufficient(-points, book.available)
        take_from_lots(user_id, -points)
        entry = write(book, "adjustment", key, [
            (book.available_id, points), (system_account_id(ISSUANCE_CODE, ISSUANCE), -points),
        ], cause_type="admin", cause_id=str(actor_id), actor_id=actor_id, reason=reason)
    # An administrator's act on someone's points: in the audit log beside other admin acts
    # (once: a replay returned above).
    audit.record(actor_id, "ledger.adjusted", "user", user_id, points=points, reason=reason,
                 tx_id=entry.id)
    return entry
