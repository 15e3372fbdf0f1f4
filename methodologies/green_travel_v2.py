"""绿色出行 green travel, release 2.0.0: a trip by bus, metro, bike, shared e-bike or on foot,
credited against the motorised trip it displaces, by a reduction factor per mode.

    ER = d × RF_mode                       bus, metro, bike
    ER = d × (RF_bike − EF_grid × E_ebike)  e_bike (displaces what a bike does, minus its power)
    ER = min(steps × RF_step, cap_walk)     walk, steps = the step count or d / step length

Why reduction factors per mode rather than a city-average motorised baseline (the other form
DB11/T 3043-2024 allows): the only Chinese figures a city can cite today for bus and metro are
per-mode reductions per passenger-km, from Shenzhen's filed public-transport methodology; a
city-average baseline needs the city's own mode shares and fleet data, which no city has
supplied, and a guessed baseline would enter every mode at once. Per-mode factors keep each
guess in one parameter, each replaceable by a city's own value as one approved version, and
design the private-car occupancy out (1.0.0 credited every kilometre as a car kilometre).
The electricity of an e-bike is computed from a grid emission factor that is its own
parameter, so a yearly grid update is one approved version.

Distance: `distance_km` (partner data), the step count (walking) or the great-circle
distance between `start` and `end`, never longer than the route: conservative. Steps and walk
trips of one local day exclude each other (碳碳星球 practice): the day's steps are one record.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from .base import Parameter, PlausibilityContext, check_daily_count, decimal_param, int_param
from .green_travel import BIKES, GreenTravel, PointSchema, _overlaps

MODES = ("bus", "metro", "bike", "e_bike", "walk")
STEPS_GROUP = "walk_steps"  # the dedupe group of a day's step count
FILINGS = Path(__file__).resolve().parent.parent / "docs" / "methodologies"

SHENZHEN_2021 = (
    "《深圳市低碳公共出行碳普惠方法学（试行）》 (Shenzhen Ecology and Environment Bureau, "
    "Dec 2021), figures as reported by 深圳商报 2022-09-23 (a press report: confirm at the "
    "filed methodology before filing); imported, pending local data"
)
GB_17761 = (
    "GB 17761-2018 电动自行车安全技术规范 (e-bike safety standard, in force 2019-04-15): "
    "maximum design speed 25 km/h, rated continuous motor power at most 400 W; full text "
    "at the national standards portal openstd.samr.gov.cn (search GB 17761-2018)"
)


class GreenTravelRecordSchemaV2(Schema):
    mode = fields.String(required=True, validate=validate.OneOf(MODES))
    # Own or shared, for bikes and e-bikes: for the record and the statistics.
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
        if sum(("distance_km" in data, "steps" in data, has_points)) != 1:
            errors.setdefault("_schema", []).append(
                "give exactly one of distance_km, steps (walk only) or start+end")
        if "steps" in data and data.get("mode") != "walk":
            errors.setdefault("steps", []).append("steps are accepted for walking only")
        if "bike" in data and data.get("mode") not in ("bike", "e_bike"):
            errors.setdefault("bike", []).append("bike is given for bike and e-bike trips only")
        if ("started_at" in data) != ("ended_at" in data):
            errors.setdefault("_schema", []).append("started_at and ended_at go together")
        elif "started_at" in data and data["ended_at"] <= data["started_at"]:
            errors.setdefault("ended_at", []).append("ended_at must be after started_at")
        if errors:
            raise ValidationError(errors)


class GreenTravelV2(GreenTravel):
    version = "2.0.0"
    description = (
        "A trip by bus, metro, bike, shared e-bike or on foot, credited against the motorised "
        "trip it displaces by a reduction factor per mode (ER = d × RF_mode); e-bikes net of "
        "their electricity; walking per step with its own daily cap."
    )
    record_schema = GreenTravelRecordSchemaV2
    earlier_releases = (GreenTravel,)
    filing_document = str(FILINGS / "green_travel.md")
    # A step count is the day's walking, not a trip: it is the same act only as another
    # source's step count at the same instant, never a trip it happens to be stamped
    # inside. Steps and walk trips of one day exclude each other in _check_walking.
    timeless_groups = frozenset({STEPS_GROUP})

    @classmethod
    def dedupe_group(cls, record: Mapping[str, Any]) -> str:
        return STEPS_GROUP if record.get("steps") is not None else super().dedupe_group(record)

    @classmethod
    def default_parameters(cls) -> dict[str, Parameter]:
        D = Decimal
        return {
            # --- reduction factors per mode
            "rf_bus_g_per_pkm": Parameter(
                D("26.9"), "g CO2e / passenger-km", f"{SHENZHEN_2021}: electric bus 26.9",
                "Reduction per passenger-km of a bus trip against the motorised trip it "
                "displaces: Shenzhen's electric-bus value, a fixed figure imported as "
                "published, computed on Guangdong's grid. grid_ef_g_per_kwh does not reach "
                "it: a grid update changes nothing here until the city's operator data "
                "(kWh/vkm × grid factor, diesel L/km × 2.6–2.7 kg/L, ÷ average load) "
                "replaces it.",
            ),
            "rf_metro_g_per_pkm": Parameter(
                D("46.7"), "g CO2e / passenger-km", f"{SHENZHEN_2021}: metro 46.7",
                "Reduction per passenger-km of a metro trip: Shenzhen's fixed imported "
                "figure, computed on Guangdong's grid, which a grid_ef_g_per_kwh update does "
                "not reach until local operator data replaces it. Below Wuhan 2025's 78.4 "
                "g/km and "
                "the Beijing Transport Institute's ≈61 g/pkm (accounting review), so the "
                "smallest of the published comparators.",
            ),
            "rf_bike_g_per_pkm": Parameter(
                D("40"), "g CO2e / passenger-km",
                "Wuhan carbon-inclusion platform cycling factor 2023, 40 g/km, as listed in "
                "the accounting review (shared/reference/accounting-review.md, table 1; "
                "confirm at the platform's published rule before filing)",
                "Reduction per km cycled. The smaller of the two Wuhan values (2025: 93.3 "
                "g/km), below the metro reduction (46.7) though above the electric-bus one "
                "(26.9); bike manufacture and shared-bike rebalancing are inside the margin "
                "to Wuhan's 2025 value.",
            ),
            "grid_ef_g_per_kwh": Parameter(
                D("536.6"), "g CO2 / kWh",
                "生态环境部 and 国家统计局 announcement of the 2022 electricity CO2 emission "
                "factors (Dec 2024, www.mee.gov.cn): national average 0.5366 kg CO2/kWh, as "
                "cited in the accounting review (confirm at the announcement; a Jiangsu city "
                "uses the Jiangsu row of the same table)",
                "Grid emission factor for every electricity-based factor (e_bike; not the "
                "imported bus and metro figures). The national 2022 average is used pending "
                "the verified Jiangsu provincial row: the national figure is the one the "
                "review could cite, and the provincial row was not yet checked against the "
                "announcement. A Jiangsu deployment should replace it by one approved "
                "version; a yearly update is likewise one approved version.",
            ),
            "e_bike_kwh_per_km": Parameter(
                D("0.02"), "kWh / km",
                f"Derived from {GB_17761}: 400 W ÷ 25 km/h = 0.016 kWh/km at the motor, ÷ 0.8 "
                "charging efficiency (assumption) = 0.02 kWh/km",
                "Electricity drawn from the grid per e-bike km. Conservative: the motor's "
                "rated continuous power at top speed is more than an average ride draws, and "
                "more electricity means less credit.",
            ),
            "rf_step_g": Parameter(
                D("0.02"), "g CO2e / step",
                "武汉 碳碳星球 walking rule, 0.02 g per step, 湖北日报 2022-02-17 (as cited in "
                "the accounting review; a press report)",
                "Reduction per step walked (10,000 steps = 200 g).",
            ),
            "step_length_m": Parameter(
                D("0.762"), "m / step",
                "Pedometer default for men, 2.5 ft = 0.762 m (the longer of the common "
                "defaults, women 0.67 m), Verywell Fit 'How to Calculate Stride Length by "
                "Height'",
                "Turns a walk trip's distance into steps. The longer step gives fewer steps "
                "per km (1 km = 1,312 steps, 26.2 g): conservative.",
            ),
            "walk_daily_cap_g": Parameter(
                D("296"), "g CO2e / user / local day",
                "Ant Forest (蚂蚁森林) caps walking at 296 g a day (accounting review, table "
                "1); 碳碳星球 likewise caps steps per day",
                "Walking credits at most this a day, steps or walk trips: 14,800 steps.",
            ),
            # --- duplicates across sources
            "instant_match_tolerance_s": Parameter(
                3600, "s",
                "中国城市规划设计研究院《2023年度中国主要城市通勤监测报告》: Beijing, the "
                "longest, averages 47 min one way and Shenzhen 36 min (as reported; policy "
                "choice above both)",
                "A time a source gives without a span (a card's tap-in, a map app's trip end) "
                "is one act with another source's trip within this many seconds of it. An "
                "hour is longer than a typical urban trip, so two reports of one trip match: "
                "conservative (a longer tolerance merges more, credits less).",
            ),
            # --- plausibility limits
            "max_speed_kmh_walk": Parameter(
                D("8"), "km/h", "Policy choice", "Faster average speed is not walking."),
            "max_speed_kmh_bike": Parameter(
                D("25"), "km/h", f"{GB_17761}",
                "A pedal bike faster on average than an e-bike may be designed to go is an "
                "e-bike or a motor vehicle."),
            "max_speed_kmh_e_bike": Parameter(
                D("25"), "km/h", f"{GB_17761}",
                "Faster average speed is not a standard-compliant e-bike."),
            "max_speed_kmh_bus": Parameter(
                D("80"), "km/h", "Policy choice", "Faster average speed is not a city bus."),
            "max_speed_kmh_metro": Parameter(
                D("120"), "km/h", "Policy choice", "Faster average speed is not a metro."),
            "max_trip_km_walk": Parameter(
                D("30"), "km", "Policy choice", "Longest plausible single walk."),
            "max_trip_km_bike": Parameter(
                D("60"), "km", "Policy choice", "Longest plausible single city bike ride."),
            "max_trip_km_e_bike": Parameter(
                D("60"), "km", "Policy choice", "Longest plausible single shared e-bike ride."),
            "max_trip_km_bus": Parameter(
                D("100"), "km", "Policy choice", "Longest plausible single city bus ride."),
            "max_trip_km_metro": Parameter(
                D("100"), "km", "Policy choice", "Longest plausible single metro ride."),
            "max_trips_per_day": Parameter(
                20, "trips / day", "Policy choice", "More trips in one local day is implausible."),
            # --- policy
            "daily_cap_g": Parameter(
                D("2000"), "g CO2e / user / local day", "Policy choice",
                "About a 2 × 20 km metro commute (40 km × 46.7 g = 1,868 g) and a short ride; "
                "below the platform's 5,000 g a day for all methodologies.",
            ),
            "accepted_sources": Parameter(
                ("partner", "self_report"), "", "Policy choice",
                "Transit, bike-share and map partners; self check-ins are accepted, discounted.",
            ),
            "self_report_policy": Parameter(
                "discount", "",
                "Wuhan 碳碳星球 practice: a self check-in earned about half of a ticket upload "
                "(bus 52 g vs 105 g), as summarised in the project reference primer",
                "Self-reported trips are credited at self_report_factor; they must give "
                "start/end points and times (see plausibility).",
            ),
            "self_report_factor": Parameter(
                D("0.495"), "fraction",
                "Wuhan 碳碳星球: 52 g for a self check-in against 105 g for an uploaded "
                "ticket, 52 / 105 = 0.495 (rounded down: conservative), project reference "
                "primer",
                "Share of the reduction credited for a self-reported trip.",
            ),
        }

    @classmethod
    def steps(cls, record: Mapping[str, Any], params: Mapping[str, Any]) -> Decimal:
        """Steps of a walk: the count given, or the distance over the (long) step length."""
        if record.get("steps") is not None:
            return Decimal(record["steps"])
        return cls.distance_km(record, params) * 1000 / decimal_param(params, "step_length_m")

    @classmethod
    def emissions(
        cls, record: Mapping[str, Any], params: Mapping[str, Any]
    ) -> tuple[Decimal, Decimal]:
        mode = record["mode"]
        if mode == "walk":
            grams = cls.steps(record, params) * decimal_param(params, "rf_step_g")
            return min(grams, decimal_param(params, "walk_daily_cap_g")), Decimal(0)
        km = cls.distance_km(record, params)
        if mode == "e_bike":
            electricity = decimal_param(params, "grid_ef_g_per_kwh") * decimal_param(
                params, "e_bike_kwh_per_km")
            return km * decimal_param(params, "rf_bike_g_per_pkm"), km * electricity
        return km * decimal_param(params, f"rf_{mode}_g_per_pkm"), Decimal(0)

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
        # A step count is a day's walking, not one walk: the walking cap caps it, and the
        # per-trip length (30 km = 39,370 steps of 0.762 m) does not refuse it.
        if record.get("steps") is None and km > max_km:
            reasons.append(f"{mode} trip of {km} km exceeds the {max_km} km limit per trip")
        if mode == "walk":
            reasons.extend(cls._check_walking(record, params, context))

        started, ended = record.get("started_at"), record.get("ended_at")
        if started is not None and ended is not None:
            speed = km * 3600 / Decimal(str((ended - started).total_seconds()))
            max_speed = decimal_param(params, f"max_speed_kmh_{mode}")
            if speed > max_speed:
                reasons.append(
                    f"average speed {speed.quantize(Decimal('0.1'))} km/h is implausible for "
                    f"{mode} (limit {max_speed} km/h)")
            # Across modes: a walking leg inside a metro trip's window is part of that trip.
            if any(_overlaps(started, ended, o.get("started_at"), o.get("ended_at"))
                   for o in context.same_day_records):
                reasons.append("trip overlaps another trip recorded the same day")
        return reasons

    @classmethod
    def _check_walking(
        cls, record: Mapping[str, Any], params: Mapping[str, Any], context: PlausibilityContext
    ) -> list[str]:
        """A day's walking is its step count or its walk trips, never both, within its cap."""
        walks = [o for o in context.same_day_records if o.get("mode") == "walk"]
        if record.get("steps") is not None:
            if any(o.get("steps") is not None for o in walks):
                return ["the day's steps are already recorded; steps are one record a day"]
            if walks:
                return ["walk trips are already recorded today; steps and walk trips of one "
                        "day exclude each other"]
            return []
        if any(o.get("steps") is not None for o in walks):
            return ["the day's steps are already recorded; steps and walk trips of one day "
                    "exclude each other"]
        cap = decimal_param(params, "walk_daily_cap_g")
        before = sum((cls.quantify(o, params) for o in walks), Decimal(0))
        if before + cls.quantify(record, params) > cap:
            return [f"walking credits at most {cap} g a day; {before} g already recorded "
                    "today"]
        return []
