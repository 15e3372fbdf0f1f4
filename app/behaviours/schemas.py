from __future__ import annotations

import marshmallow as ma

from app.behaviours.models import STATUSES
from app.behaviours.stats import GROUPINGS
from app.http.moments import LocalDateRangeArgs, StorableDateTime
from app.http.pagination import PageArgsSchema


class SubmitSchema(ma.Schema):
    methodology = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    occurred_at = ma.fields.AwareDateTime(required=True)
    data = ma.fields.Dict(required=True, metadata={"description": "Fits the methodology's "
                                                   "record_schema"})
    evidence = ma.fields.Dict(load_default=None, metadata={
        "description": "Optional proof: ticket number, photo URL, …"})


class BehaviourSchema(ma.Schema):
    id = ma.fields.Integer()
    status = ma.fields.String(metadata={"description": ", ".join(STATUSES)})
    methodology = ma.fields.String()
    methodology_version = ma.fields.String(allow_none=True)
    methodology_version_id = ma.fields.Integer(allow_none=True)
    parameters_hash = ma.fields.String(allow_none=True)
    source = ma.fields.String()
    occurred_at = ma.fields.DateTime()
    local_date = ma.fields.Date()
    reduction_g = ma.fields.Decimal(as_string=True, metadata={"description": "Computed reduction"})
    credited_g = ma.fields.Decimal(as_string=True, metadata={"description": "After discount "
                                                             "and caps"})
    points = ma.fields.Integer()
    reasons = ma.fields.List(ma.fields.String())
    created_at = ma.fields.DateTime()


class AdminBehaviourSchema(BehaviourSchema):
    user_id = ma.fields.Integer()
    partner_id = ma.fields.Integer(allow_none=True)
    external_id = ma.fields.String(allow_none=True)
    data = ma.fields.Dict()
    evidence = ma.fields.Dict(allow_none=True)
    ledger_tx_id = ma.fields.Integer(allow_none=True)
    reviewed_by = ma.fields.Integer(allow_none=True)
    reviewed_at = ma.fields.DateTime(allow_none=True)


class CreditCheckSchema(ma.Schema):
    """A stored credit recomputed from its stored input and parameter set."""

    behaviour_id = ma.fields.Integer()
    methodology_version_id = ma.fields.Integer()
    parameters_hash = ma.fields.String()
    parameters_hash_matches = ma.fields.Boolean(
        metadata={"description": "The behaviour's hash is its version's"})
    stored_reduction_g = ma.fields.Decimal(as_string=True)
    recomputed_reduction_g = ma.fields.Decimal(as_string=True)
    matches = ma.fields.Boolean(metadata={"description": "Same reduction, same parameter set"})


class MyQuerySchema(PageArgsSchema):
    status = ma.fields.String(validate=ma.validate.OneOf(STATUSES))
    methodology = ma.fields.String(validate=ma.validate.Length(max=64))


class AdminQuerySchema(MyQuerySchema):
    status = ma.fields.String(load_default="pending_review", validate=ma.validate.OneOf(STATUSES))


class NoteSchema(ma.Schema):
    note = ma.fields.String(validate=ma.validate.Length(max=1000))


class RateSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    points_per_gram = ma.fields.Decimal(required=True, as_string=True, places=6,
                                        metadata={"description": "More than 0, at most 1000"})
    effective_from = StorableDateTime(metadata={"description": "Default: now"})
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=3, max=500))
    created_by = ma.fields.Integer(dump_only=True)
    created_at = ma.fields.DateTime(dump_only=True)

    @ma.validates("points_per_gram")
    def _in_range(self, value, **kwargs):
        # A validator, not Range: Range on a Decimal leaks string bounds into OpenAPI.
        if not 0 < value <= 1000:
            raise ma.ValidationError("Must be more than 0 and at most 1000.")


class StatsQuerySchema(LocalDateRangeArgs):
    group_by = ma.fields.String(load_default="methodology", validate=ma.validate.OneOf(GROUPINGS))
    format = ma.fields.String(load_default="json", validate=ma.validate.OneOf(("json", "csv")))


class StatsRowSchema(ma.Schema):
    key = ma.fields.String(metadata={"description": "Methodology, day, month, source or partner "
                                                    "name"})
    partner_id = ma.fields.Integer(allow_none=True, metadata={
        "description": "With group_by=partner: the partner (null: self-reported)"})
    behaviours = ma.fields.Integer()
    reduction_g = ma.fields.Decimal(as_string=True)
    points = ma.fields.Integer()


class StatsSchema(ma.Schema):
    group_by = ma.fields.String()
    rows = ma.fields.List(ma.fields.Nested(StatsRowSchema))
    total_reduction_g = ma.fields.Decimal(as_string=True)
    total_points = ma.fields.Integer()
