"""The platform's local time (TIMEZONE): "a day" for caps, expiry, limits and reports is a
local day, while every stored moment is UTC."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app

# A local day's bounds must be UTC moments too (they are stored and compared as such): in
# any zone (offsets up to ±14 h) every day has them but the calendar's first and last.
FIRST_LOCAL_DATE = date.min + timedelta(days=1)
LAST_LOCAL_DATE = date.max - timedelta(days=1)


def local_zone() -> ZoneInfo:
    return current_app.config["TIMEZONE"]


def local_date(moment: datetime) -> date:
    return moment.astimezone(local_zone()).date()


def local_midnight(day: date) -> datetime:
    """The moment the local day begins (an aware datetime)."""
    return datetime.combine(day, time(), tzinfo=local_zone())


GRAINS = ("day", "week", "month")


def grain_label(day: date, grain: str) -> str:
    """The report row a local day falls in: the day itself (2026-12-06), its ISO week
    (2026-W49) or its month (2026-12)."""
    if grain == "month":
        return day.isoformat()[:7]
    if grain == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return day.isoformat()
