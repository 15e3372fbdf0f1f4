"""The journal: one balanced transaction per operation, written with its postings, the
balances it moves and the lot it opens, checked against its idempotency key.

Functions flush; callers commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Row, bindparam, insert, select, text, update
from sqlalchemy.dialects import sqlite

from app.db_types import utcnow
from app.http.problems import ApiError
from app.ledger.books import ACCOUNTS, Book, SystemAccountId
from app.ledger.lots import LOTS, lot_expiry
from app.ledger.models import LedgerPosting, LedgerTransaction
from app.sql import as_json, on_postgresql
from app.sql import execute as _sql

TXS, POSTINGS = LedgerTransaction.__table__, LedgerPosting.__table__


def insufficient(needed: int, available: int) -> ApiError:
    return ApiError(422, f"Not enough points: {needed} needed, {available} available.",
                    slug="insufficient-points")


def positive(points: int) -> None:
    if not isinstance(points, int) or points <= 0:
        raise ApiError(422, "Points must be a positive whole number.", slug="validation-error",
                       errors={"points": ["Must be positive."]})


_BY_KEY = select(TXS).where(TXS.c.user_id == bindparam("uid"),
                           TXS.c.idempotency_key == bindparam("key"))


def replayed(book: Book, key: str, tx_type: str, cause_type: str,
             cause_id: str | None) -> Row | None:
    """The transaction already written under this key, if the same operation; else 409."""
    tx = _sql(_BY_KEY, {"uid": book.user_id, "key": key}).first()
    if tx is None:
        return None
    if (tx.type, tx.cause_type, tx.cause_id) != (tx_type, cause_type, cause_id):
        raise key_reused()
    return tx


def key_reused() -> ApiError:
    return ApiError(409, "This idempotency key was already used for another operation.",
                    slug="ledger-key-reused")


@dataclass
class Entry:
    """One journal transaction ready to write, and the user's balances after it."""

    tx_row: dict
    postings: list[tuple[int, int]]
    moves: list[tuple[int, int, int, Decimal]]  # account, change, points, grams
    lot: dict | None
    available: int
    held: int
    debt: int


def new_entry(book: Book, tx_type: str, key: str, postings: list[tuple[int, int]], *,
              cause_type: str, cause_id: str | None, actor_id: int | None,
              reason: str | None = None, reverses_id: int | None = None,
              hold_id: int | None = None, reduction_g: Decimal = Decimal(0),
              lifetime: tuple[int, Decimal] | None = None, new_lot: int = 0,
              now: datetime | None = None, lot_expires_at: datetime | None = None) -> Entry:
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
    return Entry(tx_row, postings, moves, lot, available, held,
                 book.debt + delta[book.debt_id])


def carry_balances(book: Book, entry: Entry) -> None:
    book.available, book.held, book.debt = entry.available, entry.held, entry.debt


def write(book: Book, tx_type: str, key: str, postings: list[tuple[int, int]], *,
          replay_ok: bool = False, **details) -> Row | None:
    """Append one balanced transaction and move the user's cached balances with it.

    If the user already has a transaction under `key`, nothing is written: with
    `replay_ok` the result is None (the caller looks the replay up), otherwise 409.
    """
    return write_entry(book, new_entry(book, tx_type, key, postings, **details), replay_ok)


def write_entry(book: Book, entry: Entry, replay_ok: bool = False) -> Row | None:
    tx = write_entries([entry])[0]
    if tx is None:
        if replay_ok:
            return None
        raise key_reused()
    carry_balances(book, entry)
    return tx


def write_entries(entries: list[Entry], *, whole_rows: bool = True) -> list[Row | None]:
    """Write the entries; for each, its transaction row, or None if its key was taken.

    Without `whole_rows`, the rows may hold only id, user_id and idempotency_key.
    """
    if on_postgresql():
        written = {(tx.user_id, tx.idempotency_key): tx
                   for tx in _write_in_one_statement(entries, whole_rows)}
        return [written.get((e.tx_row["user_id"], e.tx_row["idempotency_key"]))
                for e in entries]
    return [_write_step_by_step(e) for e in entries]


MOVE_BALANCE = (update(ACCOUNTS).where(ACCOUNTS.c.user_id == bindparam("uid"),
                                       ACCOUNTS.c.id == bindparam("account")).values(
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
    FROM (SELECT m.user_id, m.account, sum(m.change) AS change, sum(m.points) AS points,
                 sum(m.grams) AS grams
          FROM json_to_recordset(CAST(:moves AS json)) AS m(user_id bigint, key text,
              account bigint, change bigint, points bigint, grams numeric)
          JOIN tx ON tx.user_id = m.user_id AND tx.idempotency_key = m.key
          GROUP BY m.user_id, m.account) AS m
    WHERE a.user_id = m.user_id AND a.id = m.account
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


def _write_in_one_statement(entries: list[Entry], whole_rows: bool) -> list[Row]:
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


def _write_step_by_step(entry: Entry) -> Row | None:
    """SQLite: no data-modifying WITH, so one statement per table."""
    tx = _sql(_INSERT_TX, entry.tx_row).first()
    if tx is None:
        return None
    _sql(insert(POSTINGS), [{"user_id": tx.user_id, "transaction_id": tx.id,
                             **_posted_to(account), "amount": amount}
                            for account, amount in entry.postings])
    _sql(MOVE_BALANCE, [{"uid": tx.user_id, "account": account, "change": change,
                         "points": points, "grams": grams}
                        for account, change, points, grams in entry.moves])
    if entry.lot:
        _sql(insert(LOTS), {**entry.lot, "transaction_id": tx.id})
    return tx

