"""市民: administrators find an account by email or mobile (masked in the list), read its
points account, entries and behaviours, disable or enable it, grant or revoke roles and
adjust its points with a reason (the ledger's adjustment, as the admin API makes it).
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import redirect, request, url_for

from app import behaviours, ledger
from app.console.blueprint import blp, render
from app.console.i18n import MESSAGES, t
from app.console.session import console_login_required, current_user
from app.extensions import db
from app.http.problems import ApiError
from app.users import service as users
from app.users.models import ROLES, User

LIST_LIMIT, RECENT = 50, 20
MAX_POINTS = 10**9
NOTICES = ("disabled", "enabled", "granted", "revoked", "adjusted")


def mask_email(email: str) -> str:
    """a***@example.com: enough to tell two accounts apart, not to write to one."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_mobile(mobile: str) -> str:
    """138****5678 (a mainland number's +86 is left out)."""
    digits = mobile.removeprefix("+86")
    return f"{digits[:3]}****{digits[-4:]}" if len(digits) > 7 else "****"


def masked_login(user: User) -> str:
    return mask_email(user.email) if user.email else mask_mobile(user.mobile or "")


@blp.route("/admin/citizens")
@console_login_required("admin")
def admin_citizens():
    """Accounts whose email, mobile or name holds the text; a whole login finds exactly
    its account (a mobile with or without +86)."""
    q = request.args.get("q", "").strip()[:254]
    rows: list[User] = []
    if q:
        exact = users.find_by_login(q)
        rows = [exact] if exact is not None else db.session.scalars(
            users.search(q=q).limit(LIST_LIMIT)).all()
    return render("console/citizens/list.html", t("citizens.title"), rows=rows, q=q,
                  masked=masked_login)


def _detail(user: User, errors: dict[str, str] | None = None, status: int = 200,
            values: Any = None, form_error: str | None = None) -> Any:
    done = request.args.get("done")
    return render(
        "console/citizens/detail.html", user.display_name, status, citizen=user,
        account=ledger.summary(user.id), roles=ROLES, errors=errors or {},
        values=values or {}, attempt=uuid.uuid4().hex, form_error=form_error,
        entries=db.session.scalars(ledger.entries(user.id).limit(RECENT)).all(),
        behaviours=db.session.scalars(behaviours.list_for(user.id).limit(RECENT)).all(),
        notice=t(f"citizens.notice.{done}") if done in NOTICES else None)


def _back(user_id: int, done: str) -> Any:
    return redirect(url_for("console.admin_citizen", user_id=user_id, done=done))


def _refused(user: User, err: ApiError) -> Any:
    """A rule of the service (the last administrator, a role that needs a merchant)."""
    if err.status != 409:
        raise err
    key = f"citizens.error.{err.slug}"
    return _detail(user, status=409,
                   form_error=t(key) if key in MESSAGES else (err.detail or t("error.title")))


@blp.route("/admin/citizens/<int:user_id>")
@console_login_required("admin")
def admin_citizen(user_id: int):
    return _detail(users.get(user_id))


@blp.route("/admin/citizens/<int:user_id>/disable", methods=["POST"])
@console_login_required("admin")
def admin_citizen_disable(user_id: int):
    """The API's disable(): the account's tokens and console sessions end at once."""
    user = users.get(user_id)
    try:
        users.disable(current_user(), user)
    except ApiError as err:
        return _refused(user, err)
    return _back(user_id, "disabled")


@blp.route("/admin/citizens/<int:user_id>/enable", methods=["POST"])
@console_login_required("admin")
def admin_citizen_enable(user_id: int):
    users.enable(current_user(), users.get(user_id))
    return _back(user_id, "enabled")


@blp.route("/admin/citizens/<int:user_id>/roles/<string:role>/grant", methods=["POST"])
@console_login_required("admin")
def admin_citizen_grant(user_id: int, role: str):
    user = users.get(user_id)
    try:
        users.grant_role(current_user(), user, users.valid_role(role))
    except ApiError as err:
        return _refused(user, err)
    return _back(user_id, "granted")


@blp.route("/admin/citizens/<int:user_id>/roles/<string:role>/revoke", methods=["POST"])
@console_login_required("admin")
def admin_citizen_revoke(user_id: int, role: str):
    user = users.get(user_id)
    try:
        users.revoke_role(current_user(), user, users.valid_role(role))
    except ApiError as err:
        return _refused(user, err)
    return _back(user_id, "revoked")


def _read_adjustment() -> tuple[dict[str, Any], dict[str, str]]:
    raw = request.form.get("points", "").strip()
    reason = request.form.get("reason", "").strip()
    errors: dict[str, str] = {}
    try:
        points = int(raw)
    except ValueError:
        points = 0
    if points == 0 or abs(points) > MAX_POINTS:
        errors["points"] = t("citizens.error.points")
    if not 3 <= len(reason) <= 500:
        errors["reason"] = t("citizens.error.reason")
    return {"points": points, "reason": reason}, errors


@blp.route("/admin/citizens/<int:user_id>/adjust", methods=["POST"])
@console_login_required("admin")
def admin_citizen_adjust(user_id: int):
    """ledger.adjust() keyed by the form's attempt: the same form sent twice (a reload, a
    double click) is one adjustment, as the API's Idempotency-Key makes it."""
    user = users.get(user_id)
    data, errors = _read_adjustment()
    attempt = request.form.get("attempt", "")[:64]
    if not attempt:
        errors["points"] = t("error.csrf")
    if errors:
        return _detail(user, errors, 422, request.form)
    actor = current_user()
    try:
        ledger.adjust(user.id, data["points"], reason=data["reason"], actor_id=actor.id,
                      key=f"admin:{actor.id}:console-{attempt}")
    except ApiError as err:
        if err.status != 422:
            raise
        key = "citizens.error.insufficient" if err.slug == "insufficient-points" \
            else "citizens.error.points"
        return _detail(user, {"points": t(key)}, 422, request.form)
    return _back(user_id, "adjusted")
