"""Check every ledger invariant; each violation is named, none is fixed here.

Every check reads all users' rows (the `ledger-verify` fan-out, see app.sharding), so each
statement runs through `_rows`. A join between two user-owned tables names `user_id` on
both sides as well as the id: Citus runs such a join shard by shard, and refuses one on
the id alone (a repartition join) even in a fan-out.
"""

from __future__ import annotations

from sqlalchemy import Executable, Result, case, func, select

from app.extensions import db
from app.ledger.models import (
    CACHED_KINDS,
    USER_AVAILABLE,
    USER_DEBT,
    USER_HELD,
    Hold,
    HoldLot,
    LedgerAccount,
    LedgerPosting,
    LedgerTransaction,
    Lot,
)
from app.sharding import fan_out


def verify() -> list[str]:
    problems: list[str] = []
    problems += _unbalanced_transactions()
    problems += _cached_balances()
    problems += _negative_balances()
    problems += _lots_match_available()
    problems += _holds_match_held()
    return problems


def _rows(statement: Executable) -> Result:
    """Run one of the checks' statements across every user's shard."""
    with fan_out("ledger-verify"):
        return db.session.execute(statement)


def _unbalanced_transactions() -> list[str]:
    sums = (select(LedgerTransaction.id, func.count(LedgerPosting.id),
                   func.coalesce(func.sum(LedgerPosting.amount), 0))
            .outerjoin(LedgerPosting, (LedgerPosting.user_id == LedgerTransaction.user_id)
                       & (LedgerPosting.transaction_id == LedgerTransaction.id))
            .group_by(LedgerTransaction.id)
            .having((func.count(LedgerPosting.id) < 2)
                    | (func.coalesce(func.sum(LedgerPosting.amount), 0) != 0)))
    return [f"transaction {tx}: {n} postings summing to {total} (needs ≥ 2 summing to 0)"
            for tx, n, total in _rows(sums)]


def _cached_balances() -> list[str]:
    totals = (select(LedgerAccount.code, LedgerAccount.balance,
                     func.coalesce(func.sum(LedgerPosting.amount), 0))
              .outerjoin(LedgerPosting, (LedgerPosting.user_id == LedgerAccount.user_id)
                         & (LedgerPosting.account_id == LedgerAccount.id))
              .where(LedgerAccount.kind.in_(CACHED_KINDS))
              .group_by(LedgerAccount.id, LedgerAccount.code, LedgerAccount.balance)
              .having(LedgerAccount.balance != func.coalesce(func.sum(LedgerPosting.amount), 0)))
    return [f"account {code}: cached balance {cached} but postings sum to {actual}"
            for code, cached, actual in _rows(totals)]


def _negative_balances() -> list[str]:
    rows = _rows(select(LedgerAccount.code, LedgerAccount.kind, LedgerAccount.balance)
                 .where(((LedgerAccount.kind.in_((USER_AVAILABLE, USER_HELD)))
                         & (LedgerAccount.balance < 0))
                        | ((LedgerAccount.kind == USER_DEBT) & (LedgerAccount.balance > 0))))
    return [f"account {code} ({kind}): balance {balance} is out of range"
            for code, kind, balance in rows]


def _lots_match_available() -> list[str]:
    open_lots = (select(Lot.user_id, func.sum(Lot.open_amount).label("open"))
                 .group_by(Lot.user_id).subquery())
    rows = _rows(
        select(LedgerAccount.code, LedgerAccount.balance, func.coalesce(open_lots.c.open, 0))
        .outerjoin(open_lots, open_lots.c.user_id == LedgerAccount.user_id)
        .where(LedgerAccount.kind == USER_AVAILABLE,
               LedgerAccount.balance != func.coalesce(open_lots.c.open, 0)))
    problems = [f"account {code}: available {balance} but open lots hold {lots}"
                for code, balance, lots in rows]
    orphan = _rows(
        select(Lot.user_id, func.sum(Lot.open_amount))
        .where(~select(LedgerAccount.id).where(LedgerAccount.user_id == Lot.user_id).exists())
        .group_by(Lot.user_id))
    problems += [f"user {u}: open lots of {n} points but no account" for u, n in orphan]
    return problems


def _holds_match_held() -> list[str]:
    open_holds = (select(Hold.user_id, func.sum(Hold.amount).label("held"))
                  .where(Hold.status == "open").group_by(Hold.user_id).subquery())
    rows = _rows(
        select(LedgerAccount.code, LedgerAccount.balance, func.coalesce(open_holds.c.held, 0))
        .outerjoin(open_holds, open_holds.c.user_id == LedgerAccount.user_id)
        .where(LedgerAccount.kind == USER_HELD,
               LedgerAccount.balance != func.coalesce(open_holds.c.held, 0)))
    problems = [f"account {code}: held {balance} but open holds reserve {holds}"
                for code, balance, holds in rows]
    allocated = _rows(
        select(Hold.id, Hold.amount, func.coalesce(func.sum(HoldLot.amount), 0))
        .outerjoin(HoldLot, (HoldLot.user_id == Hold.user_id) & (HoldLot.hold_id == Hold.id))
        .where(Hold.status == "open").group_by(Hold.id, Hold.amount)
        .having(Hold.amount != func.coalesce(func.sum(HoldLot.amount), 0)))
    problems += [f"hold {h}: reserves {amount} but took {took} from lots"
                 for h, amount, took in allocated]
    ended = _rows(select(Hold.id, Hold.status, func.count(LedgerTransaction.id))
                  .outerjoin(LedgerTransaction, (LedgerTransaction.user_id == Hold.user_id)
                             & (LedgerTransaction.hold_id == Hold.id)
                             & LedgerTransaction.type.in_(("capture", "release")))
                  .group_by(Hold.id, Hold.status)
                  .having(func.count(LedgerTransaction.id)
                          != case((Hold.status == "open", 0), else_=1)))
    problems += [f"hold {h} ({status}): ended by {n} transactions" for h, status, n in ended]
    return problems
