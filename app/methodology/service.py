"""Loading methodology modules and governing their versions.

What may be *imported* is decided by configuration (METHODOLOGIES) before import; what
may *credit* is decided in the database: a version credits only once an administrator
approved it, from its effective date, until superseded or retired.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask, current_app
from sqlalchemy import bindparam, literal, select, update

from app.audit import service as audit
from app.db_types import utcnow
from app.extensions import db
from app.http.problems import ApiError
from app.methodology.models import MethodologyVersion
from app.sql import insert_ignoring_conflicts, on_postgresql
from app.users.models import User
from methodologies.base import (
    Methodology,
    MethodologyNotInstalled,
    MethodologyRegistry,
    discover,
    out_of_range,
    parameter_hash,
    values_to_json,
    version_key,
)

log = logging.getLogger(__name__)
CREDITING = ("approved", "superseded")


# -- modules ------------------------------------------------------------------------------

def load_registry(app: Flask) -> MethodologyRegistry:
    """Import the allowed entry points; broken ones are logged and listed, never fatal."""
    allowed = app.config["METHODOLOGIES"]
    registry = discover(None if allowed == "*" else set(allowed))
    for name, error in registry.failed.items():
        log.error("methodology not loaded", extra={"fields": {"name": name, "error": error}})
    app.extensions["methodologies"] = registry
    return registry


def registry() -> MethodologyRegistry:
    return current_app.extensions["methodologies"]


def module(code: str, version: str | None = None) -> type[Methodology]:
    """The class of one installed release of `code` (the newest when `version` is None).

    Whatever quantifies a stored version asks for the class of *that* version's release:
    the newest release may take other parameters and compute differently.
    """
    try:
        return registry().get(code, version)
    except MethodologyNotInstalled:
        what = f"methodology {code!r}" if version is None else f"release {version} of {code!r}"
        raise ApiError(404, f"No {what} is installed.", slug="not-found") from None


def release(version: MethodologyVersion) -> type[Methodology]:
    """The class that quantifies under a stored version (404 if its release is gone)."""
    return module(version.code, version.version)


def full_parameters(cls: type[Methodology], values: dict[str, Any] | None = None,
                    sources: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """{name: {value, unit, source, description}} with JSON-safe values."""
    defaults = cls.default_parameters()
    json_values = values_to_json(values if values is not None else cls.default_values())
    return {name: {"value": json_values[name], "unit": p.unit,
                   "source": (sources or {}).get(name, p.source), "description": p.description}
            for name, p in defaults.items()}


_TYPED: dict[tuple[type, str], Mapping[str, Any]] = {}


def typed_values(cls: type[Methodology], version: MethodologyVersion) -> Mapping[str, Any]:
    """A version's parameters as typed values (read-only).

    Kept per process by parameter hash: a stored parameter set never changes (the hash
    names it), and typing it again on every request cost more than the request's read.
    """
    key = (cls, version.parameters_hash)
    typed = _TYPED.get(key)
    if typed is None:
        typed = _TYPED[key] = MappingProxyType(
            cls.coerce_params({n: p["value"] for n, p in version.parameters.items()}))
    return typed


_plugin = MarshmallowPlugin(schema_name_resolver=lambda schema: None)
APISpec("records", "1", "3.0.3", plugins=[_plugin])


def record_json_schema(cls: type[Methodology]) -> dict[str, Any]:
    """The record schema as JSON Schema, for apps to build their forms."""
    return _json_safe(_plugin.converter.schema2jsonschema(cls.record_schema))


def _json_safe(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


# -- versions -----------------------------------------------------------------------------

def sync_discovered() -> int:
    """Record each installed release's default parameter set as a version (pending if new).

    Every release, not only the newest: a release installed beside a newer one keeps the
    versions it already has (approved ones go on crediting their dates), and one recorded
    now can be decided like any other. Returns the number of releases checked.
    """
    now = utcnow()
    rows = []
    for cls in (r for newest in registry().all() for r in registry().releases(newest.code)):
        values = cls.default_values()
        rows.append({"code": cls.code, "version": cls.version,
                     "parameters": full_parameters(cls, values),
                     "parameters_hash": parameter_hash(values), "status": "pending",
                     "note": "found installed", "created_at": now})
    if rows:
        insert_ignoring_conflicts(MethodologyVersion, rows)
    return len(rows)


def active_version(code: str, at: datetime) -> MethodologyVersion | None:
    """The version that credits a behaviour of `code` that occurred at `at`, if any."""
    return in_force(crediting_versions(code), at)


def in_force(candidates: list[MethodologyVersion], at: datetime) -> MethodologyVersion | None:
    """Of crediting versions (newest effective date first), the one whose window holds `at`."""
    return next((v for v in candidates if v.effective_from <= at
                 and (v.effective_until is None or at < v.effective_until)), None)


# Built once (read on every crediting request): building it cost more CPU than running it.
# IN over bound literals rather than a list of values, which SQLAlchemy would re-render
# ("expanding IN") on every execution.
_CREDITING_VERSIONS = (
    select(MethodologyVersion)
    .where(MethodologyVersion.code == bindparam("code"),
           MethodologyVersion.status.in_([literal(status) for status in CREDITING]))
    .order_by(MethodologyVersion.effective_from.desc()))


def crediting_versions(code: str) -> list[MethodologyVersion]:
    """Every version of `code` that may credit, newest effective date first."""
    return list(db.session.scalars(_CREDITING_VERSIONS, {"code": code}))


def versions(code: str | None = None) -> list[MethodologyVersion]:
    stmt = select(MethodologyVersion).order_by(MethodologyVersion.code, MethodologyVersion.id)
    if code:
        stmt = stmt.where(MethodologyVersion.code == code)
    return list(db.session.scalars(stmt))


def discovered_pending(release: str | None = None) -> list[MethodologyVersion]:
    """Pending versions recorded by discovery (a release's defaults, nobody's proposal),
    of one release or all, by code then release (oldest first)."""
    found = [v for v in versions() if v.status == "pending" and v.proposed_by is None
             and (release is None or v.version == release)]
    return sorted(found, key=lambda v: (v.code, version_key(v.version), v.id))


def get_version(version_id: int) -> MethodologyVersion:
    version = db.session.get(MethodologyVersion, version_id)
    if version is None:
        raise ApiError.not_found("methodology version")
    return version


def _conflict(detail: str, slug: str) -> ApiError:
    return ApiError(409, detail, slug=slug)


def propose(actor: User, code: str, changes: dict[str, dict[str, Any]],
            note: str | None) -> MethodologyVersion:
    """A new parameter set, based on the one in force; every changed value cites a source.

    It belongs to the release in force (or the newest, when none is): a change of values,
    not of release. A newer release is recorded by discovery with its own defaults.
    """
    base = active_version(code, utcnow())
    cls = module(code) if base is None else release(base)
    params = dict(base.parameters) if base else full_parameters(cls)
    unknown = sorted(set(changes) - set(params))
    if unknown:
        raise ApiError(422, "Unknown parameters.", slug="validation-error",
                       errors={name: ["Not a parameter of this methodology."] for name in unknown})
    for name, change in changes.items():
        params[name] = {**params[name], "value": change["value"], "source": change["source"]}
    try:
        typed = cls.coerce_params({n: p["value"] for n, p in params.items()})
    except (ValueError, TypeError) as exc:
        raise ApiError(422, str(exc), slug="validation-error") from None
    if wrong := out_of_range({n: typed[n] for n in changes}):
        raise ApiError(422, "Parameter values out of range.", slug="validation-error",
                       errors={name: [why] for name, why in wrong.items()})
    params = {n: {**p, "value": v} for (n, p), v in
              zip(params.items(), values_to_json(typed).values(), strict=True)}
    digest = parameter_hash(typed)
    if db.session.scalar(select(MethodologyVersion.id).where(
            MethodologyVersion.code == code, MethodologyVersion.version == cls.version,
            MethodologyVersion.parameters_hash == digest)):
        raise _conflict("A version with exactly these parameters exists.", "version-exists")
    version = MethodologyVersion(code=code, version=cls.version, parameters=params,
                                 parameters_hash=digest, status="pending", proposed_by=actor.id,
                                 note=note)
    db.session.add(version)
    db.session.flush()
    audit.record(actor.id, "methodology.proposed", "methodology_version", version.id,
                 code=code, changes=sorted(changes), note=note)
    return version


def _lock_versions(code: str) -> list[MethodologyVersion]:
    """Lock every version of `code` and read them afresh: decisions on one methodology
    queue here. (Locking only the version in force let two approvals at once both find
    none, or both find it already superseded, and leave two versions in force.)"""
    versions = select(MethodologyVersion).where(MethodologyVersion.code == code)
    if on_postgresql():
        versions = versions.order_by(MethodologyVersion.id).with_for_update()
    else:  # no row locks: a write that changes nothing takes the database's write lock
        db.session.execute(update(MethodologyVersion.__table__)
                           .where(MethodologyVersion.code == code)
                           .values(code=MethodologyVersion.code))
    return list(db.session.scalars(versions.execution_options(populate_existing=True)))


def approve(actor: User, version_id: int, effective_from: datetime | None) -> MethodologyVersion:
    """Approve a pending version; it supersedes the version in force from its date."""
    version = get_version(version_id)
    if version.status != "pending":
        raise _conflict(f"Only a pending version can be approved; this one is "
                        f"{version.status}.", "version-not-pending")
    if version.proposed_by == actor.id:
        raise ApiError(403, "A version you proposed must be approved by another administrator.",
                       slug="four-eyes")
    try:  # the version's own release must be installed to credit under it...
        cls = registry().get(version.code, version.version)
    except MethodologyNotInstalled:
        raise _conflict(f"Release {version.version} of {version.code} is not installed: "
                        "nothing could credit under this version.",
                        "version-not-installable") from None
    try:
        # ...and take the parameter set (one recorded by hand may not).
        cls.coerce_params({n: p["value"] for n, p in version.parameters.items()})
    except (ValueError, TypeError) as exc:
        raise _conflict(f"The installed {version.code} module {cls.version} cannot credit "
                        f"with this parameter set: {exc}", "version-not-installable") from None
    now = utcnow()
    start = effective_from or now
    locked = _lock_versions(version.code)
    if version.status != "pending":  # decided while this request waited for the lock
        raise _conflict(f"Only a pending version can be approved; this one is "
                        f"{version.status}.", "version-not-pending")
    latest = next((v for v in locked if v.status == "approved" and v.effective_until is None),
                  None)
    if latest is not None:
        if start <= latest.effective_from:
            raise _conflict("The effective date must be after the current version's "
                            f"({latest.effective_from.isoformat()}).", "effective-date")
        if start < now - current_app.config["CLOCK_SKEW"]:
            # Behaviours credited since then under the current version would fall outside
            # its window, and a queued self-report would be judged by the wrong one.
            raise _conflict("A new version can take effect from now on, not in the past, "
                            "while another one is in force.", "effective-date")
        latest.status, latest.effective_until = "superseded", start
        db.session.flush()  # before the new one is in force: one at a time (a unique index)
    version.status, version.effective_from = "approved", start
    version.decided_by, version.decided_at = actor.id, utcnow()
    db.session.flush()
    audit.record(actor.id, "methodology.approved", "methodology_version", version.id,
                 code=version.code, effective_from=start.isoformat(),
                 supersedes=latest.id if latest else None)
    return version


def reject(actor: User, version_id: int, reason: str) -> MethodologyVersion:
    version = get_version(version_id)
    _lock_versions(version.code)
    if version.status != "pending":
        raise _conflict(f"Only a pending version can be rejected; this one is "
                        f"{version.status}.", "version-not-pending")
    version.status, version.note = "rejected", reason
    version.decided_by, version.decided_at = actor.id, utcnow()
    db.session.flush()
    audit.record(actor.id, "methodology.rejected", "methodology_version", version.id,
                 code=version.code, reason=reason)
    return version


def retire(actor: User, version_id: int, reason: str) -> MethodologyVersion:
    """Stop a version crediting anything, from now on.

    One approved to take effect later never credited: the version it was to supersede
    keeps its window, as if it had never been approved (up to the next one, if a later
    version was approved after it).
    """
    version = get_version(version_id)
    locked = _lock_versions(version.code)
    if version.status not in CREDITING:
        raise _conflict(f"Only an approved version can be retired; this one is "
                        f"{version.status}.", "version-not-approved")
    now = utcnow()
    replaced = None
    if version.effective_from > now:
        replaced = next((v for v in locked if v.status == "superseded"
                         and v.effective_until == version.effective_from), None)
    version.status, version.note = "retired", reason
    version.decided_by, version.decided_at = actor.id, now
    db.session.flush()  # out of force before the replaced one is back in (a unique index)
    if replaced is not None:
        replaced.effective_until = version.effective_until
        replaced.status = "approved" if version.effective_until is None else "superseded"
        db.session.flush()
    audit.record(actor.id, "methodology.retired", "methodology_version", version.id,
                 code=version.code, reason=reason,
                 restored=replaced.id if replaced is not None else None)
    return version


def filing_url(cls: type[Methodology]) -> str | None:
    """Where the API serves this release's own filing document, if it has one."""
    if filing_path(cls) is None:
        return None
    return f"/api/v1/methodologies/{cls.code}/filing?release={cls.version}"


def filing_path(cls: type[Methodology]) -> Path | None:
    path = Path(cls.filing_document) if cls.filing_document else None
    return path if path is not None and path.is_file() else None


def filing_text(code: str, version: str | None = None) -> str:
    """The filing document of one release of `code`, the newest when `version` is None
    (404 when that release has none)."""
    path = filing_path(module(code, version))
    if path is None:
        what = f"Methodology {code!r}" if version is None else f"Release {version} of {code!r}"
        raise ApiError(404, f"{what} has no filing document.", slug="not-found")
    return path.read_text(encoding="utf-8")


def public_view(code: str, version: MethodologyVersion | None) -> dict[str, Any]:
    """What the app shows: the version in force, its cited parameters, its record form.

    Parameters and record form are those of the release in force (what a record sent now
    is judged by); with none in force, the newest release's defaults.
    """
    cls = release(version) if version else module(code)
    values = version.parameters if version else None
    return {
        "code": cls.code, "name_zh": cls.name_zh, "name_en": cls.name_en,
        "description": cls.description, "module_version": cls.version,
        "version_id": version.id if version else None,
        "version": version.label if version else None,
        "effective_from": version.effective_from if version else None,
        "parameters": values or full_parameters(cls),
        "record_schema": record_json_schema(cls),
        # The document of the release in force, not the newest one's (none for a release
        # without one, such as the built-ins' 1.0.0).
        "filing_document": filing_url(cls),
    }
