"""光盘行动 clean plate: a meal finished without food waste, confirmed by a canteen/restaurant.

ER = meals × (EF_waste_baseline − EF_waste_clean_plate). The baseline is the emissions of the
food an average diner would have left; a clean plate leaves none. Records come from partner
canteens only: a diner cannot prove a clean plate by themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from marshmallow import Schema, fields, validate

from .base import Methodology, Parameter, PlausibilityContext, decimal_param, int_param


class CleanPlateRecordSchema(Schema):
    # Upper bound is a sanity limit only; realistic limits are plausibility checks.
    meals = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=1000))
    canteen_id = fields.String(validate=validate.Length(min=1, max=64))


class CleanPlate(Methodology):
    code = "clean_plate"
    name_zh = "光盘行动"
    name_en = "Clean plate"
    version = "1.0.0"
    description = (
        "Avoided food-waste emissions for a meal finished without leftovers, reported by a "
        "partner canteen or restaurant (ER = meals × baseline waste emissions per meal)."
    )
    record_schema = CleanPlateRecordSchema
    # Where the person eats (their workplace's or school's canteen, day after day).
    personal_fields = frozenset({"canteen_id"})

    @classmethod
    def default_parameters(cls) -> dict[str, Parameter]:
        D = Decimal
        return {
            "ef_baseline_waste_g_per_meal": Parameter(
                D("144"),
                "g CO2e / meal",
                "Luzhou 绿芽积分 光盘打卡: 144 g per check-in, 光明日报 2024-10-10",
                "Emissions of the food an average diner leaves. The Chinese Academy of "
                "Sciences study (reported 2020) gives 0.34 kg per person per meal for urban "
                "restaurants and Beijing's 绿色生活季 credits ≥ 449 g per event; the smallest "
                "credible value, Luzhou's per check-in credit applied per meal, is used.",
            ),
            "ef_clean_plate_g_per_meal": Parameter(
                D("0"),
                "g CO2e / meal",
                "Definition: a clean plate leaves no food waste",
                "Project emissions of the wasted food for a clean plate.",
            ),
            "max_meals_per_record": Parameter(
                3, "meals", "Policy choice", "A canteen confirms one diner's meal at a time."
            ),
            "max_meals_per_day": Parameter(
                4,
                "meals / day",
                "Policy choice",
                "Breakfast, lunch, dinner and one late meal; more in one local day is implausible.",
            ),
            "daily_cap_g": Parameter(
                D("576"),
                "g CO2e / user / local day",
                "Derived: max_meals_per_day × ef_baseline_waste_g_per_meal = 4 × 144 g",
                "Never more than four clean-plate meals a day are credited.",
            ),
            "accepted_sources": Parameter(
                ("partner",),
                "",
                "Policy choice (reference primer: data comes from partners)",
                "Only canteen/restaurant partners can confirm a clean plate.",
            ),
            "self_report_policy": Parameter(
                "refuse", "", "Policy choice", "Self-reported clean plates are refused."
            ),
            "self_report_factor": Parameter(
                D("0"), "fraction", "Policy choice", "Unused: self-reports are refused."
            ),
        }

    @classmethod
    def emissions(
        cls, record: Mapping[str, Any], params: Mapping[str, Any]
    ) -> tuple[Decimal, Decimal]:
        meals = Decimal(record["meals"])
        baseline = meals * decimal_param(params, "ef_baseline_waste_g_per_meal")
        project = meals * decimal_param(params, "ef_clean_plate_g_per_meal")
        return baseline, project

    @classmethod
    def check_record(
        cls,
        record: Mapping[str, Any],
        params: Mapping[str, Any],
        context: PlausibilityContext,
    ) -> list[str]:
        reasons: list[str] = []
        meals = record["meals"]
        per_record = int_param(params, "max_meals_per_record")
        per_day = int_param(params, "max_meals_per_day")
        if meals > per_record:
            reasons.append(f"{meals} meals in one record; at most {per_record}")
        # Each earlier record holds at least one meal; use the exact total when known.
        known = sum(int(r.get("meals", 1)) for r in context.same_day_records)
        before = max(known, context.same_day_count)
        if before + meals > per_day:
            reasons.append(
                f"{before + meals} meals in one day (already {before} today); at most {per_day}"
            )
        return reasons
