"""Judging a reported behaviour under its user's ledger lock: rejected, pending review,
capped or credited.

Order of checks for one record, all under the user's ledger lock (so caps and duplicate
checks see every earlier record of that user): a resend from the same partner returns
the first outcome (submission.py); a reduction declared claimed in another mechanism is
refused (and an earlier credited or pending record of the same act is named and audited
for review); an approved methodology version must be in force when the behaviour
occurred; the same act reported twice (any source) is a duplicate; the methodology's
plausibility checks; the self-report policy; the daily caps. The points come from the
user's running totals (totals.py) and are posted to the ledger in the same transaction,
and the behaviour keeps everything needed to recompute its reduction: the version, the
parameter hash, the input and the reduction.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import marshmallow as ma
from sqlalchemy.exc import SQLAlchemyError

from app import ledger
from app.audit import service as audit
from app.behaviours.crediting import credit, decide_credit, decided, span
from app.behaviours.drafts import COLUMN_KEYS, Draft
from app.behaviours.models import Behaviour
from app.behaviours.nearby import Nearby, Neighbours
from app.behaviours.reporting import Report
from app.behaviours.unit_cache import unit_cache
from app.db_types import utcnow
from app.http.problems import ApiError
from app.methodology import service as methodology
from app.methodology.models import MethodologyVersion
from app.sql import insert_rows, new_ids
from methodologies.base import PlausibilityContext

log = logging.getLogger(__name__)

BEHAVIOURS = Behaviour.__table__
TOLERANCE_PARAMETER = "instant_match_tolerance_s"


def store(new: list[Draft], books: dict[int, ledger.Book]) -> None:
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
    credit([d for d in new if d.status == "credited"], books)
    insert_rows(BEHAVIOURS, [{key: d.__dict__[key] for key in COLUMN_KEYS} for d in new])


def instant_tolerance(r: Report) -> timedelta:
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
        cls = methodology.release(version)
        seconds = methodology.typed_values(cls, version).get(TOLERANCE_PARAMETER, 0)
    except ApiError:
        return timedelta(0)  # the release is gone: judging rejects the record
    except (ValueError, TypeError, KeyError, ArithmeticError):
        return timedelta(0)  # a set the module no longer takes: judging rejects the record
    return timedelta(seconds=float(seconds))


def judge(r: Report, nearby: Nearby) -> Draft:
    """Decide one record: rejected, pending_review, capped or credited (points not posted)."""
    cls = r.cls
    user_id, day, start, end = span(r)
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
        # two mechanisms: the reason names it and store audits it for an administrator.
        behaviour.conflicts_with = nearby.credited_act(behaviour, cls, r.tolerance)
        nearby.add(behaviour)
        return decided(behaviour, "rejected", [claimed_elsewhere_reason(r.claimed_elsewhere)])
    version = _in_force(cls.code, r.occurred_at)
    if version is None:
        return decided(behaviour, "rejected", [
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
        decided(behaviour, "rejected", [
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
        decided(behaviour, "rejected", [_duplicate_reason(near.duplicate)])
        return
    # The release of the version in force judges the record: the newest one only checked
    # its form, and an earlier release may not know a newer field or mode.
    cls = methodology.release(version)
    try:
        record = r.record if cls is r.cls else cls.load_record(r.data)
    except ma.ValidationError as err:
        decided(behaviour, "rejected", [f"the record does not fit release {cls.version} of "
                                        f"{cls.code}, in force then: {err.messages}"])
        return
    params = methodology.typed_values(cls, version)
    reasons = cls.plausibility(record, params, PlausibilityContext(
        same_day_count=len(near.same_day), source=r.source,
        same_day_records=tuple(cls.load_record(b.data) for b in near.same_day)))
    if reasons:
        decided(behaviour, "rejected", reasons)
        return
    behaviour.reduction_g = cls.quantify(record, params)
    if r.source == "self_report" and params["self_report_policy"] == "review":
        decided(behaviour, "pending_review", ["self-report queued for review"])
    else:
        decide_credit(cls, params, behaviour, near)


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


def _in_force(code: str, at: datetime) -> MethodologyVersion | None:
    cache = unit_cache().setdefault("versions", {})
    if code not in cache:
        cache[code] = methodology.crediting_versions(code)
    return methodology.in_force(cache[code], at)
