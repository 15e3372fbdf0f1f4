"""Moments sent by clients that a UTC column can store.

app.db_types.UtcDateTime converts every moment to UTC before writing it. Year 1 at +14:00
and 31 December 9999 at -14:00 have no UTC moment: the conversion's OverflowError, raised
while the row was flushed, was a 500.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import marshmallow as ma


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
