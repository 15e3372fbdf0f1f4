"""审计与账本: the audit log with filters, a page at a time or as CSV, and `ledger verify`
run on demand. Both read only: the audit and ledger services' own queries."""

from __future__ import annotations

import json
from typing import Any

import marshmallow as ma
from flask import request

from app.audit import service as audit
from app.audit.schemas import AuditQuerySchema
from app.console.admin_methodologies import local_time
from app.console.blueprint import blp, render
from app.console.i18n import t
from app.console.session import console_login_required
from app.db_types import utcnow
from app.extensions import db
from app.http.exports import csv_response
from app.http.moments import utc_bounds
from app.http.pagination import paginate, pop_page_args
from app.ledger.verify import verify

PER_PAGE = 20
CSV_LIMIT = 10_000  # the newest rows of a download; narrow the filters for older ones
FILTERS = ("actor_id", "action", "target_type", "target_id", "from", "to")


def _query() -> tuple[dict[str, Any], dict[str, str]]:
    """The filters as the API's schema reads them, or an error per field in the page's
    language."""
    raw: dict[str, Any] = {k: request.args[k].strip() for k in FILTERS
                           if request.args.get(k, "").strip()}
    if "action" in raw:
        raw["action"] = [raw["action"]]
    raw["page"], raw["per_page"] = request.args.get("page", "1"), PER_PAGE
    try:
        return AuditQuerySchema().load(raw), {}
    except ma.ValidationError as err:
        names = {"date_from": "from", "date_to": "to"}
        return {}, {names.get(n, n): t(f"audit.error.{names.get(n, n)}") for n in err.messages}


def _events(args: dict[str, Any]):
    since, until = utc_bounds(args.get("date_from"), args.get("date_to"))
    return audit.events(actor_id=args.get("actor_id"), action=args.get("action"),
                        target_type=args.get("target_type"), target_id=args.get("target_id"),
                        since=since, until=until)


def _csv(stmt) -> Any:
    rows = [("id", "at_local", "actor_id", "action", "target_type", "target_id", "details")]
    for e in db.session.scalars(stmt.limit(CSV_LIMIT)):
        rows.append((e.id, local_time(e.at), e.actor_id, e.action, e.target_type, e.target_id,
                     json.dumps(e.details, ensure_ascii=False, sort_keys=True)))
    return csv_response(rows, "audit-events.csv")


@blp.route("/admin/audit")
@console_login_required("admin")
def admin_audit():
    """The audit log, newest first; filters by actor, action, target and local dates;
    ?format=csv downloads the matching rows."""
    args, errors = _query()
    if errors:
        return render("console/audit/log.html", t("audit.title"), 422, page=None,
                      errors=errors, args=request.args, local_time=local_time,
                      csv_limit=CSV_LIMIT)
    page_args = pop_page_args(args)
    stmt = _events(args)
    if request.args.get("format") == "csv":
        return _csv(stmt)
    return render("console/audit/log.html", t("audit.title"), page=paginate(stmt, page_args),
                  errors={}, args=request.args, local_time=local_time, csv_limit=CSV_LIMIT,
                  details=lambda d: json.dumps(d, ensure_ascii=False, sort_keys=True))


@blp.route("/admin/ledger")
@console_login_required("admin")
def admin_ledger():
    return render("console/audit/ledger.html", t("ledger.title"), result=None)


@blp.route("/admin/ledger/verify", methods=["POST"])
@console_login_required("admin")
def admin_ledger_verify():
    """Check every ledger invariant now (a POST: it is a costly read, started on purpose)."""
    problems = verify()
    result = {"ok": not problems, "violations": problems, "at": local_time(utcnow())}
    template = ("console/audit/_ledger_result.html" if request.headers.get("HX-Request")
                else "console/audit/ledger.html")
    return render(template, t("ledger.title"), result=result)
