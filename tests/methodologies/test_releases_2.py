"""Release 2.0.0 of the four built-ins: worked examples from their cited factors, the new
plausibility rules, and the registry holding both releases of each."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from methodologies.base import (
    InvalidMethodology,
    MethodologyNotInstalled,
    MethodologyRegistry,
    PlausibilityContext,
)
from methodologies.clean_plate import CleanPlate
from methodologies.clean_plate_v2 import CleanPlateV2
from methodologies.green_travel import GreenTravel
from methodologies.green_travel_v2 import GreenTravelV2
from methodologies.paperless import Paperless
from methodologies.paperless_v2 import PaperlessV2
from methodologies.recycling import Recycling
from methodologies.recycling_v2 import RecyclingV2

CST = timezone(timedelta(hours=8))
T0 = datetime(2025, 6, 2, 8, 0, tzinfo=CST)
GT = GreenTravelV2.default_values()
PLATFORM_DAILY_CAP_G = Decimal(5000)  # app.config DAILY_CAP_G's default


def ctx(*records, source: str = "partner") -> PlausibilityContext:
    return PlausibilityContext(same_day_count=len(records), source=source,
                               same_day_records=tuple(records))


def trip(**data):
    for key in ("started_at", "ended_at"):
        if isinstance(data.get(key), datetime):
            data[key] = data[key].isoformat()
    return GreenTravelV2.load_record(data)


def travel(**data) -> Decimal:
    return GreenTravelV2.quantify(trip(**data), GT)


# --------------------------------------------------------------------------- green_travel


@pytest.mark.parametrize(("mode", "grams"), [
    ("bus", "269.0"),     # 10 km × 26.9 g/pkm (Shenzhen, imported)
    ("metro", "467.0"),   # 10 km × 46.7 g/pkm (Shenzhen, imported)
    ("bike", "400"),      # 10 km × 40 g/km (Wuhan 2023)
])
def test_reduction_factor_per_mode(mode: str, grams: str) -> None:
    assert travel(mode=mode, distance_km="10") == Decimal(grams)


def test_e_bike_is_the_bike_factor_less_its_electricity() -> None:
    # 10 km × 40 − 10 km × 536.6 g/kWh × 0.02 kWh/km = 400 − 107.32
    assert travel(mode="e_bike", distance_km="10", bike="shared") == Decimal("292.68")
    # A cleaner grid is one approved version: 400 − 10 × 400 × 0.02 = 320.
    cleaner = {**GT, "grid_ef_g_per_kwh": Decimal("400")}
    assert GreenTravelV2.quantify(trip(mode="e_bike", distance_km="10"), cleaner) == 320


def test_walking_per_step_with_its_own_cap() -> None:
    assert travel(mode="walk", steps=10_000) == Decimal("200")       # × 0.02 g/step
    assert travel(mode="walk", steps=14_800) == Decimal("296")       # the cap exactly
    assert travel(mode="walk", steps=30_000) == Decimal("296")       # capped
    # A walk trip by distance: 2 km ÷ 0.762 m/step × 0.02 = 52.4934… g, rounded down.
    assert travel(mode="walk", distance_km="2") == Decimal("52.493")


def test_a_days_steps_are_capped_not_refused_by_the_walk_trip_length() -> None:
    # 40,000 steps × 0.762 m = 30.48 km, over the 30 km of one walk: capped at 296 g.
    many = trip(mode="walk", steps=40_000)
    assert GreenTravelV2.plausibility(many, GT, ctx()) == []
    assert GreenTravelV2.quantify(many, GT) == Decimal("296")
    # A walk trip of that length is still refused.
    assert GreenTravelV2.plausibility(trip(mode="walk", distance_km="30.48"), GT, ctx()) == [
        "walk trip of 30.48 km exceeds the 30 km limit per trip"]


def test_car_occupancy_is_gone_and_every_parameter_is_cited() -> None:
    params = GreenTravelV2.default_parameters()
    assert "car_occupancy" not in params and "ef_car_g_per_vkm" not in params
    for name, p in params.items():
        assert p.unit or name in ("accepted_sources", "self_report_policy"), name
        assert len(p.source) > 10 or p.source == "Policy choice", name
    assert "imported, pending local data" in params["rf_bus_g_per_pkm"].source
    assert "imported, pending local data" in params["rf_metro_g_per_pkm"].source
    assert "GB 17761-2018" in params["max_speed_kmh_bike"].source
    assert GT["instant_match_tolerance_s"] == 3600
    assert GT["daily_cap_g"] <= PLATFORM_DAILY_CAP_G


def test_a_pedal_bike_above_25_kmh_is_implausible() -> None:
    fast = trip(mode="bike", distance_km="13", started_at=T0, ended_at=T0 + timedelta(minutes=30))
    reasons = GreenTravelV2.plausibility(fast, GT, ctx())
    assert reasons == ["average speed 26.0 km/h is implausible for bike (limit 25 km/h)"]
    ok = trip(mode="bike", distance_km="12", started_at=T0, ended_at=T0 + timedelta(minutes=30))
    assert GreenTravelV2.plausibility(ok, GT, ctx()) == []


@pytest.mark.parametrize(("first", "second"), [
    ({"mode": "walk", "steps": 8000}, {"mode": "walk", "distance_km": "1"}),
    ({"mode": "walk", "distance_km": "1"}, {"mode": "walk", "steps": 8000}),
    ({"mode": "walk", "steps": 8000}, {"mode": "walk", "steps": 2000}),
])
def test_steps_and_walk_trips_of_one_day_exclude_each_other(first, second) -> None:
    reasons = GreenTravelV2.plausibility(trip(**second), GT, ctx(trip(**first)))
    assert len(reasons) == 1 and "steps" in reasons[0]
    # Other modes the same day do not matter.
    assert GreenTravelV2.plausibility(trip(**second), GT, ctx(trip(mode="bus",
                                                                   distance_km="3"))) == []


def test_walk_trips_stop_at_the_walking_cap() -> None:
    ten_km = trip(mode="walk", distance_km="10")   # 262.467 g
    assert GreenTravelV2.plausibility(ten_km, GT, ctx()) == []
    reasons = GreenTravelV2.plausibility(trip(mode="walk", distance_km="2"), GT, ctx(ten_km))
    assert reasons == ["walking credits at most 296 g a day; 262.467 g already recorded today"]


def test_a_walking_leg_inside_a_metro_trip_overlaps_it() -> None:
    metro = trip(mode="metro", distance_km="8", started_at=T0, ended_at=T0 + timedelta(minutes=30))
    leg = trip(mode="walk", distance_km="0.5", started_at=T0 + timedelta(minutes=10),
               ended_at=T0 + timedelta(minutes=15))
    assert GreenTravelV2.plausibility(leg, GT, ctx(metro)) == [
        "trip overlaps another trip recorded the same day"]


# --------------------------------------------------------------------------- recycling


@pytest.mark.parametrize(("material", "kg", "grams"), [
    ("paper", "1", "295"),          # DESNZ 2025 paper
    ("cardboard", "1", "101"),      # DESNZ 2025 board, 101.6 rounded down
    ("plastic", "1", "1597"),       # DESNZ 2025 average plastics
    ("metal", "1", "1040"),         # DESNZ 2025 steel cans
    ("glass", "1", "579"),          # DESNZ 2025 glass
    ("textile", "1", "1280"),       # Luzhou platform rule
    ("e_waste", "1", "992.08"),     # WARM v16 mixed electronics
])
def test_recycling_factor_per_material(material: str, kg: str, grams: str) -> None:
    record = RecyclingV2.load_record({"items": [{"material": material, "kg": kg}]})
    assert RecyclingV2.quantify(record, RecyclingV2.default_values()) == Decimal(grams)


def test_recycling_cap_binds_below_the_platform_cap() -> None:
    values = RecyclingV2.default_values()
    assert values["daily_cap_g"] < PLATFORM_DAILY_CAP_G
    for name, p in RecyclingV2.default_parameters().items():
        if name.startswith("ef_"):
            assert "incineration" in p.description, name


# --------------------------------------------------------------------------- paperless


def test_paperless_credits_only_what_paper_was_the_usual_practice_for() -> None:
    values = PaperlessV2.default_values()

    def judge(data, source="partner"):
        record = PaperlessV2.load_record(data)
        return (PaperlessV2.plausibility(record, values, ctx(source=source)),
                PaperlessV2.quantify(record, values))

    assert judge({"kind": "e_receipt", "sheets": 2}) == ([], Decimal("3.4"))
    for kind in ("e_ticket", "e_invoice"):
        reasons, _ = judge({"kind": kind, "sheets": 1})
        assert len(reasons) == 1 and "electronic by default" in reasons[0]
        reasons, _ = judge({"kind": kind, "sheets": 1, "issuer_paper_default": True},
                           source="self_report")
        assert len(reasons) == 1 and "only its issuer" in reasons[0]
    # 240 × 140 mm × 80 g/m² = 2.688 g × 1.345 g CO2e/g = 3.61536 g, rounded down.
    assert judge({"kind": "e_invoice", "sheets": 1, "issuer_paper_default": True}) == (
        [], Decimal("3.615"))
    assert judge({"kind": "e_ticket", "sheets": 1, "issuer_paper_default": True}) == (
        [], Decimal("1.7"))


# --------------------------------------------------------------------------- clean_plate


def test_clean_plate_is_plate_waste_times_the_food_waste_factor() -> None:
    values = CleanPlateV2.default_values()
    # 93 g × 2.51 Mt / 1.55 Mt (1.619, rounded down) = 150.567 g a meal.
    assert CleanPlateV2.quantify({"meals": 1}, values) == Decimal("150.567")
    assert values["daily_cap_g"] == Decimal(602)  # 4 meals × 150.567, rounded down


# --------------------------------------------------------------------------- registry


def test_the_registry_holds_both_releases_of_each_builtin() -> None:
    registry = MethodologyRegistry()
    pairs = ((GreenTravel, GreenTravelV2), (Recycling, RecyclingV2), (Paperless, PaperlessV2),
             (CleanPlate, CleanPlateV2))
    for old, new in pairs:
        registry.register(new)
        assert registry.get(new.code) is new
        assert registry.get(new.code, "2.0.0") is new
        assert registry.get(new.code, "1.0.0") is old
        assert registry.releases(new.code) == [old, new]
    assert registry.all() == sorted((new for _, new in pairs), key=lambda c: c.code)
    with pytest.raises(MethodologyNotInstalled, match="release 0.9.0"):
        registry.get("paperless", "0.9.0")


def test_1_0_0_arithmetic_is_unchanged() -> None:
    # The worked example of tests/methodologies/test_green_travel.py, under the old class.
    record = GreenTravel.load_record({"mode": "metro", "distance_km": "10"})
    assert GreenTravel.quantify(record, GreenTravel.default_values()) == Decimal("837.0")
    assert GreenTravel.version == "1.0.0" and GreenTravel.earlier_releases == ()


def test_earlier_releases_must_be_releases_of_the_same_methodology() -> None:
    class Mixed(GreenTravelV2):
        earlier_releases = (Recycling,)

    class Later(GreenTravelV2):
        version = "3.0.0"
        earlier_releases = (GreenTravelV2,)  # which lists its own: only the newest lists

    class Downgrade(GreenTravel):
        version = "0.5.0"
        earlier_releases = (GreenTravel,)

    for cls, message in ((Mixed, "share the code"), (Later, "only the newest release"),
                         (Downgrade, "lower than 0.5.0")):
        with pytest.raises(InvalidMethodology, match=message):
            MethodologyRegistry().register(cls)
