"""绿色出行 green travel: a trip by bus, metro, bike or on foot instead of by private car.

ER = d × (EF_car / occupancy) − d × EF_mode, d in passenger-km (DB11/T 3043-2024 form:
BE = Σ EF_i × BD_i, PE = Σ EF_k × PD_k). The distance comes from exactly one of:
`distance_km` (partner data), `steps` (walking only) or `start` + `end` points, for which the
great-circle distance is used: it is never longer than the route travelled, so conservative.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from .base import (
    Methodology,
    Parameter,
    PlausibilityContext,
    check_daily_count,
    decimal_param,
    int_param,
)

MODES = ("bus", "metro", "bike", "walk")
BIKES = ("own", "shared")

DESNZ_2025 = (
    "UK DESNZ, Greenhouse gas reporting: conversion factors 2025, "
    "https://www.gov.uk/government/publications/greenhouse-gas-reporting-conversion-factors-2025"
)

# IUGG mean Earth radius is 6371.0088 km; the rounded-down 6371 km gives (slightly) shorter,
# i.e. conservative, great-circle distances.
EARTH_RADIUS_KM = 6371.0
_KM_QUANTUM = Decimal("0.001")  # distances rounded down to the metre


class PointSchema(Schema):
    lat = fields.Float(required=True, allow_nan=False, validate=validate.Range(-90, 90))
    lon = fields.Float(required=True, allow_nan=False, validate=validate.Range(-180, 180))


class GreenTravelRecordSchema(Schema):
    mode = fields.String(required=True, validate=validate.OneOf(MODES))
    # Which bike, for the record and the statistics: both are credited alike (see
    # ef_bike_g_per_pkm); a bike-share partner sends "shared".
    bike = fields.String(validate=validate.OneOf(BIKES))
    # Upper bounds here are only sanity limits; realistic limits are plausibility checks.
    distance_km = fields.Decimal(validate=validate.Range(min=0, max=10_000, min_inclusive=False))
    steps = fields.Integer(strict=True, validate=validate.Range(min=1, max=1_000_000))
    started_at = fields.AwareDateTime()
    ended_at = fields.AwareDateTime()
    start = fields.Nested(PointSchema)
    end = fields.Nested(PointSchema)

    @validates_schema
    def _check(self, data: dict[str, Any], **kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        has_points = "start" in data or "end" in data
        if ("start" in data) != ("end" in data):
            errors.setdefault("_schema", []).append("start and end must be given together")
        ways = sum(("distance_km" in data, "steps" in data, has_points))
        if ways != 1:
            errors.setdefault("_schema", []).append(
                "give exactly one of distance_km, steps (walk only) or start+end"
            )
        if "steps" in data and data.get("mode") != "walk":
            errors.setdefault("steps", []).append("steps are accepted for walking only")
        if "bike" in data and data.get("mode") != "bike":
            errors.setdefault("bike", []).append("bike is given for bike trips only")
        if ("started_at" in data) != ("ended_at" in data):
            errors.setdefault("_schema", []).append("started_at and ended_at go together")
        elif "started_at" in data and data["ended_at"] <= data["started_at"]:
            errors.setdefault("ended_at", []).append("ended_at must be after started_at")
        if errors:
            raise ValidationError(errors)


def haversine_km(start: Mapping[str, float], end: Mapping[str, float]) -> Decimal:
    """Great-circle distance in km, rounded down to the metre."""
    lat1, lon1 = math.radians(start["lat"]), math.radians(start["lon"])
    lat2, lon2 = math.radians(end["lat"]), math.radians(end["lon"])
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    km = 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))
    return Decimal(repr(km)).quantize(_KM_QUANTUM, rounding=ROUND_DOWN)


class GreenTravel(Methodology):
    code = "green_travel"
    name_zh = "绿色出行"
    name_en = "Green travel"
    version = "1.0.0"
    description = (
        "A trip by bus, metro, bike or on foot credited against the same passenger-km by "
        "private car (ER = BE − PE). Distance from partner data, steps (walking) or the "
        "great-circle distance between start and end points."
    )
    record_schema = GreenTravelRecordSchema
    occupies_time = True
    # Where the trip began and ended, and when: a trace of the person's movements.
    personal_fields = frozenset({"start", "end", "started_at", "ended_at"})

    @classmethod
    def default_parameters(cls) -> dict[str, Parameter]:
        D = Decimal
        return {
            # --- baseline: private car
            "ef_car_g_per_vkm": Parameter(
                D("167.25"),
                "g CO2e / vehicle-km",
                f"{DESNZ_2025}; 'Business travel- land', Cars (by size), Average car, "
                "Unknown fuel: 0.16725 kg CO2e per km",
                "Baseline car. The average car of unknown fuel is used because the car a "
                "traveller would otherwise have taken is unknown (petrol 162.72, diesel "
                "173.04, battery electric 40.47 g/km in the same table).",
            ),
            "car_occupancy": Parameter(
                D("1.5"),
                "persons / vehicle",
                "Assumption (project reference primer, 'divide by occupancy, e.g. 1.5'); "
                "US NHTS 2001 Table A-14 reports 1.63 persons per vehicle-mile for all trips "
                "and 1.14 for work trips",
                "Turns the per-vehicle car factor into g per passenger-km. A higher occupancy "
                "lowers the baseline (more conservative); verify against a local travel "
                "survey before filing.",
            ),
            # --- project emissions per passenger-km
            "ef_bus_g_per_pkm": Parameter(
                D("103.85"),
                "g CO2e / passenger-km",
                f"{DESNZ_2025}; 'Business travel- land', Bus, Average local bus: "
                "0.10385 kg CO2e per passenger.km",
                "Project emissions of a bus trip. UK average occupancy makes this close to the "
                "car baseline, so bus credits are small; a city-specific factor should "
                "replace it once one is published.",
            ),
            "ef_metro_g_per_pkm": Parameter(
                D("27.8"),
                "g CO2e / passenger-km",
                f"{DESNZ_2025}; 'Business travel- land', Rail, London Underground: "
                "0.0278 kg CO2e per passenger.km",
                "Project emissions of a metro trip (underground line). Light rail & tram is "
                "28.6 g/pkm in the same table; the underground line matches metro.",
            ),
            "ef_bike_g_per_pkm": Parameter(
                D("0"),
                "g CO2e / passenger-km",
                "No direct (tailpipe) emissions; DESNZ 2025 lists no factor for cycling",
                "Own or shared bike. Shared-bike rebalancing and manufacture are not counted "
                "(no cited factor); raise this value when one is adopted.",
            ),
            "ef_walk_g_per_pkm": Parameter(
                D("0"),
                "g CO2e / passenger-km",
                "No direct emissions; DESNZ 2025 lists no factor for walking",
                "Walking.",
            ),
            "step_length_m": Parameter(
                D("0.6"),
                "m / step",
                "Assumption below the common pedometer defaults of 0.67 m (2.2 ft, women) "
                "and 0.762 m (2.5 ft, men), Verywell Fit 'How to Calculate Stride Length by "
                "Height' (formerly walking.about.com)",
                "Converts steps to km for walking. Chosen shorter than typical so that steps "
                "never over-credit distance: 5,000 steps = 3 km.",
            ),
            # --- plausibility limits (policy choices, not from a source)
            "max_speed_kmh_walk": Parameter(
                D("8"), "km/h", "Policy choice", "Faster average speed is not walking."
            ),
            "max_speed_kmh_bike": Parameter(
                D("35"), "km/h", "Policy choice", "Faster average speed is not a city bike ride."
            ),
            "max_speed_kmh_bus": Parameter(
                D("80"), "km/h", "Policy choice", "Faster average speed is not a city bus."
            ),
            "max_speed_kmh_metro": Parameter(
                D("120"), "km/h", "Policy choice", "Faster average speed is not a metro."
            ),
            "max_trip_km_walk": Parameter(
                D("30"), "km", "Policy choice", "Longest plausible single walk."
            ),
            "max_trip_km_bike": Parameter(
                D("60"), "km", "Policy choice", "Longest plausible single city bike ride."
            ),
            "max_trip_km_bus": Parameter(
                D("100"), "km", "Policy choice", "Longest plausible single city bus ride."
            ),
            "max_trip_km_metro": Parameter(
                D("100"), "km", "Policy choice", "Longest plausible single metro ride."
            ),
            "max_trips_per_day": Parameter(
                20, "trips / day", "Policy choice", "More trips in one local day is implausible."
            ),
            # --- policy
            "daily_cap_g": Parameter(
                D("3000"),
                "g CO2e / user / local day",
                "Policy choice",
                "About a 2 × 18 km metro commute at the default factors (36 km × 83.7 g/km "
                "≈ 3,013 g). Limits the damage of spoofed GPS; walking alone stays far below "
                "it only if step data is honest (Ant Forest caps walking at 296 g/day).",
            ),
            "accepted_sources": Parameter(
                ("partner", "self_report"),
                "",
                "Policy choice",
                "Transit, bike-share and map partners; self check-ins are accepted, discounted.",
            ),
            "self_report_policy": Parameter(
                "discount",
                "",
                "Wuhan 碳碳星球 practice: a self check-in earned about half of a ticket upload "
                "(bus 52 g vs 105 g), as summarised in the project reference primer",
                "Self-reported trips are credited at self_report_factor; they must give "
                "start/end points and times (see plausibility).",
            ),
            "self_report_factor": Parameter(
                D("0.495"),
                "fraction",
                "Wuhan 碳碳星球: 52 g for a self check-in against 105 g for an uploaded "
                "ticket, 52 / 105 = 0.495 (rounded down: conservative), project reference "
                "primer",
                "Share of the reduction credited for a self-reported trip.",
            ),
        }

    @classmethod
    def distance_km(cls, record: Mapping[str, Any], params: Mapping[str, Any]) -> Decimal:
        """Passenger-km of the trip from whichever distance evidence the record carries."""
        if record.get("distance_km") is not None:
            return Decimal(record["distance_km"])
        if record.get("steps") is not None:
            return Decimal(record["steps"]) * decimal_param(params, "step_length_m") / 1000
        return haversine_km(record["start"], record["end"])

    @classmethod
    def anonymise(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        """Mode and distance only (or steps, for a walk by steps): no points, no times.

        A trip given by its points keeps their great-circle distance, computed by the same
        function quantify() uses, so the reduction recomputed from what is kept is the
        stored one. (Points less than a metre apart give 0 km, which the record schema
        refuses; such a trip's reduction is 0 anyway.)
        """
        kept = super().anonymise(data)
        if "start" in data and "end" in data:
            try:
                record = cls.load_record(data)
            except ValidationError:
                # Stored records were validated when they came in; one that no longer is
                # loses its points anyway: privacy does not wait for a recomputable record.
                return kept
            kept["distance_km"] = str(haversine_km(record["start"], record["end"]))
        return kept

    @classmethod
    def emissions(
        cls, record: Mapping[str, Any], params: Mapping[str, Any]
    ) -> tuple[Decimal, Decimal]:
        km = cls.distance_km(record, params)
        car_per_pkm = decimal_param(params, "ef_car_g_per_vkm") / decimal_param(
            params, "car_occupancy"
        )
        baseline = km * car_per_pkm
        project = km * decimal_param(params, f"ef_{record['mode']}_g_per_pkm")
        return baseline, project

    @classmethod
    def check_record(
        cls,
        record: Mapping[str, Any],
        params: Mapping[str, Any],
        context: PlausibilityContext,
    ) -> list[str]:
        mode = record["mode"]
        reasons = check_daily_count(context, int_param(params, "max_trips_per_day"), "trips")

        if context.source == "self_report":
            # Typed-in distances and phone step counts are easy to inflate ("phone
            # shaking"); a self-report must give points and times so speed can be checked.
            if record.get("start") is None:
                reasons.append("self-reported trips must give start and end points")
            if record.get("started_at") is None:
                reasons.append("self-reported trips must give started_at and ended_at")

        km = cls.distance_km(record, params)
        max_km = decimal_param(params, f"max_trip_km_{mode}")
        if km > max_km:
            reasons.append(f"{mode} trip of {km} km exceeds the {max_km} km limit per trip")

        started, ended = record.get("started_at"), record.get("ended_at")
        if started is not None and ended is not None:
            seconds = Decimal(str((ended - started).total_seconds()))
            speed = km * 3600 / seconds
            max_speed = decimal_param(params, f"max_speed_kmh_{mode}")
            if speed > max_speed:
                reasons.append(
                    f"average speed {speed.quantize(Decimal('0.1'))} km/h is implausible for "
                    f"{mode} (limit {max_speed} km/h)"
                )
            for other in context.same_day_records:
                if _overlaps(started, ended, other.get("started_at"), other.get("ended_at")):
                    reasons.append("trip overlaps another trip recorded the same day")
                    break
        return reasons


def _overlaps(
    a_start: datetime, a_end: datetime, b_start: datetime | None, b_end: datetime | None
) -> bool:
    # Records not loaded through the schema may carry strings; they cannot be compared.
    if not (isinstance(b_start, datetime) and isinstance(b_end, datetime)):
        return False
    return a_start < b_end and b_start < a_end
