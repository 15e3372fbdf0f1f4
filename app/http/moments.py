"""Moments and local dates sent by clients, kept to what a UTC column can store.

app.db_types.UtcDateTime converts every moment to UTC before writing it. Year 1 at +14:00
and 31 December 9999 at -14:00 have no UTC moment: the conversion's OverflowError, raised
while the row was flushed, was a 500. A local date's midnight has the same limits.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import marshmallow as ma

from app.localtime import FIRST_LOCAL_DATE, LAST_LOCAL_DATE, local_midnight


class StorableDateTime(ma.fields.AwareDateTime):
    """An ISO 8601 moment with its offset, refused (422) when it has no UTC moment."""

    default_error_messages = {"no_utc": "Is too close to the ends of the calendar."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            moment.astimezone(UTC)
        except OverflowError:
            raise self.make_error("no_utc") from None
        return moment


def local_date_field(**kwargs: Any) -> ma.fields.Date:
    """A local date whose midnights are UTC moments (not the calendar's first or last day)."""
    return ma.fields.Date(validate=ma.validate.Range(min=FIRST_LOCAL_DATE, max=LAST_LOCAL_DATE),
                          **kwargs)


class LocalDateRangeArgs(ma.Schema):
    """`?from=&to=`: local dates, both inclusive, `from` not after `to`."""

    date_from = local_date_field(data_key="from", metadata={"description": "Local date, inclusive"})
    date_to = local_date_field(data_key="to", metadata={"description": "Local date, inclusive"})

    @ma.validates_schema
    def _ordered(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise ma.ValidationError("Must not be after 'to'.", "from")


def utc_bounds(date_from: date | None, date_to: date | None,
               ) -> tuple[datetime | None, datetime | None]:
    """The moments [since, until) that the local days from `date_from` to `date_to`, both
    inclusive, cover (None: that end is open)."""
    return (local_midnight(date_from) if date_from else None,
            local_midnight(date_to + timedelta(days=1)) if date_to else None)
