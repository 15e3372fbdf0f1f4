"""商户与权益: administrators manage merchants and their staff, suspend and reinstate them,
decide reward revisions (the change shown field by field) and read settlement by period.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import redirect, request, url_for

from app import rewards
from app.console.blueprint import blp, render
from app.console.i18n import t
from app.console.merchant_views import _local, _title, settlement_period_args
from app.console.session import console_login_required, current_user
from app.extensions import db
from app.http.exports import csv_response
from app.http.problems import ApiError
from app.merchants import service as merchants
from app.merchants.models import Merchant
from app.rewards.models import REVIEWED_FIELDS, RewardRevision
from app.users import service as users

MAX_NAME, MAX_CONTACT, MAX_REASON = 100, 200, 500
NOTICES = ("created", "suspended", "reinstated", "staff_added", "staff_removed")


def _notice() -> str | None:
    done = request.args.get("done")
    return t(f"merchants.notice.{done}") if done in NOTICES else None


@blp.route("/admin/merchants")
@console_login_required("admin")
def admin_merchants():
    q = request.args.get("q", "").strip()[:MAX_NAME]
    rows = db.session.scalars(merchants.search(q=q or None)).all()
    return render("console/merchants/list.html", t("merchants.title"), rows=rows, q=q,
                  values={}, errors={}, notice=_notice())


@blp.route("/admin/merchants", methods=["POST"])
@console_login_required("admin")
def admin_merchant_create():
    values = {k: request.form.get(k, "").strip() for k in ("name", "contact")}
    errors = {}
    if not values["name"] or len(values["name"]) > MAX_NAME:
        errors["name"] = t("merchants.error.name")
    if not values["contact"] or len(values["contact"]) > MAX_CONTACT:
        errors["contact"] = t("merchants.error.contact")
    if not errors:
        try:
            merchant = merchants.create(current_user(), **values)
        except ApiError as err:
            if "name" not in (err.errors or {}):
                raise
            errors["name"] = t("merchants.error.name_taken")
    if errors:
        rows = db.session.scalars(merchants.search()).all()
        return render("console/merchants/list.html", t("merchants.title"), 422, rows=rows,
                      q="", values=values, errors=errors, notice=None)
    return redirect(url_for("console.admin_merchant", merchant_id=merchant.id, done="created"))


def _detail(merchant: Merchant, errors: dict[str, str] | None = None, status: int = 200,
            login: str = "") -> Any:
    staff = db.session.scalars(merchants.staff(merchant)).all()
    items = db.session.scalars(rewards.managed_rewards(merchant_id=merchant.id)).all()
    return render("console/merchants/detail.html", merchant.name, status, merchant=merchant,
                  staff=staff, rewards=items, errors=errors or {}, login=login,
                  notice=_notice(), title_of=_title)


@blp.route("/admin/merchants/<int:merchant_id>")
@console_login_required("admin")
def admin_merchant(merchant_id: int):
    return _detail(merchants.get(merchant_id))


@blp.route("/admin/merchants/<int:merchant_id>/suspend", methods=["POST"])
@console_login_required("admin")
def admin_merchant_suspend(merchant_id: int):
    merchant = merchants.get(merchant_id)
    reason = request.form.get("reason", "").strip()
    if len(reason) > MAX_REASON:
        return _detail(merchant, {"reason": t("merchants.error.reason")}, 422)
    merchants.suspend(current_user(), merchant, reason or None)
    return redirect(url_for("console.admin_merchant", merchant_id=merchant_id, done="suspended"))


@blp.route("/admin/merchants/<int:merchant_id>/reinstate", methods=["POST"])
@console_login_required("admin")
def admin_merchant_reinstate(merchant_id: int):
    merchants.reinstate(current_user(), merchants.get(merchant_id))
    return redirect(url_for("console.admin_merchant", merchant_id=merchant_id,
                            done="reinstated"))


@blp.route("/admin/merchants/<int:merchant_id>/staff", methods=["POST"])
@console_login_required("admin")
def admin_merchant_staff_add(merchant_id: int):
    """Add an account, found by its email or mobile, to the staff (the API's add_staff)."""
    merchant = merchants.get(merchant_id)
    login = request.form.get("login", "").strip()[:254]
    user = users.find_by_login(login) if login else None
    if user is None:
        return _detail(merchant, {"login": t("merchants.error.no_account")}, 422, login)
    try:
        merchants.add_staff(current_user(), merchant, user)
    except ApiError as err:
        if err.status != 409:
            raise
        return _detail(merchant, {"login": t("merchants.error.other_staff")}, 409, login)
    return redirect(url_for("console.admin_merchant", merchant_id=merchant_id,
                            done="staff_added"))


@blp.route("/admin/merchants/<int:merchant_id>/staff/<int:user_id>/remove", methods=["POST"])
@console_login_required("admin")
def admin_merchant_staff_remove(merchant_id: int, user_id: int):
    merchants.remove_staff(current_user(), merchants.get(merchant_id), users.get(user_id))
    return redirect(url_for("console.admin_merchant", merchant_id=merchant_id,
                            done="staff_removed"))


# -- reward revisions -------------------------------------------------------------------

def _shown(key: str, value: Any) -> str:
    if value is None:
        return "—"
    if key in ("available_from", "available_until"):  # revisions hold them as ISO text
        return _local(datetime.fromisoformat(value) if isinstance(value, str) else value)
    return str(value)


def change_rows(revision: RewardRevision) -> list[dict[str, Any]]:
    """field / current / proposed for each reviewed field the revision sets; a new reward
    has no current value."""
    reward = revision.reward
    rows = []
    for key in REVIEWED_FIELDS:
        if key not in revision.changes:
            continue
        current = getattr(reward, key) if revision.kind == "change" else None
        rows.append({"field": key, "current": _shown(key, current),
                     "proposed": _shown(key, revision.changes[key])})
    return rows


def _revisions(errors: dict[int, str] | None = None, status: int = 200,
               notice: str | None = None, form_error: str | None = None) -> Any:
    pending = db.session.scalars(rewards.revisions(status="pending")).all()
    return render("console/merchants/revisions.html", t("revisions.title"), status,
                  pending=pending, change_rows=change_rows, title_of=_title,
                  errors=errors or {}, notice=notice, form_error=form_error)


@blp.route("/admin/revisions")
@console_login_required("admin")
def admin_revisions():
    done = request.args.get("done")
    return _revisions(notice=t(f"revisions.notice.{done}")
                      if done in ("approved", "rejected") else None)


def _decided(err: ApiError, revision_id: int) -> Any:
    if err.status != 409:
        raise err
    # Decided meanwhile (by someone else, or this form sent twice): it has left the list.
    return _revisions(status=409, form_error=t("revisions.error.decided") if err.slug ==
                      "revision-decided" else err.detail or t("error.title"))


@blp.route("/admin/revisions/<int:revision_id>/approve", methods=["POST"])
@console_login_required("admin")
def admin_revision_approve(revision_id: int):
    try:
        rewards.approve(current_user(), revision_id)
    except ApiError as err:
        return _decided(err, revision_id)
    return redirect(url_for("console.admin_revisions", done="approved"))


@blp.route("/admin/revisions/<int:revision_id>/reject", methods=["POST"])
@console_login_required("admin")
def admin_revision_reject(revision_id: int):
    reason = request.form.get("reason", "").strip()
    if not 3 <= len(reason) <= MAX_REASON:
        return _revisions({revision_id: t("revisions.error.reason")}, 422)
    try:
        rewards.reject(current_user(), revision_id, reason)
    except ApiError as err:
        return _decided(err, revision_id)
    return redirect(url_for("console.admin_revisions", done="rejected"))


# -- settlement -------------------------------------------------------------------------

@blp.route("/admin/settlement")
@console_login_required("admin")
def admin_settlement():
    """Every merchant's fulfilled redemptions in a period; CSV with ?format=csv."""
    date_from, date_to, errors = settlement_period_args()
    if errors:
        return render("console/merchants/settlement.html", t("settlement.title_all"), 422,
                      report=None, errors=errors, args=request.args)
    report = rewards.settlement(date_from, date_to)
    if request.args.get("format") == "csv":
        return csv_response(rewards.settlement_rows(report),
                            f"settlement_{date_from}_{date_to}.csv")
    return render("console/merchants/settlement.html", t("settlement.title_all"),
                  report=report, errors={}, args={"from": date_from.isoformat(),
                                                  "to": date_to.isoformat()})
