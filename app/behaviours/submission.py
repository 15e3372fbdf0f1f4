"""Submitting reported behaviours: one citizen's record, or a partner's batch, judged under
the users' ledger locks and stored with their credits in one go."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from app import ledger
from app.behaviours.drafts import Draft, written
from app.behaviours.judging import instant_tolerance, judge, store
from app.behaviours.models import Behaviour
from app.behaviours.nearby import Nearby
from app.behaviours.reporting import Report, report
from app.extensions import db
from app.http.problems import ApiError
from app.sql import one_of, per_database, planned_for_its_values
from app.users.models import User


def submit(**fields: Any) -> Behaviour:
    """Record one behaviour and credit it if it passes every check. Flushes only."""
    behaviour = submit_many([report(**fields)])[0]
    return written(behaviour) if isinstance(behaviour, Draft) else behaviour


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
        r.tolerance = instant_tolerance(r)
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
            behaviour = judge(r, nearby)
            new.append(behaviour)
            if r.partner_id is not None:
                resent[_key(r)] = behaviour  # the same external id again in this batch
        out.append(behaviour)
    store(new, books)
    return out


def is_new(behaviour: Behaviour | Draft) -> bool:
    """Whether submit_many judged this record now, rather than finding it recorded by an
    earlier send (a partner's resend)."""
    return isinstance(behaviour, Draft)


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

