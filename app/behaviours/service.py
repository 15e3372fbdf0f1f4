"""Turning a reported behaviour into a reduction and, when it passes every check, points.

Order of checks for one record, all under the user's ledger lock (so caps and duplicate
checks see every earlier record of that user): a resend from the same partner returns
the first outcome; a reduction declared claimed in another mechanism is refused (and an
earlier credited or pending record of the same act is named and audited for review); an
approved methodology version must be in force when the behaviour occurred; the same act
reported twice (any source) is a duplicate; the methodology's plausibility checks; the
self-report policy; the daily caps. The points come from the user's running totals
(app/behaviours/totals.py) and are posted to the ledger in the same transaction, and the
behaviour keeps everything needed to recompute its reduction: the version, the parameter
hash, the input and the reduction.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import marshmallow as ma
from flask import current_app
from sqlalchemy import event, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.behaviours import totals
from app.behaviours.models import Behaviour, ConversionRate
from app.behaviours.nearby import Nearby, Neighbours
from app.db_types import utcnow
from app.extensions import db
from app.http.problems import ApiError
from app.ledger import service as ledger
from app.ledger.models import LedgerTransaction
from app.localtime import local_date
from app.methodology import service as methodologies
from app.methodology.models import MethodologyVersion
from app.sql import (
    execute,
    insert_rows,
    new_ids,
    one_of,
    per_database,
    planned_for_its_values,
)
from app.users.models import User
from methodologies.base import Methodology, MethodologyNotInstalled, PlausibilityContext

log = logging.getLogger(__name__)

BEHAVIOURS = Behaviour.__table__
_COLUMN_KEYS = tuple(column.key for column in BEHAVIOURS.c)
_NEW_INSTANCE = Behaviour.__mapper__.class_manager.new_instance
DEFAULT_POINTS_PER_GRAM = Decimal(1)


@dataclass
class Rate:
    id: int | None
    points_per_gram: Decimal
    effective_from: datetime | None


_RATES = select(ConversionRate.id, ConversionRate.points_per_gram,
                ConversionRate.effective_from).order_by(ConversionRate.effective_from.desc())


def conversion_rate(at: datetime) -> Rate:
    """The platform rate in force at `at`; 1 point per gram until an admin sets one."""
    cache = _request_cache()
    if "rates" not in cache:
        cache["rates"] = [Rate(*row) for row in execute(_RATES)]
    return next((r for r in cache["rates"] if r.effective_from <= at),
                Rate(None, DEFAULT_POINTS_PER_GRAM, None))


def _rate_of(behaviour: Behaviour) -> Decimal:
    """The points per gram a stored credit was made at."""
    conversion_rate(behaviour.occurred_at)  # fills the cache
    return next((r.points_per_gram for r in _request_cache()["rates"]
                 if r.id == behaviour.conversion_rate_id), DEFAULT_POINTS_PER_GRAM)


def _validated(cls: type[Methodology], data: dict[str, Any]) -> dict[str, Any]:
    try:
        return cls.load_record(data)
    except ma.ValidationError as err:
        messages = err.messages if isinstance(err.messages, dict) else {"data": err.messages}
        raise ApiError(422, f"The record does not fit the {cls.code} methodology.",
                       slug="validation-error",
                       errors={"data": messages}) from None
    except Exception:
        # A plug-in's schema failed on this record: refuse it, not the request or batch.
        log.exception("methodology %s %s could not read a record", cls.code, cls.version)
        raise ApiError(422, f"The {cls.code} methodology could not read this record.",
                       slug="methodology-error") from None


def _window(record: dict[str, Any], occurred_at: datetime) -> tuple[datetime, datetime]:
    start = record.get("started_at") or occurred_at
    end = record.get("ended_at") or start
    return start, max(start, end)


@dataclass
class Report:
    """One reported behaviour, validated on its own, before the checks under the lock."""

    user_id: int
    cls: type[Methodology]
    record: dict[str, Any]  # the data as the methodology's schema loaded it
    occurred_at: datetime
    data: dict[str, Any]
    evidence: dict[str, Any] | None
    source: str
    partner_id: int | None = None
    external_id: str | None = None
    claimed_elsewhere: dict[str, Any] | None = None  # {mechanism, reference}

    def __post_init__(self) -> None:
        self.local_date = local_date(self.occurred_at)
        self.window_start, self.window_end = _window(self.record, self.occurred_at)
        self.tolerance = timedelta(0)  # the instant match tolerance, once the version is known


def report(*, user_id: int, methodology: str, occurred_at: datetime, data: dict[str, Any],
           evidence: dict[str, Any] | None, source: str, partner_id: int | None = None,
           external_id: str | None = None,
           claimed_elsewhere: dict[str, Any] | None = None) -> Report:
    """Validate one record against its methodology: a 404 or 422 ApiError if it cannot be."""
    cls = methodologies.module(methodology)
    record = _validated(cls, data)
    _check_times(record, occurred_at)
    return Report(user_id, cls, record, occurred_at, data, evidence, source, partner_id,
                  external_id, claimed_elsewhere)


def _check_times(record: dict[str, Any], occurred_at: datetime) -> None:
    """Not in the future, not older than the claim window, and inside the record's own
    span when it has one (the caps go by occurred_at's day, duplicates by the span)."""
    config, now = current_app.config, utcnow()
    skew = config["CLOCK_SKEW"]
    errors: dict[str, list[str]] = {}
    if occurred_at > now + skew:
        errors["occurred_at"] = ["Is in the future."]
    elif occurred_at < now - config["CLAIM_WINDOW"]:
        errors["occurred_at"] = [f"Is older than the claim window of "
                                 f"{config['CLAIM_WINDOW'].days} days."]
    start, end = record.get("started_at"), record.get("ended_at")
    if end is not None and end > now + skew:
        errors.setdefault("data", []).append("ended_at is in the future.")
    if start is not None and start < now - config["CLAIM_WINDOW"]:
        # Also what keeps the span storable: year 1 at +14:00 has no UTC moment.
        errors.setdefault("data", []).append(f"started_at is older than the claim window "
                                             f"of {config['CLAIM_WINDOW'].days} days.")
    # The skew moves occurred_at, checked above to be near now: moving a record's own
    # times (year 1, year 9999) could overflow the calendar.
    if ("occurred_at" not in errors and start is not None and end is not None
            and not (start <= occurred_at + skew and occurred_at - skew <= end)):
        errors.setdefault("occurred_at", []).append(
            "Must fall between the record's started_at and ended_at.")
    if errors:
        raise ApiError(422, "The behaviour's times do not hold together.",
                       slug="validation-error", errors=errors)


def submit(**fields: Any) -> Behaviour:
    """Record one behaviour and credit it if it passes every check. Flushes only."""
    behaviour = submit_many([report(**fields)])[0]
    return _written(behaviour) if isinstance(behaviour, Draft) else behaviour


def submit_many(reports: list[Report]) -> list[Behaviour | Draft]:
    """Record behaviours (one citizen's, or a partner batch's) and credit those that pass.

    Set-based, so a batch costs a handful of statements rather than a handful per record:
    every user's lock at once (in the one order all lockers use), one read of the partner's
    earlier records, one read of the users' nearby behaviours per stretch of time, one
    insert of the new behaviours, one journal write for all the earns. Records are judged
    in the given order, each seeing the ones before it, so one user's caps and duplicates
    come out as if the records had been sent one by one. New behaviours come back as the
    Drafts they were judged as (stored, not in the session); a resend comes back as first
    recorded. Flushes only.
    """
    books = ledger.lock_books(r.user_id for r in reports)
    # An erasure holds the same lock: a report that got past the token or link check
    # just before it finished must not store the erased person's data again.
    erased = _erased(books)
    if erased and len(reports) == 1:
        raise ApiError(401, "The token's account is no longer active.", slug="revoked-token")
    resent = _partner_resends(reports)  # read under the locks: a concurrent resend waits
    fresh = [r for r in reports if _key(r) not in resent]
    for r in fresh:
        r.tolerance = _instant_tolerance(r)
    # Widened by the tolerance: an instant that far from an earlier record may be its act.
    nearby = Nearby.read([(r.user_id, r.local_date, r.window_start - r.tolerance,
                           r.window_end + r.tolerance) for r in fresh])
    out: list[Behaviour | Draft] = []
    new: list[Draft] = []
    for r in reports:
        behaviour = resent.get(_key(r))
        if r.user_id in erased:  # answered, never stored
            out.append(Draft(user_id=r.user_id, methodology=r.cls.code, source=r.source,
                             partner_id=r.partner_id, external_id=r.external_id,
                             status="rejected", reasons=["the account was erased"],
                             reduction_g=Decimal(0), points=0))
            continue
        if behaviour is None:
            behaviour = _judge(r, nearby)
            new.append(behaviour)
            if r.partner_id is not None:
                resent[_key(r)] = behaviour  # the same external id again in this batch
        out.append(behaviour)
    _store(new, books)
    return out


def is_new(behaviour: Behaviour | Draft) -> bool:
    """Whether submit_many judged this record now, rather than finding it recorded by an
    earlier send (a partner's resend)."""
    return isinstance(behaviour, Draft)


class Draft:
    """A new behaviour as judged and stored: a Behaviour's columns (and its version) as
    plain attributes.

    Not a Behaviour, whose every attribute access goes through the ORM's instrumentation
    and whose making costs an instance state: a batch judges hundreds, and that
    bookkeeping cost more than the judging.
    """

    def __init__(self, **columns: Any) -> None:
        self.__dict__.update(dict.fromkeys(_COLUMN_KEYS), version=None, **columns)

    methodology_version = Behaviour.methodology_version  # the same property


def _store(new: list[Draft], books: dict[int, ledger.Book]) -> None:
    """Insert the judged behaviours with their earns.

    Ids come first so the earns can be keyed by them and the rows inserted already
    pointing at their earns: one insert, no update after it.
    """
    now = utcnow()
    for draft, behaviour_id in zip(new, new_ids(BEHAVIOURS, len(new)), strict=True):
        draft.id, draft.created_at = behaviour_id, now
        if (earlier := getattr(draft, "duplicate_of", None)) is not None:
            draft.reasons = [_duplicate_reason(earlier)]  # its id is known now
        if (earlier := getattr(draft, "conflicts_with", None)) is not None:
            draft.reasons = [*draft.reasons, _conflict_reason(earlier)]
            audit.record(None, "behaviour.claimed_elsewhere_conflict", "behaviour", earlier.id,
                         behaviour_id=draft.id, status=earlier.status,
                         mechanism=draft.claimed_elsewhere["mechanism"])
    _credit([d for d in new if d.status == "credited"], books)
    insert_rows(BEHAVIOURS, [{key: d.__dict__[key] for key in _COLUMN_KEYS} for d in new])


def _written(draft: Draft) -> Behaviour:
    """The stored draft as a Behaviour, never added to the session (its row is written
    already, so read it again to change it). Every column is set: nothing left to load."""
    behaviour = _NEW_INSTANCE()
    behaviour.__dict__.update({key: draft.__dict__[key] for key in _COLUMN_KEYS},
                              version=draft.version)
    return behaviour


@per_database
def _erased_statement():
    return select(User.id).where(one_of(User.id, name="users"), User.deleted_at.is_not(None))


def _erased(user_ids: Iterable[int]) -> set[int]:
    return set(db.session.scalars(_erased_statement(), {"users": sorted(user_ids)}))


def _key(r: Report) -> tuple[int, int, str] | None:
    return (r.user_id, r.partner_id, r.external_id) if r.partner_id is not None else None


def _partner_resends(reports: list[Report]) -> dict:
    """A partner's earlier records with the batch's external ids, by (user, partner,
    external id): a partner's record id is per the partner's user."""
    found: dict = {}
    by_partner: dict[int, tuple[set[int], list[str]]] = {}
    for r in reports:
        if r.partner_id is not None:
            users, external_ids = by_partner.setdefault(r.partner_id, (set(), []))
            users.add(r.user_id)
            external_ids.append(r.external_id)
    if not by_partner:
        return found
    with planned_for_its_values():  # an index probe per external id, never a filter
        for partner_id, (users, external_ids) in by_partner.items():
            for b in db.session.scalars(select(Behaviour).where(
                    one_of(Behaviour.user_id, sorted(users)), Behaviour.partner_id == partner_id,
                    one_of(Behaviour.external_id, external_ids))):
                found[(b.user_id, partner_id, b.external_id)] = b
    return found


def _span(r: Report | Behaviour) -> tuple[int, date, datetime, datetime]:
    return r.user_id, r.local_date, r.window_start, r.window_end


TOLERANCE_PARAMETER = "instant_match_tolerance_s"


def _instant_tolerance(r: Report) -> timedelta:
    """How far (the methodology version's `instant_match_tolerance_s`) an instant such as a
    tap-in may lie from another source's record of the same trip and still be that trip;
    0 for a version without the parameter (1.0.0) or a methodology whose acts take no time.
    """
    version = _in_force(r.cls.code, r.occurred_at) if r.cls.occupies_time else None
    if version is None:
        return timedelta(0)
    try:
        # Typed by the class of the version's release: the newest class may take other
        # parameters than the release in force (1.0.0 has no tolerance at all).
        cls = methodologies.release(version)
        seconds = methodologies.typed_values(cls, version).get(TOLERANCE_PARAMETER, 0)
    except ApiError:
        return timedelta(0)  # the release is gone: judging rejects the record
    except (ValueError, TypeError, KeyError, ArithmeticError):
        return timedelta(0)  # a set the module no longer takes: judging rejects the record
    return timedelta(seconds=float(seconds))


def _judge(r: Report, nearby: Nearby) -> Draft:
    """Decide one record: rejected, pending_review, capped or credited (points not posted)."""
    cls = r.cls
    user_id, day, start, end = _span(r)
    behaviour = Draft(
        user_id=user_id, methodology=cls.code, source=r.source, partner_id=r.partner_id,
        external_id=r.external_id, occurred_at=r.occurred_at, local_date=day,
        window_start=start, window_end=end, dedupe_group=cls.dedupe_group(r.record),
        data=r.data, evidence=r.evidence, claimed_elsewhere=r.claimed_elsewhere, reasons=[],
        reduction_g=Decimal(0), credited_g=Decimal(0), points=0)
    if r.claimed_elsewhere is not None:
        # Refused, and recorded so that the same act from another source is refused as its
        # duplicate. An earlier credit of the same act from another source stands (a
        # partner's declaration alone does not take a citizen's points) but is now filed in
        # two mechanisms: the reason names it and _store audits it for an administrator.
        behaviour.conflicts_with = nearby.credited_act(behaviour, cls, r.tolerance)
        nearby.add(behaviour)
        return _decided(behaviour, "rejected", [claimed_elsewhere_reason(r.claimed_elsewhere)])
    version = _in_force(cls.code, r.occurred_at)
    if version is None:
        return _decided(behaviour, "rejected", [
            f"no approved version of {cls.code} was in force when this behaviour occurred"])
    behaviour.version, behaviour.methodology_version_id = version, version.id
    behaviour.parameters_hash = version.parameters_hash
    try:
        _assess(r, behaviour, version, nearby.around(behaviour, cls, r.tolerance))
    except SQLAlchemyError:
        raise  # the database's failure (the rate read), not the methodology's
    except Exception:
        # The methodology's own code failed (a plug-in's bug, or a stored parameter set
        # the installed module no longer takes): this record is refused and logged, and
        # the rest of its batch is still judged.
        log.exception("methodology %s %s failed on a record of user %s", cls.code,
                      cls.version, user_id)
        _decided(behaviour, "rejected", [
            f"the {cls.code} methodology could not assess this record (logged for the "
            "operators)"])
    if behaviour.status != "rejected":
        nearby.add(behaviour)
    return behaviour


def _assess(r: Report, behaviour: Draft, version: MethodologyVersion,
            near: Neighbours) -> None:
    """The methodology's part: duplicate, plausibility, reduction, policy and caps."""
    if near.duplicate is not None:
        behaviour.duplicate_of = near.duplicate  # not a column: the reason needs its id later
        _decided(behaviour, "rejected", [_duplicate_reason(near.duplicate)])
        return
    # The release of the version in force judges the record: the newest one only checked
    # its form, and an earlier release may not know a newer field or mode.
    cls = methodologies.release(version)
    try:
        record = r.record if cls is r.cls else cls.load_record(r.data)
    except ma.ValidationError as err:
        _decided(behaviour, "rejected", [f"the record does not fit release {cls.version} of "
                                         f"{cls.code}, in force then: {err.messages}"])
        return
    params = methodologies.typed_values(cls, version)
    reasons = cls.plausibility(record, params, PlausibilityContext(
        same_day_count=len(near.same_day), source=r.source,
        same_day_records=tuple(cls.load_record(b.data) for b in near.same_day)))
    if reasons:
        _decided(behaviour, "rejected", reasons)
        return
    behaviour.reduction_g = cls.quantify(record, params)
    if r.source == "self_report" and params["self_report_policy"] == "review":
        _decided(behaviour, "pending_review", ["self-report queued for review"])
    else:
        _decide_credit(cls, params, behaviour, near)


def claimed_elsewhere_reason(claim: dict[str, Any]) -> str:
    # The mechanism only: the reference may identify the person there, and reasons are
    # kept when an account is erased.
    return (f"already claimed in another mechanism ({claim['mechanism']}): one reduction is "
            "filed once (DB11/T 3043-2024), so it is recorded without credit")


def _conflict_reason(earlier: Any) -> str:
    return (f"the same act was already recorded as behaviour {earlier.id} ({earlier.status}): "
            "an administrator should review it")


def _duplicate_reason(earlier: Any) -> str:
    return (f"duplicate of behaviour {earlier.id} ({earlier.source}) covering the same "
            "time")


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


def _decided(behaviour: Behaviour | Draft, status: str,
             reasons: list[str]) -> Behaviour | Draft:
    behaviour.status, behaviour.reasons = status, reasons
    return behaviour


def _finish(behaviour: Behaviour, status: str, reasons: list[str]) -> Behaviour:
    _decided(behaviour, status, reasons)
    db.session.flush()
    return behaviour


def _decide_credit(cls: type[Methodology], params: dict[str, Any],
                   behaviour: Behaviour | Draft, near: Neighbours) -> Behaviour | Draft:
    """Apply the self-report discount and both daily caps: credited (with points) or capped."""
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
        return _decided(behaviour, "capped", ["daily cap reached: recorded without points"])
    behaviour.conversion_rate_id = conversion_rate(behaviour.occurred_at).id
    behaviour.credited_g = grams
    behaviour.points = 0  # set when it is posted (_credit): it depends on the user's totals
    return _decided(behaviour, "credited", reasons)


def _credit(credited: list[Behaviour | Draft], books: dict[int, ledger.Book]) -> None:
    """Give the credited behaviours their points from the users' running totals (in the
    order given), post them to the ledger, and count the reduction of those earning none."""
    totals.award((b, _rate_of(b)) for b in credited)
    _earn([b for b in credited if b.points > 0], books)
    for b in credited:
        if b.points == 0 and b.credited_g > 0:
            ledger.count_reduction(books[b.user_id], b.credited_g)


def _earn(behaviours: list[Behaviour | Draft], books: dict[int, ledger.Book]) -> None:
    """Post the credited behaviours' points to the ledger (one write) and link each earn."""
    if not behaviours:
        return
    txs = ledger.earn_many([
        ledger.Earning(b.user_id, b.points, key=f"behaviour:{b.id}", cause_type="behaviour",
                       cause_id=str(b.id), reduction_g=b.credited_g) for b in behaviours],
        books)
    for behaviour, tx in zip(behaviours, txs, strict=True):
        behaviour.ledger_tx_id = tx.id


def recompute(behaviour: Behaviour) -> Decimal:
    """The reduction from the stored input and stored parameter set: audits use this."""
    version = db.session.get(MethodologyVersion, behaviour.methodology_version_id)
    cls = methodologies.registry().get(version.code, version.version)  # that release's class
    return cls.quantify(cls.load_record(behaviour.data), methodologies.typed_values(cls, version))


def check_credit(behaviour_id: int) -> dict[str, Any]:
    """Recompute a behaviour's reduction from what it stored, next to what it stored."""
    behaviour = get(behaviour_id)
    if behaviour.methodology_version_id is None:
        raise ApiError(409, "This behaviour was not assessed under a methodology version, so "
                       "there is nothing to recompute.", slug="behaviour-state")
    version = db.session.get(MethodologyVersion, behaviour.methodology_version_id)
    try:
        recomputed = recompute(behaviour)
    except (MethodologyNotInstalled, ValueError, TypeError, ma.ValidationError) as err:
        raise ApiError(409, f"It cannot be recomputed with the installed {behaviour.methodology} "
                       f"module: {err}", slug="not-recomputable") from None
    except ArithmeticError as err:  # decimal's errors are not ValueErrors (an occupancy of 0)
        raise ApiError(409, f"It cannot be recomputed with the installed {behaviour.methodology} "
                       f"module: its arithmetic fails with this parameter set "
                       f"({type(err).__name__}).", slug="not-recomputable") from None
    return {"behaviour_id": behaviour.id, "methodology_version_id": version.id,
            "parameters_hash": behaviour.parameters_hash,
            "parameters_hash_matches": behaviour.parameters_hash == version.parameters_hash,
            "stored_reduction_g": behaviour.reduction_g, "recomputed_reduction_g": recomputed,
            "matches": recomputed == behaviour.reduction_g
            and behaviour.parameters_hash == version.parameters_hash}


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
    version = db.session.get(MethodologyVersion, behaviour.methodology_version_id)
    cls = methodologies.release(version)
    if version.status not in methodologies.CREDITING:
        return _finish(behaviour, "rejected", [f"methodology version is now {version.status}"])
    nearby = Nearby.read([_span(behaviour)])
    _decide_credit(cls, methodologies.typed_values(cls, version), behaviour,
                   nearby.around(behaviour, cls))
    if behaviour.status == "credited":
        _credit([behaviour], {behaviour.user_id: book})
    db.session.flush()
    return behaviour


def reject(actor: User, behaviour_id: int, reason: str) -> Behaviour:
    behaviour, _book = _locked_for_review(behaviour_id, "pending_review")
    _reviewed(behaviour, actor, reason)
    return _finish(behaviour, "rejected", [f"rejected on review: {reason}"])


def earned_by(tx_id: int) -> int | None:
    """The behaviour whose credit is this ledger transaction, if one is."""
    tx = db.session.get(LedgerTransaction, tx_id)
    if tx is None or tx.cause_type != "behaviour" or not (tx.cause_id or "").isdigit():
        return None
    return db.session.scalar(select(Behaviour.id).where(
        Behaviour.id == int(tx.cause_id), Behaviour.ledger_tx_id == tx_id))


def reverse(actor: User, behaviour_id: int, reason: str) -> Behaviour:
    """Take back a credited behaviour's points through a ledger reversal."""
    behaviour, book = _locked_for_review(behaviour_id, "credited")
    _reviewed(behaviour, actor, reason)
    if behaviour.ledger_tx_id is not None:
        # The reviewer's words go on the behaviour, which an erasure reduces; the ledger
        # is append-only and keeps its reason for good, so it only points there.
        ledger.reverse(behaviour.ledger_tx_id, key=f"behaviour:{behaviour.id}:reversal",
                       reason=f"behaviour {behaviour.id} reversed on review",
                       actor_id=actor.id, book=book)
    elif behaviour.credited_g:  # credited below a whole point: only the reduction counted
        ledger.count_reduction(book, -behaviour.credited_g)
    totals.take_back(behaviour.user_id, _rate_of(behaviour), behaviour.credited_g,
                     behaviour.points)
    return _finish(behaviour, "reversed", [*behaviour.reasons, f"reversed: {reason}"])
