"""Ledger operations: earn, hold, capture, release, expire, reverse, adjust.

Every operation on a user's points first takes that user's lock (row locks on the
user's three accounts on PostgreSQL, the write lock on SQLite), then checks its
idempotency key, then writes one balanced transaction. Only a partner batch locks
several users, all in one statement and in account id order, the order every locker
uses, so operations cannot deadlock. Functions flush; callers commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from flask import current_app
from sqlalchemy import Row, bindparam, event, func, insert, select, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.db_types import utcnow
from app.extensions import db
from app.http.problems import ApiError
from app.ledger.models import (
    EXPIRED,
    ISSUANCE,
    MERCHANT_SETTLEMENT,
    USER_AVAILABLE,
    USER_DEBT,
    USER_HELD,
    Hold,
    HoldLot,
    LedgerAccount,
    LedgerPosting,
    LedgerSystemAccount,
    LedgerTransaction,
    Lot,
)
from app.localtime import local_date, local_midnight
from app.sql import as_json, insert_ignoring_conflicts, on_postgresql, one_of, per_database
from app.sql import execute as _sql
from app.sql import scalar as _sql_scalar

ISSUANCE_CODE = "system:issuance"
EXPIRED_CODE = "system:expired"

# The hot path uses Core statements on the tables: the ORM's bulk-insert machinery costs
# more than the round trip it wraps.
ACCOUNTS, TXS, POSTINGS = (LedgerAccount.__table__, LedgerTransaction.__table__,
                           LedgerPosting.__table__)
LOTS, HOLDS, HOLD_LOTS = Lot.__table__, Hold.__table__, HoldLot.__table__
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


# -- accounts ---------------------------------------------------------------------------

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


def _own_book(user_id: int, book: Book | None) -> Book:
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


# -- the journal ------------------------------------------------------------------------

def _insufficient(needed: int, available: int) -> ApiError:
    return ApiError(422, f"Not enough points: {needed} needed, {available} available.",
                    slug="insufficient-points")


_BY_KEY = select(TXS).where(TXS.c.user_id == bindparam("uid"),
                           TXS.c.idempotency_key == bindparam("key"))


def _replayed(book: Book, key: str, tx_type: str, cause_type: str,
              cause_id: str | None) -> Row | None:
    """The transaction already written under this key, if the same operation; else 409."""
    tx = _sql(_BY_KEY, {"uid": book.user_id, "key": key}).first()
    if tx is None:
        return None
    if (tx.type, tx.cause_type, tx.cause_id) != (tx_type, cause_type, cause_id):
        raise _key_reused()
    return tx


def _key_reused() -> ApiError:
    return ApiError(409, "This idempotency key was already used for another operation.",
                    slug="ledger-key-reused")


@dataclass
class _Entry:
    """One journal transaction ready to write, and the user's balances after it."""

    tx_row: dict
    postings: list[tuple[int, int]]
    moves: list[tuple[int, int, int, Decimal]]  # account, change, points, grams
    lot: dict | None
    available: int
    held: int
    debt: int


def _entry(book: Book, tx_type: str, key: str, postings: list[tuple[int, int]], *,
           cause_type: str, cause_id: str | None, actor_id: int | None,
           reason: str | None = None, reverses_id: int | None = None,
           hold_id: int | None = None, reduction_g: Decimal = Decimal(0),
           lifetime: tuple[int, Decimal] | None = None, new_lot: int = 0,
           now: datetime | None = None, lot_expires_at: datetime | None = None) -> _Entry:
    """A balanced transaction on `book` (not yet written; `book` is left as it was).

    `lifetime` (points, grams) moves the user's lifetime totals in the same UPDATE;
    `new_lot` points become a lot that expires after the validity period.
    """
    postings = [(account, amount) for account, amount in postings if amount != 0]
    if len(postings) < 2 or sum(amount for _, amount in postings) != 0:
        raise AssertionError(f"unbalanced {tx_type} transaction: {postings}")
    delta = {book.available_id: 0, book.held_id: 0, book.debt_id: 0}
    for account, amount in postings:
        if account in delta and not isinstance(account, SystemAccountId):
            delta[account] += amount
    available = book.available + delta[book.available_id]
    held = book.held + delta[book.held_id]
    if available < 0 or held < 0:
        raise AssertionError(f"{tx_type} would take user {book.user_id} below zero")
    now = now or utcnow()
    tx_row = {
        "type": tx_type, "user_id": book.user_id, "idempotency_key": key,
        "posted_delta": delta[book.available_id] + delta[book.held_id],
        "available_delta": delta[book.available_id], "posted_after": available + held,
        "available_after": available, "cause_type": cause_type, "cause_id": cause_id,
        "reverses_id": reverses_id, "hold_id": hold_id, "reduction_g": reduction_g,
        "reason": reason, "created_by": actor_id, "created_at": now,
    }
    points, grams = lifetime or (0, Decimal(0))
    moves = [(account, change, points if account == book.available_id else 0,
              grams if account == book.available_id else Decimal(0))
             for account, change in delta.items()
             if change or (lifetime and account == book.available_id)]
    lot = {"user_id": book.user_id, "amount": new_lot, "open_amount": new_lot,
           "expired_amount": 0, "expires_at": lot_expires_at or lot_expiry(now)
           } if new_lot else None
    return _Entry(tx_row, postings, moves, lot, available, held,
                  book.debt + delta[book.debt_id])


def _settle(book: Book, entry: _Entry) -> None:
    book.available, book.held, book.debt = entry.available, entry.held, entry.debt


def _write(book: Book, tx_type: str, key: str, postings: list[tuple[int, int]], *,
           replay_ok: bool = False, **details) -> Row | None:
    """Append one balanced transaction and move the user's cached balances with it.

    If the user already has a transaction under `key`, nothing is written: with
    `replay_ok` the result is None (the caller looks the replay up), otherwise 409.
    """
    return _write_entry(book, _entry(book, tx_type, key, postings, **details), replay_ok)


def _write_entry(book: Book, entry: _Entry, replay_ok: bool = False) -> Row | None:
    tx = _journal([entry])[0]
    if tx is None:
        if replay_ok:
            return None
        raise _key_reused()
    _settle(book, entry)
    return tx


def _journal(entries: list[_Entry], *, whole_rows: bool = True) -> list[Row | None]:
    """Write the entries; for each, its transaction row, or None if its key was taken.

    Without `whole_rows`, the rows may hold only id, user_id and idempotency_key.
    """
    if on_postgresql():
        written = {(tx.user_id, tx.idempotency_key): tx
                   for tx in _write_in_one_statement(entries, whole_rows)}
        return [written.get((e.tx_row["user_id"], e.tx_row["idempotency_key"]))
                for e in entries]
    return [_write_step_by_step(e) for e in entries]


_MOVE_BALANCE = (update(ACCOUNTS).where(ACCOUNTS.c.id == bindparam("account")).values(
    balance=ACCOUNTS.c.balance + bindparam("change"),
    lifetime_earned=ACCOUNTS.c.lifetime_earned + bindparam("points"),
    lifetime_reduction_g=ACCOUNTS.c.lifetime_reduction_g + bindparam("grams")))

_TX_COLUMNS = ", ".join(c.name for c in TXS.c if c.name != "id")

# The same writes as the SQLite branch, for any number of transactions, as one PostgreSQL
# statement: one round trip instead of four to six per transaction, which is most of an
# earn's cost. The rows travel as JSON documents (app.sql.as_json), so the statement and
# its parameters stay the same size whatever the count. Every part joins `tx` (the rows
# actually inserted), so a used key writes nothing at all. Balance changes are summed per
# account first: an UPDATE … FROM applies only one matching row per target. Foreign keys
# are checked at the end of the statement, when the transaction rows exist.
_JOURNAL_WRITES = f"""
WITH tx AS (
    INSERT INTO ledger_transactions ({_TX_COLUMNS})
    SELECT {_TX_COLUMNS}
    FROM json_populate_recordset(NULL::ledger_transactions, CAST(:txs AS json))
        WITH ORDINALITY AS t
    ORDER BY t.ordinality
    ON CONFLICT (user_id, idempotency_key) DO NOTHING
    RETURNING *
), postings AS (
    INSERT INTO ledger_postings (user_id, transaction_id, account_id, system_account_id,
        amount)
    SELECT tx.user_id, tx.id, p.account_id, p.system_account_id, p.amount
    FROM json_to_recordset(CAST(:postings AS json))
        AS p(user_id bigint, key text, account_id bigint, system_account_id bigint,
             amount bigint)
    JOIN tx ON tx.user_id = p.user_id AND tx.idempotency_key = p.key
), balances AS (
    UPDATE ledger_accounts AS a SET balance = a.balance + m.change,
        lifetime_earned = a.lifetime_earned + m.points,
        lifetime_reduction_g = a.lifetime_reduction_g + m.grams
    FROM (SELECT m.account, sum(m.change) AS change, sum(m.points) AS points,
                 sum(m.grams) AS grams
          FROM json_to_recordset(CAST(:moves AS json)) AS m(user_id bigint, key text,
              account bigint, change bigint, points bigint, grams numeric)
          JOIN tx ON tx.user_id = m.user_id AND tx.idempotency_key = m.key
          GROUP BY m.account) AS m
    WHERE a.id = m.account
), lots AS (
    INSERT INTO ledger_lots (user_id, transaction_id, amount, open_amount, expired_amount,
        expires_at)
    SELECT tx.user_id, tx.id, l.amount, l.amount, 0, l.expires_at
    FROM json_to_recordset(CAST(:lots AS json))
        AS l(user_id bigint, key text, amount bigint, expires_at timestamptz)
    JOIN tx ON tx.user_id = l.user_id AND tx.idempotency_key = l.key
)
"""
_JOURNAL_PG = text(_JOURNAL_WRITES + "SELECT * FROM tx").columns(*TXS.c)
# A batch of earns needs only the transactions' ids back: 500 whole rows cost more to
# send and to type-convert than the ids they carry.
_JOURNAL_PG_IDS = text(_JOURNAL_WRITES + "SELECT id, user_id, idempotency_key FROM tx").columns(
    TXS.c.id, TXS.c.user_id, TXS.c.idempotency_key)


def _write_in_one_statement(entries: list[_Entry], whole_rows: bool) -> list[Row]:
    postings, moves, lots = [], [], []
    for e in entries:
        owner = {"user_id": e.tx_row["user_id"], "key": e.tx_row["idempotency_key"]}
        postings += [{**owner, **_posted_to(account), "amount": amount}
                     for account, amount in e.postings]
        moves += [{**owner, "account": account, "change": change, "points": points,
                   "grams": grams} for account, change, points, grams in e.moves]
        if e.lot:
            lots.append({**owner, "amount": e.lot["amount"],
                         "expires_at": e.lot["expires_at"]})
    return _sql(_JOURNAL_PG if whole_rows else _JOURNAL_PG_IDS, {
        "txs": as_json([e.tx_row for e in entries]), "postings": as_json(postings),
        "moves": as_json(moves), "lots": as_json(lots)}).all()


def _posted_to(account: int) -> dict[str, int | None]:
    """A posting's account columns: a user account's or a system account's id."""
    if isinstance(account, SystemAccountId):
        return {"account_id": None, "system_account_id": int(account)}
    return {"account_id": account, "system_account_id": None}


_INSERT_TX = (sqlite.insert(TXS).on_conflict_do_nothing(
    index_elements=[TXS.c.user_id, TXS.c.idempotency_key]).returning(*TXS.c))


def _write_step_by_step(entry: _Entry) -> Row | None:
    """SQLite: no data-modifying WITH, so one statement per table."""
    tx = _sql(_INSERT_TX, entry.tx_row).first()
    if tx is None:
        return None
    _sql(insert(POSTINGS), [{"user_id": tx.user_id, "transaction_id": tx.id,
                             **_posted_to(account), "amount": amount}
                            for account, amount in entry.postings])
    _sql(_MOVE_BALANCE, [{"account": account, "change": change, "points": points,
                          "grams": grams} for account, change, points, grams in entry.moves])
    if entry.lot:
        _sql(insert(LOTS), {**entry.lot, "transaction_id": tx.id})
    return tx


# -- lots -------------------------------------------------------------------------------

def lot_expiry(earned_at: datetime) -> datetime:
    """Rolling validity: the start of the local day `validity` days after the earn date."""
    return local_midnight(local_date(earned_at)
                          + timedelta(days=current_app.config["POINTS_VALIDITY_DAYS"]))


def _take_from_lots(user_id: int, points: int, *, first_lot_id: int | None = None,
                    ) -> list[tuple[int, int]]:
    """Consume `points` of open lots, soonest-expiring first (`first_lot_id` before all)."""
    return _take(user_id, points, _lots_needed(user_id, points, first_lot_id))


def _lots_needed(user_id: int, points: int, first_lot_id: int | None = None) -> list[Row]:
    """The open lots `points` would consume, in order: (id, open_amount, expires_at)."""
    order = ((LOTS.c.id != first_lot_id) if first_lot_id else LOTS.c.expires_at,
             LOTS.c.expires_at, LOTS.c.id)
    # Only the lots needed: those whose running total before them is still short.
    running = func.sum(LOTS.c.open_amount).over(order_by=order) - LOTS.c.open_amount
    ranked = (select(LOTS.c.id, LOTS.c.open_amount, LOTS.c.expires_at, running.label("before"))
              .where(LOTS.c.user_id == user_id, LOTS.c.open_amount > 0).subquery())
    return _sql(select(ranked.c.id, ranked.c.open_amount, ranked.c.expires_at)
                .where(ranked.c.before < points).order_by(ranked.c.before)).all()


def _take(user_id: int, points: int, lots: list[Row]) -> list[tuple[int, int]]:
    """Consume `points` of `lots` (from _lots_needed), in their order."""
    taken, left = [], points
    for lot_id, open_amount, _ in lots:
        if left == 0:
            break
        take = min(open_amount, left)
        taken.append((lot_id, take))
        left -= take
    if left:
        raise AssertionError(f"lots of user {user_id} hold {points - left} < {points}")
    _move_lots([(lot_id, -take) for lot_id, take in taken])
    return taken


_MOVE_LOT = (update(LOTS).where(LOTS.c.id == bindparam("lot"))
             .values(open_amount=LOTS.c.open_amount + bindparam("change")))


def _move_lots(changes: list[tuple[int, int]]) -> None:
    """Move each lot's open amount by its change (negative: spent, positive: given back)."""
    if changes:
        _sql(_MOVE_LOT, [{"lot": lot_id, "change": change} for lot_id, change in changes])


# -- operations -------------------------------------------------------------------------

def _positive(points: int) -> None:
    if not isinstance(points, int) or points <= 0:
        raise ApiError(422, "Points must be a positive whole number.", slug="validation-error",
                       errors={"points": ["Must be positive."]})


def _credit_entry(book: Book, tx_type: str, points: int, key: str, *, cause_type: str,
                  cause_id: str | None, actor_id: int | None, reason: str | None = None,
                  reduction_g: Decimal = Decimal(0), lifetime: bool = False,
                  now: datetime | None = None, lot_expires_at: datetime | None = None
                  ) -> _Entry:
    """Issue points to the user: debt is settled first, the rest becomes a new lot."""
    settle = min(points, -book.debt)
    to_available = points - settle
    return _entry(book, tx_type, key, [
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
    _positive(points)
    book = _own_book(user_id, book)
    # The key is checked by the write itself (an earn writes nothing before it): one
    # round trip fewer on the platform's busiest path.
    entry = _credit_entry(book, "earn", points, key, cause_type=cause_type, cause_id=cause_id,
                          actor_id=actor_id, reduction_g=reduction_g, lifetime=True)
    tx = _write_entry(book, entry, replay_ok=True)
    return tx if tx is not None else _replayed(book, key, "earn", cause_type, cause_id)


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
        _positive(e.points)
        book = books[e.user_id]
        entry = _credit_entry(book, "earn", e.points, e.key, cause_type=e.cause_type,
                              cause_id=e.cause_id, actor_id=None, reduction_g=e.reduction_g,
                              lifetime=True, now=now, lot_expires_at=expires_at)
        _settle(book, entry)  # the user's next earn starts from this one's balances
        entries.append(entry)
    txs = _journal(entries, whole_rows=False)
    if any(tx is None for tx in txs):
        raise _key_reused()
    return txs


def hold(user_id: int, points: int, *, key: str, cause_type: str,
         cause_id: str | None = None, actor_id: int | None = None) -> Row:
    """Reserve points for a pending redemption: available drops, posted does not."""
    _positive(points)
    book = lock_book(user_id)
    if (done := _replayed(book, key, "hold", cause_type, cause_id)) is not None:
        return _sql(select(HOLDS).where(HOLDS.c.id == done.hold_id)).one()
    now = utcnow()
    lots = _lots_to_spend(book, points, now)
    new_hold = _sql(insert(HOLDS).returning(*HOLDS.c), {
        "user_id": user_id, "amount": points, "captured_amount": 0, "status": "open",
        "cause_type": cause_type, "cause_id": cause_id, "created_at": now}).one()
    taken = _take(user_id, points, lots)
    _sql(insert(HOLD_LOTS), [
        {"user_id": user_id, "hold_id": new_hold.id, "lot_id": lot_id, "amount": amount}
        for lot_id, amount in taken])
    _write(book, "hold", key, [(book.available_id, -points), (book.held_id, points)],
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
        lots = _lots_needed(book.user_id, points)
        if lots[0].expires_at > now:
            return lots
        _expire_due_lots(book, now)
        if book.available >= points:
            return _lots_needed(book.user_id, points)
    raise _insufficient(points, book.available)


def _locked_open_hold(hold_id: int, key: str, tx_type: str,
                      user_id: int | None) -> tuple[Book, Row, Row | None]:
    if user_id is None:
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
    done = _replayed(book, key, tx_type, found.cause_type, found.cause_id)
    if done is None:
        raise ApiError(409, f"This hold was already {found.status}.", slug="hold-ended")
    return book, found, done


def _hold_allocations_latest_expiring_first(user_id: int, hold_id: int,
                                            ) -> list[tuple[int, int]]:
    return [tuple(r) for r in _sql(
        select(HoldLot.lot_id, HoldLot.amount).join(Lot, Lot.id == HoldLot.lot_id)
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
    _move_lots(give_back)
    return settle


def _end_hold(found: Row, status: str, captured: int) -> None:
    ended = _sql(
        update(HOLDS).where(HOLDS.c.id == found.id, HOLDS.c.status == "open")
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
    _positive(amount)
    if amount > found.amount:
        raise ApiError(422, f"Cannot capture {amount}: the hold is for {found.amount}.",
                       slug="capture-exceeds-hold")
    remainder = found.amount - amount
    settle = _unheld(book, hold_id, remainder)
    tx = _write(book, "capture", key, [
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
    tx = _write(book, "release", key, [(book.held_id, -found.amount),
                                       (book.available_id, found.amount - settle),
                                       (book.debt_id, settle)],
                cause_type=found.cause_type, cause_id=found.cause_id, actor_id=actor_id,
                hold_id=hold_id)
    _end_hold(found, "released", 0)
    return tx


def users_with_due_lots(now: datetime, *, after: int = 0, limit: int = 500) -> list[int]:
    """Users with points past their expiry, in id order from after `after`."""
    return list(db.session.scalars(
        select(Lot.user_id).where(Lot.expires_at <= now, Lot.open_amount > 0,
                                  Lot.user_id > after)
        .group_by(Lot.user_id).order_by(Lot.user_id).limit(limit)))


def expire_user_lots(user_id: int, now: datetime) -> int:
    """Post what is left of the user's past-due lots to the expired account.

    One transaction per lot, keyed by the lot and how much of it had expired before,
    so a rerun after a crash finds nothing left to do rather than posting twice.
    """
    return _expire_due_lots(lock_book(user_id), now)


def _expire_due_lots(book: Book, now: datetime) -> int:
    """expire_user_lots for a user whose lock the caller holds (`book`)."""
    due = _sql(
        select(Lot.id, Lot.open_amount, Lot.expired_amount)
        .where(Lot.user_id == book.user_id, Lot.expires_at <= now, Lot.open_amount > 0)
        .order_by(Lot.expires_at, Lot.id)).all()
    expired_account = system_account_id(EXPIRED_CODE, EXPIRED) if due else None
    total = 0
    for lot_id, open_amount, expired_before in due:
        _write(book, "expire", f"expire:lot:{lot_id}:{expired_before}",
               [(book.available_id, -open_amount), (expired_account, open_amount)],
               cause_type="lot", cause_id=str(lot_id), actor_id=None)
        _sql(update(Lot).where(Lot.id == lot_id).values(
            open_amount=0, expired_amount=Lot.expired_amount + open_amount))
        total += open_amount
    return total


def reverse(tx_id: int, *, key: str, reason: str, actor_id: int | None,
            book: Book | None = None) -> Row:
    """Undo an earn with a compensating transaction that references it.

    What the user still has is taken back (the earn's own lot first); what was already
    spent becomes debt, which the user's next earnings (or points coming back from a hold)
    settle before anything else.
    """
    original = db.session.get(LedgerTransaction, tx_id)
    if original is None:
        raise ApiError.not_found("transaction")
    if original.type != "earn":
        raise ApiError(409, "Only an earn can be reversed.", slug="not-reversible")
    book = _own_book(original.user_id, book)
    if (done := _replayed(book, key, "reversal", original.cause_type,
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
        _take_from_lots(book.user_id, taken, first_lot_id=own_lot)
    expired = system_account_id(EXPIRED_CODE, EXPIRED) if lapsed else None
    return _write(book, "reversal", key, [
        (issuance, points), (expired, -lapsed), (book.available_id, -taken),
        (book.debt_id, -(owed - taken)),
    ], cause_type=original.cause_type, cause_id=original.cause_id, actor_id=actor_id,
        reason=reason, reverses_id=tx_id, reduction_g=-original.reduction_g,
        lifetime=(-points, -original.reduction_g))


def reversal_of(tx_id: int) -> LedgerTransaction | None:
    """The transaction that reversed this one, if any."""
    owner = select(LedgerTransaction.user_id).where(LedgerTransaction.id == tx_id)
    return db.session.scalar(select(LedgerTransaction).where(
        LedgerTransaction.user_id == owner.scalar_subquery(),
        LedgerTransaction.reverses_id == tx_id))


def count_reduction(book: Book, grams: Decimal) -> None:
    """The reduction behind a credit too small for a whole point: the user's lifetime
    reduction moves by `grams` (negative when such a credit is reversed) although the
    journal has no points to post. The caller holds the user's lock (`book`)."""
    _sql(_MOVE_BALANCE, [{"account": book.available_id, "change": 0, "points": 0,
                          "grams": grams}])


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
    if (done := _replayed(book, key, "adjustment", "admin", str(actor_id))) is not None:
        return done
    if points > 0:
        entry = _write_entry(book, _credit_entry(
            book, "adjustment", points, key, cause_type="admin", cause_id=str(actor_id),
            actor_id=actor_id, reason=reason, lot_expires_at=lot_expires_at))
    else:
        if book.available < -points:
            raise _insufficient(-points, book.available)
        _take_from_lots(user_id, -points)
        entry = _write(book, "adjustment", key, [
            (book.available_id, points), (system_account_id(ISSUANCE_CODE, ISSUANCE), -points),
        ], cause_type="admin", cause_id=str(actor_id), actor_id=actor_id, reason=reason)
    # An administrator's act on someone's points: in the audit log beside other admin acts
    # (once: a replay returned above).
    audit.record(actor_id, "ledger.adjusted", "user", user_id, points=points, reason=reason,
                 tx_id=entry.id)
    return entry


# -- reading ----------------------------------------------------------------------------

def available(user_id: int) -> int:
    """Spendable points now (0 before the user's first earn); no lock, a plain read."""
    return _sql_scalar(select(ACCOUNTS.c.balance).where(
        ACCOUNTS.c.user_id == user_id, ACCOUNTS.c.kind == USER_AVAILABLE)) or 0


_BALANCES = (select(ACCOUNTS.c.kind, ACCOUNTS.c.balance, ACCOUNTS.c.lifetime_earned,
                    ACCOUNTS.c.lifetime_reduction_g)
             .where(ACCOUNTS.c.user_id == bindparam("user_id")))
_EXPIRING = (select(LOTS.c.expires_at, LOTS.c.open_amount)
             .where(LOTS.c.user_id == bindparam("user_id"), LOTS.c.open_amount > 0,
                    LOTS.c.expires_at <= bindparam("until", type_=LOTS.c.expires_at.type))
             .order_by(LOTS.c.expires_at))


def summary(user_id: int, now: datetime | None = None) -> dict:
    """Balances, lifetime totals and what expires in the next 30 days (by local date)."""
    now = now or utcnow()
    accounts = {kind: (balance, earned, reduction) for kind, balance, earned, reduction in
                _sql(_BALANCES, {"user_id": user_id})}
    available, earned, reduction = accounts.get(USER_AVAILABLE, (0, 0, Decimal(0)))
    held = accounts.get(USER_HELD, (0,))[0]
    debt = accounts.get(USER_DEBT, (0,))[0]
    by_date: dict = {}
    for expires_at, points in _sql(_EXPIRING, {"user_id": user_id,
                                               "until": now + timedelta(days=30)}):
        day = local_date(expires_at)
        by_date[day] = by_date.get(day, 0) + points
    return {
        "posted": available + held, "held": held, "available": available, "debt": -debt,
        "lifetime_earned": earned, "lifetime_reduction_g": reduction,
        "expiring_30d": sum(by_date.values()),
        "expiring": [{"date": day, "points": points} for day, points in by_date.items()],
    }


def entries(user_id: int, *, types: list[str] | None = None, since: datetime | None = None,
            until: datetime | None = None):
    stmt = (select(LedgerTransaction).where(LedgerTransaction.user_id == user_id)
            .order_by(LedgerTransaction.id.desc()))
    if types:
        stmt = stmt.where(LedgerTransaction.type.in_(types))
    if since:
        stmt = stmt.where(LedgerTransaction.created_at >= since)
    if until:
        stmt = stmt.where(LedgerTransaction.created_at < until)
    return stmt


def account_balance(account_id: SystemAccountId) -> int:
    """A system account's balance: the sum of its postings (it has no cached one)."""
    return _sql_scalar(select(func.coalesce(func.sum(LedgerPosting.amount), 0))
                             .where(LedgerPosting.system_account_id == account_id))
