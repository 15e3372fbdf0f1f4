"""Partner registry, keys, consent links and batch intake. Services flush, never commit."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import marshmallow as ma
from flask import current_app
from sqlalchemy import delete, select, update

from app import behaviours
from app.audit import service as audit
from app.db_types import utcnow
from app.extensions import db
from app.http.problems import ApiError
from app.partners.models import (
    ACTIVE,
    REVOKED,
    SUSPENDED,
    Partner,
    PartnerBatch,
    PartnerKey,
    PartnerLink,
    PartnerLinkCode,
)
from app.partners.schemas import BehaviourRecordSchema
from app.sql import one_of, planned_for_its_values
from app.users.models import User

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L
CODE_LENGTH = 8
CODE_TTL = timedelta(minutes=10)
METHODOLOGY_CODE_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
NO_CONSENT = "no active link (consent) for this user"


def _not_found(what: str) -> ApiError:
    return ApiError.not_found(what)


# --------------------------------------------------------------------------- partners


def check_methodologies(codes: Iterable[str]) -> list[str]:
    """Known codes (the methodology registry when loaded), deduplicated, order kept."""
    registry = current_app.extensions.get("methodologies")
    known = set(registry.codes()) if registry is not None else None
    unique = list(dict.fromkeys(codes))
    bad = [c for c in unique if (c not in known if known is not None
                                 else not METHODOLOGY_CODE_RE.match(c))]
    if bad:
        hint = f"; known: {', '.join(sorted(known))}" if known is not None else ""
        raise ApiError(422, f"Unknown methodology codes: {', '.join(bad)}{hint}.",
                       slug="validation-error", title="Validation failed",
                       errors={"methodologies": [f"Unknown methodology {c!r}." for c in bad]})
    return unique


def _check_name_free(name: str, partner_id: int | None = None) -> None:
    other = db.session.scalar(select(Partner).where(Partner.name == name))
    if other is not None and other.id != partner_id:
        raise ApiError(409, "A partner with this name already exists.", slug="partner-exists",
                       errors={"name": ["Already taken."]})


def _new_key(partner: Partner, actor: User) -> tuple[PartnerKey, str]:
    secret = "ps_" + secrets.token_urlsafe(32)
    key = PartnerKey(key_id="pk_" + secrets.token_urlsafe(12), partner=partner, secret=secret,
                     created_by=actor.id)
    db.session.add(key)
    return key, secret


def create(actor: User, *, name: str, methodologies: list[str]) -> tuple[Partner, PartnerKey,
                                                                          str]:
    _check_name_free(name)
    partner = Partner(name=name, methodologies=check_methodologies(methodologies),
                      created_by=actor.id, status=ACTIVE)
    db.session.add(partner)
    key, secret = _new_key(partner, actor)
    db.session.flush()
    audit.record(actor.id, "partner.created", "partner", partner.id, name=name,
                 methodologies=partner.methodologies, key_id=key.key_id)
    db.session.flush()
    return partner, key, secret


def get(partner_id: int) -> Partner:
    partner = db.session.get(Partner, partner_id)
    if partner is None:
        raise _not_found("partner")
    return partner


def search(*, q: str | None = None, status: str | None = None):
    stmt = select(Partner).order_by(Partner.id)
    if q:
        stmt = stmt.where(Partner.name.ilike(f"%{q}%"))
    if status:
        stmt = stmt.where(Partner.status == status)
    return stmt


def update_partner(actor: User, partner: Partner, *, name: str | None = None,
                   methodologies: list[str] | None = None,
                   status: str | None = None) -> Partner:
    changes: dict[str, Any] = {}
    if name is not None and name != partner.name:
        _check_name_free(name, partner.id)
        changes["name"] = [partner.name, name]
        partner.name = name
    if methodologies is not None:
        codes = check_methodologies(methodologies)
        if codes != partner.methodologies:
            changes["methodologies"] = [partner.methodologies, codes]
            partner.methodologies = codes
    if status is not None and status != partner.status:
        changes["status"] = [partner.status, status]
        partner.status = status
    if changes:
        action = "partner.updated"
        if "status" in changes:
            action = "partner.suspended" if status == SUSPENDED else "partner.reinstated"
        audit.record(actor.id, action, "partner", partner.id, **changes)
        db.session.flush()
    return partner


def rotate_key(actor: User, partner: Partner) -> tuple[PartnerKey, str, datetime]:
    """A new key; the partner's other usable keys keep working for the overlap only."""
    now = utcnow()
    until = now + timedelta(hours=current_app.config["PARTNER_KEY_OVERLAP_HOURS"])
    old = [k for k in partner.keys if k.usable(now)]
    for k in old:
        if k.expires_at is None or k.expires_at > until:
            k.expires_at = until
    key, secret = _new_key(partner, actor)
    db.session.flush()
    audit.record(actor.id, "partner.key_rotated", "partner", partner.id, key_id=key.key_id,
                 expiring=[k.key_id for k in old], expires_at=until.isoformat())
    db.session.flush()
    return key, secret, until


def revoke_key(actor: User, partner: Partner, key_id: str) -> PartnerKey:
    key = db.session.get(PartnerKey, key_id)
    if key is None or key.partner_id != partner.id:
        raise _not_found("key")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        audit.record(actor.id, "partner.key_revoked", "partner", partner.id, key_id=key_id)
        db.session.flush()
    return key


# --------------------------------------------------------------------------- consent


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def normalize_code(raw: str) -> str | None:
    """'abcd-efgh', 'ABCD EFGH', 'ABCDEFGH' are the same code; None if it cannot be one."""
    code = re.sub(r"[\s-]", "", raw).upper()
    if len(code) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in code):
        return None
    return code


def new_link_code(user: User) -> tuple[str, datetime]:
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    expires_at = utcnow() + CODE_TTL
    db.session.add(PartnerLinkCode(code_hash=_code_hash(code), user_id=user.id,
                                   expires_at=expires_at))
    db.session.flush()
    half = CODE_LENGTH // 2
    return f"{code[:half]}-{code[half:]}", expires_at


def purge_link_codes(now: datetime) -> int:
    """Codes a day past expiry: used or not, they can no longer matter."""
    return db.session.execute(delete(PartnerLinkCode).where(
        PartnerLinkCode.expires_at < now - timedelta(days=1))).rowcount


def _bad_code(detail: str, slug: str) -> ApiError:
    return ApiError(422, detail, slug=slug,
                    errors={"code": [detail]})


def bind(partner: Partner, raw_code: str, partner_user_ref: str) -> tuple[PartnerLink, bool]:
    """Redeem a citizen's code: (link, created). A rebind of the same pair returns the link.

    A citizen already linked under another reference is moved to the new one (the fresh
    code is fresh consent); a reference actively linked to another citizen is a 409.
    """
    code = normalize_code(raw_code)
    row = db.session.get(PartnerLinkCode, _code_hash(code)) if code else None
    now = utcnow()
    if row is None:
        raise _bad_code("No such link code.", "link-code-invalid")
    if row.used_at is not None:
        raise _bad_code("This link code was already used.", "link-code-used")
    if row.expires_at <= now:
        raise _bad_code("This link code has expired; ask the citizen for a new one.",
                        "link-code-expired")
    user = db.session.get(User, row.user_id)
    if user is None or user.disabled:
        raise _bad_code("This link code's account is no longer active.", "link-code-invalid")
    by_ref = _active_link(partner.id, partner_user_ref=partner_user_ref)
    if by_ref is not None and by_ref.user_id != row.user_id:
        raise ApiError(409, "This partner_user_ref is already linked to another citizen.",
                       slug="partner-user-ref-taken")
    # Single use even against a concurrent redeemer: only one UPDATE finds it unused.
    taken = db.session.execute(
        update(PartnerLinkCode)
        .where(PartnerLinkCode.code_hash == row.code_hash, PartnerLinkCode.used_at.is_(None))
        .values(used_at=now, used_by_partner_id=partner.id)
        .execution_options(synchronize_session=False)).rowcount
    if taken != 1:
        raise _bad_code("This link code was already used.", "link-code-used")
    if by_ref is not None:
        return by_ref, False
    previous = _active_link(partner.id, user_id=row.user_id)
    if previous is not None:
        previous.status, previous.revoked_at = REVOKED, now
        db.session.flush()  # the partial unique index must see it revoked first
    link = PartnerLink(partner_id=partner.id, user_id=row.user_id,
                       partner_user_ref=partner_user_ref, status=ACTIVE, created_at=now)
    db.session.add(link)
    db.session.flush()
    return link, True


def _active_link(partner_id: int, *, partner_user_ref: str | None = None,
                 user_id: int | None = None) -> PartnerLink | None:
    stmt = select(PartnerLink).where(PartnerLink.partner_id == partner_id,
                                     PartnerLink.status == ACTIVE)
    if partner_user_ref is not None:
        stmt = stmt.where(PartnerLink.partner_user_ref == partner_user_ref)
    if user_id is not None:
        stmt = stmt.where(PartnerLink.user_id == user_id)
    return db.session.scalar(stmt)


def link_status(partner: Partner, partner_user_ref: str) -> PartnerLink:
    """The partner's latest link for this reference (active, or the last revoked one)."""
    link = db.session.scalar(
        select(PartnerLink)
        .where(PartnerLink.partner_id == partner.id,
               PartnerLink.partner_user_ref == partner_user_ref)
        .order_by((PartnerLink.status == ACTIVE).desc(), PartnerLink.id.desc()).limit(1))
    if link is None:
        raise _not_found("link for this partner_user_ref")
    return link


def resolve_user(partner_id: int, partner_user_ref: str) -> int | None:
    """The citizen behind a partner's user reference, while their link is active."""
    return db.session.scalar(
        select(PartnerLink.user_id)
        .join(User, User.id == PartnerLink.user_id)
        .where(PartnerLink.partner_id == partner_id,
               PartnerLink.partner_user_ref == partner_user_ref,
               PartnerLink.status == ACTIVE, User.disabled_at.is_(None)))


def resolve_users(partner_id: int, refs: Iterable[str]) -> dict[str, int]:
    """resolve_user for many references in one query (the batch endpoint).

    The links and users found stay share-locked until the batch commits: a revocation
    or a disabling that comes meanwhile waits for it, and one that came first is seen,
    so no record is credited after its consent was withdrawn.
    """
    refs = set(refs)
    if not refs:
        return {}
    with planned_for_its_values():  # an index probe per reference, never a filter
        rows = db.session.execute(
            select(PartnerLink.partner_user_ref, PartnerLink.user_id)
            .join(User, User.id == PartnerLink.user_id)
            .where(PartnerLink.partner_id == partner_id,
                   one_of(PartnerLink.partner_user_ref, refs),
                   PartnerLink.status == ACTIVE, User.disabled_at.is_(None))
            .with_for_update(read=True, of=(PartnerLink, User))).all()
    return {ref: user_id for ref, user_id in rows}


def my_links(user: User, status: str | None = None):
    stmt = select(PartnerLink).where(PartnerLink.user_id == user.id)
    if status:
        stmt = stmt.where(PartnerLink.status == status)
    return stmt.order_by(PartnerLink.id.desc())


def my_link_codes(user: User):
    return (select(PartnerLinkCode).where(PartnerLinkCode.user_id == user.id)
            .order_by(PartnerLinkCode.created_at))


def forget_user(user_id: int) -> None:
    """Erasure: the links (the partners' pseudonyms of the person) and codes go; a partner
    then finds the reference unlinked, as after the user revoked it."""
    for model in (PartnerLink, PartnerLinkCode):
        db.session.execute(delete(model).where(model.user_id == user_id))


def revoke_link(user: User, link_id: int) -> PartnerLink:
    link = db.session.get(PartnerLink, link_id)
    if link is None or link.user_id != user.id:
        raise _not_found("link")
    if link.status == ACTIVE:
        link.status, link.revoked_at = REVOKED, utcnow()
        audit.record(user.id, "partner_link.revoked", "partner_link", link.id,
                     partner_id=link.partner_id)
        db.session.flush()
    return link


# --------------------------------------------------------------------------- batch intake


def _reasons(messages: Any, prefix: str = "") -> list[str]:
    """Flatten marshmallow / ApiError messages into 'field: message' strings."""
    if isinstance(messages, dict):
        out: list[str] = []
        for field, inner in messages.items():
            name = f"{prefix}.{field}" if prefix else str(field)
            out.extend(_reasons(inner, name))
        return out
    if isinstance(messages, list | tuple):
        out = []
        for inner in messages:
            out.extend(_reasons(inner, prefix))
        return out
    return [f"{prefix}: {messages}" if prefix and prefix != "_schema" else str(messages)]


def _outcome(external_id: Any, status: str, reasons: list[str], behaviour=None,
             index: int = 0, replayed: bool = False) -> dict[str, Any]:
    result = {"index": index, "external_id": external_id, "status": status,
              "behaviour_id": None, "reduction_g": None, "points": None,
              "methodology_version": None, "reasons": reasons, "replayed": replayed,
              "duplicate_of_index": None}
    if behaviour is not None:
        result.update(
            status=behaviour.status, behaviour_id=behaviour.id,
            reduction_g=behaviour.reduction_g, points=behaviour.points,
            methodology_version=behaviour.methodology_version,
            reasons=list(behaviour.reasons or []))
    return result


# What makes two records of one batch the same record (an external id sent twice).
_RECORD_FIELDS = ("user_ref", "methodology", "occurred_at", "data", "evidence",
                  "claimed_elsewhere")


def _same_record(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(a.get(name) == b.get(name) for name in _RECORD_FIELDS)


def submit_batch(partner: Partner, records: list[Any]) -> dict[str, Any]:
    """Each record on its own: a bad one is reported, the others still go through.

    Records are validated one by one; those that may be credited are then submitted
    together (behaviours.submit_many: a few statements for the whole batch). An external
    id repeated in the batch is answered with its first record's outcome when the data is
    the same, and refused as invalid when it is not; one processed by an earlier send is
    answered with its original outcome, marked replayed. The counts tell this send's new
    records from the replayed ones and the repeats, so a partner adding up the counts of
    its sends counts each record once.
    """
    schema = BehaviourRecordSchema()
    loaded: list[tuple[dict | None, list[str]]] = []
    for raw in records:
        try:
            loaded.append((schema.load(raw), []))
        except ma.ValidationError as err:
            loaded.append((None, _reasons(err.messages)))
    links = resolve_users(partner.id, [r["user_ref"] for r, _ in loaded if r is not None])
    allowed = set(partner.methodologies or [])
    first_of: dict[str, int] = {}  # each external id's first record in the batch
    outcomes: dict[int, dict[str, Any]] = {}
    reports: dict[int, behaviours.Report] = {}
    for index, (record, errors) in enumerate(loaded):
        if record is None:
            raw = records[index]
            ext = raw.get("external_id") if isinstance(raw, dict) else None
            outcomes[index] = _outcome(ext if isinstance(ext, str) else None, "invalid",
                                       errors)
            continue
        ext, methodology = record["external_id"], record["methodology"]
        if ext in first_of:
            first = first_of[ext]
            if not _same_record(record, loaded[first][0]):
                outcomes[index] = dict(_outcome(ext, "invalid", [
                    f"external_id {ext!r} was already used by record {first} of this batch "
                    "with different data"]), duplicate_of_index=first)
            continue  # the same record again: answered with the first's outcome below
        first_of[ext] = index
        user_id = links.get(record["user_ref"])
        if methodology not in allowed:
            outcomes[index] = _outcome(ext, "rejected", [
                f"methodology {methodology!r} is not allowed for this partner"])
        elif user_id is None:
            outcomes[index] = _outcome(ext, "rejected", [NO_CONSENT])
        else:
            try:
                reports[index] = behaviours.report(
                    user_id=user_id, methodology=methodology, occurred_at=record["occurred_at"],
                    data=record["data"], evidence=record.get("evidence"), source="partner",
                    partner_id=partner.id, external_id=ext,
                    claimed_elsewhere=record.get("claimed_elsewhere"))
            except ApiError as err:
                reasons = _reasons(err.errors) if err.errors else []
                outcomes[index] = _outcome(ext, "invalid", reasons or [err.detail])
    judged = behaviours.submit_many(list(reports.values()))
    for index, behaviour in zip(reports, judged, strict=True):
        outcomes[index] = _outcome(behaviour.external_id, behaviour.status, [], behaviour,
                                   replayed=not behaviours.is_new(behaviour))
    answer = _answer(loaded, first_of, outcomes)
    db.session.add(PartnerBatch(partner_id=partner.id, records=len(records),
                                counts=answer["counts"]))
    db.session.flush()
    return answer


def _answer(loaded: list[tuple[dict | None, list[str]]], first_of: dict[str, int],
            outcomes: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Every record's outcome in order, and the counts: new by status, replayed by status,
    repeats of a record of this batch, and the behaviours this send recorded."""
    results: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    replayed: dict[str, int] = {}
    duplicates = written = 0
    for index, (record, _) in enumerate(loaded):
        if index in outcomes:
            result = dict(outcomes[index], index=index)
        else:
            first = first_of[record["external_id"]]
            result = dict(outcomes[first], index=index, duplicate_of_index=first)
            duplicates += 1
            results.append(result)
            continue
        tally = replayed if result["replayed"] else counts
        tally[result["status"]] = tally.get(result["status"], 0) + 1
        if not result["replayed"] and result["behaviour_id"] is not None:
            written += 1
        results.append(result)
    return {"results": results, "counts": counts, "replayed_counts": replayed,
            "duplicates": duplicates, "written": written}


def recent_batches(partner: Partner, limit: int = 20) -> list[PartnerBatch]:
    """The partner's latest submissions, newest first, with their outcome counts."""
    return list(db.session.scalars(
        select(PartnerBatch).where(PartnerBatch.partner_id == partner.id)
        .order_by(PartnerBatch.id.desc()).limit(limit)))
