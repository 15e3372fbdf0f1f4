"""A user's book: the three accounts (available, held, debt) every operation locks first.

Every operation on a user's points first takes that user's lock (row locks on the user's
three accounts on PostgreSQL, the write lock on SQLite), then checks its idempotency key,
then writes one balanced transaction. Only a partner batch locks several users, all in one
statement and in account id order, the order every locker uses, so operations cannot
deadlock. The system accounts (issuance, expired, merchants' settlement) are never locked;
their ids are remembered per app once known.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from flask import current_app
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from app.db_types import utcnow
from app.extensions import db
from app.ledger.models import (
    MERCHANT_SETTLEMENT,
    USER_AVAILABLE,
    USER_DEBT,
    USER_HELD,
    LedgerAccount,
    LedgerSystemAccount,
)
from app.sql import execute as _sql
from app.sql import insert_ignoring_conflicts, on_postgresql, one_of, per_database
from app.sql import scalar as _sql_scalar

ISSUANCE_CODE = "system:issuance"
EXPIRED_CODE = "system:expired"

# The hot path uses Core statements on the tables: the ORM's bulk-insert machinery costs
# more than the round trip it wraps.
ACCOUNTS = LedgerAccount.__table__
SYSTEM_ACCOUNTS = LedgerSystemAccount.__table__


class SystemAccountId(int):
    """A system account's id. User and system accounts have separate id allocators, so the
    type, not the number, tells a posting which column names its account."""

@dataclass
class Book:
    """A user's three accounts and their balances, read under the user's lock."""

    user_id: int
    available_id: int
    held_id: int
    debt_id: int
    available: int
    held: int
    debt: int  # <= 0: points the user owes after a reversal

    @property
    def posted(self) -> int:
        return self.available + self.held


def _user_account_rows(user_id: int) -> list[dict]:
    now = utcnow()
    return [
        {"code": code, "kind": kind, "user_id": user_id, "balance": 0, "lock_seq": 0,
         "lifetime_earned": 0, "lifetime_reduction_g": Decimal(0), "created_at": now}
        for code, kind in ((f"users:{user_id}", USER_AVAILABLE),
                           (f"users:{user_id}:held", USER_HELD),
                           (f"users:{user_id}:debt", USER_DEBT))
    ]


@per_database
def _lock_statements() -> tuple:
    """(read, lock and read, SQLite's bump) for a list of users bound as `uids`.

    PostgreSQL: row locks in account id order (the one order every locker uses, so lockers
    of several users cannot deadlock), and FOR UPDATE hands back the balances the previous
    lock holder committed (a plain read in the same statement would not).
    """
    mine = one_of(ACCOUNTS.c.user_id, name="uids")
    books = (select(ACCOUNTS.c.id, ACCOUNTS.c.user_id, ACCOUNTS.c.kind, ACCOUNTS.c.balance)
             .where(mine, ACCOUNTS.c.kind.in_((USER_AVAILABLE, USER_HELD, USER_DEBT))))
    bump = (update(ACCOUNTS).where(mine, ACCOUNTS.c.kind == USER_AVAILABLE)
            .values(lock_seq=ACCOUNTS.c.lock_seq + 1))
    return books, books.order_by(ACCOUNTS.c.id).with_for_update(), bump


def _lock_and_read(user_ids: list[int]) -> list:
    books, books_for_update, bump = _lock_statements()
    if on_postgresql():
        return _sql(books_for_update, {"uids": user_ids}).all()
    # SQLite has no row locks: the bump takes the database's write lock.
    if _sql(bump, {"uids": user_ids}).rowcount == 0:
        return []
    return _sql(books, {"uids": user_ids}).all()


def open_books(user_ids: Iterable[int]) -> None:
    """Create the users' accounts (a citizen's registration), so that their first earn
    need not; an account that exists already is left as it is."""
    insert_ignoring_conflicts(LedgerAccount, [
        row for user_id in user_ids for row in _user_account_rows(user_id)])


def lock_books(user_ids: Iterable[int]) -> dict[int, Book]:
    """Take several users' locks at once (a partner batch), accounts created on first need
    (a user registered before accounts were opened at registration, or not as a citizen)."""
    wanted = sorted(set(user_ids))
    rows = _lock_and_read(wanted) if wanted else []
    missing = sorted(set(wanted) - {row.user_id for row in rows})
    if missing:
        open_books(missing)
        rows += _lock_and_read(missing)
    found: dict[int, dict[str, tuple[int, int]]] = {}
    for account_id, user_id, kind, balance in rows:
        found.setdefault(user_id, {})[kind] = (account_id, balance)
    return {user_id: Book(user_id, available_id=k[USER_AVAILABLE][0],
                          held_id=k[USER_HELD][0], debt_id=k[USER_DEBT][0],
                          available=k[USER_AVAILABLE][1], held=k[USER_HELD][1],
                          debt=k[USER_DEBT][1])
            for user_id, k in found.items()}


def lock_book(user_id: int) -> Book:
    """Take the user's lock (creating the accounts on first need) and read the balances."""
    return lock_books([user_id])[user_id]


def own_book(user_id: int, book: Book | None) -> Book:
    """The caller's locked book for this user, or take the lock now."""
    if book is None:
        return lock_book(user_id)
    if book.user_id != user_id:
        raise AssertionError(f"book of user {book.user_id} used for user {user_id}")
    return book


def system_account_id(code: str, kind: str, merchant_id: int | None = None
                      ) -> SystemAccountId:
    """A system account by code, created on first need; never locked.

    Ids are remembered per app, but only once the transaction that saw the row commits
    (see remember_after_commit): a rolled-back creation must not leave a stale id.
    """
    known = current_app.extensions.setdefault("ledger_system_accounts", {})
    if code in known:
        return known[code]
    by_code = select(SYSTEM_ACCOUNTS.c.id).where(SYSTEM_ACCOUNTS.c.code == code)
    found = _sql_scalar(by_code)
    if found is None:
        insert_ignoring_conflicts(LedgerSystemAccount, [{
            "code": code, "kind": kind, "merchant_id": merchant_id, "created_at": utcnow()}])
        found = _sql_scalar(by_code)
    found = SystemAccountId(found)
    remember_after_commit(known, code, found)
    return found


def remember_after_commit(cache: dict, key: str, value: int) -> None:
    db.session().info.setdefault("ledger_cache_pending", []).append((cache, key, value))


@event.listens_for(Session, "after_commit")
def _publish_cached_ids(session: Session) -> None:
    for cache, key, value in session.info.pop("ledger_cache_pending", []):
        cache[key] = value


@event.listens_for(Session, "after_rollback")
def _forget_cached_ids(session: Session) -> None:
    session.info.pop("ledger_cache_pending", None)


def merchant_settlement_account_id(merchant_id: int) -> SystemAccountId:
    return system_account_id(f"merchants:{merchant_id}:settlement", MERCHANT_SETTLEMENT,
                             merchant_id)
