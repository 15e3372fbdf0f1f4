"""CSV downloads: one format for every report (RFC 4180 line ends, UTF-8 with a BOM so
spreadsheet programs read Chinese names), chosen by ?format=csv or Accept: text/csv."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from flask import Response, request


def wants_csv(args: dict[str, Any]) -> bool:
    if args.get("format") == "csv":
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


def csv_doc(example_header: str) -> dict[str, Any]:
    """The OpenAPI `responses` entry of a view that also answers in CSV."""
    return {200: {"content": {"text/csv": {"schema": {"type": "string"},
                                           "example": example_header + "\r\n"}},
                  "description": "JSON, or CSV with ?format=csv or Accept: text/csv"}}
