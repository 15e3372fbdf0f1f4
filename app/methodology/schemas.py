from __future__ import annotations

import marshmallow as ma

from app.http.moments import StorableDateTime
from app.http.openapi import ResponseSchema
from app.methodology.models import VERSION_STATUSES

# A parameter's value as JSON: a number (decimals as strings, to stay exact), a string,
# a boolean or a list of strings.
PARAMETER_VALUE = {"anyOf": [{"type": "number"}, {"type": "string"}, {"type": "boolean"},
                             {"type": "array", "items": {"type": "string"}}]}


class ParameterSchema(ResponseSchema):
    value = ma.fields.Raw(metadata={**PARAMETER_VALUE, "description": "Number (as a string "
                                    "for decimals), integer, string or list of strings"})
    unit = ma.fields.String()
    source = ma.fields.String(metadata={"description": "Citation of the value"})
    description = ma.fields.String()


class PublicMethodologySchema(ResponseSchema):
    code = ma.fields.String()
    name_zh = ma.fields.String()
    name_en = ma.fields.String()
    description = ma.fields.String()
    module_version = ma.fields.String()
    version_id = ma.fields.Integer(allow_none=True)
    version = ma.fields.String(allow_none=True, metadata={"description": "module version + "
                                                          "parameter-set hash prefix"})
    effective_from = ma.fields.DateTime(allow_none=True)
    parameters = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Nested(ParameterSchema))
    record_schema = ma.fields.Dict(metadata={"description": "JSON Schema of `data`"})
    filing_document = ma.fields.String(
        allow_none=True, metadata={"description": "URL of the filing document (Markdown, "
                                   "Chinese and English: scope, baseline, formula, sources) of "
                                   "the release in force, or of the newest release when none "
                                   "is; null when that release has no filing document (the "
                                   "built-ins' 1.0.0 has none)"})


class FilingQuerySchema(ma.Schema):
    release = ma.fields.String(validate=ma.validate.Length(min=1, max=32), metadata={
        "description": "The release whose filing document to serve; the newest when absent"})


class VersionSchema(ResponseSchema):
    id = ma.fields.Integer()
    code = ma.fields.String()
    version = ma.fields.String()
    label = ma.fields.String()
    parameters = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Nested(ParameterSchema))
    parameters_hash = ma.fields.String()
    status = ma.fields.String(validate=ma.validate.OneOf(VERSION_STATUSES))
    effective_from = ma.fields.DateTime(allow_none=True)
    effective_until = ma.fields.DateTime(allow_none=True)
    proposed_by = ma.fields.Integer(allow_none=True)
    decided_by = ma.fields.Integer(allow_none=True)
    decided_at = ma.fields.DateTime(allow_none=True)
    note = ma.fields.String(allow_none=True)
    created_at = ma.fields.DateTime()


class ModuleSchema(ResponseSchema):
    code = ma.fields.String()
    name_zh = ma.fields.String()
    name_en = ma.fields.String()
    module_version = ma.fields.String(metadata={"description": "The newest installed release"})
    releases = ma.fields.List(ma.fields.String(), metadata={
        "description": "Every installed release, oldest first: versions of each can credit"})
    versions = ma.fields.List(ma.fields.Nested(VersionSchema))


class AdminListingSchema(ResponseSchema):
    loaded = ma.fields.List(ma.fields.Nested(ModuleSchema))
    failed = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(),
                            metadata={"description": "Entry points that could not be loaded"})


class ParameterChangeSchema(ma.Schema):
    value = ma.fields.Raw(required=True, metadata=PARAMETER_VALUE)
    source = ma.fields.String(required=True, validate=ma.validate.Length(min=5, max=1000))


class ProposalSchema(ma.Schema):
    parameters = ma.fields.Dict(keys=ma.fields.String(),
                                values=ma.fields.Nested(ParameterChangeSchema), required=True,
                                validate=ma.validate.Length(min=1))
    note = ma.fields.String(validate=ma.validate.Length(max=1000))


class ApprovalSchema(ma.Schema):
    effective_from = StorableDateTime(
        metadata={"description": "When it starts crediting (default: now)"})


class ReasonSchema(ma.Schema):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=3, max=1000))
