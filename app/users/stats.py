"""Citizens registered and active, for administrators' reports."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

from sqlalchemy import Select, case, func, select, union_all

from app.extensions import db
from app.localtime import grain_label, local_midnight
from app.sql import local_day_number
from app.users.models import User, UserRole

# "Active in the last day, week, month": moments back from the report's now.
ACTIVE_WINDOWS = {"day": timedelta(days=1), "week": timedelta(days=7),
                  "month": timedelta(days=30)}


def _citizens():
    # An erased account loses its roles: it is no longer a citizen here, nor was it.
    return (User.deleted_at.is_(None)
            & select(UserRole.user_id).where(UserRole.user_id == User.id,
                                             UserRole.role == "citizen").exists())


def registered(date_from: date, date_to: date, grain: str = "day") -> dict:
    """Accounts with the citizen role (erased ones not counted): `total` now and `rows`
    of those registered per local day (or ISO week, or month) of the period, every row of
    the period present (zero when nobody registered). Two statements."""
    total = db.session.scalar(select(func.count(User.id)).where(_citizens()))
    day = local_day_number(User.created_at, date_from, date_to)
    joined = (select(day.label("day")).where(_citizens(),
                                            User.created_at >= local_midnight(date_from),
                                            User.created_at < local_midnight(
                                                date_to + timedelta(days=1)))
              .subquery())
    per_day = dict(db.session.execute(
        select(joined.c.day, func.count()).group_by(joined.c.day)).all())
    rows: dict[str, int] = defaultdict(int)
    for number in range((date_to - date_from).days + 1):
        rows[grain_label(date_from + timedelta(days=number), grain)] += per_day.get(number, 0)
    return {"grain": grain, "total": total,
            "rows": [{"key": key, "registered": n} for key, n in rows.items()]}


def active(activities: list[Select], now: datetime) -> dict[str, int]:
    """Distinct accounts with any of `activities` in the day, 7 days and 30 days up to
    `now`: each activity is a SELECT of (user_id, moment) rows, from the domain that owns
    them, holding at least the 30 days' rows. One statement."""
    acts = union_all(*activities).subquery()
    user_id, moment = acts.c[0], acts.c[1]
    figures = db.session.execute(select(*[
        func.count(func.distinct(case((moment > now - window, user_id))))
        for window in ACTIVE_WINDOWS.values()]).where(moment <= now)).one()
    return dict(zip(ACTIVE_WINDOWS, (int(n) for n in figures), strict=True))
