"""合作方: administrators register data partners, choose what they may report, and issue,
rotate and revoke their signing keys; each partner's recent batches with their outcomes.

A new key's secret is in the answer to the POST that made it and nowhere else: pages are
sent with Cache-Control: no-store (blueprint.py), and a form sent again (a reload, Back)
carries the same `attempt`, which shows the partner without issuing or showing anything.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app, redirect, request, session, url_for

from app.console.blueprint import blp, render
from app.console.i18n import t
from app.console.merchant_views import _local
from app.console.session import console_login_required, current_user
from app.extensions import db
from app.http.problems import ApiError
from app.partners import service as partners
from app.partners.models import Partner

blp.add_app_template_filter(_local, "local_time")

MAX_NAME = 100
ISSUED = "partner_issued"  # session: the last form attempts that issued a key


def _known_codes() -> list[str]:
    registry = current_app.extensions.get("methodologies")
    return sorted(registry.codes()) if registry is not None else []


def _attempt_seen(attempt: str) -> bool:
    return bool(attempt) and attempt in session.get(ISSUED, [])


def _remember(attempt: str) -> None:
    if attempt:
        session[ISSUED] = (session.get(ISSUED, []) + [attempt])[-10:]


def _read_form() -> tuple[dict[str, Any], dict[str, str]]:
    name = request.form.get("name", "").strip()
    codes = request.form.getlist("methodologies")
    errors = {}
    if not name or len(name) > MAX_NAME:
        errors["name"] = t("partners.error.name")
    if not codes:
        errors["methodologies"] = t("partners.error.methodologies")
    return {"name": name, "methodologies": codes}, errors


def _service_errors(err: ApiError) -> dict[str, str]:
    fields = err.errors or {}
    if "name" in fields:
        return {"name": t("partners.error.name_taken")}
    if "methodologies" in fields:
        return {"methodologies": t("partners.error.methodologies")}
    raise err


@blp.route("/admin/partners")
@console_login_required("admin")
def admin_partners():
    q = request.args.get("q", "").strip()[:MAX_NAME]
    rows = db.session.scalars(partners.search(q=q or None)).all()
    notice = t("partners.notice.again") if request.args.get("again") else None
    return render("console/partners/list.html", t("partners.title"), rows=rows, q=q,
                  notice=notice)


def _new_form(values: dict[str, Any], errors: dict[str, str], status: int = 200) -> Any:
    return render("console/partners/new.html", t("partners.new"), status, values=values,
                  errors=errors, codes=_known_codes(), attempt=uuid.uuid4().hex)


@blp.route("/admin/partners/new", methods=["GET"])
@console_login_required("admin")
def admin_partner_new():
    return _new_form({"methodologies": []}, {})


@blp.route("/admin/partners/new", methods=["POST"])
@console_login_required("admin")
def admin_partner_create():
    """The API's partners.create(); the secret is shown in this answer only."""
    attempt = request.form.get("attempt", "")[:64]
    if _attempt_seen(attempt):  # sent again: already registered, the secret not shown again
        return redirect(url_for("console.admin_partners", again=1))
    values, errors = _read_form()
    if errors:
        return _new_form(values, errors, 422)
    try:
        partner, key, secret = partners.create(current_user(), **values)
    except ApiError as err:
        return _new_form(values, _service_errors(err), err.status)
    _remember(attempt)
    return render("console/partners/secret.html", t("partners.secret_title"), partner=partner,
                  key_id=key.key_id, secret=secret, until=None)


def _detail(partner: Partner, errors: dict[str, str] | None = None, status: int = 200,
            notice: str | None = None, chosen: list[str] | None = None) -> Any:
    return render("console/partners/detail.html", partner.name, status, partner=partner,
                  errors=errors or {}, codes=_known_codes(), notice=notice,
                  chosen=partner.methodologies if chosen is None else chosen,
                  batches=partners.recent_batches(partner), attempt=uuid.uuid4().hex)


@blp.route("/admin/partners/<int:partner_id>")
@console_login_required("admin")
def admin_partner(partner_id: int):
    notice = t(f"partners.notice.{request.args['done']}") \
        if request.args.get("done") in ("saved", "revoked", "again") else None
    return _detail(partners.get(partner_id), notice=notice)


@blp.route("/admin/partners/<int:partner_id>/methodologies", methods=["POST"])
@console_login_required("admin")
def admin_partner_methodologies(partner_id: int):
    partner = partners.get(partner_id)
    codes = request.form.getlist("methodologies")
    if not codes:
        return _detail(partner, {"methodologies": t("partners.error.methodologies")}, 422,
                       chosen=[])
    try:
        partners.update_partner(current_user(), partner, methodologies=codes)
    except ApiError as err:
        return _detail(partner, _service_errors(err), err.status, chosen=codes)
    return redirect(url_for("console.admin_partner", partner_id=partner.id, done="saved"))


@blp.route("/admin/partners/<int:partner_id>/keys", methods=["POST"])
@console_login_required("admin")
def admin_partner_rotate(partner_id: int):
    """The API's rotate_key(): a new key, the old ones expire after the overlap."""
    partner = partners.get(partner_id)
    attempt = request.form.get("attempt", "")[:64]
    if _attempt_seen(attempt):
        return redirect(url_for("console.admin_partner", partner_id=partner.id, done="again"))
    key, secret, until = partners.rotate_key(current_user(), partner)
    _remember(attempt)
    return render("console/partners/secret.html", t("partners.secret_title"), partner=partner,
                  key_id=key.key_id, secret=secret, until=until)


@blp.route("/admin/partners/<int:partner_id>/keys/<string:key_id>/revoke", methods=["POST"])
@console_login_required("admin")
def admin_partner_revoke(partner_id: int, key_id: str):
    partners.revoke_key(current_user(), partners.get(partner_id), key_id)
    return redirect(url_for("console.admin_partner", partner_id=partner_id, done="revoked"))
