"""无纸化办公: A4 invoices from DESNZ paper production, receipts and tickets at 1.7 g."""

from __future__ import annotations

from decimal import Decimal

import pytest
from marshmallow import ValidationError

from methodologies.base import PlausibilityContext
from methodologies.paperless import Paperless

V = Paperless.default_values()


def reduction(kind: str, sheets: int, params=V) -> Decimal:
    return Paperless.quantify(Paperless.load_record({"kind": kind, "sheets": sheets}), params)


def test_ten_e_invoices() -> None:
    # One A4 80 g/m² sheet: 4.99 g × 1.345 g CO2e/g (DESNZ 1,345 kg/t) = 6.71155 g
    # 10 sheets × 6.71155 = 67.1155 g → kept to the mg, rounded down: 67.115 g
    assert reduction("e_invoice", 10) == Decimal("67.115")


def test_twenty_e_receipts() -> None:
    # 20 receipts × 1.7 g (Korean figures, lower end of 1.7–1.8 g) = 34.0 g
    assert reduction("e_receipt", 20) == Decimal("34.0")


def test_three_e_tickets() -> None:
    # Tickets are credited like receipts: 3 × 1.7 = 5.1 g
    assert reduction("e_ticket", 3) == Decimal("5.1")


def test_never_negative() -> None:
    # 5 receipts × (1.7 − 2.0) g = −1.5 g → 0
    assert reduction("e_receipt", 5, {**V, "ef_digital_g_per_sheet": Decimal("2.0")}) == 0


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "e_menu", "sheets": 1},
        {"kind": "e_invoice", "sheets": 0},
        {"kind": "e_invoice", "sheets": -3},
        {"kind": "e_invoice", "sheets": "3"},
        {"kind": "e_invoice"},
        {"sheets": 3},
    ],
)
def test_schema_rejects(data: dict) -> None:
    with pytest.raises(ValidationError):
        Paperless.load_record(data)


def test_plausibility() -> None:
    partner = PlausibilityContext(same_day_count=0, source="partner")
    ok = Paperless.load_record({"kind": "e_receipt", "sheets": 200})
    assert Paperless.plausibility(ok, V, partner) == []
    too_many = Paperless.load_record({"kind": "e_receipt", "sheets": 201})
    assert Paperless.plausibility(too_many, V, partner) == ["201 sheets in one record; at most 200"]
    busy = PlausibilityContext(same_day_count=50, source="partner")
    reasons = Paperless.plausibility(ok, V, busy)
    assert len(reasons) == 1 and "at most 50 per day" in reasons[0]


def test_self_report_goes_to_review_and_is_credited_in_full() -> None:
    record = Paperless.load_record({"kind": "e_receipt", "sheets": 2})
    self_report = PlausibilityContext(same_day_count=0, source="self_report")
    assert V["self_report_policy"] == "review"
    assert Paperless.plausibility(record, V, self_report) == []
    assert Paperless.apply_policy(Decimal("3.4"), V, source="self_report") == Decimal("3.4")
