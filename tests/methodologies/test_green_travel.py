"""绿色出行: worked examples from the DESNZ 2025 factors, schema and plausibility checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from marshmallow import ValidationError

from methodologies.base import PlausibilityContext
from methodologies.green_travel import GreenTravel, haversine_km

V = GreenTravel.default_values()
CST = timezone(timedelta(hours=8))
T0 = datetime(2025, 6, 2, 8, 0, tzinfo=CST)
PARTNER = PlausibilityContext(same_day_count=0, source="partner")
SELF = PlausibilityContext(same_day_count=0, source="self_report")


def load(**data):
    for key in ("started_at", "ended_at"):
        if isinstance(data.get(key), datetime):
            data[key] = data[key].isoformat()
    return GreenTravel.load_record(data)


def reduction(**data) -> Decimal:
    return GreenTravel.quantify(load(**data), V)


# --------------------------------------------------------------------------- worked examples


def test_metro_10_km() -> None:
    # Baseline: 10 km × 167.25 g/vkm ÷ 1.5 persons = 1115.0 g
    # Project:  10 km × 27.8 g/pkm = 278 g
    # Reduction: 1115.0 − 278 = 837.0 g
    assert reduction(mode="metro", distance_km="10") == Decimal("837.0")


def test_bus_10_km() -> None:
    # Baseline 1115.0 g; project 10 × 103.85 = 1038.5 g; reduction 76.5 g
    assert reduction(mode="bus", distance_km="10") == Decimal("76.5")


def test_bike_4_2_km() -> None:
    # Baseline 4.2 × 111.5 = 468.3 g; project 0
    assert reduction(mode="bike", distance_km="4.2") == Decimal("468.3")


def test_walk_by_steps() -> None:
    # 5000 steps × 0.6 m = 3000 m = 3 km; baseline 3 × 111.5 = 334.5 g; project 0
    record = load(mode="walk", steps=5000)
    assert GreenTravel.distance_km(record, V) == Decimal("3")
    assert GreenTravel.quantify(record, V) == Decimal("334.5")


def test_own_and_shared_bikes_are_credited_alike() -> None:
    # ef_bike_g_per_pkm covers both (rebalancing and manufacture not counted: its citation).
    assert (reduction(mode="bike", bike="shared", distance_km="4.2")
            == reduction(mode="bike", bike="own", distance_km="4.2") == Decimal("468.3"))


def test_bike_by_start_and_end_points() -> None:
    # Same meridian, 0.01° of latitude apart: 6371 km × 0.01 × π/180 = 1.11194… km,
    # rounded down to the metre: 1.111 km. Baseline 1.111 × 111.5 = 123.8765 g, project 0;
    # kept to the milligram, rounded down: 123.876 g.
    record = load(mode="bike", start={"lat": 32.0, "lon": 118.8}, end={"lat": 32.01, "lon": 118.8})
    assert GreenTravel.distance_km(record, V) == Decimal("1.111")
    assert GreenTravel.quantify(record, V) == Decimal("123.876")


def test_haversine_is_symmetric_and_zero_for_same_point() -> None:
    a, b = {"lat": 32.06, "lon": 118.79}, {"lat": 31.23, "lon": 121.47}  # Nanjing, Shanghai
    assert haversine_km(a, b) == haversine_km(b, a)
    assert Decimal("260") < haversine_km(a, b) < Decimal("275")
    assert haversine_km(a, a) == 0


def test_never_negative_when_bus_emits_more_than_car() -> None:
    # With 4 persons per car the baseline is 167.25 / 4 = 41.8125 g/pkm, below the bus's
    # 103.85 g/pkm: 10 × (41.8125 − 103.85) = −620.375 g → credited 0.
    params = {**V, "car_occupancy": Decimal("4")}
    record = load(mode="bus", distance_km="10")
    assert GreenTravel.quantify(record, params) == Decimal("0")


def test_stored_string_parameters_give_the_same_result() -> None:
    stored = {k: str(v) if isinstance(v, Decimal) else v for k, v in V.items()}
    assert GreenTravel.quantify(load(mode="metro", distance_km="10"), stored) == Decimal("837")


# --------------------------------------------------------------------------- schema


@pytest.mark.parametrize(
    "data",
    [
        {"mode": "car", "distance_km": "10"},  # bad mode
        {"mode": "metro", "distance_km": "-1"},  # negative distance
        {"mode": "metro", "distance_km": "0"},  # zero distance
        {"mode": "metro", "distance_km": "NaN"},
        {"mode": "walk", "distance_km": "2", "steps": 3000},  # both distance and steps
        {"mode": "bus", "steps": 3000},  # steps are for walking only
        {"mode": "metro"},  # no distance at all
        {"mode": "bike", "start": {"lat": 32, "lon": 118}},  # start without end
        {
            "mode": "bike",
            "distance_km": "3",
            "start": {"lat": 32, "lon": 118},
            "end": {"lat": 32.1, "lon": 118},
        },  # distance and points
        {"mode": "bike", "start": {"lat": 91, "lon": 118}, "end": {"lat": 32, "lon": 118}},
        {"mode": "walk", "steps": 2.5},
        {"mode": "metro", "distance_km": "5", "started_at": "2025-06-02T08:00:00"},  # naive
        {"mode": "metro", "distance_km": "5", "started_at": "2025-06-02T08:00:00+08:00"},
        {
            "mode": "metro",
            "distance_km": "5",
            "started_at": "2025-06-02T08:30:00+08:00",
            "ended_at": "2025-06-02T08:00:00+08:00",
        },  # ends before it starts
        {"mode": "metro", "distance_km": "5", "line": "2"},  # unknown field
        {"mode": "metro", "distance_km": "5", "bike": "shared"},  # a bike on the metro
        {"mode": "bike", "distance_km": "5", "bike": "borrowed"},
    ],
)
def test_schema_rejects(data: dict) -> None:
    with pytest.raises(ValidationError):
        GreenTravel.load_record(data)


def test_schema_accepts_a_full_partner_record() -> None:
    record = load(
        mode="metro", distance_km="12.5", started_at=T0, ended_at=T0 + timedelta(minutes=30)
    )
    assert record["distance_km"] == Decimal("12.5")
    assert record["started_at"] == T0


# --------------------------------------------------------------------------- plausibility


def check(record, context=PARTNER) -> list[str]:
    return GreenTravel.plausibility(record, V, context)


def test_plausible_metro_commute() -> None:
    # 12 km in 30 min = 24 km/h
    record = load(
        mode="metro", distance_km="12", started_at=T0, ended_at=T0 + timedelta(minutes=30)
    )
    assert check(record) == []


def test_walk_at_40_kmh_is_rejected() -> None:
    # 10 km in 15 minutes = 40 km/h, above the 8 km/h walking limit
    record = load(mode="walk", distance_km="10", started_at=T0, ended_at=T0 + timedelta(minutes=15))
    reasons = check(record)
    assert len(reasons) == 1
    assert "40.0 km/h" in reasons[0] and "walk" in reasons[0]


def test_bus_ride_of_300_km_is_rejected() -> None:
    reasons = check(load(mode="bus", distance_km="300"))
    assert reasons == ["bus trip of 300 km exceeds the 100 km limit per trip"]


def test_twenty_first_trip_of_the_day_is_rejected() -> None:
    record = load(mode="bike", distance_km="2")
    assert check(record, PlausibilityContext(same_day_count=19, source="partner")) == []
    reasons = check(record, PlausibilityContext(same_day_count=20, source="partner"))
    assert reasons and "at most 20 per day" in reasons[0]


def test_overlapping_trips_are_rejected() -> None:
    earlier = load(mode="bus", distance_km="5", started_at=T0, ended_at=T0 + timedelta(minutes=20))
    record = load(
        mode="metro",
        distance_km="5",
        started_at=T0 + timedelta(minutes=10),
        ended_at=T0 + timedelta(minutes=25),
    )
    ctx = PlausibilityContext(same_day_count=1, source="partner", same_day_records=(earlier,))
    assert check(record, ctx) == ["trip overlaps another trip recorded the same day"]
    later = load(
        mode="metro",
        distance_km="5",
        started_at=(T0 + timedelta(minutes=20)).astimezone(UTC),  # back to back, other tz
        ended_at=T0 + timedelta(minutes=35),
    )
    assert check(later, ctx) == []


def test_self_report_needs_points_and_times() -> None:
    reasons = check(load(mode="bike", distance_km="5"), SELF)
    assert "self-reported trips must give start and end points" in reasons
    assert "self-reported trips must give started_at and ended_at" in reasons
    record = load(
        mode="bike",
        start={"lat": 32.0, "lon": 118.8},
        end={"lat": 32.03, "lon": 118.8},
        started_at=T0,
        ended_at=T0 + timedelta(minutes=15),
    )
    assert check(record, SELF) == []


def test_self_report_is_credited_at_half() -> None:
    # 837.0 g × 0.495 (碳碳星球: a self check-in 52 g, a ticket upload 105 g) = 414.315 g
    grams = GreenTravel.quantify(load(mode="metro", distance_km="10"), V)
    assert GreenTravel.apply_policy(grams, V, source="self_report") == Decimal("414.315")
    assert GreenTravel.apply_policy(grams, V, source="partner") == Decimal("837.0")


def test_daily_cap() -> None:
    # 2,900 g already credited today, cap 3,000 g: only 100 g of the 837.0 g is credited.
    grams = GreenTravel.quantify(load(mode="metro", distance_km="10"), V)
    credited = GreenTravel.apply_policy(
        grams, V, source="partner", credited_today_g=Decimal("2900")
    )
    assert credited == Decimal("100")
