"""Record ids: positive and within BIGINT, in paths and in query strings alike.

A larger number is no id of ours; refusing it here keeps it away from the database
(where SQLite raises OverflowError and PostgreSQL "integer out of range": a 500).
"""

from __future__ import annotations

import marshmallow as ma
from werkzeug.routing import IntegerConverter

MAX_ID = 2**63 - 1


class IdConverter(IntegerConverter):
    """`<int:…>` in every route: an out-of-range id matches no route, so it is a 404."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def id_param_schema(_converter: IdConverter) -> dict:
    return {"type": "integer", "minimum": 0, "maximum": MAX_ID}


def IdField(**kwargs) -> ma.fields.Integer:  # noqa: N802 - reads like a field class
    return ma.fields.Integer(strict=False, validate=ma.validate.Range(min=1, max=MAX_ID),
                             **kwargs)
