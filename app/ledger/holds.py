"""Holds: points reserved for a pending redemption, then captured to a merchant's
settlement or released back to the lots they came from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Row, insert, select, update

from app.db_types import utcnow
from app.http.problems import ApiError
from app.ledger.books import Book, lock_book, merchant_settlement_account_id
from app.ledger.expiry import expire_due_lots
from app.ledger.journal import insufficient, positive, replayed, write
from app.ledger.lots import consume_lots, lots_needed, move_lots
from app.ledger.models import Hold, HoldLot, Lot
from app.sharding import fan_out
from app.sql import execute as _sql
from app.sql import scalar as _sql_scalar

HOLDS, HOLD_LOTS = Hold.__table__, HoldLot.__table__


def hold(user_id: int, points: int, *, key: str, cause_type: str,
         cause_id: str | None = None, actor_id: int | None = None) -> Row:
    """Reserve points for a pending redemption: available drops, posted does not."""
    positive(points)
    book = lock_book(user_id)
    if (done := replayed(book, key, "hold", cause_type, cause_id)) is not None:
        return _sql(select(HOLDS).where(HOLDS.c.user_id == user_id,
                                        HOLDS.c.id == done.hold_id)).one()
    now = utcnow()
    lots = _lots_to_spend(book, points, now)
    new_hold = _sql(insert(HOLDS).returning(*HOLDS.c), {
        "user_id": user_id, "amount": points, "captured_amount": 0, "status": "open",
        "cause_type": cause_type, "cause_id": cause_id, "created_at": now}).one()
    taken = consume_lots(user_id, points, lots)
    _sql(insert(HOLD_LOTS), [
        {"user_id": user_id, "hold_id": new_hold.id, "lot_id": lot_id, "amount": amount}
        for lot_id, amount in taken])
    write(book, "hold", key, [(book.available_id, -points), (book.held_id, points)],
          cause_type=cause_type, cause_id=cause_id, actor_id=actor_id, hold_id=new_hold.id)
    return new_hold


def _lots_to_spend(book: Book, points: int, now: datetime) -> list[Row]:
    """The lots a hold of `points` takes, or 422 if the user has too few unexpired points.

    What is past due expires first, as the job would: the job runs once a day, and points
    released back to an expired lot, or held over its run and released, are no less
    expired for that. Past-due lots are the soonest-expiring, so they come first among the
    lots needed: only then is there anything to expire, and the lots to read again.
    """
    if book.available >= points:
        lots = lots_needed(book.user_id, points)
        if lots[0].expires_at > now:
            return lots
        expire_due_lots(book, now)
        if book.available >= points:
            return lots_needed(book.user_id, points)
    raise insufficient(points, book.available)


def _locked_open_hold(hold_id: int, key: str, tx_type: str,
                      user_id: int | None) -> tuple[Book, Row, Row | None]:
    if user_id is None:
        # A hold named by id alone (the redemption flows pass its owner): find the owner.
        with fan_out("owner-probe"):
            user_id = _sql_scalar(select(HOLDS.c.user_id).where(HOLDS.c.id == hold_id))
    if user_id is None:
        raise ApiError.not_found("hold")
    book = lock_book(user_id)
    found = _sql(select(HOLDS).where(HOLDS.c.user_id == user_id,  # locked now
                                     HOLDS.c.id == hold_id)).one_or_none()
    if found is None:
        raise ApiError.not_found("hold")
    # An open hold has had no capture or release: they end it in the same transaction. A
    # key used before for something else is then refused by the journal write itself.
    if found.status == "open":
        return book, found, None
    done = replayed(book, key, tx_type, found.cause_type, found.cause_id)
    if done is None:
        raise ApiError(409, f"This hold was already {found.status}.", slug="hold-ended")
    return book, found, done


def _hold_allocations_latest_expiring_first(user_id: int, hold_id: int,
                                            ) -> list[tuple[int, int]]:
    return [tuple(r) for r in _sql(
        select(HoldLot.lot_id, HoldLot.amount)
        .join(Lot, (Lot.user_id == HoldLot.user_id) & (Lot.id == HoldLot.lot_id))
        .where(HoldLot.user_id == user_id, HoldLot.hold_id == hold_id)
        .order_by(Lot.expires_at.desc(), Lot.id.desc()))]


def _unheld(book: Book, hold_id: int, points: int) -> int:
    """Points of a hold that come back unspent: how many of them settle the user's debt.

    Debt comes first, as with earnings: a reversal while points were held made the held
    part debt, and a cancelled redemption must not make it spendable again. Those points
    count as spent from the lots they came from, soonest-expiring first; the rest go back
    to the lots that would have been consumed last.
    """
    settle = min(points, -book.debt)
    give_back, left = [], points - settle
    if left:
        for lot_id, held in _hold_allocations_latest_expiring_first(book.user_id, hold_id):
            back = min(held, left)
            give_back.append((lot_id, back))
            left -= back
            if not left:
                break
    move_lots(book.user_id, give_back)
    return settle


def _end_hold(found: Row, status: str, captured: int) -> None:
    ended = _sql(
        update(HOLDS).where(HOLDS.c.user_id == found.user_id, HOLDS.c.id == found.id,
                            HOLDS.c.status == "open")
        .values(status=status, captured_amount=captured, ended_at=utcnow()))
    if ended.rowcount != 1:  # unreachable under the user's lock; the guard stays anyway
        raise ApiError(409, "This hold has already ended.", slug="hold-ended")


def capture(hold_id: int, *, merchant_id: int, key: str, amount: int | None = None,
            actor_id: int | None = None, user_id: int | None = None) -> Row:
    """Move held points (all, or part: the rest is released) to a merchant's settlement.

    `user_id`: the hold's owner, when the caller knows it (one read fewer).
    """
    book, found, done = _locked_open_hold(hold_id, key, "capture", user_id)
    if done is not None:
        return done
    amount = found.amount if amount is None else amount
    positive(amount)
    if amount > found.amount:
        raise ApiError(422, f"Cannot capture {amount}: the hold is for {found.amount}.",
                       slug="capture-exceeds-hold")
    remainder = found.amount - amount
    settle = _unheld(book, hold_id, remainder)
    tx = write(book, "capture", key, [
        (book.held_id, -found.amount), (merchant_settlement_account_id(merchant_id), amount),
        (book.available_id, remainder - settle), (book.debt_id, settle),
    ], cause_type=found.cause_type, cause_id=found.cause_id, actor_id=actor_id,
        hold_id=hold_id)
    _end_hold(found, "captured", amount)
    return tx


def release(hold_id: int, *, key: str, actor_id: int | None = None,
            user_id: int | None = None) -> Row:
    """End a hold without spending: its points go back to the very lots they came from.

    `user_id`: the hold's owner, when the caller knows it (one read fewer).
    """
    book, found, done = _locked_open_hold(hold_id, key, "release", user_id)
    if done is not None:
        return done
    settle = _unheld(book, hold_id, found.amount)
    tx = write(book, "release", key, [(book.held_id, -found.amount),
                                      (book.available_id, found.amount - settle),
                                      (book.debt_id, settle)],
               cause_type=found.cause_type, cause_id=found.cause_id, actor_id=actor_id,
               hold_id=hold_id)
    _end_hold(found, "released", 0)
    return tx
