"""方法学: methodology codes, their versions and parameters, proposals and four-eyes
decisions. Every change is the methodology service's own function, as in the JSON API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import marshmallow as ma
from flask import redirect, request, url_for

from app.console.blueprint import blp, render
from app.console.i18n import MESSAGES, language, t
from app.console.session import console_login_required, current_user
from app.db_types import utcnow
from app.http.problems import ApiError
from app.localtime import local_zone
from app.methodology import service as methodology
from app.methodology.models import MethodologyVersion
from app.methodology.schemas import ProposalSchema, ReasonSchema
from app.users import service as users

STATUS_TONE = {"approved": "status-ok", "pending": "status-wait", "superseded": "",
               "rejected": "status-bad", "retired": "status-bad"}


def local_time(moment: datetime | None) -> str:
    return moment.astimezone(local_zone()).strftime("%Y-%m-%d %H:%M") if moment else ""


def shown(value: Any) -> str:
    """A parameter value as the page shows it (lists comma-separated)."""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _name(user_id: int | None) -> str:
    return users.get(user_id).display_name if user_id else "—"


def _module_name(cls: Any) -> str:
    return cls.name_en if language() == "en" else cls.name_zh


def diff(version: MethodologyVersion, base: MethodologyVersion | None) -> list[dict[str, Any]]:
    """Each parameter of `version` beside the one in force: 参数 / 原值 / 新值, changed or not."""
    before = base.parameters if base is not None else {}
    rows = []
    for name, param in version.parameters.items():
        old = before.get(name)
        changed = old is None or old["value"] != param["value"] or old["source"] != param[
            "source"]
        rows.append({"name": name, "unit": param.get("unit", ""),
                     "old": shown(old["value"]) if old else "—", "new": shown(param["value"]),
                     "old_source": old["source"] if old else "", "source": param["source"],
                     "value_changed": old is None or old["value"] != param["value"],
                     "changed": changed})
    return rows


@blp.route("/admin/methodologies")
@console_login_required("admin")
def admin_methodologies():
    """Every loaded methodology with its versions, states and effective windows."""
    now = utcnow()
    modules = [{"cls": cls, "name": _module_name(cls), "versions": methodology.versions(cls.code),
                "in_force": methodology.active_version(cls.code, now)}
               for cls in methodology.registry().all()]
    return render("console/methodologies/list.html", t("methodologies.title"), modules=modules,
                  failed=methodology.registry().failed, local_time=local_time,
                  tone=STATUS_TONE)


def _version_page(version: MethodologyVersion, errors: dict[str, str] | None = None,
                  form_error: str | None = None, status: int = 200,
                  values: Any = None) -> Any:
    base = methodology.active_version(version.code, utcnow())
    user = current_user()
    return render("console/methodologies/version.html",
                  t("methodologies.version_title", code=version.code, label=version.label),
                  status, version=version, base=base,
                  rows=diff(version, base) if version.status == "pending" else None,
                  own=version.proposed_by == user.id, proposer=_name(version.proposed_by),
                  decider=_name(version.decided_by), errors=errors or {},
                  form_error=form_error, values=values or {}, local_time=local_time,
                  shown=shown, tone=STATUS_TONE)


@blp.route("/admin/methodology-versions/<int:version_id>")
@console_login_required("admin")
def admin_methodology_version(version_id: int):
    """A version's parameters (value, unit, source); a pending one beside the one in force."""
    return _version_page(methodology.get_version(version_id))


def _reason(form_name: str = "reason") -> tuple[str | None, dict[str, str]]:
    try:
        return ReasonSchema().load({"reason": request.form.get(form_name, "").strip()})[
            "reason"], {}
    except ma.ValidationError:
        return None, {form_name: t("methodologies.error.reason")}


def _refused(version_id: int, err: ApiError, field: str | None = None) -> Any:
    """A service refusal shown on the version page, in the reader's language."""
    key = f"methodologies.refused.{err.slug}"
    message = t(key) if key in MESSAGES else t("methodologies.refused.other",
                                                 detail=err.detail)
    version = methodology.get_version(version_id)
    if field:
        return _version_page(version, errors={field: message}, status=err.status,
                             values=request.form)
    return _version_page(version, form_error=message, status=err.status, values=request.form)


def parse_local_moment(raw: str) -> datetime:
    """A `datetime-local` value (local wall time, to the minute) as an aware moment."""
    return datetime.fromisoformat(raw).replace(tzinfo=local_zone())


@blp.route("/admin/methodology-versions/<int:version_id>/approve", methods=["POST"])
@console_login_required("admin")
def admin_methodology_approve(version_id: int):
    """Approve from the local date and time given (empty: now); never one's own proposal."""
    raw = request.form.get("effective_from", "").strip()
    try:
        start = parse_local_moment(raw) if raw else None
    except ValueError:
        return _version_page(methodology.get_version(version_id), status=422,
                             errors={"effective_from": t("methodologies.error.moment")},
                             values=request.form)
    try:
        methodology.approve(current_user(), version_id, start)
    except ApiError as err:
        return _refused(version_id, err, "effective_from" if err.slug == "effective-date"
                        else None)
    return redirect(url_for("console.admin_methodology_version", version_id=version_id))


@blp.route("/admin/methodology-versions/<int:version_id>/reject", methods=["POST"])
@console_login_required("admin")
def admin_methodology_reject(version_id: int):
    reason, errors = _reason()
    if errors:
        return _version_page(methodology.get_version(version_id), errors=errors, status=422,
                             values=request.form)
    try:
        methodology.reject(current_user(), version_id, reason)
    except ApiError as err:
        return _refused(version_id, err)
    return redirect(url_for("console.admin_methodology_version", version_id=version_id))


@blp.route("/admin/methodology-versions/<int:version_id>/retire", methods=["POST"])
@console_login_required("admin")
def admin_methodology_retire(version_id: int):
    reason, errors = _reason("retire_reason")
    if errors:
        return _version_page(methodology.get_version(version_id), errors=errors, status=422,
                             values=request.form)
    try:
        methodology.retire(current_user(), version_id, reason)
    except ApiError as err:
        return _refused(version_id, err)
    return redirect(url_for("console.admin_methodology_version", version_id=version_id))


# -- proposing a change -------------------------------------------------------------------

def _typed(raw: str, like: Any) -> Any:
    """The form's text as the type the parameter holds now (decimals stay strings)."""
    if isinstance(like, bool):
        if raw.lower() not in ("true", "false"):
            raise ValueError(raw)
        return raw.lower() == "true"
    if isinstance(like, int):
        return int(raw)
    if isinstance(like, list):
        return [part.strip() for part in raw.split(",") if part.strip()]
    return raw


def _read_proposal(current: dict[str, dict[str, Any]]
                   ) -> tuple[dict[str, Any], dict[str, str]]:
    """{parameters: {name: {value, source}}, note} from the form, or errors by field name."""
    changes: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    for name, param in current.items():
        raw = request.form.get(f"value-{name}", "").strip()
        source = request.form.get(f"source-{name}", "").strip()
        if not raw:
            if source:
                errors[f"value-{name}"] = t("methodologies.error.value_missing")
            continue
        try:
            value = _typed(raw, param["value"])
        except ValueError:
            errors[f"value-{name}"] = t("methodologies.error.value")
            continue
        changes[name] = {"value": value, "source": source}
    note = request.form.get("note", "").strip()
    data = {"parameters": changes, **({"note": note} if note else {})}
    try:
        data = ProposalSchema().load(data)
    except ma.ValidationError as err:
        # A Dict field nests its values' errors ({name: {"value": {"source": [...]}}}); a
        # value may be anything, so what is wrong under a name is its source.
        problems = err.messages.get("parameters")
        for name in (problems if isinstance(problems, dict) else ()):
            errors[f"source-{name}"] = t("methodologies.error.source")
        if "note" in err.messages:
            errors["note"] = t("methodologies.error.note")
        if not errors:
            errors["_form"] = t("methodologies.error.nothing" if not changes
                                else "methodologies.error.value")
    return data, errors


def _propose_page(code: str, errors: dict[str, str] | None = None, status: int = 200) -> Any:
    cls = methodology.module(code)
    base = methodology.active_version(code, utcnow())
    current = base.parameters if base else methodology.full_parameters(cls)
    errors = dict(errors or {})
    form_error = errors.pop("_form", None)
    return render("console/methodologies/propose.html",
                  t("methodologies.propose_title", code=code), status, code=code,
                  name=_module_name(cls), base=base, current=current, errors=errors,
                  form_error=form_error, values=request.form, shown=shown)


@blp.route("/admin/methodologies/<string:code>/propose", methods=["GET", "POST"])
@console_login_required("admin")
def admin_methodology_propose(code: str):
    """A new parameter set based on the one in force: each changed value cites a source."""
    if request.method == "GET":
        return _propose_page(code)
    cls = methodology.module(code)
    base = methodology.active_version(code, utcnow())
    data, errors = _read_proposal(base.parameters if base else methodology.full_parameters(cls))
    if errors:
        return _propose_page(code, errors, 422)
    try:
        version = methodology.propose(current_user(), code, data["parameters"],
                                        data.get("note"))
    except ApiError as err:
        named = {f"value-{n}": t("methodologies.error.range") for n in (err.errors or {})}
        key = f"methodologies.refused.{err.slug}"
        return _propose_page(code, named or {"_form": t(key) if key in MESSAGES else t(
            "methodologies.refused.other", detail=err.detail)}, err.status)
    return redirect(url_for("console.admin_methodology_version", version_id=version.id))
