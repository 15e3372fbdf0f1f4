"""A reported behaviour as the methodology reads it, checked on its own before any lock:
its record fits the methodology's schema and its times hold together."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import marshmallow as ma
from flask import current_app

from app.db_types import utcnow
from app.http.problems import ApiError
from app.localtime import local_date
from app.methodology.service import module as methodology_class
from methodologies.base import Methodology

log = logging.getLogger(__name__)


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
    cls = methodology_class(methodology)
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
