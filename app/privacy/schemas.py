from __future__ import annotations

import marshmallow as ma

from app.behaviours.schemas import BehaviourSchema
from app.ledger.schemas import AccountSchema, EntrySchema
from app.partners.schemas import MyLinkSchema
from app.rewards.schemas import RedemptionSchema
from app.users.schemas import UserSchema


class ExportedBehaviourSchema(BehaviourSchema):
    """What the citizen sees of a behaviour, plus what they or a partner sent about it."""

    partner_id = ma.fields.Integer(allow_none=True)
    external_id = ma.fields.String(allow_none=True)
    data = ma.fields.Dict()
    evidence = ma.fields.Dict(allow_none=True)
    reviewed_at = ma.fields.DateTime(allow_none=True)


class StaffMembershipSchema(ma.Schema):
    merchant_id = ma.fields.Integer()
    added_at = ma.fields.DateTime()


class AuditEntrySchema(ma.Schema):
    action = ma.fields.String()
    target_type = ma.fields.String()
    target_id = ma.fields.String()
    details = ma.fields.Dict()
    at = ma.fields.DateTime()
    by_you = ma.fields.Boolean(metadata={"description": "You did it (else: done to you)"})


class ExportSchema(ma.Schema):
    exported_at = ma.fields.DateTime()
    profile = ma.fields.Nested(UserSchema)
    account = ma.fields.Nested(AccountSchema)
    ledger_entries = ma.fields.List(ma.fields.Nested(EntrySchema))
    behaviours = ma.fields.List(ma.fields.Nested(ExportedBehaviourSchema))
    redemptions = ma.fields.List(ma.fields.Nested(RedemptionSchema))
    partner_links = ma.fields.List(ma.fields.Nested(MyLinkSchema))
    merchant_staff = ma.fields.List(ma.fields.Nested(StaffMembershipSchema))
    audit_events = ma.fields.List(ma.fields.Nested(AuditEntrySchema))


class ErasureSchema(ma.Schema):
    password = ma.fields.String(required=True, load_only=True,
                                validate=ma.validate.Length(min=1, max=1024),
                                metadata={"description": "The current password, again"})
