from __future__ import annotations

import marshmallow as ma

from app.http.moments import LocalDateRangeArgs
from app.http.openapi import ResponseSchema
from app.http.pagination import PageArgsSchema
from app.ledger.models import TX_TYPES


class ExpiringSchema(ResponseSchema):
    date = ma.fields.Date(metadata={"description": "Local date the points expire"})
    points = ma.fields.Integer()


class AccountSchema(ResponseSchema):
    posted = ma.fields.Integer(metadata={"description": "available + held"})
    held = ma.fields.Integer(metadata={"description": "Reserved for pending redemptions"})
    available = ma.fields.Integer(metadata={"description": "Spendable now"})
    debt = ma.fields.Integer(metadata={"description": "Points owed after a reversal; "
                                                     "settled by the next earnings"})
    lifetime_earned = ma.fields.Integer()
    lifetime_reduction_g = ma.fields.Decimal(as_string=True,
                                             metadata={"description": "Grams CO2e"})
    expiring_30d = ma.fields.Integer(metadata={"description": "Points expiring in 30 days"})
    expiring = ma.fields.List(ma.fields.Nested(ExpiringSchema))


class EntrySchema(ResponseSchema):
    id = ma.fields.Integer()
    type = ma.fields.String(validate=ma.validate.OneOf(TX_TYPES))
    points = ma.fields.Integer(attribute="posted_delta",
                               metadata={"description": "Change to the posted balance"})
    available_change = ma.fields.Integer(attribute="available_delta")
    balance_after = ma.fields.Integer(attribute="posted_after",
                                      metadata={"description": "Posted balance after it"})
    available_after = ma.fields.Integer()
    cause_type = ma.fields.String()
    cause_id = ma.fields.String(allow_none=True)
    reverses_id = ma.fields.Integer(allow_none=True)
    hold_id = ma.fields.Integer(allow_none=True)
    reduction_g = ma.fields.Decimal(as_string=True)
    reason = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime()


class EntryQuerySchema(PageArgsSchema, LocalDateRangeArgs):
    type = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(TX_TYPES)),
                          metadata={"description": "Repeat to match several types"})


class AdjustmentSchema(ma.Schema):
    points = ma.fields.Integer(required=True, strict=True,
                               validate=ma.validate.Range(min=-10**9, max=10**9),
                               metadata={"description": "Signed: credit or debit"})
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=3, max=500))

    @ma.validates("points")
    def _non_zero(self, value, **kwargs):
        if value == 0:
            raise ma.ValidationError("Must not be zero.")


class ReversalSchema(ma.Schema):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=3, max=500))


class VerifySchema(ResponseSchema):
    ok = ma.fields.Boolean()
    violations = ma.fields.List(ma.fields.String())
