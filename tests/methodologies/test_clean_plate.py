"""光盘行动: 144 g per meal (Luzhou), partner-only, at most 4 meals a day."""

from __future__ import annotations

from decimal import Decimal

import pytest
from marshmallow import ValidationError

from methodologies.base import PlausibilityContext
from methodologies.clean_plate import CleanPlate

V = CleanPlate.default_values()


def ctx(count: int = 0, source: str = "partner", records=()) -> PlausibilityContext:
    return PlausibilityContext(same_day_count=count, source=source, same_day_records=records)


def test_two_meals() -> None:
    # Baseline 2 meals × 144 g = 288 g; project 2 × 0 g; reduction 288 g
    record = CleanPlate.load_record({"meals": 2, "canteen_id": "njust-3"})
    assert CleanPlate.quantify(record, V) == Decimal("288")


def test_never_negative() -> None:
    # 1 meal × (144 − 200) g = −56 g → 0
    params = {**V, "ef_clean_plate_g_per_meal": Decimal("200")}
    assert CleanPlate.quantify(CleanPlate.load_record({"meals": 1}), params) == 0


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"meals": 0},
        {"meals": -1},
        {"meals": "2"},
        {"meals": 1.5},
        {"meals": 1, "canteen_id": ""},
        {"meals": 1, "dish": "rice"},
    ],
)
def test_schema_rejects(data: dict) -> None:
    with pytest.raises(ValidationError):
        CleanPlate.load_record(data)


def test_plausible_lunch() -> None:
    record = CleanPlate.load_record({"meals": 1})
    assert CleanPlate.plausibility(record, V, ctx(count=2)) == []


def test_twenty_meals_in_one_record() -> None:
    reasons = CleanPlate.plausibility(CleanPlate.load_record({"meals": 20}), V, ctx())
    assert "20 meals in one record; at most 3" in reasons
    assert any("20 meals in one day" in r for r in reasons)


def test_twenty_meals_in_a_day() -> None:
    # 19 earlier records (≥ 1 meal each) + this one = at least 20 meals in the day.
    reasons = CleanPlate.plausibility(CleanPlate.load_record({"meals": 1}), V, ctx(count=19))
    assert reasons == ["20 meals in one day (already 19 today); at most 4"]


def test_fifth_meal_from_known_records() -> None:
    # Two earlier records with 3 + 1 meals: a fifth meal exceeds the 4-meal day.
    records = ({"meals": 3}, {"meals": 1})
    record = CleanPlate.load_record({"meals": 1})
    reasons = CleanPlate.plausibility(record, V, ctx(count=2, records=records))
    assert reasons == ["5 meals in one day (already 4 today); at most 4"]


def test_self_report_is_refused() -> None:
    record = CleanPlate.load_record({"meals": 1})
    reasons = CleanPlate.plausibility(record, V, ctx(source="self_report"))
    assert reasons == ["source 'self_report' is not accepted for clean_plate (accepted: partner)"]
    assert CleanPlate.apply_policy(Decimal("144"), V, source="self_report") == 0


def test_daily_cap_is_four_meals() -> None:
    # cap 4 × 144 = 576 g; 3 meals (432 g) already credited: 144 g of room
    assert V["daily_cap_g"] == Decimal("576")
    credited = CleanPlate.apply_policy(
        Decimal("288"), V, source="partner", credited_today_g=Decimal("432")
    )
    assert credited == Decimal("144")
