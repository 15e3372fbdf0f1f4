from __future__ import annotations

from flask_smorest import Blueprint

from app.audit import service
from app.audit.schemas import AuditEventSchema, AuditQuerySchema
from app.auth.guard import login_required
from app.http.moments import utc_bounds
from app.http.pagination import page_of, paginate, pop_page_args

admin_blp = Blueprint("admin_audit", __name__, url_prefix="/api/v1/admin/audit-events",
                      description="Who did what: the audit log of administrative actions")


@admin_blp.route("", methods=["GET"])
@login_required("admin")
@admin_blp.arguments(AuditQuerySchema, location="query")
@admin_blp.response(200, page_of(AuditEventSchema))
def list_events(args: dict):
    """The audit log, newest first: approvals, role changes, merchant, partner and reward
    decisions, conversion rates, erasures. Filter by actor, action, target and local dates."""
    page_args = pop_page_args(args)
    since, until = utc_bounds(args.get("date_from"), args.get("date_to"))
    return paginate(service.events(
        actor_id=args.get("actor_id"), action=args.get("action"),
        target_type=args.get("target_type"), target_id=args.get("target_id"),
        since=since, until=until), page_args)
