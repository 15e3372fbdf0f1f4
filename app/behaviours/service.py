"""Turning a reported behaviour into a reduction and, when it passes every check, points.

Order of checks for one record, all under the user's ledger lock (so caps and duplicate
checks see every earlier record of that user): a resend from the same partner returns
the first outcome; an approved methodology version must be in force when the behaviour
occurred; the same act reported twice (any source) is a duplicate; the methodology's
plausibility checks; the self-report policy; the daily caps. The credit is posted to
the ledger in the same transaction, and the behaviour keeps everything needed to
recompute it: the version, the parameter hash, the input and the reduction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

import marshmallow as ma
from flask import current_app
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.behaviours.models import Behaviour, ConversionRate
from app.db_types import utcnow
from app.extensions import db
from app.http.problems import ApiError
from app.ledger import service as ledger
from app.localtime import local_date
from app.methodology import service as methodologies
from app.methodology.models import MethodologyVersion
from app.users.models import User
from methodologies.base import Methodology, PlausibilityContext

COUNTED = ("credited", "pending_review", "capped")  # earlier records that count for a day
DEFAULT_POINTS_PER_GRAM = Decimal(1)


@dataclass
class Rate:
    id: int | None
    points_per_gram: Decimal
    effective_from: datetime | None


def conversion_rate(at: datetime) -> Rate:
    """The platform rate in force at `at`; 1 point per gram until an admin sets one."""
    cache = _request_cache()
    if "rates" not in cache:
        cache["rates"] = [Rate(r.id, r.points_per_gram, r.effective_from) for r in
                          db.session.scalars(select(ConversionRate)
                                             .order_by(ConversionRate.effective_from.desc()))]
    return next((r for r in cache["rates"] if r.effective_from <= at),
                Rate(None, DEFAULT_POINTS_PER_GRAM, None))


def to_points(grams: Decimal, rate: Rate) -> int:
    return int((grams * rate.points_per_gram).to_integral_value(rounding=ROUND_DOWN))


def _validated(cls: type[Methodology], data: dict[str, Any]) -> dict[str, Any]:
    try:
        return cls.load_record(data)
    except ma.ValidationError as err:
        messages = err.messages if isinstance(err.messages, dict) else {"data": err.messages}
        raise ApiError(422, f"The record does not fit the {cls.code} methodology.",
                       slug="validation-error",
                       errors={"data": messages}) from None


def _window(record: dict[str, Any], occurred_at: datetime) -> tuple[datetime, datetime]:
    start = record.get("started_at") or occurred_at
    end = record.get("ended_at") or start
    return start, max(start, end)


def _dedupe_group(record: dict[str, Any]) -> str:
    return str(record.get("mode") or record.get("kind") or "")


def submit(*, user_id: int, methodology: str, occurred_at: datetime, data: dict[str, Any],
           evidence: dict[str, Any] | None, source: str, partner_id: int | None = None,
           external_id: str | None = None) -> Behaviour:
    """Record one behaviour and credit it if it passes every check. Flushes only."""
    cls = methodologies.module(methodology)
    record = _validated(cls, data)
    if occurred_at > utcnow() + current_app.config["CLOCK_SKEW"]:
        raise ApiError(422, "The behaviour cannot have occurred in the future.",
                       slug="validation-error",
                       errors={"occurred_at": ["Is in the future."]})
    book = ledger.lock_book(user_id)
    if partner_id is not None and (done := _partner_resend(partner_id, external_id)):
        return done  # checked under the lock: a concurrent resend waits, then finds it

    start, end = _window(record, occurred_at)
    behaviour = Behaviour(
        user_id=user_id, methodology=cls.code, source=source, partner_id=partner_id,
        external_id=external_id, occurred_at=occurred_at,
        local_date=local_date(occurred_at),
        window_start=start, window_end=end, dedupe_group=_dedupe_group(record),
        data=data, evidence=evidence, reasons=[])
    version = _in_force(cls.code, occurred_at)
    if version is None:
        return _finish(behaviour, "rejected", [f"no approved version of {cls.code} was in force "
                                               "when this behaviour occurred"])
    behaviour.methodology_version_id = version.id
    behaviour.parameters_hash = version.parameters_hash
    params = _typed(cls, version)

    near = _neighbours(behaviour)
    duplicate = near.duplicate
    if duplicate is not None:
        return _finish(behaviour, "rejected", [
            f"duplicate of behaviour {duplicate.id} ({duplicate.source}) covering the same "
            "time"])
    same_day = near.same_day
    reasons = cls.plausibility(record, params, PlausibilityContext(
        same_day_count=len(same_day), source=source,
        same_day_records=tuple(cls.load_record(b.data) for b in same_day)))
    if reasons:
        return _finish(behaviour, "rejected", reasons)
    behaviour.reduction_g = cls.quantify(record, params)
    if source == "self_report" and params["self_report_policy"] == "review":
        return _finish(behaviour, "pending_review", ["self-report queued for review"])
    return _credit(cls, params, behaviour, book, near)


def _request_cache() -> dict:
    """Per unit of work: the versions and rates in force, read once per transaction."""
    return db.session().info.setdefault("behaviour_cache", {})


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop("behaviour_cache", None)


def _in_force(code: str, at: datetime) -> MethodologyVersion | None:
    cache = _request_cache().setdefault("versions", {})
    if code not in cache:
        cache[code] = methodologies.crediting_versions(code)
    return methodologies.in_force(cache[code], at)


def _typed(cls: type[Methodology], version: MethodologyVersion) -> dict[str, Any]:
    cache = _request_cache().setdefault("params", {})
    if version.id not in cache:
        cache[version.id] = methodologies.typed_values(cls, version)
    return cache[version.id]


def _finish(behaviour: Behaviour, status: str, reasons: list[str]) -> Behaviour:
    behaviour.status, behaviour.reasons = status, reasons
    db.session.add(behaviour)
    db.session.flush()
    return behaviour


def _partner_resend(partner_id: int, external_id: str | None) -> Behaviour | None:
    return db.session.scalar(select(Behaviour).where(Behaviour.partner_id == partner_id,
                                                     Behaviour.external_id == external_id))


@dataclass
class _Neighbours:
    """The user's counted behaviours that bear on a new one, read in one query."""

    duplicate: Behaviour | None  # an earlier record of the same act
    same_day: list[Behaviour]  # same methodology, same local day
    credited_g_this: Decimal  # credited that local day: this methodology
    credited_g_all: Decimal  # and all methodologies


def _neighbours(new: Behaviour) -> _Neighbours:
    """Same user and local day, or an overlapping time window (a trip across midnight)."""
    overlaps = ((Behaviour.window_start < new.window_end)
                & (new.window_start < Behaviour.window_end))
    same_window = ((Behaviour.window_start == new.window_start)
                   & (Behaviour.window_end == new.window_end))
    rows = db.session.scalars(select(Behaviour).where(
        Behaviour.user_id == new.user_id, Behaviour.status.in_(COUNTED),
        (Behaviour.local_date == new.local_date) | overlaps | same_window)
        .order_by(Behaviour.id)).all()
    duplicate = next((b for b in rows if b.methodology == new.methodology
                      and b.dedupe_group == new.dedupe_group
                      and ((b.window_start < new.window_end and new.window_start < b.window_end)
                           or (b.window_start, b.window_end)
                           == (new.window_start, new.window_end))), None)
    that_day = [b for b in rows if b.local_date == new.local_date]
    credited = [b for b in that_day if b.status == "credited"]
    return _Neighbours(
        duplicate=duplicate,
        same_day=[b for b in that_day if b.methodology == new.methodology],
        credited_g_this=sum((b.credited_g or Decimal(0) for b in credited
                             if b.methodology == new.methodology), Decimal(0)),
        credited_g_all=sum((b.credited_g or Decimal(0) for b in credited), Decimal(0)))


def _credit(cls: type[Methodology], params: dict[str, Any], behaviour: Behaviour,
            book: ledger.Book, near: _Neighbours) -> Behaviour:
    """Apply the self-report discount and both daily caps, then post the points."""
    this_methodology, all_methodologies = near.credited_g_this, near.credited_g_all
    grams = cls.apply_policy(behaviour.reduction_g, params, source=behaviour.source,
                             credited_today_g=this_methodology)
    room = Decimal(current_app.config["DAILY_CAP_G"]) - all_methodologies
    grams = min(grams, max(room, Decimal(0)))
    reasons = []
    if behaviour.source == "self_report" and params["self_report_policy"] == "discount":
        reasons.append(f"self-report credited at {params['self_report_factor']} of the "
                       "reduction")
    if grams <= 0 < behaviour.reduction_g:
        return _finish(behaviour, "capped", ["daily cap reached: recorded without points"])
    rate = conversion_rate(behaviour.occurred_at)
    behaviour.conversion_rate_id = rate.id
    behaviour.credited_g = grams
    behaviour.points = to_points(grams, rate)
    _finish(behaviour, "credited", reasons)
    if behaviour.points > 0:
        tx = ledger.earn(behaviour.user_id, behaviour.points, key=f"behaviour:{behaviour.id}",
                         cause_type="behaviour", cause_id=str(behaviour.id), reduction_g=grams,
                         book=book)
        behaviour.ledger_tx_id = tx.id
        db.session.flush()
    return behaviour


def recompute(behaviour: Behaviour) -> Decimal:
    """The reduction from the stored input and stored parameter set: audits use this."""
    version = db.session.get(MethodologyVersion, behaviour.methodology_version_id)
    cls = methodologies.module(behaviour.methodology)
    return cls.quantify(cls.load_record(behaviour.data), methodologies.typed_values(cls, version))


# -- citizens and review --------------------------------------------------------------------

def list_for(user_id: int, *, status: str | None = None, methodology: str | None = None):
    stmt = select(Behaviour).where(Behaviour.user_id == user_id).order_by(Behaviour.id.desc())
    if status:
        stmt = stmt.where(Behaviour.status == status)
    if methodology:
        stmt = stmt.where(Behaviour.methodology == methodology)
    return stmt


def review_queue(methodology: str | None = None):
    stmt = (select(Behaviour).where(Behaviour.status == "pending_review")
            .order_by(Behaviour.id))
    if methodology:
        stmt = stmt.where(Behaviour.methodology == methodology)
    return stmt


def list_all(status: str, methodology: str | None = None):
    stmt = select(Behaviour).where(Behaviour.status == status).order_by(Behaviour.id.desc())
    if methodology:
        stmt = stmt.where(Behaviour.methodology == methodology)
    return stmt


def set_rate(actor: User, points_per_gram: Decimal, effective_from: datetime,
             reason: str) -> ConversionRate:
    rate = ConversionRate(points_per_gram=points_per_gram, effective_from=effective_from,
                          reason=reason, created_by=actor.id)
    db.session.add(rate)
    db.session.flush()
    audit.record(actor.id, "conversion_rate.set", "conversion_rate", rate.id,
                 points_per_gram=str(points_per_gram), effective_from=effective_from.isoformat())
    return rate


def get(behaviour_id: int) -> Behaviour:
    behaviour = db.session.get(Behaviour, behaviour_id)
    if behaviour is None:
        raise ApiError.not_found("behaviour")
    return behaviour


def _locked_for_review(behaviour_id: int, expected: str) -> tuple[Behaviour, ledger.Book]:
    behaviour = get(behaviour_id)
    book = ledger.lock_book(behaviour.user_id)
    db.session.refresh(behaviour)
    if behaviour.status != expected:
        raise ApiError(409, f"This behaviour is {behaviour.status}, not {expected}.",
                       slug="behaviour-state")
    return behaviour, book


def _reviewed(behaviour: Behaviour, actor: User, note: str | None) -> None:
    behaviour.reviewed_by, behaviour.reviewed_at = actor.id, utcnow()
    behaviour.review_note = note


def approve(actor: User, behaviour_id: int, note: str | None) -> Behaviour:
    """Credit a self-report that was queued for review (caps apply as of now)."""
    behaviour, book = _locked_for_review(behaviour_id, "pending_review")
    _reviewed(behaviour, actor, note)
    cls = methodologies.module(behaviour.methodology)
    version = db.session.get(MethodologyVersion, behaviour.methodology_version_id)
    if version.status not in methodologies.CREDITING:
        return _finish(behaviour, "rejected", [f"methodology version is now {version.status}"])
    return _credit(cls, methodologies.typed_values(cls, version), behaviour, book,
                   _neighbours(behaviour))


def reject(actor: User, behaviour_id: int, reason: str) -> Behaviour:
    behaviour, _book = _locked_for_review(behaviour_id, "pending_review")
    _reviewed(behaviour, actor, reason)
    return _finish(behaviour, "rejected", [f"rejected on review: {reason}"])


def reverse(actor: User, behaviour_id: int, reason: str) -> Behaviour:
    """Take back a credited behaviour's points through a ledger reversal."""
    behaviour, book = _locked_for_review(behaviour_id, "credited")
    _reviewed(behaviour, actor, reason)
    if behaviour.ledger_tx_id is not None:
        ledger.reverse(behaviour.ledger_tx_id, key=f"behaviour:{behaviour.id}:reversal",
                       reason=reason, actor_id=actor.id, book=book)
    return _finish(behaviour, "reversed", [*behaviour.reasons, f"reversed: {reason}"])
