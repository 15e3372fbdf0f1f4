from __future__ import annotations

from datetime import UTC, datetime

import marshmallow as ma

from app.http.ids import IdField
from app.http.moments import local_date_field
from app.http.openapi import ResponseSchema
from app.http.pagination import PageArgsSchema
from app.rewards.models import (
    CATEGORIES,
    PERIODS,
    REDEMPTION_STATUSES,
    REVISION_KINDS,
    REVISION_STATUSES,
)

MAX_PRICE = 10_000_000
MAX_STOCK = 10_000_000


def _utc_moment(value: datetime) -> None:
    """Moments are stored in UTC: one whose UTC date would be in year 0 or 10000 cannot be."""
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ma.ValidationError("Out of range.") from None


def _count(**kw) -> ma.fields.Integer:
    return ma.fields.Integer(strict=True, validate=ma.validate.Range(min=1, max=MAX_STOCK), **kw)


class _RewardFields(ma.Schema):
    title_zh = ma.fields.String(validate=ma.validate.Length(min=1, max=120),
                                metadata={"description": "Title in Chinese"})
    title_en = ma.fields.String(allow_none=True, validate=ma.validate.Length(min=1, max=120),
                                metadata={"description": "Title in English"})
    description = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=4000))
    image_url = ma.fields.Url(allow_none=True, schemes={"http", "https"},
                              validate=ma.validate.Length(max=500))
    category = ma.fields.String(validate=ma.validate.OneOf(CATEGORIES))
    points_price = ma.fields.Integer(strict=True,
                                     validate=ma.validate.Range(min=1, max=MAX_PRICE),
                                     metadata={"description": "Needs approval to change"})
    total_stock = ma.fields.Integer(strict=True, validate=ma.validate.Range(min=0, max=MAX_STOCK),
                                    metadata={"description": "Needs approval to change; "
                                              "never below what is already redeemed"})
    limit_total = _count(allow_none=True,
                         metadata={"description": "Per user, in total; null: no limit"})
    limit_per_period = _count(allow_none=True,
                              metadata={"description": "Per user and local day/week/month"})
    limit_period = ma.fields.String(allow_none=True, validate=ma.validate.OneOf(PERIODS),
                                    metadata={"enum_name": "LimitPeriod"})
    available_from = ma.fields.AwareDateTime(
        validate=_utc_moment,
        metadata={"description": "ISO 8601 with offset; needs approval to change"})
    available_until = ma.fields.AwareDateTime(
        allow_none=True, validate=_utc_moment,
        metadata={"description": "Exclusive; null: no end. Needs approval to change"})

    @ma.validates_schema
    def _consistent(self, data, **kwargs):
        if ("limit_per_period" in data) != ("limit_period" in data) or (
                (data.get("limit_per_period") is None) != (data.get("limit_period") is None)):
            raise ma.ValidationError("Give limit_per_period and limit_period together.",
                                     "limit_period")
        start, end = data.get("available_from"), data.get("available_until")
        if start and end and end <= start:
            raise ma.ValidationError("Must be after available_from.", "available_until")


class RewardCreateSchema(_RewardFields):
    title_zh = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=120),
                                metadata={"description": "Title in Chinese"})
    category = ma.fields.String(required=True, validate=ma.validate.OneOf(CATEGORIES))
    points_price = ma.fields.Integer(required=True, strict=True,
                                     validate=ma.validate.Range(min=1, max=MAX_PRICE))
    total_stock = _count(required=True)
    available_from = ma.fields.AwareDateTime(
        validate=_utc_moment, metadata={"description": "ISO 8601 with offset; default: now"})


class RewardUpdateSchema(_RewardFields):
    @ma.validates_schema
    def _something(self, data, **kwargs):
        if not data:
            raise ma.ValidationError("Nothing to change.", "_schema")


class MerchantRefSchema(ResponseSchema):
    id = ma.fields.Integer()
    name = ma.fields.String()


class RewardSchema(ResponseSchema):
    """A listed reward as citizens see it."""

    id = ma.fields.Integer()
    merchant = ma.fields.Nested(MerchantRefSchema)
    category = ma.fields.String(validate=ma.validate.OneOf(CATEGORIES))
    title_zh = ma.fields.String()
    title_en = ma.fields.String(allow_none=True)
    description = ma.fields.String(allow_none=True)
    image_url = ma.fields.String(allow_none=True)
    points_price = ma.fields.Integer()
    total_stock = ma.fields.Integer()
    stock_left = ma.fields.Integer()
    limit_total = ma.fields.Integer(allow_none=True)
    limit_per_period = ma.fields.Integer(allow_none=True)
    limit_period = ma.fields.String(allow_none=True, validate=ma.validate.OneOf(PERIODS),
                                    metadata={"enum_name": "LimitPeriod"})
    available_from = ma.fields.DateTime()
    available_until = ma.fields.DateTime(allow_none=True)
    listed_at = ma.fields.DateTime(allow_none=True)


class RevisionSchema(ResponseSchema):
    id = ma.fields.Integer()
    reward_id = ma.fields.Integer()
    kind = ma.fields.String(validate=ma.validate.OneOf(REVISION_KINDS),
                            metadata={"description": "create (a new reward) or change"})
    status = ma.fields.String(validate=ma.validate.OneOf(REVISION_STATUSES))
    changes = ma.fields.Dict(metadata={"description": "Proposed values of the reviewed fields"})
    proposed_by = ma.fields.Integer(allow_none=True)
    proposed_at = ma.fields.DateTime()
    decided_by = ma.fields.Integer(allow_none=True)
    decided_at = ma.fields.DateTime(allow_none=True)
    reason = ma.fields.String(allow_none=True)


class ManagedRewardSchema(RewardSchema):
    """A reward as its merchant and administrators see it: listed or not, pending change."""

    listed = ma.fields.Boolean()
    pending = ma.fields.Nested(RevisionSchema, allow_none=True,
                               metadata={"description": "The change awaiting approval"})
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


class ReviewedRewardSchema(RewardSchema):
    listed = ma.fields.Boolean()
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


class ReviewQueueItemSchema(RevisionSchema):
    reward = ma.fields.Nested(ReviewedRewardSchema)


class RewardQuerySchema(PageArgsSchema):
    category = ma.fields.String(validate=ma.validate.OneOf(CATEGORIES))
    merchant_id = IdField()
    affordable = ma.fields.Boolean(metadata={"description": "Only what my available points "
                                             "pay for"})
    sort = ma.fields.String(load_default="newest",
                            validate=ma.validate.OneOf(("newest", "price_asc", "price_desc")))


class ManagedRewardQuerySchema(PageArgsSchema):
    listed = ma.fields.Boolean()
    pending = ma.fields.Boolean(metadata={"description": "Has a change awaiting approval"})


class AdminRewardQuerySchema(ManagedRewardQuerySchema):
    merchant_id = IdField()


class RevisionQuerySchema(PageArgsSchema):
    status = ma.fields.String(load_default="pending",
                              validate=ma.validate.OneOf(REVISION_STATUSES))
    merchant_id = IdField()


class RejectSchema(ma.Schema):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=3, max=500))


class RedemptionCode(ma.fields.String):
    """A redemption's code in groups of four (ABCD-EFGH-JKLM); masked but for its last
    group while reserved, for whoever does not hold it (a merchant)."""

    def __init__(self, *, masked: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.masked = masked

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        if self.masked and obj.status == "reserved":
            return "****-****-" + value[-4:]
        return format_code(value)


class RewardRefSchema(ResponseSchema):
    id = ma.fields.Integer()
    title_zh = ma.fields.String()
    title_en = ma.fields.String(allow_none=True)


class RedemptionRewardSchema(RewardRefSchema):
    merchant = ma.fields.Nested(MerchantRefSchema)


class RedemptionSchema(ResponseSchema):
    """A citizen's own redemption, with its code."""

    id = ma.fields.Integer()
    reward = ma.fields.Nested(RedemptionRewardSchema)
    points = ma.fields.Integer()
    status = ma.fields.String(validate=ma.validate.OneOf(REDEMPTION_STATUSES))
    code = RedemptionCode(metadata={"description": "Show at the counter; accepted with or "
                                    "without dashes, in any case"})
    # dump_only: two fields reading one attribute are refused where they could be loaded.
    qr_content = ma.fields.String(attribute="code", dump_only=True,
                                  metadata={"description": "For a QR code"})
    created_at = ma.fields.DateTime()
    expires_at = ma.fields.DateTime()
    ended_at = ma.fields.DateTime(allow_none=True)


class MerchantRedemptionSchema(ResponseSchema):
    """A redemption as the merchant sees it: the code masked (only the citizen holds it)."""

    id = ma.fields.Integer()
    reward = ma.fields.Nested(RewardRefSchema)
    points = ma.fields.Integer()
    status = ma.fields.String(validate=ma.validate.OneOf(REDEMPTION_STATUSES))
    code = RedemptionCode(masked=True, metadata={
        "description": "Masked (****-****-XXXX) while reserved: only the citizen holds it"})
    created_at = ma.fields.DateTime()
    expires_at = ma.fields.DateTime()
    ended_at = ma.fields.DateTime(allow_none=True)
    ended_by = ma.fields.Integer(allow_none=True)


class RedemptionQuerySchema(PageArgsSchema):
    status = ma.fields.String(validate=ma.validate.OneOf(REDEMPTION_STATUSES))


class VerifyArgsSchema(ma.Schema):
    code = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64),
                            metadata={"description": "As shown or scanned: dashes, spaces and "
                                      "case do not matter"})


class VerificationSchema(ResponseSchema):
    redemption_id = ma.fields.Integer(attribute="id")
    code = RedemptionCode()
    status = ma.fields.String(validate=ma.validate.OneOf(REDEMPTION_STATUSES))
    reward = ma.fields.Nested(RewardRefSchema)
    points = ma.fields.Integer()
    reserved_at = ma.fields.DateTime(attribute="created_at")
    fulfilled_at = ma.fields.DateTime(attribute="ended_at")
    verified_by = ma.fields.Integer(attribute="ended_by")


class SettlementArgsSchema(ma.Schema):
    date_from = local_date_field(data_key="from", metadata={
        "description": "Local date, inclusive; default: the first of this month"})
    date_to = local_date_field(data_key="to", metadata={
        "description": "Local date, inclusive; default: today"})


class AdminSettlementArgsSchema(SettlementArgsSchema):
    merchant_id = IdField()


class RewardTotalSchema(ResponseSchema):
    reward_id = ma.fields.Integer()
    title_zh = ma.fields.String()
    title_en = ma.fields.String(allow_none=True)
    redemptions = ma.fields.Integer()
    points = ma.fields.Integer()


class MerchantTotalSchema(ResponseSchema):
    merchant_id = ma.fields.Integer()
    name = ma.fields.String()
    redemptions = ma.fields.Integer()
    points = ma.fields.Integer()
    rewards = ma.fields.List(ma.fields.Nested(RewardTotalSchema))


class SettlementLineSchema(ResponseSchema):
    redemption_id = ma.fields.Integer()
    merchant_id = ma.fields.Integer()
    reward_id = ma.fields.Integer()
    points = ma.fields.Integer()
    fulfilled_at = ma.fields.DateTime()
    verified_by = ma.fields.Integer(allow_none=True)


class SettlementSchema(ResponseSchema):
    date_from = ma.fields.Date(data_key="from")
    date_to = ma.fields.Date(data_key="to")
    timezone = ma.fields.String()
    redemptions = ma.fields.Integer(metadata={"description": "Fulfilled in the period"})
    points = ma.fields.Integer(metadata={"description": "Points captured to settlement"})
    merchants = ma.fields.List(ma.fields.Nested(MerchantTotalSchema))
    lines = ma.fields.List(ma.fields.Nested(SettlementLineSchema),
                           metadata={"description": "Every fulfilled redemption"})


def format_code(code: str) -> str:
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))
