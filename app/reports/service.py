"""The administrators' dashboard (总览): every figure for a period, assembled from the
functions of the domains that own the data, and each of its tables as CSV.

Read-only and without tables of its own. The figures are the statistics and settlement
endpoints' own (the same functions, the same local dates), so a dashboard never disagrees
with them. The statements it sends do not grow with the rows behind it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Response

from app import rewards
from app.behaviours import stats as behaviour_stats
from app.db_types import utcnow
from app.http.exports import csv_response
from app.http.problems import ApiError
from app.ledger import flows
from app.localtime import GRAINS, local_zone
from app.methodology import stats as methodology_stats
from app.rewards import stats as reward_stats
from app.sharding import fan_out
from app.users import stats as user_stats

WAITING = ("methodology_versions", "behaviours_in_review", "reward_revisions")
TABLES = ("citizens", "registrations",
          *(f"reductions_{g}" for g in behaviour_stats.GROUPINGS),
          "ledger", "merchants", "waiting")


def dashboard(date_from: date | None = None, date_to: date | None = None, *,
              grain: str = "day", now: datetime | None = None) -> dict[str, Any]:
    """The dashboard's figures for the local dates (by default this month up to today;
    at most a settlement's 366 days, else 422), registrations and the ledger's flows per
    `grain` (day, week or month). Active citizens are counted back from `now`."""
    if grain not in GRAINS:
        raise ApiError(422, f"A dashboard's rows are one of {', '.join(GRAINS)}.",
                       slug="validation-error", errors={"grain": [f"One of {GRAINS}."]})
    now = now or utcnow()
    date_from, date_to = rewards.settlement_period(date_from, date_to, now)
    since = now - max(user_stats.ACTIVE_WINDOWS.values())
    with fan_out("dashboard"):
        return _figures(date_from, date_to, grain, now, since)


def _figures(date_from: date, date_to: date, grain: str, now: datetime,
             since: datetime) -> dict[str, Any]:
    waiting = dict(zip(WAITING, (methodology_stats.pending(), behaviour_stats.in_review(),
                                 reward_stats.pending_revisions()), strict=True))
    return {
        "date_from": date_from, "date_to": date_to, "timezone": str(local_zone()), "now": now,
        "citizens": {
            **user_stats.registered(date_from, date_to, grain),
            "active": user_stats.active([behaviour_stats.activity(since),
                                         reward_stats.activity(since)], now),
        },
        "reductions": behaviour_stats.reductions_by_all(date_from, date_to),
        "ledger": flows.flows(date_from, date_to, grain),
        "merchants": reward_stats.by_merchant(date_from, date_to),
        "waiting": {queue: {"count": count, "oldest_at": oldest,
                            "waiting_s": int((now - oldest).total_seconds()) if oldest else 0}
                    for queue, (count, oldest) in waiting.items()},
    }


def table_rows(report: dict[str, Any], table: str) -> list[list]:
    """One of the dashboard's TABLES as rows, a header first (404 for another name)."""
    if table.startswith("reductions_") and table in TABLES:
        return behaviour_stats.csv_rows(report["reductions"][table.removeprefix("reductions_")])
    build = {"citizens": _citizens, "registrations": _registrations, "ledger": _ledger,
             "merchants": _merchants, "waiting": _waiting}.get(table)
    if build is None:
        raise ApiError.not_found("dashboard table")
    return build(report)


def csv(report: dict[str, Any], table: str) -> Response:
    """The table as a CSV download, in the statistics and settlement endpoints' format."""
    return csv_response(table_rows(report, table),
                        f"dashboard-{table}_{report['date_from']}_{report['date_to']}.csv")


def _citizens(report: dict) -> list[list]:
    citizens = report["citizens"]
    return [["figure", "citizens"], ["registered", citizens["total"]],
            *[[f"active_{window}", n] for window, n in citizens["active"].items()]]


def _registrations(report: dict) -> list[list]:
    rows = report["citizens"]["rows"]
    return [[report["citizens"]["grain"], "registered"],
            *[[r["key"], r["registered"]] for r in rows],
            ["total", sum(r["registered"] for r in rows)]]


def _ledger(report: dict) -> list[list]:
    ledger = report["ledger"]
    return [[ledger["grain"], *flows.FLOWS, "held"],
            *[[r["key"], *(r[f] for f in flows.FLOWS), r["held"]] for r in ledger["rows"]],
            # Held at the period's end, as its last row.
            ["total", *(ledger["totals"][f] for f in flows.FLOWS),
             ledger["rows"][-1]["held"] if ledger["rows"] else ""]]


def _merchants(report: dict) -> list[list]:
    merchants = report["merchants"]
    return [["merchant_id", "merchant", *reward_stats.FIGURES],
            *[[r["merchant_id"], r["name"], *(r[f] for f in reward_stats.FIGURES)]
              for r in merchants["rows"]],
            ["total", "", *(merchants["totals"][f] for f in reward_stats.FIGURES)]]


def _waiting(report: dict) -> list[list]:
    tz = local_zone()
    return [["queue", "count", "oldest_at", "waiting_s"],
            *[[queue, w["count"], w["oldest_at"].astimezone(tz).isoformat()
               if w["oldest_at"] else "", w["waiting_s"]]
              for queue, w in report["waiting"].items()]]
