"""审核: behaviours waiting for review, their evidence and plausibility reasons; approve,
reject, reverse, and the recompute check of any behaviour. The behaviours service decides
(the same functions as the JSON API): a retried decision finds the behaviour decided."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import redirect, request, url_for

from app import behaviours
from app.behaviours.models import STATUSES, Behaviour
from app.behaviours.schemas import AdminQuerySchema, NoteSchema
from app.console.admin_methodologies import local_time
from app.console.blueprint import blp, render
from app.console.i18n import MESSAGES, t
from app.console.session import console_login_required, current_user
from app.http.pagination import paginate, pop_page_args
from app.http.problems import ApiError
from app.methodology import service as methodology
from app.methodology.schemas import ReasonSchema
from app.sharding import fan_out

PER_PAGE = 20


@blp.route("/admin/review")
@console_login_required("admin")
def admin_review():
    """Behaviours by state (default: waiting for review, oldest first), a page at a time;
    ?id= opens one behaviour."""
    if request.args.get("id", "").strip():
        wanted = request.args["id"].strip()
        if wanted.isdigit() and int(wanted) < 2 ** 63:
            return redirect(url_for("console.admin_behaviour", behaviour_id=int(wanted)))
        return _queue({"id": t("review.error.id")})
    return _queue({})


def _queue(errors: dict[str, str]) -> Any:
    raw = {k: v for k, v in request.args.items() if k in ("status", "methodology", "page") and v}
    raw["per_page"] = PER_PAGE
    try:
        args = AdminQuerySchema().load(raw)
    except ma.ValidationError as err:
        errors = {**errors, **{name: t("review.error.filter") for name in err.messages}}
        args = AdminQuerySchema().load({"per_page": PER_PAGE})
    page_args = pop_page_args(args)
    status, code = args["status"], args.get("methodology")
    if status == "pending_review":
        with fan_out("admin-queues"):
            page = paginate(behaviours.review_queue(code), page_args)
    else:
        with fan_out("admin-lists"):
            page = paginate(behaviours.list_all(status, code), page_args)
    return render("console/review/queue.html", t("review.title"), 422 if errors else 200,
                  page=page, state=status, methodology=code or "", statuses=STATUSES,
                  codes=[cls.code for cls in methodology.registry().all()], errors=errors,
                  local_time=local_time, args=request.args)


def _behaviour_page(behaviour: Behaviour, errors: dict[str, str] | None = None,
                    form_error: str | None = None, status: int = 200) -> Any:
    check, check_error = None, None
    try:
        check = behaviours.check_credit(behaviour.id, behaviour.user_id)
    except ApiError as err:  # never assessed, or the installed module cannot recompute it
        check_error = _message(err)
    return render("console/review/behaviour.html", t("review.behaviour_title", id=behaviour.id),
                  status, b=behaviour, check=check, check_error=check_error,
                  errors=errors or {}, form_error=form_error, values=request.form,
                  local_time=local_time)


def _message(err: ApiError) -> str:
    key = f"review.refused.{err.slug}"
    return t(key) if key in MESSAGES else t("review.refused.other", detail=err.detail)


@blp.route("/admin/behaviours/<int:behaviour_id>")
@console_login_required("admin")
def admin_behaviour(behaviour_id: int):
    """One behaviour: its input, evidence, reasons, credit and the recompute check."""
    return _behaviour_page(behaviours.get(behaviour_id))


def _decide(behaviour_id: int, decision: Any, schema: ma.Schema, key: str,
            field: str | None = None) -> Any:
    """Read the form's note or reason (`field`, the schema's `key`) as the API's schema
    would, then let the service decide; a refusal comes back on the behaviour's page."""
    field = field or key
    behaviour = behaviours.get(behaviour_id)
    try:
        data = schema.load({key: v} if (v := request.form.get(field, "").strip()) else {})
    except ma.ValidationError:
        return _behaviour_page(behaviour, errors={field: t(f"review.error.{key}")}, status=422)
    try:
        decision(current_user(), behaviour_id, data.get(key))
    except ApiError as err:
        return _behaviour_page(behaviours.get(behaviour_id, behaviour.user_id),
                               form_error=_message(err),
                               status=err.status)
    return redirect(url_for("console.admin_behaviour", behaviour_id=behaviour_id, done=1))


@blp.route("/admin/behaviours/<int:behaviour_id>/approve", methods=["POST"])
@console_login_required("admin")
def admin_behaviour_approve(behaviour_id: int):
    """Credit it (caps as of now): the citizen's points are earned in the ledger."""
    return _decide(behaviour_id, behaviours.approve, NoteSchema(), "note")


@blp.route("/admin/behaviours/<int:behaviour_id>/reject", methods=["POST"])
@console_login_required("admin")
def admin_behaviour_reject(behaviour_id: int):
    return _decide(behaviour_id, behaviours.reject, ReasonSchema(), "reason")


@blp.route("/admin/behaviours/<int:behaviour_id>/reverse", methods=["POST"])
@console_login_required("admin")
def admin_behaviour_reverse(behaviour_id: int):
    """Take a credit back through a ledger reversal (spent points become debt)."""
    return _decide(behaviour_id, behaviours.reverse, ReasonSchema(), "reason",
                   "reverse_reason")
