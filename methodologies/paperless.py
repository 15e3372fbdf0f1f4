"""无纸化办公 paperless: an electronic receipt, invoice or ticket instead of a printed one.

ER = sheets × (EF_sheet(kind) − EF_digital). The baseline is the production emissions of the
paper that would have been printed; the electronic copy's own footprint has no cited factor
yet and defaults to 0 (a parameter, so it can be raised once a source is adopted).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from marshmallow import Schema, fields, validate

from .base import (
    Methodology,
    Parameter,
    PlausibilityContext,
    check_daily_count,
    decimal_param,
    int_param,
)

KINDS = ("e_receipt", "e_invoice", "e_ticket")


class PaperlessRecordSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    # Upper bound is a sanity limit only; realistic limits are plausibility checks.
    sheets = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=100_000))


class Paperless(Methodology):
    code = "paperless"
    name_zh = "无纸化办公"
    name_en = "Paperless office"
    version = "1.0.0"
    description = (
        "Avoided paper production for electronic receipts, invoices and tickets "
        "(ER = sheets × paper emissions per sheet of that kind)."
    )
    record_schema = PaperlessRecordSchema

    @classmethod
    def default_parameters(cls) -> dict[str, Parameter]:
        D = Decimal
        return {
            "ef_paper_g_per_g": Parameter(
                D("1.345"),
                "g CO2e / g paper",
                "UK DESNZ, Greenhouse gas reporting: conversion factors 2025, 'Material use', "
                "Paper and board: paper, primary material production, 1,345 kg CO2e/t, "
                "https://www.gov.uk/government/publications/"
                "greenhouse-gas-reporting-conversion-factors-2025",
                "Production emissions of virgin paper; applied to the A4 sheet mass.",
            ),
            "a4_sheet_mass_g": Parameter(
                D("4.99"),
                "g / sheet",
                "ISO 216 A4 (210 × 297 mm = 0.06237 m²) at 80 g/m² = 4.99 g",
                "One printed invoice is counted as one A4 80 g/m² sheet: 4.99 × 1.345 = "
                "6.71155 g CO2e. Assumption: a paper VAT invoice (240 × 140 mm, several "
                "parts) uses at least as much paper.",
            ),
            "ef_receipt_g_per_sheet": Parameter(
                D("1.7"),
                "g CO2e / receipt",
                "Korean Ministry of Environment figures as reported 2019–2022 (national "
                "receipt emissions ÷ receipt count ≈ 1.7–1.8 g), project reference primer",
                "Per paper receipt; the lower end of the reported range. Also used for "
                "tickets, which are small slips like receipts (assumption; a ticket is not "
                "larger than a till receipt in our sources).",
            ),
            "ef_digital_g_per_sheet": Parameter(
                D("0"),
                "g CO2e / document",
                "No cited factor",
                "Project emissions of delivering the document electronically; raise it "
                "when a source is adopted.",
            ),
            "max_sheets_per_record": Parameter(
                200, "sheets", "Policy choice", "More sheets in one record is implausible."
            ),
            "max_records_per_day": Parameter(
                50, "records / day", "Policy choice", "Documents per user per local day."
            ),
            "daily_cap_g": Parameter(
                D("200"),
                "g CO2e / user / local day",
                "Policy choice",
                "About 29 A4 invoices or 117 receipts a day; generous for a citizen, small "
                "enough that bulk invoice issuing is not credited to one person.",
            ),
            "accepted_sources": Parameter(
                ("partner", "self_report"),
                "",
                "Policy choice",
                "Issuers (merchants, e-invoice platforms, ticketing) and self-reports.",
            ),
            "self_report_policy": Parameter(
                "review",
                "",
                "Policy choice",
                "Self-reported documents are queued for admin review before credit.",
            ),
            "self_report_factor": Parameter(
                D("1"),
                "fraction",
                "Policy choice",
                "Unused under 'review': an approved self-report is credited in full.",
            ),
        }

    @classmethod
    def sheet_factor_g(cls, kind: str, params: Mapping[str, Any]) -> Decimal:
        """Baseline g CO2e per printed sheet of this kind."""
        if kind == "e_invoice":
            return decimal_param(params, "a4_sheet_mass_g") * decimal_param(
                params, "ef_paper_g_per_g"
            )
        if kind in ("e_receipt", "e_ticket"):
            return decimal_param(params, "ef_receipt_g_per_sheet")
        raise ValueError(f"unknown paperless kind {kind!r}")

    @classmethod
    def emissions(
        cls, record: Mapping[str, Any], params: Mapping[str, Any]
    ) -> tuple[Decimal, Decimal]:
        sheets = Decimal(record["sheets"])
        baseline = sheets * cls.sheet_factor_g(record["kind"], params)
        project = sheets * decimal_param(params, "ef_digital_g_per_sheet")
        return baseline, project

    @classmethod
    def check_record(
        cls,
        record: Mapping[str, Any],
        params: Mapping[str, Any],
        context: PlausibilityContext,
    ) -> list[str]:
        reasons = check_daily_count(
            context, int_param(params, "max_records_per_day"), "paperless records"
        )
        limit = int_param(params, "max_sheets_per_record")
        if record["sheets"] > limit:
            reasons.append(f"{record['sheets']} sheets in one record; at most {limit}")
        return reasons
