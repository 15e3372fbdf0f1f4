"""Reading a user's points and any account's balance; plain reads, no lock."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import bindparam, func, select

from app.db_types import utcnow
from app.ledger.books import ACCOUNTS
from app.ledger.lots import LOTS
from app.ledger.models import USER_AVAILABLE, USER_DEBT, USER_HELD, LedgerPosting, LedgerTransaction
from app.localtime import local_date
from app.sharding import fan_out
from app.sql import execute as _sql
from app.sql import scalar as _sql_scalar


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


def account_balance(account_id: int) -> int:
    """A system account's balance: the sum of its postings (it has no cached one), which
    sit with the users who earned or spent through it."""
    with fan_out("system-balance"):
        return _sql_scalar(select(func.coalesce(func.sum(LedgerPosting.amount), 0))
                           .where(LedgerPosting.system_account_id == account_id))
