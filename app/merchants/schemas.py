from __future__ import annotations

import marshmallow as ma

from app.http.openapi import ResponseSchema
from app.http.pagination import PageArgsSchema
from app.merchants.models import STATUSES


class _StripNames(ma.Schema):
    @ma.post_load
    def _strip(self, data, **kwargs):
        for key in ("name", "contact"):
            if key in data:
                data[key] = data[key].strip()
                if not data[key]:
                    raise ma.ValidationError("Must not be blank.", key)
        return data


class MerchantCreateSchema(_StripNames):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    contact = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200),
                               metadata={"description": "Contact person, phone or email"})
    status = ma.fields.String(load_default="active", validate=ma.validate.OneOf(STATUSES))


class MerchantUpdateSchema(_StripNames):
    name = ma.fields.String(validate=ma.validate.Length(min=1, max=100))
    contact = ma.fields.String(validate=ma.validate.Length(min=1, max=200))

    @ma.validates_schema
    def _something(self, data, **kwargs):
        if not data:
            raise ma.ValidationError("Nothing to change.", "_schema")


class SuspendSchema(ma.Schema):
    reason = ma.fields.String(validate=ma.validate.Length(min=1, max=500))


class MerchantSchema(ResponseSchema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    contact = ma.fields.String()
    status = ma.fields.String(validate=ma.validate.OneOf(STATUSES))
    suspended_at = ma.fields.DateTime(allow_none=True)
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


class MerchantQuerySchema(PageArgsSchema):
    q = ma.fields.String(validate=ma.validate.Length(min=1, max=100),
                         metadata={"description": "Part of the name or contact"})
    status = ma.fields.String(validate=ma.validate.OneOf(STATUSES))


class StaffSchema(ResponseSchema):
    user_id = ma.fields.Integer()
    merchant_id = ma.fields.Integer()
    email = ma.fields.String(attribute="user.email", allow_none=True)
    mobile = ma.fields.String(attribute="user.mobile", allow_none=True)
    display_name = ma.fields.String(attribute="user.display_name")
    added_by = ma.fields.Integer(allow_none=True)
    added_at = ma.fields.DateTime()
