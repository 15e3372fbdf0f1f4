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


def csv_response(rows: Iterable[Iterable[Any]], filename: str) -> Response:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return Response("\ufeff" + out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def csv_doc(example_header: str) -> dict[str, Any]:
    """The OpenAPI `responses` entry of a view that also answers in CSV."""
    return {200: {"content": {"text/csv": {"schema": {"type": "string"},
                                           "example": example_header + "\r\n"}},
                  "description": "JSON, or CSV with ?format=csv or Accept: text/csv"}}
