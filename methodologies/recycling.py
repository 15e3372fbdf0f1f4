"""垃圾分类与回收 sorting and recycling: kilograms of a material recycled instead of landfilled.

ER = Σ kg_m × EF_m, where EF_m is the *net* avoided emissions per kg of material m
(recycling compared with landfill), so the baseline-minus-project difference is already inside
the factor: baseline = Σ kg_m × EF_m, project = 0. Where the US EPA WARM v16 and the UK DESNZ
2025 factors both exist, the smaller one is used (conservativeness: where unsure, credit less).
Records come from partner kiosks and recycling stations that weigh the material.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
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

MATERIALS = ("paper", "cardboard", "plastic", "metal", "glass", "textile", "e_waste")

DESNZ_2025_MATERIAL = (
    "UK DESNZ, Greenhouse gas reporting: conversion factors 2025, 'Material use' "
    "(primary material production minus closed-loop source), "
    "https://www.gov.uk/government/publications/greenhouse-gas-reporting-conversion-factors-2025"
)
WARM_V16 = (
    "US EPA Waste Reduction Model (WARM) v16 documentation, recycling minus landfilling, "
    "converted from MTCO2E per short ton (1 short ton = 907.18474 kg), "
    "https://www.epa.gov/warm"
)


class ItemSchema(Schema):
    material = fields.String(required=True, validate=validate.OneOf(MATERIALS))
    # Upper bound is a sanity limit only; realistic limits are plausibility checks.
    kg = fields.Decimal(
        required=True, validate=validate.Range(min=0, max=10_000, min_inclusive=False)
    )


class RecyclingRecordSchema(Schema):
    items = fields.List(
        fields.Nested(ItemSchema), required=True, validate=validate.Length(min=1, max=10)
    )

    @validates_schema
    def _one_item_per_material(self, data: dict[str, Any], **kwargs: Any) -> None:
        materials = [item["material"] for item in data.get("items", [])]
        duplicates = sorted({m for m in materials if materials.count(m) > 1})
        if duplicates:
            raise ValidationError(
                f"one item per material; listed more than once: {', '.join(duplicates)}",
                "items",
            )


class Recycling(Methodology):
    code = "recycling"
    name_zh = "垃圾分类与回收"
    name_en = "Sorting and recycling"
    version = "1.0.0"
    description = (
        "Avoided emissions of weighed recyclables (paper, cardboard, plastic, metal, glass, "
        "textiles, e-waste) recycled instead of landfilled, reported by a partner station."
    )
    record_schema = RecyclingRecordSchema

    @classmethod
    def default_parameters(cls) -> dict[str, Parameter]:
        D = Decimal
        return {
            "ef_paper_g_per_kg": Parameter(
                D("295"),
                "g CO2e avoided / kg",
                f"{DESNZ_2025_MATERIAL}; Paper and board: paper, 295 kg CO2e/t",
                "WARM v16 mixed paper has a recycling factor of −3.55 MTCO2E/short ton "
                "(3,913 g/kg); the reference gives no WARM landfill factor to net it against, "
                "so it is not used. DESNZ's 295 g/kg is the smaller credible value.",
            ),
            "ef_cardboard_g_per_kg": Parameter(
                D("295"),
                "g CO2e avoided / kg",
                f"{DESNZ_2025_MATERIAL}; Paper and board: paper, 295 kg CO2e/t (used as "
                f"proxy); compare {WARM_V16}: corrugated containers 3.66 kg/kg",
                "WARM credits corrugated cardboard 3,660 g/kg, over ten times the DESNZ "
                "paper saving. Cardboard is a paper-and-board product, so the smaller DESNZ "
                "paper value is applied until a board-specific factor is verified.",
            ),
            "ef_plastic_g_per_kg": Parameter(
                D("1050"),
                "g CO2e avoided / kg",
                f"{WARM_V16}: mixed plastics 1.05 kg/kg",
                "Resin unknown at a citizen drop-off, so WARM 'mixed plastics' (PET 1.17, "
                "HDPE 0.86); smaller than DESNZ 2025 average plastics 1,597 kg/t.",
            ),
            "ef_metal_g_per_kg": Parameter(
                D("1040"),
                "g CO2e avoided / kg",
                f"{DESNZ_2025_MATERIAL}; Metal: steel cans, 1,040 kg CO2e/t",
                "Metal is credited as steel cans: the mix is unknown and aluminium (WARM "
                "10.09, DESNZ 8.121 kg/kg) would over-credit steel. WARM steel cans give "
                "2.04 kg/kg; DESNZ is smaller.",
            ),
            "ef_glass_g_per_kg": Parameter(
                D("330"),
                "g CO2e avoided / kg",
                f"{WARM_V16}: glass 0.33 kg/kg",
                "Smaller than DESNZ 2025 glass 580 kg/t.",
            ),
            "ef_textile_g_per_kg": Parameter(
                D("1280"),
                "g CO2e avoided / kg",
                "Luzhou 绿芽积分 platform rule: 1 kg old clothes = 1,280 g, as reported in the "
                "project reference primer",
                "The only textile value in our sources; verify against the platform rule or "
                "a WARM/DESNZ textile factor before filing.",
            ),
            "ef_e_waste_g_per_kg": Parameter(
                D("992.08"),
                "g CO2e avoided / kg",
                f"{WARM_V16}: mixed electronics, recycling factor −0.90 MTCO2E/short ton",
                "0.90 t / 907.18474 kg = 992.08 g/kg (rounded down). Our sources give no "
                "landfill factor for electronics, so none is subtracted. Landfilling inert "
                "material emits ≥ 0 (the reference shows +0.02 for aluminium cans), so the "
                "recycling factor alone credits no more than recycling minus landfill.",
            ),
            "max_kg_per_record": Parameter(
                D("200"),
                "kg",
                "Policy choice",
                "A citizen drop-off heavier than this is a business volume.",
            ),
            "max_kg_per_material": Parameter(
                D("100"), "kg", "Policy choice", "Limit for a single material in one record."
            ),
            "max_records_per_day": Parameter(
                10, "records / day", "Policy choice", "Drop-offs per user per local day."
            ),
            "daily_cap_g": Parameter(
                D("10000"),
                "g CO2e / user / local day",
                "Policy choice",
                "About 34 kg of paper or 7.8 kg of textiles a day; household volumes stay "
                "below it, business volumes belong in another mechanism.",
            ),
            "accepted_sources": Parameter(
                ("partner",),
                "",
                "Policy choice (reference primer: recycling kiosks send verified records)",
                "Only weighing partners (kiosks, recycling stations).",
            ),
            "self_report_policy": Parameter(
                "refuse", "", "Policy choice", "Self-reported weights are refused."
            ),
            "self_report_factor": Parameter(
                D("0"), "fraction", "Policy choice", "Unused: self-reports are refused."
            ),
        }

    @classmethod
    def emissions(
        cls, record: Mapping[str, Any], params: Mapping[str, Any]
    ) -> tuple[Decimal, Decimal]:
        baseline = sum(
            (
                Decimal(item["kg"]) * decimal_param(params, f"ef_{item['material']}_g_per_kg")
                for item in record["items"]
            ),
            Decimal(0),
        )
        return baseline, Decimal(0)

    @classmethod
    def check_record(
        cls,
        record: Mapping[str, Any],
        params: Mapping[str, Any],
        context: PlausibilityContext,
    ) -> list[str]:
        reasons = check_daily_count(
            context, int_param(params, "max_records_per_day"), "recycling drop-offs"
        )
        per_material = decimal_param(params, "max_kg_per_material")
        for item in record["items"]:
            if Decimal(item["kg"]) > per_material:
                reasons.append(
                    f"{item['kg']} kg of {item['material']} in one record; "
                    f"at most {per_material} kg per material"
                )
        total = sum((Decimal(item["kg"]) for item in record["items"]), Decimal(0))
        per_record = decimal_param(params, "max_kg_per_record")
        if total > per_record:
            reasons.append(f"{total} kg in one record; at most {per_record} kg")
        return reasons
