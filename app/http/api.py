"""flask-smorest Api whose every error is application/problem+json."""

from __future__ import annotations

import logging
from typing import Any

import marshmallow as ma
from flask import Flask, Response
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

from app.http.openapi import HEADERS, REQUEST_ID, ContractPlugin
from app.http.problems import PROBLEM_MEDIA_TYPE, ProblemSchema, problem_response

log = logging.getLogger(__name__)


def _field_errors(messages: object) -> dict | None:
    """webargs nests messages by location ({"json": {...}}); clients want them by field."""
    if not isinstance(messages, dict):
        return None
    merged: dict = {}
    for location, by_field in messages.items():
        if isinstance(by_field, dict):
            merged.update(by_field)
        else:
            merged[location] = by_field
    return merged or None


def _decimal_as_string(self, field: ma.fields.Field, ret: dict, **kwargs: Any) -> dict:
    """A Decimal field dumped as a string ("1046.250": exact grams, no float rounding) is
    documented as one; apispec calls every Decimal a number."""
    if isinstance(field, ma.fields.Decimal) and field.as_string:
        return {"type": "string", "format": "decimal"}
    return {}


def _nullable_as_reference(self, field: ma.fields.Field, ret: dict, **kwargs: Any) -> dict:
    """A nullable nested object or enum as `allOf: [$ref]` + `nullable`: the form client
    generators read as "this type, or null" (apispec's `anyOf` with a bare nullable object
    made them a second, empty model; an enum listing null, one class per member).

    A nullable enum names its component in metadata["enum_name"]."""
    if not field.allow_none or not str(self.openapi_version).startswith("3.0"):
        return {}
    if isinstance(field, ma.fields.Nested) and "anyOf" in ret:
        ret["allOf"] = [choice for choice in ret.pop("anyOf") if "$ref" in choice]
        return {"nullable": True}
    if None in ret.get("enum", ()):
        name = field.metadata["enum_name"]
        choices = [choice for choice in ret.pop("enum") if choice is not None]
        if name not in self.spec.components.schemas:
            self.spec.components.schema(name, {"type": ret.pop("type", "string"),
                                               "enum": choices})
        ret.pop("type", None)
        ret["allOf"] = [{"$ref": f"#/components/schemas/{name}"}]
        return {"nullable": True}
    return {}


class ProblemApi(Api):
    ERROR_SCHEMA = ProblemSchema

    def init_app(self, app: Flask, *args: Any, **kwargs: Any) -> None:
        spec_kwargs = dict(kwargs.pop("spec_kwargs", None) or {})
        spec_kwargs["extra_plugins"] = [ContractPlugin(), *spec_kwargs.get("extra_plugins", ())]
        super().init_app(app, *args, spec_kwargs=spec_kwargs, **kwargs)
        for name, header in HEADERS.items():
            self.spec.components.header(name, header)
        self.ma_plugin.converter.add_attribute_function(_decimal_as_string)
        self.ma_plugin.converter.add_attribute_function(_nullable_as_reference)

    def _register_responses(self) -> None:
        # The documented error responses must name the media type they really have.
        default = self.DEFAULT_RESPONSE_CONTENT_TYPE
        self.DEFAULT_RESPONSE_CONTENT_TYPE = PROBLEM_MEDIA_TYPE
        try:
            super()._register_responses()
        finally:
            self.DEFAULT_RESPONSE_CONTENT_TYPE = default
        # Registered lazily, already resolved: the header is given as a reference.
        for response in self.spec.components.responses_lazy.values():
            response.setdefault("headers", {})[REQUEST_ID] = {
                "$ref": f"#/components/headers/{REQUEST_ID}"}

    def handle_http_exception(self, error: HTTPException) -> Response:  # type: ignore[override]
        data = getattr(error, "data", None) or {}
        headers = dict(data.get("headers") or {})
        if error.code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
            headers["Allow"] = ", ".join(error.valid_methods)
        original = getattr(error, "original_exception", None)
        if error.code is not None and error.code >= 500:
            if original is not None:
                log.error("unhandled error", exc_info=original)
            return problem_response(error.code, error.name, "The server could not complete "
                                    "the request.", headers=headers)
        messages = data.get("messages")
        errors = data.get("errors") or _field_errors(messages)
        if error.code == 400 and isinstance(messages, dict) and isinstance(
            messages.get("json"), list
        ):
            return problem_response(400, "Malformed JSON", "The request body is not valid JSON.",
                                    slug="malformed-json", headers=headers)
        if errors:
            return problem_response(error.code, "Validation failed",
                                    data.get("message") or "The request has invalid fields.",
                                    slug="validation-error", errors=errors, headers=headers)
        detail = data.get("message") or error.description
        return problem_response(error.code or 500, error.name, detail, headers=headers)


def no_content_has_no_type(response: Response) -> Response:
    """A 204 carries no body, so it names no media type (RFC 9110 §15.3.5): flask-smorest
    builds every response with jsonify, which sets application/json even on a 204."""
    if response.status_code == 204:
        response.set_data(b"")
        response.headers.pop("Content-Type", None)
        response.headers.pop("Content-Length", None)
    return response
