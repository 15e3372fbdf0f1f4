from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy import select

from app import behaviours
from app.auth.guard import current_user, login_required
from app.behaviours import stats
from app.behaviours.models import ConversionRate
from app.behaviours.schemas import (
    AdminBehaviourSchema,
    AdminQuerySchema,
    BehaviourSchema,
    CreditCheckSchema,
    MyQuerySchema,
    NoteSchema,
    RateCreateSchema,
    RateSchema,
    StatsQuerySchema,
    StatsSchema,
    SubmitSchema,
)
from app.db_types import utcnow
from app.extensions import db
from app.http.exports import csv_doc, csv_only_doc, csv_response, wants_csv
from app.http.idempotency import idempotent
from app.http.pagination import page_of, paginate, pop_page_args
from app.http.problems import error_responses
from app.methodology.schemas import ReasonSchema
from app.sharding import fan_out

blp = Blueprint("behaviours", __name__, url_prefix="/api/v1/behaviours",
                description="Report low-carbon behaviours and see their credits")
admin_blp = Blueprint("admin_behaviours", __name__, url_prefix="/api/v1/admin",
                      description="Review behaviours, conversion rates and statistics")


@blp.route("", methods=["POST"])
@login_required("citizen")
@idempotent()
@blp.arguments(SubmitSchema)
@blp.response(201, BehaviourSchema)
@error_responses({404: "No such methodology is installed",
                  422: "The data does not fit the methodology's record schema"})
def submit(data: dict):
    """Self-report a behaviour: credited, pending_review, capped or rejected (with reasons)."""
    return behaviours.submit(user_id=current_user().id, methodology=data["methodology"],
                             occurred_at=data["occurred_at"], data=data["data"],
                             evidence=data["evidence"], source="self_report",
                             claimed_elsewhere=data["claimed_elsewhere"])


@blp.route("", methods=["GET"])
@login_required()
@blp.arguments(MyQuerySchema, location="query")
@blp.response(200, page_of(BehaviourSchema))
def list_mine(args: dict):
    """My behaviours, newest first."""
    page = pop_page_args(args)
    return paginate(behaviours.list_for(current_user().id, **args), page)


@blp.route("/<int:behaviour_id>", methods=["GET"])
@login_required()
@blp.response(200, BehaviourSchema)
def get_mine(behaviour_id: int):
    """One of my behaviours."""
    return behaviours.get(behaviour_id, current_user().id)


@admin_blp.route("/behaviours", methods=["GET"])
@login_required("admin")
@admin_blp.arguments(AdminQuerySchema, location="query")
@admin_blp.response(200, page_of(AdminBehaviourSchema))
def review_queue(args: dict):
    """Behaviours by status (default: pending_review), oldest first."""
    page = pop_page_args(args)
    methodology = args.get("methodology")
    if args["status"] == "pending_review":
        with fan_out("admin-queues"):
            return paginate(behaviours.review_queue(methodology), page)
    with fan_out("admin-lists"):
        return paginate(behaviours.list_all(args["status"], methodology), page)


@admin_blp.route("/behaviours/<int:behaviour_id>", methods=["GET"])
@login_required("admin")
@admin_blp.response(200, AdminBehaviourSchema)
def admin_get(behaviour_id: int):
    """Any behaviour, with its input and evidence."""
    return behaviours.get(behaviour_id)


@admin_blp.route("/behaviours/<int:behaviour_id>/recompute", methods=["GET"])
@login_required("admin")
@admin_blp.response(200, CreditCheckSchema)
@error_responses({409: "Never assessed under a version (behaviour-state), or the installed "
                       "module cannot recompute it (not-recomputable)"})
def check_credit(behaviour_id: int):
    """Recompute a behaviour's reduction from its stored input and parameter set (an audit
    of a credit: the two should match)."""
    return behaviours.check_credit(behaviour_id)


@admin_blp.route("/behaviours/<int:behaviour_id>/approve", methods=["POST"])
@login_required("admin")
@admin_blp.arguments(NoteSchema)
@admin_blp.response(200, AdminBehaviourSchema)
def approve(data: dict, behaviour_id: int):
    """Credit a behaviour waiting for review."""
    return behaviours.approve(current_user(), behaviour_id, data.get("note"))


@admin_blp.route("/behaviours/<int:behaviour_id>/reject", methods=["POST"])
@login_required("admin")
@admin_blp.arguments(ReasonSchema)
@admin_blp.response(200, AdminBehaviourSchema)
def reject(data: dict, behaviour_id: int):
    """Reject a behaviour waiting for review."""
    return behaviours.reject(current_user(), behaviour_id, data["reason"])


@admin_blp.route("/behaviours/<int:behaviour_id>/reverse", methods=["POST"])
@login_required("admin")
@admin_blp.arguments(ReasonSchema)
@admin_blp.response(200, AdminBehaviourSchema)
def reverse(data: dict, behaviour_id: int):
    """Reverse a credited behaviour (a ledger reversal; spent points become debt)."""
    return behaviours.reverse(current_user(), behaviour_id, data["reason"])


@admin_blp.route("/conversion-rates", methods=["GET"])
@login_required("admin")
@admin_blp.response(200, RateSchema(many=True))
def rates():
    """Every conversion rate, newest first (none: 1 point per gram)."""
    return db.session.scalars(select(ConversionRate).order_by(ConversionRate.id.desc())).all()


@admin_blp.route("/conversion-rates", methods=["POST"])
@login_required("admin")
@admin_blp.arguments(RateCreateSchema)
@admin_blp.response(201, RateSchema)
def set_rate(data: dict):
    """Set points per gram CO2e from a date; earlier credits keep the rate they used."""
    return behaviours.set_rate(current_user(), data["points_per_gram"],
                               data.get("effective_from") or utcnow(), data["reason"])


STATS_CSV_HEADER = "methodology,behaviours,reduction_g,points"


def _reduction_stats(args: dict, *, as_csv: bool):
    with fan_out("statistics"):
        report = stats.reductions(args["group_by"], args.get("date_from"), args.get("date_to"))
    if as_csv:
        return csv_response(stats.csv_rows(report), f"reductions-{args['group_by']}.csv")
    return report


@admin_blp.route("/stats/reductions", methods=["GET"])
@login_required("admin")
@admin_blp.arguments(StatsQuerySchema, location="query")
@admin_blp.response(200, StatsSchema)
@Blueprint.doc(responses=csv_doc(STATS_CSV_HEADER, "GET /api/v1/admin/stats/reductions.csv"))
def reduction_stats(args: dict):
    """Credited reduction and points by methodology, day, month or data source."""
    return _reduction_stats(args, as_csv=wants_csv())


@admin_blp.route("/stats/reductions.csv", methods=["GET"])
@login_required("admin")
@admin_blp.arguments(StatsQuerySchema, location="query")
@Blueprint.doc(responses=csv_only_doc(STATS_CSV_HEADER))
def reduction_stats_csv(args: dict):
    """The same statistics as CSV."""
    return _reduction_stats(args, as_csv=True)
