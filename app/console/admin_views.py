"""Administrators' landing page: the dashboard (总览). KPI cards, charts whose numbers are
tables too (each with its CSV), and what waits for someone, for a period of local dates.

Read-only: every figure comes from app.reports.service.dashboard(), the same functions the
statistics and settlement endpoints answer from, so the page never disagrees with them.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from flask import abort, current_app, request, url_for

from app.behaviours.stats import SELF_REPORTED
from app.console.blueprint import blp, render
from app.console.i18n import t
from app.console.session import console_login_required
from app.db_types import utcnow
from app.http.problems import ApiError
from app.ledger.flows import FLOWS
from app.localtime import local_date
from app.reports import service as reports

PERIODS = ("today", "7d", "30d", "month", "custom")
DEFAULT_PERIOD = "month"
# Longer periods show the ledger's flows and registrations per month: a row per day of a
# year is no longer a readable table.
DAILY_UP_TO_DAYS = 62

# Each queue of the "what waits" list: its label, and the console page that works it
# (linked once that page exists in this application).
QUEUES = {
    "methodology_versions": ("home.pending_versions", "console.admin_methodologies"),
    "behaviours_in_review": ("home.pending_behaviours", "console.admin_review"),
    "reward_revisions": ("home.pending_revisions", "console.admin_revisions"),
}


def period_of(args: Any, now: datetime) -> tuple[str, date | None, date | None,
                                                 dict[str, str]]:
    """(period, from, to, field errors) of the query: a preset counted back from today, or
    custom local dates (both required)."""
    period = args.get("period", DEFAULT_PERIOD)
    today = local_date(now)
    presets = {"today": today, "7d": today - timedelta(days=6),
               "30d": today - timedelta(days=29), "month": today.replace(day=1)}
    if period in presets:
        return period, presets[period], today, {}
    if period != "custom":
        return DEFAULT_PERIOD, None, None, {"period": t("dashboard.error.period")}
    parsed: dict[str, date | None] = {}
    errors: dict[str, str] = {}
    for name in ("from", "to"):
        raw = args.get(name, "").strip()
        try:
            parsed[name] = date.fromisoformat(raw)
        except ValueError:
            parsed[name] = None
            errors[name] = t("settlement.error.date")
    return period, parsed["from"], parsed["to"], errors


def _report(args: Any) -> tuple[dict[str, Any], dict | None, dict[str, str]]:
    """(the period's query, the report or None, field errors)."""
    now = utcnow()
    period, date_from, date_to, errors = period_of(args, now)
    query = {"period": period}
    if period == "custom":
        query.update({"from": args.get("from", ""), "to": args.get("to", "")})
    if errors:
        return query, None, errors
    assert date_from is not None and date_to is not None
    grain = "day" if (date_to - date_from).days < DAILY_UP_TO_DAYS else "month"
    try:
        return query, reports.dashboard(date_from, date_to, grain=grain, now=now), {}
    except ApiError as err:
        if err.status != 422:
            raise
        # The service's refusals name the field: 'from' after 'to', or too long a period.
        fields = [f for f in (err.errors or {}) if f in ("from", "to")] or ["to"]
        return query, None, {f: t("settlement.error.period") for f in fields}


def kg(grams: Decimal | int) -> Decimal:
    """Grams CO2e as kilograms to the gram."""
    return (Decimal(grams) / 1000).quantize(Decimal("0.001"))


def _chart(kind: str, categories: list[str], series: list[dict]) -> dict[str, Any]:
    """A chart's numbers for static/dashboard.js, which turns them into ECharts' option."""
    return {"kind": kind, "categories": categories, "series": series}


def _reduction_chart(kind: str, report: dict) -> dict[str, Any]:
    rows = report["rows"]
    return _chart(kind, [r["key"] for r in rows], [
        # Charts carry the statistics' exact figure; tables round it to the gram.
        {"name": t("dashboard.reduction_kg"), "data": [float(Decimal(r["reduction_g"]) / 1000)
                                                       for r in rows]},
        {"name": t("dashboard.points"), "axis": 1, "data": [r["points"] for r in rows]}])


def charts(report: dict) -> dict[str, dict]:
    """Every chart of the page, keyed by the table that holds its numbers."""
    reductions = report["reductions"]
    out = {f"reductions_{g}": _reduction_chart("line" if g == "day" else "bar", reductions[g])
           for g in ("methodology", "source", "partner", "day", "month")}
    ledger = report["ledger"]["rows"]
    out["ledger"] = _chart("line", [r["key"] for r in ledger], [
        *({"name": t(f"flow.{f}"), "data": [r[f] for r in ledger]} for f in FLOWS),
        {"name": t("flow.held"), "axis": 1, "data": [r["held"] for r in ledger]}])
    merchants = report["merchants"]["rows"]
    out["merchants"] = _chart("bar", [m["name"] for m in merchants], [
        {"name": t("dashboard.reserved"), "data": [m["reserved"] for m in merchants]},
        {"name": t("dashboard.fulfilled"), "data": [m["fulfilled"] for m in merchants]}])
    for chart in out.values():
        chart["categories"] = [_key_label(k) for k in chart["categories"]]
    return out


def _key_label(key: str) -> str:
    """A row key as the page shows it: sources and the self-reported row in words."""
    if key == SELF_REPORTED:
        return t("dashboard.self_reported")
    return t(f"source.{key}") if key in ("partner", "self_report") else key


def queues(report: dict) -> list[dict[str, Any]]:
    """The "what waits" list: label, count, how long the oldest waits, the page's link."""
    out = []
    for queue, waiting in report["waiting"].items():
        label, endpoint = QUEUES[queue]
        link = url_for(endpoint) if endpoint in current_app.view_functions else None
        out.append({"queue": queue, "label": label, "count": waiting["count"],
                    "hours": waiting["waiting_s"] // 3600, "link": link})
    return out


@blp.route("/admin")
@console_login_required("admin")
def admin_home():
    query, report, errors = _report(request.args)
    context: dict[str, Any] = {"query": query, "periods": PERIODS, "errors": errors,
                               "report": report, "kg": kg, "key_label": _key_label,
                               "flows": FLOWS}
    if report is not None:
        context.update(charts=charts(report), queues=queues(report),
                       held_now=report["ledger"]["holdings"]["held"])
    return render("console/dashboard/home.html", t("home.title"),
                  422 if errors else 200, **context)


@blp.route("/admin/dashboard/<table>.csv")
@console_login_required("admin")
def admin_dashboard_csv(table: str):
    """One of the dashboard's tables for the same period, as the statistics and settlement
    endpoints write their CSV."""
    if table not in reports.TABLES:
        abort(404)
    _query, report, errors = _report(request.args)
    if report is None:
        raise ApiError(422, "; ".join(errors.values()), slug="validation-error")
    return reports.csv(report, table)
