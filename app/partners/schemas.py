from __future__ import annotations

import marshmallow as ma

from app.behaviours.models import STATUSES as BEHAVIOUR_STATUSES
from app.behaviours.schemas import claimed_elsewhere_field
from app.http.openapi import ResponseSchema
from app.http.pagination import PageArgsSchema
from app.partners.models import LINK_STATUSES, MAX_USER_REF, PARTNER_STATUSES

MAX_RECORDS = 1000


class _Strict(ma.Schema):
    class Meta:
        unknown = ma.RAISE


# --------------------------------------------------------------------------- admin


class PartnerCreateSchema(_Strict):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    methodologies = ma.fields.List(
        ma.fields.String(validate=ma.validate.Length(min=1, max=64)), required=True,
        validate=ma.validate.Length(min=1),
        metadata={"description": "Methodology codes the partner may report"})


class PartnerUpdateSchema(_Strict):
    name = ma.fields.String(validate=ma.validate.Length(min=1, max=100))
    methodologies = ma.fields.List(ma.fields.String(validate=ma.validate.Length(min=1, max=64)),
                                   validate=ma.validate.Length(min=1))
    status = ma.fields.String(validate=ma.validate.OneOf(PARTNER_STATUSES),
                              metadata={"description": "suspended: its signatures are refused"})

    @ma.validates_schema
    def _something(self, data, **kwargs):
        if not data:
            raise ma.ValidationError("Nothing to change.", "_schema")


class PartnerQuerySchema(PageArgsSchema):
    q = ma.fields.String(validate=ma.validate.Length(min=1, max=100),
                         metadata={"description": "Part of the name"})
    status = ma.fields.String(validate=ma.validate.OneOf(PARTNER_STATUSES))


class KeySchema(ResponseSchema):
    """A key as listed: never the secret."""

    key_id = ma.fields.String()
    created_at = ma.fields.DateTime()
    expires_at = ma.fields.DateTime(allow_none=True)
    revoked_at = ma.fields.DateTime(allow_none=True)


class PartnerSchema(ResponseSchema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    status = ma.fields.String(validate=ma.validate.OneOf(PARTNER_STATUSES))
    methodologies = ma.fields.List(ma.fields.String())
    created_at = ma.fields.DateTime()
    created_by = ma.fields.Integer(allow_none=True)
    keys = ma.fields.List(ma.fields.Nested(KeySchema))


class IssuedKeySchema(ResponseSchema):
    """A new key with its secret: shown in this response only, store it now."""

    key_id = ma.fields.String()
    secret = ma.fields.String(metadata={"description": "Shown once; cannot be read again"})
    created_at = ma.fields.DateTime()
    old_keys_expire_at = ma.fields.DateTime(
        allow_none=True, metadata={"description": "When the keys this one replaces stop working"})


class PartnerCreatedSchema(ResponseSchema):
    partner = ma.fields.Nested(PartnerSchema)
    key_id = ma.fields.String()
    secret = ma.fields.String(metadata={"description": "Shown once; cannot be read again"})


# --------------------------------------------------------------------------- consent


class LinkCodeSchema(ResponseSchema):
    code = ma.fields.String(metadata={"description": "One-time, e.g. ABCD-EFGH; give it to "
                                                     "the partner"})
    expires_at = ma.fields.DateTime()


class MyLinkSchema(ResponseSchema):
    id = ma.fields.Integer()
    partner_id = ma.fields.Integer()
    partner_name = ma.fields.String(attribute="partner.name")
    partner_user_ref = ma.fields.String()
    status = ma.fields.String(validate=ma.validate.OneOf(LINK_STATUSES))
    created_at = ma.fields.DateTime()
    revoked_at = ma.fields.DateTime(allow_none=True)


class MyLinkQuerySchema(PageArgsSchema):
    status = ma.fields.String(validate=ma.validate.OneOf(LINK_STATUSES))


class BindSchema(_Strict):
    code = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=32),
                            metadata={"description": "The citizen's one-time link code"})
    partner_user_ref = ma.fields.String(
        required=True, validate=ma.validate.Length(min=1, max=MAX_USER_REF),
        metadata={"description": "Your own id for this user"})


class PartnerLinkSchema(ResponseSchema):
    """A link as its partner sees it: the same `id` the citizen's list shows (never the
    citizen's user id)."""

    id = ma.fields.Integer()
    partner_user_ref = ma.fields.String()
    status = ma.fields.String(validate=ma.validate.OneOf(LINK_STATUSES))
    created_at = ma.fields.DateTime()
    revoked_at = ma.fields.DateTime(allow_none=True)


# --------------------------------------------------------------------------- batch


class BehaviourRecordSchema(_Strict):
    """One behaviour record, validated on its own so a bad one rejects only itself."""

    external_id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=128),
                                   metadata={"description": "Your id; unique per partner"})
    user_ref = ma.fields.String(required=True,
                                validate=ma.validate.Length(min=1, max=MAX_USER_REF),
                                metadata={"description": "Your id of a linked user"})
    methodology = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    occurred_at = ma.fields.AwareDateTime(required=True)
    # JSON object keys are strings already (as in the citizen's BehaviourInSchema).
    data = ma.fields.Dict(required=True)
    evidence = ma.fields.Dict(allow_none=True)
    claimed_elsewhere = claimed_elsewhere_field()


class _Unchecked(ma.fields.Nested):
    """Documented as a BehaviourRecord, passed through as is: each record is validated on
    its own by the batch service, so one bad record cannot reject the request."""

    def _deserialize(self, value, attr, data, partial=None, **kwargs):
        return value


class BatchSchema(_Strict):
    records = ma.fields.List(
        _Unchecked(BehaviourRecordSchema), required=True,
        validate=ma.validate.Length(min=1, max=MAX_RECORDS),
        metadata={"description": f"1 to {MAX_RECORDS} records; each is checked on its own"})


class RecordResultSchema(ResponseSchema):
    index = ma.fields.Integer(metadata={"description": "Position in the request"})
    external_id = ma.fields.String(allow_none=True)
    status = ma.fields.String(validate=ma.validate.OneOf((*BEHAVIOUR_STATUSES, "invalid")),
                              metadata={
        "description": "credited, pending_review, capped, rejected (not allowed / no consent "
                       "/ by the methodology) or invalid (the record failed validation)"})
    behaviour_id = ma.fields.Integer(allow_none=True)
    reduction_g = ma.fields.Decimal(as_string=True, allow_none=True)
    points = ma.fields.Integer(allow_none=True)
    methodology_version = ma.fields.String(allow_none=True)
    reasons = ma.fields.List(ma.fields.String())
    replayed = ma.fields.Boolean(metadata={
        "description": "The record was processed by an earlier send: its original outcome"})
    duplicate_of_index = ma.fields.Integer(allow_none=True, metadata={
        "description": "The earlier record of this batch with the same external_id: its "
                       "outcome when the data is the same, else this record is invalid"})


def _tally(description: str) -> ma.fields.Dict:
    return ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(),
                          metadata={"description": description})


class BatchResultSchema(ResponseSchema):
    """The counts add up to the records sent: counts + replayed_counts + duplicates."""

    results = ma.fields.List(ma.fields.Nested(RecordResultSchema))
    counts = _tally("This send's new records by status (an external_id repeated in the "
                    "batch counts once; replays are not included)")
    replayed_counts = _tally("Records processed by an earlier send, by their original "
                             "status: a partner adding up its sends' counts skips these")
    duplicates = ma.fields.Integer(metadata={
        "description": "Records repeating an earlier record of this batch (same data)"})
    written = ma.fields.Integer(metadata={"description": "Behaviours this send recorded"})
