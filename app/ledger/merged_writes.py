"""Holds made and captured inside a caller's one PostgreSQL statement.

A redemption (stock, hold, redemption row) and its verification (capture, redemption
row) each write in one round trip: the ledger's part is data-modifying CTEs that the
rewards domain puts in its statement, after a CTE of its own that gates them. The
ledger computes the journal's transaction from the user's locked book (as `write`
does), and the statement writes it only if the rows it assumed are still so; when they
are not, nothing of the ledger's part is written and the caller takes the step-by-step
path (app/ledger/holds.py), which handles every case. Every statement names the user's
rows by user_id: they are one user's rows of the distributed tables (Citus). SQLite has
no data-modifying WITH and always goes step by step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from app.ledger.books import Book, merchant_settlement_account_id
from app.ledger.journal import (
    TXS,
    Entry,
    _posted_to,
    carry_balances,
    insufficient,
    key_reused,
    new_entry,
    positive,
)
from app.sql import as_json

_TX_COLUMNS = [c.name for c in TXS.c if c.name != "id"]

# The journal's part, after a CTE `{source}` that returns the hold (column `id`): the
# transaction (its hold_id that hold's id), its postings and the user's balances. A
# used key writes no transaction, and nothing that joins `tx`.
_JOURNAL = f"""
tx AS (
    INSERT INTO ledger_transactions ({", ".join(_TX_COLUMNS)})
    SELECT {", ".join("{source}.id" if c == "hold_id" else f"t.{c}" for c in _TX_COLUMNS)}
    FROM json_populate_record(NULL::ledger_transactions, CAST(:tx AS json)) AS t, {{source}}
    ON CONFLICT (user_id, idempotency_key) DO NOTHING
    RETURNING id, hold_id
), postings AS (
    INSERT INTO ledger_postings (user_id, transaction_id, account_id, system_account_id,
        amount)
    SELECT :uid, tx.id, p.account_id, p.system_account_id, p.amount
    FROM json_to_recordset(CAST(:postings AS json))
        AS p(account_id bigint, system_account_id bigint, amount bigint), tx
), balances AS (
    UPDATE ledger_accounts AS a SET balance = a.balance + m.change
    FROM json_to_recordset(CAST(:moves AS json)) AS m(account bigint, change bigint), tx
    WHERE a.user_id = :uid AND a.id = m.account
)"""

# A hold, after the caller's CTE `{gate}`: the lots it takes (soonest-expiring first,
# only those needed, by a running total), the hold, the journal, the lots' new open
# amounts and the hold-lots. Written only if the lots cover the hold and none of them is
# past due (the step-by-step hold expires those first, as the job would).
_HOLD = """
needed AS (
    SELECT id, open_amount, expires_at,
           sum(open_amount) OVER (ORDER BY expires_at, id) - open_amount AS before
    FROM ledger_lots WHERE user_id = :uid AND open_amount > 0
), spent AS (
    SELECT id, LEAST(open_amount, :points - before) AS amount, expires_at
    FROM needed WHERE before < :points
), hold AS (
    INSERT INTO ledger_holds (user_id, amount, captured_amount, status, cause_type,
        cause_id, created_at)
    SELECT :uid, :points, 0, 'open', :cause_type, :cause_id, CAST(:now AS timestamptz)
    FROM {gate}
    WHERE (SELECT coalesce(sum(amount), 0) FROM spent) = :points
      AND NOT EXISTS (SELECT 1 FROM spent WHERE expires_at <= CAST(:now AS timestamptz))
    RETURNING id
), """ + _JOURNAL.format(source="hold") + """, lots AS (
    UPDATE ledger_lots AS l SET open_amount = l.open_amount - s.amount
    FROM spent AS s, tx WHERE l.user_id = :uid AND l.id = s.id
), hold_lots AS (
    INSERT INTO ledger_hold_lots (user_id, hold_id, lot_id, amount)
    SELECT :uid, tx.hold_id, s.id, s.amount FROM spent AS s, tx
)"""

# A whole capture of an open hold of the expected amount and cause: the hold ends and
# the journal moves its points to the merchant's settlement.
_CAPTURE = """
captured AS (
    UPDATE ledger_holds SET status = 'captured', captured_amount = amount,
        ended_at = CAST(:now AS timestamptz)
    WHERE user_id = :uid AND id = :hold_id AND status = 'open' AND amount = :points
      AND cause_type = :cause_type AND cause_id = :cause_id
    RETURNING id
), """ + _JOURNAL.format(source="captured")


@lru_cache(maxsize=8)
def hold_writes(gate: str) -> str:
    """The CTEs (without WITH) that make a hold once the caller's CTE `gate` returned a
    row. `hold` holds its id if made, `tx` its transaction (id, hold_id) if written.
    Bind `hold_parameters`; read the outcome with `written`."""
    return _HOLD.format(gate=gate)


def capture_writes() -> str:
    """The CTEs (without WITH) that capture a whole open hold: `captured` holds its id if
    it was open, `tx` the transaction. Bind `capture_parameters`; read with `written`."""
    return _CAPTURE


@dataclass
class PendingWrite:
    """What a statement's ledger part is bound with, and the entry it writes."""

    parameters: dict[str, Any]
    entry: Entry


def _pending(book: Book, entry: Entry, **parameters: Any) -> PendingWrite:
    return PendingWrite({
        **parameters, "uid": book.user_id, "cause_type": entry.tx_row["cause_type"],
        "cause_id": entry.tx_row["cause_id"], "now": entry.tx_row["created_at"],
        "tx": as_json(entry.tx_row),
        # A user account's posting names it by account_id, a system account's (the
        # merchant's settlement) by system_account_id, as the journal's writer does.
        "postings": as_json([{**_posted_to(a), "amount": n} for a, n in entry.postings]),
        "moves": as_json([{"account": a, "change": n} for a, n, _, _ in entry.moves]),
    }, entry)


def hold_parameters(book: Book, points: int, *, key: str, cause_type: str,
                    cause_id: str, now: datetime,
                    actor_id: int | None = None) -> PendingWrite:
    """A hold of `points` on the user's locked book (422 if too few are available)."""
    positive(points)
    if book.available < points:
        raise insufficient(points, book.available)
    entry = new_entry(book, "hold", key, [(book.available_id, -points),
                                          (book.held_id, points)],
                      cause_type=cause_type, cause_id=cause_id, actor_id=actor_id, now=now)
    return _pending(book, entry, points=points)


def capture_parameters(book: Book, hold_id: int, points: int, *, merchant_id: int,
                       key: str, cause_type: str, cause_id: str, now: datetime,
                       actor_id: int | None = None) -> PendingWrite | None:
    """The whole capture of the user's hold `hold_id`, expected open, of `points`, for
    this cause, to the merchant's settlement; the user's book is locked. None when the
    book holds fewer points (the hold cannot be open: nothing to write in one go)."""
    if book.held < points:
        return None
    entry = new_entry(book, "capture", key, [
        (book.held_id, -points), (merchant_settlement_account_id(merchant_id), points),
    ], cause_type=cause_type, cause_id=cause_id, actor_id=actor_id, hold_id=hold_id,
        now=now)
    return _pending(book, entry, points=points, hold_id=hold_id)


def written(book: Book, pending: PendingWrite, started: int | None,
            tx_id: int | None) -> bool:
    """Whether the statement wrote the ledger's part (the book then carries its
    balances); False: its gate or the rows it assumed stopped it, and nothing of it was
    written. `started`: the hold's id from `hold` or `captured`. A used key is a 409
    (the caller's transaction rolls back what the hold's row did)."""
    if started is None:
        return False
    if tx_id is None:
        raise key_reused()
    carry_balances(book, pending.entry)
    return True
