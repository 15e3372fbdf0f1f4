from __future__ import annotations

import marshmallow as ma

from app.behaviours.models import SOURCES, STATUSES
from app.behaviours.stats import GROUPINGS
from app.http.moments import LocalDateRangeArgs, StorableDateTime
from app.http.openapi import ResponseSchema
from app.http.pagination import PageArgsSchema


class ClaimedElsewhereSchema(ma.Schema):
    """The reduction was already claimed in another mechanism: recorded, never credited."""

    mechanism = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64),
                                 metadata={"description": "Where it was claimed: another "
                                           "city's platform, a bank's carbon account, a "
                                           "CCER-type project, …"})
    reference = ma.fields.String(load_default=None, allow_none=True,
                                 validate=ma.validate.Length(min=1, max=128),
                                 metadata={"description": "Its id there, if known"})


class ClaimedElsewhereOutSchema(ResponseSchema):
    """A stored claim: an erased account's keeps its mechanism, not its reference (null)."""

    mechanism = ma.fields.String()
    reference = ma.fields.String(allow_none=True)

    @ma.pre_dump
    def _reference_or_null(self, claim: dict, **_kwargs) -> dict:
        return {"reference": None, **claim}


CLAIMED_ELSEWHERE_DOC = ("Set when this reduction was already claimed in another mechanism: "
                         "the record is kept and rejected with that reason, never credited "
                         "(DB11/T 3043-2024: one reduction is filed once)")


def claimed_elsewhere_field(**kwargs) -> ma.fields.Nested:
    return ma.fields.Nested(ClaimedElsewhereSchema, allow_none=True,
                            metadata={"description": CLAIMED_ELSEWHERE_DOC}, **kwargs)


class SubmitSchema(ma.Schema):
    methodology = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    occurred_at = ma.fields.AwareDateTime(required=True)
    data = ma.fields.Dict(required=True, metadata={"description": "Fits the methodology's "
                                                   "record_schema"})
    evidence = ma.fields.Dict(load_default=None, metadata={
        "description": "Optional proof: ticket number, photo URL, …"})
    claimed_elsewhere = claimed_elsewhere_field(load_default=None)


class BehaviourSchema(ResponseSchema):
    id = ma.fields.Integer()
    status = ma.fields.String(validate=ma.validate.OneOf(STATUSES))
    methodology = ma.fields.String()
    methodology_version = ma.fields.String(allow_none=True)
    methodology_version_id = ma.fields.Integer(allow_none=True)
    parameters_hash = ma.fields.String(allow_none=True)
    source = ma.fields.String(validate=ma.validate.OneOf(SOURCES))
    occurred_at = ma.fields.DateTime()
    local_date = ma.fields.Date()
    reduction_g = ma.fields.Decimal(as_string=True, metadata={"description": "Computed reduction"})
    credited_g = ma.fields.Decimal(as_string=True, metadata={"description": "After discount "
                                                             "and caps"})
    points = ma.fields.Integer()
    reasons = ma.fields.List(ma.fields.String())
    claimed_elsewhere = ma.fields.Nested(ClaimedElsewhereOutSchema, allow_none=True,
                                         metadata={"description": CLAIMED_ELSEWHERE_DOC})
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


class CreditCheckSchema(ResponseSchema):
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


class RateCreateSchema(ma.Schema):
    points_per_gram = ma.fields.Decimal(required=True, as_string=True, places=6,
                                        metadata={"description": "More than 0, at most 1000"})
    effective_from = StorableDateTime(metadata={"description": "Default: now"})
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=3, max=500))

    @ma.validates("points_per_gram")
    def _in_range(self, value, **kwargs):
        # A validator, not Range: Range on a Decimal leaks string bounds into OpenAPI.
        if not 0 < value <= 1000:
            raise ma.ValidationError("Must be more than 0 and at most 1000.")


class RateSchema(ResponseSchema):
    id = ma.fields.Integer()
    points_per_gram = ma.fields.Decimal(as_string=True, places=6)
    effective_from = ma.fields.DateTime()
    reason = ma.fields.String()
    created_by = ma.fields.Integer()
    created_at = ma.fields.DateTime()


class StatsQuerySchema(LocalDateRangeArgs):
    group_by = ma.fields.String(load_default="methodology", validate=ma.validate.OneOf(GROUPINGS))


class StatsRowSchema(ResponseSchema):
    key = ma.fields.String(metadata={"description": "Methodology, day, month, source or partner "
                                                    "name"})
    partner_id = ma.fields.Integer(allow_none=True, metadata={
        "optional": True,
        "description": "Only with group_by=partner: the partner (null: self-reported)"})
    behaviours = ma.fields.Integer()
    reduction_g = ma.fields.Decimal(as_string=True)
    points = ma.fields.Integer()


class StatsSchema(ResponseSchema):
    group_by = ma.fields.String(validate=ma.validate.OneOf(GROUPINGS))
    rows = ma.fields.List(ma.fields.Nested(StatsRowSchema))
    total_reduction_g = ma.fields.Decimal(as_string=True)
    total_points = ma.fields.Integer()
