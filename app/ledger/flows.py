"""The ledger's flows over time, for administrators: points issued, redeemed, expired and
reversed per local day, and what citizens hold.

Read from the journal's postings to the system accounts: every point that reaches or
leaves citizens passes through one of them (issuance, expired, a merchant's settlement),
so the postings to the citizens' own accounts (holds, releases) are not read.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from sqlalchemy import func, select

from app.extensions import db
from app.ledger.models import (
    CACHED_KINDS,
    EXPIRED,
    ISSUANCE,
    MERCHANT_SETTLEMENT,
    USER_AVAILABLE,
    USER_DEBT,
    USER_HELD,
    LedgerAccount,
    LedgerPosting,
    LedgerSystemAccount,
    LedgerTransaction,
)
from app.localtime import grain_label, local_midnight
from app.sharding import fan_out
from app.sql import local_day_number, one_of

FLOWS = ("earned", "adjusted", "reversed", "redeemed", "expired")


def _flow(tx_type: str, kind: str, amount: int) -> tuple[str, int] | None:
    """Which flow a posting to a system account is, signed as citizens see it."""
    if kind == ISSUANCE:
        # An earn or adjustment draws on the issuer; a reversal gives the points back.
        return {"earn": ("earned", -amount), "adjustment": ("adjusted", -amount),
                "reversal": ("reversed", amount)}.get(tx_type)
    if kind == MERCHANT_SETTLEMENT:
        return "redeemed", amount
    # The expired account: lots that lapsed, less what a reversal took back from it.
    return "expired", amount


def holdings() -> dict:
    """What citizens hold now, from their accounts' cached balances: `available`,
    `reserved` (held for pending redemptions), `debt` (owed after reversals, <= 0) and
    `held`, their sum: the points the platform owes its citizens."""
    with fan_out("dashboard"):
        rows = dict(db.session.execute(
            select(LedgerAccount.kind, func.coalesce(func.sum(LedgerAccount.balance), 0))
            .where(LedgerAccount.kind.in_(CACHED_KINDS)).group_by(LedgerAccount.kind)).all())
    out = {"available": int(rows.get(USER_AVAILABLE, 0)),
           "reserved": int(rows.get(USER_HELD, 0)), "debt": int(rows.get(USER_DEBT, 0))}
    out["held"] = out["available"] + out["reserved"] + out["debt"]
    return out


def flows(date_from: date, date_to: date, grain: str = "day") -> dict:
    """Per local day (or ISO week, or month) of the period: points `earned`, `adjusted`
    (net manual corrections), `reversed` (taken back from citizens by reversals),
    `redeemed` (captured to merchants at verification), `expired` (net of expired points
    a reversal took back) and `held` (citizens' points at the row's end: `held` of
    holdings() less every flow since). A transaction counts on the local day it was
    written. Three statements whatever the journal's size: the system accounts, the flows
    since the period began (grouped in SQL by local day and account) and the holdings now.
    Under concurrent writes PostgreSQL gives each statement its own snapshot: a point
    written in between shows in `held` but not in a flow, until the next read.
    """
    days = (date_to - date_from).days + 1
    since = local_midnight(date_from)
    # The system accounts by id, not by a join on their kind: PostgreSQL then knows from
    # the postings' statistics that the issuance account has a posting for nearly every
    # transaction, where a join let it guess a few and look each transaction up alone.
    kinds = dict(db.session.execute(select(LedgerSystemAccount.id, LedgerSystemAccount.kind)
                                    .where(LedgerSystemAccount.kind.in_(
                                        (ISSUANCE, EXPIRED, MERCHANT_SETTLEMENT)))).all())
    day = local_day_number(LedgerTransaction.created_at, date_from, date_to)
    moved = (select(day.label("day"), LedgerTransaction.type.label("type"),
                    LedgerPosting.system_account_id.label("account_id"),
                    LedgerPosting.amount.label("amount"))
             .join(LedgerTransaction, (LedgerTransaction.user_id == LedgerPosting.user_id)
                   & (LedgerTransaction.id == LedgerPosting.transaction_id))
             .where(LedgerTransaction.created_at >= since,
                    one_of(LedgerPosting.system_account_id, list(kinds)))
             .subquery())
    per_day: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(FLOWS, 0))
    with fan_out("dashboard"):
        moves = db.session.execute(
            select(moved.c.day, moved.c.type, moved.c.account_id, func.sum(moved.c.amount))
            .group_by(moved.c.day, moved.c.type, moved.c.account_id)).all()
    for number, tx_type, account_id, amount in moves:
        if (flow := _flow(tx_type, kinds[account_id], int(amount))) is not None:
            # Everything after the period is one row: it only unwinds `held`.
            per_day[min(int(number), days)][flow[0]] += flow[1]
    now = holdings()
    held = now["held"]
    rows: dict[str, dict] = {}
    for number in range(days, -1, -1):  # backwards: `held` unwinds from now
        figures = per_day.get(number, dict.fromkeys(FLOWS, 0))
        if number < days:
            label = grain_label(date_from + timedelta(days=number), grain)
            row = rows.setdefault(label, {"key": label, **dict.fromkeys(FLOWS, 0),
                                          "held": held})
            for flow in FLOWS:
                row[flow] += figures[flow]
        held -= _net(figures)
    out = list(reversed(rows.values()))
    return {"grain": grain, "rows": out,
            "totals": {flow: sum(r[flow] for r in out) for flow in FLOWS},
            "holdings": now}


def _net(figures: dict[str, int]) -> int:
    """How much a day's flows changed what citizens hold."""
    return (figures["earned"] + figures["adjusted"] - figures["reversed"]
            - figures["redeemed"] - figures["expired"])
