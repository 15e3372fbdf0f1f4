"""Credited reductions and points, grouped for administrators and exported as CSV."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, func, select

from app.behaviours.models import Behaviour
from app.extensions import db
from app.localtime import local_date
from app.partners.models import Partner

SELF_REPORTED = "(self-reported)"  # the row of behaviours no partner sent


GROUPINGS = ("methodology", "day", "month", "source", "partner")


def reductions(group_by: str, date_from: date | None, date_to: date | None) -> dict:
    """Credited reduction and points of the local dates, grouped by one of GROUPINGS."""
    return reductions_by_all(date_from, date_to, (group_by,))[group_by]


def reductions_by_all(date_from: date | None, date_to: date | None,
                      groupings: tuple[str, ...] = GROUPINGS) -> dict[str, dict]:
    """reductions() for several groupings from one scan of the behaviours: two statements
    (the sums, the partners' names) whatever the groupings."""
    # Grouped in SQL by every key at once, at most a row per day, methodology and partner;
    # each grouping, and months from days, is folded here, which stays portable across
    # SQLite's and PostgreSQL's date functions.
    keys = (Behaviour.local_date, Behaviour.methodology, Behaviour.source, Behaviour.partner_id)
    stmt = (select(*keys, func.count(Behaviour.id),
                   func.coalesce(func.sum(Behaviour.credited_g), 0),
                   func.coalesce(func.sum(Behaviour.points), 0))
            .where(Behaviour.status == "credited").group_by(*keys))
    if date_from:
        stmt = stmt.where(Behaviour.local_date >= date_from)
    if date_to:
        stmt = stmt.where(Behaviour.local_date <= date_to)
    finest = db.session.execute(stmt).all()
    names: dict[int, str] = {}
    if "partner" in groupings:
        names = dict(db.session.execute(select(Partner.id, Partner.name).where(
            Partner.id.in_({row[3] for row in finest if row[3]}))).all())
    return {group_by: _fold(group_by, finest, names) for group_by in groupings}


def _fold(group_by: str, finest: list, names: dict[int, str]) -> dict:
    # Partners by id, not name: a partner could be called "(self-reported)" or "total".
    rows: dict = {}
    for day, methodology, source, partner_id, count, grams, points in finest:
        label = {"methodology": methodology, "source": source, "partner": partner_id,
                 "month": day.isoformat()[:7]}.get(group_by, day.isoformat())
        row = rows.setdefault(label, [0, Decimal(0), 0])
        row[0] += count
        row[1] += Decimal(grams)
        row[2] += int(points)
    if group_by == "partner":
        out = [{"key": names[k] if k else SELF_REPORTED, "partner_id": k, "behaviours": v[0],
                "reduction_g": v[1], "points": v[2]} for k, v in rows.items()]
        out.sort(key=lambda row: (row["partner_id"] is not None, row["key"],
                                  row["partner_id"] or 0))
    else:
        out = [{"key": str(k), "behaviours": v[0], "reduction_g": v[1], "points": v[2]}
               for k, v in sorted(rows.items())]
    return {"group_by": group_by, "rows": out,
            "total_reduction_g": sum((r["reduction_g"] for r in out), Decimal(0)),
            "total_points": sum(r["points"] for r in out)}


def csv_rows(report: dict) -> list[list]:
    # By partner the id is a column too: two partners' rows may carry the same name.
    by_partner = report["group_by"] == "partner"

    def line(key: Any, partner_id: Any, *figures: Any) -> list:
        return [key, *([partner_id] if by_partner else []), *figures]

    rows = [line(report["group_by"], "partner_id", "behaviours", "reduction_g", "points")]
    rows += [line(row["key"], row.get("partner_id"), row["behaviours"], row["reduction_g"],
                  row["points"]) for row in report["rows"]]
    rows.append(line("total", None, sum(r["behaviours"] for r in report["rows"]),
                     report["total_reduction_g"], report["total_points"]))
    return rows


def activity(since: datetime) -> Select:
    """(user_id, occurred_at) of each counted (credited) behaviour that occurred at or
    after `since`: what makes a citizen active, with their redemptions."""
    # The local date narrows the scan to its index; occurred_at decides.
    return select(Behaviour.user_id, Behaviour.occurred_at).where(
        Behaviour.status == "credited", Behaviour.local_date >= local_date(since),
        Behaviour.occurred_at >= since)


def in_review() -> tuple[int, datetime | None]:
    """Behaviours waiting for a reviewer: how many, and when the oldest was reported."""
    count, oldest = db.session.execute(
        select(func.count(Behaviour.id), func.min(Behaviour.created_at))
        .where(Behaviour.status == "pending_review")).one()
    return count, oldest
