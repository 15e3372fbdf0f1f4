from __future__ import annotations

import marshmallow as ma

from app.behaviours.schemas import BehaviourSchema
from app.http.openapi import ResponseSchema
from app.ledger.schemas import AccountSchema, EntrySchema
from app.partners.schemas import MyLinkSchema
from app.rewards.schemas import RedemptionSchema, RevisionSchema, RewardRefSchema
from app.users.schemas import UserSchema


class ExportedBehaviourSchema(BehaviourSchema):
    """What the citizen sees of a behaviour, plus what they or a partner sent about it."""

    partner_id = ma.fields.Integer(allow_none=True)
    external_id = ma.fields.String(allow_none=True)
    data = ma.fields.Dict()
    evidence = ma.fields.Dict(allow_none=True)
    reviewed_at = ma.fields.DateTime(allow_none=True)
    review_note = ma.fields.String(allow_none=True,
                                   metadata={"description": "The reviewer's note on it"})


class ExportedLinkCodeSchema(ResponseSchema):
    """A partner link code you asked for: never the code itself (only its hash is kept, and
    that stays secret too)."""

    created_at = ma.fields.DateTime()
    expires_at = ma.fields.DateTime()
    used_at = ma.fields.DateTime(allow_none=True)
    used_by_partner_id = ma.fields.Integer(allow_none=True)


class StaffMembershipSchema(ResponseSchema):
    merchant_id = ma.fields.Integer()
    added_at = ma.fields.DateTime()


class VerifiedRedemptionSchema(ResponseSchema):
    """A redemption you verified (核销) as merchant staff: what you did, without the
    citizen's identity or code."""

    id = ma.fields.Integer()
    merchant_id = ma.fields.Integer()
    reward = ma.fields.Nested(RewardRefSchema)
    points = ma.fields.Integer()
    verified_at = ma.fields.DateTime(attribute="ended_at")


class ExportedRevisionSchema(RevisionSchema):
    """A reward revision you proposed (as merchant staff) or decided (as administrator):
    whether it was you, not the other person's user id."""

    class Meta:
        exclude = ("proposed_by", "decided_by")

    proposed_by_you = ma.fields.Boolean()
    decided_by_you = ma.fields.Boolean()


class AuditEntrySchema(ResponseSchema):
    action = ma.fields.String()
    target_type = ma.fields.String()
    target_id = ma.fields.String()
    details = ma.fields.Dict()
    at = ma.fields.DateTime()
    by_you = ma.fields.Boolean(metadata={"description": "You did it (else: done to you, or "
                                                        "its details name you)"})


class ExportSchema(ResponseSchema):
    exported_at = ma.fields.DateTime()
    profile = ma.fields.Nested(UserSchema)
    account = ma.fields.Nested(AccountSchema)
    ledger_entries = ma.fields.List(ma.fields.Nested(EntrySchema))
    behaviours = ma.fields.List(ma.fields.Nested(ExportedBehaviourSchema))
    redemptions = ma.fields.List(ma.fields.Nested(RedemptionSchema))
    partner_links = ma.fields.List(ma.fields.Nested(MyLinkSchema))
    partner_link_codes = ma.fields.List(
        ma.fields.Nested(ExportedLinkCodeSchema),
        metadata={"description": "Link codes you asked for: when made, until when valid, when "
                                 "and by which partner used. Never the code."})
    merchant_staff = ma.fields.List(ma.fields.Nested(StaffMembershipSchema))
    verified_redemptions = ma.fields.List(
        ma.fields.Nested(VerifiedRedemptionSchema),
        metadata={"description": "As merchant staff: the redemptions you verified (核销)."})
    reward_revisions = ma.fields.List(
        ma.fields.Nested(ExportedRevisionSchema),
        metadata={"description": "Reward revisions you proposed (merchant staff) or decided "
                                 "(administrator)."})
    audit_events = ma.fields.List(
        ma.fields.Nested(AuditEntrySchema),
        metadata={"description": "What you did, what was done to your account, and events "
                                 "whose details name you (e.g. merchant.staff_added)."})


class ErasureSchema(ma.Schema):
    password = ma.fields.String(required=True, load_only=True,
                                validate=ma.validate.Length(min=1, max=1024),
                                metadata={"description": "The current password, again"})
