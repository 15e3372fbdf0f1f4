from __future__ import annotations

import marshmallow as ma

from app.http.ids import IdField
from app.http.moments import LocalDateRangeArgs
from app.http.openapi import ResponseSchema
from app.http.pagination import PageArgsSchema


class AuditEventSchema(ResponseSchema):
    id = ma.fields.Integer()
    at = ma.fields.DateTime()
    actor_id = ma.fields.Integer(allow_none=True,
                                 metadata={"description": "Who acted (null: the system)"})
    action = ma.fields.String(metadata={"example": "methodology.approved"})
    target_type = ma.fields.String(metadata={"example": "methodology_version"})
    target_id = ma.fields.String()
    details = ma.fields.Dict(metadata={"description": "What the action recorded with it"})


class AuditQuerySchema(PageArgsSchema, LocalDateRangeArgs):
    actor_id = IdField()
    action = ma.fields.List(ma.fields.String(validate=ma.validate.Length(min=1, max=64)),
                            metadata={"description": "Repeat to match several actions"})
    target_type = ma.fields.String(validate=ma.validate.Length(min=1, max=32))
    target_id = ma.fields.String(validate=ma.validate.Length(min=1, max=64),
                                 metadata={"description": "With target_type: one record's "
                                                          "history"})
