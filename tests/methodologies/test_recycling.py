"""垃圾分类与回收: per-kg avoided emissions, the smaller of WARM v16 and DESNZ 2025."""

from __future__ import annotations

from decimal import Decimal

import pytest
from marshmallow import ValidationError

from methodologies.base import PlausibilityContext
from methodologies.recycling import Recycling

V = Recycling.default_values()
PARTNER = PlausibilityContext(same_day_count=0, source="partner")


def load(*items: tuple[str, str]) -> dict:
    return Recycling.load_record({"items": [{"material": m, "kg": kg} for m, kg in items]})


def test_paper_plastic_glass() -> None:
    # paper   2   kg × 295  g/kg (DESNZ paper 295 kg/t)       =  590   g
    # plastic 1.5 kg × 1050 g/kg (WARM mixed plastics 1.05)    = 1575   g
    # glass   3   kg × 330  g/kg (WARM glass 0.33)             =  990   g
    # total                                                     = 3155   g
    record = load(("paper", "2"), ("plastic", "1.5"), ("glass", "3"))
    assert Recycling.quantify(record, V) == Decimal("3155")


def test_cardboard_metal_textile_e_waste() -> None:
    # cardboard 4    kg × 295     = 1180    g
    # metal     0.5  kg × 1040    =  520    g (DESNZ steel cans 1,040 kg/t)
    # textile   1.25 kg × 1280    = 1600    g (Luzhou 1 kg clothes = 1,280 g)
    # e_waste   2    kg × 992.08  = 1984.16 g (WARM 0.90 t/short ton ÷ 907.18474 kg)
    # total                        = 5284.16 g
    record = load(("cardboard", "4"), ("metal", "0.5"), ("textile", "1.25"), ("e_waste", "2"))
    assert Recycling.quantify(record, V) == Decimal("5284.16")


def test_e_waste_factor_matches_its_derivation() -> None:
    derived = Decimal("0.90") * 1000 * 1000 / Decimal("907.18474")  # g per kg
    assert V["ef_e_waste_g_per_kg"] <= derived < V["ef_e_waste_g_per_kg"] + Decimal("0.01")


def test_never_negative() -> None:
    params = {**V, "ef_glass_g_per_kg": Decimal("-50")}
    assert Recycling.quantify(load(("glass", "3")), params) == 0


@pytest.mark.parametrize(
    "data",
    [
        {"items": [{"material": "wood", "kg": "2"}]},  # unknown material
        {"items": [{"material": "paper", "kg": "0"}]},
        {"items": [{"material": "paper", "kg": "-2"}]},
        {"items": [{"material": "paper"}]},
        {"items": []},
        {"items": [{"material": "paper", "kg": "1"}, {"material": "paper", "kg": "2"}]},
        {"items": [{"material": "paper", "kg": "1", "bin": 4}]},
        {},
    ],
)
def test_schema_rejects(data: dict) -> None:
    with pytest.raises(ValidationError):
        Recycling.load_record(data)


def test_schema_rejects_more_than_ten_items() -> None:
    with pytest.raises(ValidationError) as info:
        Recycling.load_record({"items": [{"material": "glass", "kg": "1"}] * 11})
    assert "Length must be between 1 and 10." in info.value.messages["items"]


def test_plausible_drop_off() -> None:
    assert Recycling.plausibility(load(("paper", "12"), ("metal", "3")), V, PARTNER) == []


def test_single_material_over_100_kg() -> None:
    reasons = Recycling.plausibility(load(("paper", "150")), V, PARTNER)
    assert reasons == ["150 kg of paper in one record; at most 100 kg per material"]


def test_record_over_200_kg() -> None:
    record = load(("paper", "90"), ("cardboard", "90"), ("glass", "30"))
    assert Recycling.plausibility(record, V, PARTNER) == ["210 kg in one record; at most 200 kg"]


def test_too_many_drop_offs() -> None:
    reasons = Recycling.plausibility(
        load(("glass", "1")), V, PlausibilityContext(same_day_count=10, source="partner")
    )
    assert len(reasons) == 1 and "at most 10 per day" in reasons[0]


def test_self_report_is_refused() -> None:
    reasons = Recycling.plausibility(
        load(("paper", "1")), V, PlausibilityContext(same_day_count=0, source="self_report")
    )
    assert reasons == ["source 'self_report' is not accepted for recycling (accepted: partner)"]
