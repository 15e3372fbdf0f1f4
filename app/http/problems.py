"""RFC 9457 problem details: the one error format of this API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import marshmallow as ma
from flask import Response, json
from flask_smorest import Blueprint

PROBLEM_MEDIA_TYPE = "application/problem+json"
# Relative URI references (RFC 9457 §3.1.1): documented in the README, not fetched.
PROBLEM_TYPE_BASE = "/problems/"


class ProblemSchema(ma.Schema):
    """Documents the error body (RFC 9457); responses are built by problem_response()."""

    type = ma.fields.String(metadata={"description": "URI naming the kind of problem"})
    title = ma.fields.String(metadata={"description": "Short summary of the kind of problem"})
    status = ma.fields.Integer(metadata={"description": "HTTP status code"})
    detail = ma.fields.String(metadata={"description": "What went wrong with this request"})
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        metadata={"description": "Validation messages by field name"},
    )


class ApiError(Exception):
    """A refusal the client can act on; raised by services, rendered as a problem."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        title: str | None = None,
        errors: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug
        self.title = title
        self.errors = errors
        self.headers = headers or {}

    @classmethod
    def not_found(cls, what: str) -> ApiError:
        return cls(404, f"No such {what}.", slug="not-found")


def status_title(status: int) -> str:
    """The standard phrase of a status (RFC 9110's, where Python's is older)."""
    from http import HTTPStatus

    return "Unprocessable Content" if status == 422 else HTTPStatus(status).phrase


def problem_response(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    slug: str | None = None,
    errors: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + slug if slug else "about:blank",
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    resp = Response(json.dumps(body), status=status, mimetype=PROBLEM_MEDIA_TYPE)
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


def problem_doc(description: str) -> dict[str, Any]:
    """An OpenAPI response object for a problem; the Problem schema is always registered."""
    return {"description": description, "content": {
        PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def error_responses(responses: dict[int, str]) -> Callable:
    """Document the refusals an operation can answer with, each as a problem."""
    return Blueprint.doc(responses={status: problem_doc(text) for status, text in
                                    responses.items()})
