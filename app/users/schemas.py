from __future__ import annotations

import re

import marshmallow as ma

from app.auth.passwords import MAX_LENGTH, strength_problems
from app.http.openapi import ResponseSchema
from app.http.pagination import PageArgsSchema
from app.users.models import ROLES

MOBILE_RE = re.compile(r"^\+?[1-9]\d{6,14}$")
CN_MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")


def normalize_email(value: str) -> str:
    return value.strip().lower()


def normalize_mobile(value: str) -> str:
    """E.164; a bare 11-digit mainland number gets +86."""
    digits = re.sub(r"[\s-]", "", value)
    if CN_MOBILE_RE.match(digits):
        return "+86" + digits
    return digits if digits.startswith("+") else "+" + digits


class MobileField(ma.fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        raw = super()._deserialize(value, attr, data, **kwargs)
        if not MOBILE_RE.match(re.sub(r"[\s-]", "", raw)):
            raise ma.ValidationError("Not a valid mobile number.")
        return normalize_mobile(raw)


class EmailField(ma.fields.Email):
    def _deserialize(self, value, attr, data, **kwargs):
        return normalize_email(super()._deserialize(value, attr, data, **kwargs))


class RegisterSchema(ma.Schema):
    email = EmailField(validate=ma.validate.Length(max=254))
    mobile = MobileField(metadata={"description": "E.164, or an 11-digit mainland number"})
    password = ma.fields.String(required=True, load_only=True,
                                validate=ma.validate.Length(max=MAX_LENGTH))
    display_name = ma.fields.String(validate=ma.validate.Length(min=1, max=64))

    @ma.validates_schema
    def _login_and_strength(self, data, **kwargs):
        if not data.get("email") and not data.get("mobile"):
            raise ma.ValidationError("Give an email address or a mobile number.", "email")
        if "password" in data:
            local = (data.get("email") or "").split("@")[0]
            mobile = (data.get("mobile") or "")[-8:]
            problems = strength_problems(data["password"], personal=(local, mobile))
            if problems:
                raise ma.ValidationError(problems, "password")


class RegisterWithEmailSchema(RegisterSchema):
    """Documents a registration by email address (a mobile number may be given too)."""

    email = EmailField(required=True, validate=ma.validate.Length(max=254))


class RegisterWithMobileSchema(RegisterSchema):
    """Documents a registration by mobile number (an email address may be given too)."""

    mobile = MobileField(required=True, metadata={"description": "E.164, or an 11-digit "
                                                  "mainland number"})


# The registration body as documented: RegisterSchema, which parses it, can only say that
# the password is required; this says "an email address or a mobile number" too.
REGISTER_BODY_DOC = {"required": True, "content": {"application/json": {"schema": {
    "anyOf": [RegisterWithEmailSchema, RegisterWithMobileSchema],
    "description": "An email address or a mobile number (or both), and a password"}}}}


class UserSchema(ResponseSchema):
    id = ma.fields.Integer(dump_only=True)
    email = ma.fields.String(allow_none=True)
    mobile = ma.fields.String(allow_none=True)
    display_name = ma.fields.String()
    roles = ma.fields.List(ma.fields.String(), attribute="role_names")
    disabled = ma.fields.Boolean()
    deleted_at = ma.fields.DateTime(allow_none=True,
                                    metadata={"description": "Set when the account was erased"})
    created_at = ma.fields.DateTime()


class UpdateMeSchema(ma.Schema):
    display_name = ma.fields.String(validate=ma.validate.Length(min=1, max=64))
    password = ma.fields.String(load_only=True, validate=ma.validate.Length(max=MAX_LENGTH),
                                metadata={"description": "New password; needs old_password"})
    old_password = ma.fields.String(load_only=True, validate=ma.validate.Length(max=MAX_LENGTH))

    @ma.validates_schema
    def _password_change(self, data, **kwargs):
        if "password" in data and "old_password" not in data:
            raise ma.ValidationError("Give your current password to change it.", "old_password")
        if "password" in data:
            problems = strength_problems(data["password"])
            if problems:
                raise ma.ValidationError(problems, "password")
        if not data:
            raise ma.ValidationError("Nothing to change.", "_schema")


class UserQuerySchema(PageArgsSchema):
    q = ma.fields.String(validate=ma.validate.Length(min=1, max=100),
                         metadata={"description": "Part of an email, mobile or display name"})
    role = ma.fields.String(validate=ma.validate.OneOf(ROLES))
    disabled = ma.fields.Boolean()

