"""Redemptions by merchant, and reward changes waiting for approval, for administrators'
reports."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Select, case, func, select

from app.extensions import db
from app.http.moments import utc_bounds
from app.merchants.models import Merchant
from app.rewards.models import CANCELLED, EXPIRED, PENDING, Redemption, RewardRevision
from app.rewards.settlements import fulfilled_in

FIGURES = ("reserved", "reserved_points", "fulfilled", "fulfilled_points", "cancelled",
           "expired")


def by_merchant(date_from: date, date_to: date) -> dict:
    """Per merchant, for the local dates: redemptions `reserved` (made) in them and their
    points; `fulfilled` (verified) in them and their points, exactly the settlement's
    figures for the same dates; `cancelled` and `expired` in them. Merchants with none of
    these are left out; `totals` adds the rows up. One statement."""
    since, until = utc_bounds(date_from, date_to)
    made = (Redemption.created_at >= since) & (Redemption.created_at < until)
    ended = (Redemption.ended_at >= since) & (Redemption.ended_at < until)
    fulfilled = fulfilled_in(date_from, date_to)

    def count(condition):
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    def points(condition):
        return func.coalesce(func.sum(case((condition, Redemption.points), else_=0)), 0)

    stmt = (select(Redemption.merchant_id, Merchant.name, count(made), points(made),
                   count(fulfilled), points(fulfilled),
                   count(ended & (Redemption.status == CANCELLED)),
                   count(ended & (Redemption.status == EXPIRED)))
            .join(Merchant, Merchant.id == Redemption.merchant_id)
            .where(made | ended)
            .group_by(Redemption.merchant_id, Merchant.name).order_by(Redemption.merchant_id))
    rows = [{"merchant_id": merchant_id, "name": name,
             **dict(zip(FIGURES, (int(n) for n in figures), strict=True))}
            for merchant_id, name, *figures in db.session.execute(stmt)]
    return {"rows": rows, "totals": {f: sum(r[f] for r in rows) for f in FIGURES}}


def activity(since: datetime) -> Select:
    """(user_id, created_at) of each redemption made at or after `since`: what makes a
    citizen active, with their counted behaviours."""
    return select(Redemption.user_id, Redemption.created_at).where(
        Redemption.created_at >= since)


def pending_revisions() -> tuple[int, datetime | None]:
    """Reward revisions waiting for approval: how many, and when the oldest was proposed."""
    count, oldest = db.session.execute(
        select(func.count(RewardRevision.id), func.min(RewardRevision.proposed_at))
        .where(RewardRevision.status == PENDING)).one()
    return count, oldest
