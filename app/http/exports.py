"""CSV downloads: one format for every report (RFC 4180 line ends, UTF-8 with a BOM so
spreadsheet programs read Chinese names).

Each report has a CSV operation of its own (its path ends in `.csv`), answering only
text/csv: a generated client reads its body as text. The JSON operation also answers CSV
to ?format=csv or Accept: text/csv; `format` is left out of its documented parameters, so
that no generated client asks it for CSV and then parses the body as JSON."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from flask import Response, request

from app.http.problems import ApiError

FORMATS = ("json", "csv")


def wants_csv() -> bool:
    """?format=csv, or Accept: text/csv preferred to JSON (a JSON operation's request)."""
    chosen = request.args.get("format", "json")
    if chosen not in FORMATS:
        raise ApiError(422, "The request has invalid fields.", slug="validation-error",
                       title="Validation failed",
                       errors={"format": [f"Must be one of: {', '.join(FORMATS)}."]})
    if chosen == "csv":
        return True
    return request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv"


# A text cell starting with one of these is run as a formula by spreadsheet programs; names
# and titles are other people's text (a merchant's staff write reward titles), so such a
# cell gets a leading apostrophe and is read as the text it is (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _as_text(cell: Any) -> Any:
    if isinstance(cell, str) and cell.startswith(_FORMULA_STARTS):
        return "'" + cell
    return cell


def csv_response(rows: Iterable[Iterable[Any]], filename: str) -> Response:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(
        [_as_text(cell) for cell in row] for row in rows)
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _csv_content(example_header: str) -> dict[str, Any]:
    return {"text/csv": {"schema": {"type": "string"}, "example": example_header + "\r\n"}}


def csv_doc(example_header: str, csv_operation: str) -> dict[str, Any]:
    """The OpenAPI `responses` entry of a JSON view that also answers in CSV (JSON first:
    a generated client parses its answer as JSON)."""
    return {200: {"content": _csv_content(example_header),
                  "description": f"JSON; CSV with Accept: text/csv (or use {csv_operation})"}}


def csv_only_doc(example_header: str) -> dict[str, Any]:
    """The OpenAPI `responses` entry of a CSV operation."""
    return {200: {"content": _csv_content(example_header),
                  "description": "CSV (RFC 4180 line ends, UTF-8 with a byte order mark)"}}
