"""无纸化 paperless, release 2.0.0: an electronic receipt, invoice or ticket where the issuer's
usual practice is to print one.

ER = sheets × (EF_sheet(kind) − EF_digital), credited only when paper is the usual practice.

Usual-practice baseline. A till receipt is printed at checkout unless the customer declines
it: an e-receipt replaces paper. Rail tickets (12306 e-tickets nationwide since 2020), air
tickets (e-tickets since 2008) and fully digital invoices (数电票, rolled out nationally from
Dec 2024) are electronic by default: crediting them would pay for what happens anyway (no
additionality). So an `e_ticket` or `e_invoice` is credited only when the issuing partner
states in the record that paper was its default for that document (`issuer_paper_default`),
e.g. a venue or a small merchant still printing paper invoices; a citizen cannot say so for
an issuer, so self-reports of those kinds are refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from marshmallow import Schema, fields, validate

from .base import Parameter, PlausibilityContext, decimal_param
from .paperless import KINDS, Paperless

FILINGS = Path(__file__).resolve().parent.parent / "docs" / "methodologies"
# Kinds whose electronic form is already the usual practice unless the issuer says otherwise.
DEFAULT_ELECTRONIC = ("e_invoice", "e_ticket")


class PaperlessRecordSchemaV2(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    # Upper bound is a sanity limit only; realistic limits are plausibility checks.
    sheets = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=100_000))
    # Set by the issuer: it would have printed this document on paper by default.
    issuer_paper_default = fields.Boolean()


class PaperlessV2(Paperless):
    # 无纸化办公 in the city plans means office workflows, which this does not cover.
    name_zh = "无纸化票据"
    name_en = "Paperless receipts and tickets"
    version = "2.0.0"
    description = (
        "Avoided paper for electronic receipts, and for invoices and tickets whose issuer "
        "printed paper by default (ER = sheets × paper emissions per sheet of that kind)."
    )
    record_schema = PaperlessRecordSchemaV2
    earlier_releases = (Paperless,)
    filing_document = str(FILINGS / "paperless.md")

    @classmethod
    def default_parameters(cls) -> dict[str, Parameter]:
        D = Decimal
        params = super().default_parameters()
        params.pop("a4_sheet_mass_g")
        paper = params.pop("ef_paper_g_per_g")
        return {
            "ef_paper_g_per_g": Parameter(
                paper.value, paper.unit, paper.source,
                "Production emissions of virgin paper; applied to a paper invoice's mass."),
            "invoice_sheet_mass_g": Parameter(
                D("2.688"), "g / invoice",
                "Chinese paper invoice format 240 × 140 mm (the 增值税发票 format of the State "
                "Taxation Administration) = 0.0336 m², at 80 g/m² = 2.688 g. 80 g/m² is an "
                "assumption (common office paper; the format does not fix the stock): "
                "conservative taken with the count of one part only, since a multi-part "
                "invoice's other parts (at least as heavy together) are not credited",
                "One sheet (the buyer's part) per paper invoice. Conservative: 1.0.0 counted "
                "an A4 sheet (4.99 g), and the issuer's other parts are not counted.",
            ),
            **params,
            "daily_cap_g": Parameter(
                D("200"), "g CO2e / user / local day", "Policy choice",
                "About 55 paper invoices or 117 receipts a day; generous for a citizen, small "
                "enough that bulk invoice issuing is not credited to one person.",
            ),
        }

    @classmethod
    def sheet_factor_g(cls, kind: str, params: Mapping[str, Any]) -> Decimal:
        """Baseline g CO2e per printed document of this kind."""
        if kind == "e_invoice":
            return decimal_param(params, "invoice_sheet_mass_g") * decimal_param(
                params, "ef_paper_g_per_g")
        if kind in ("e_receipt", "e_ticket"):
            return decimal_param(params, "ef_receipt_g_per_sheet")
        raise ValueError(f"unknown paperless kind {kind!r}")

    @classmethod
    def check_record(
        cls,
        record: Mapping[str, Any],
        params: Mapping[str, Any],
        context: PlausibilityContext,
    ) -> list[str]:
        reasons = super().check_record(record, params, context)
        if record["kind"] in DEFAULT_ELECTRONIC:
            if context.source == "self_report":
                reasons.append(f"{record['kind']} is electronic by default; only its issuer "
                               "can say paper was its usual practice")
            elif not record.get("issuer_paper_default", False):
                reasons.append(f"{record['kind']} is electronic by default (rail and air "
                               "e-tickets, 数电票): credited only when the issuer states "
                               "issuer_paper_default")
        return reasons
