"""光盘行动 clean plate, release 2.0.0: a meal finished without leftovers, confirmed by a
partner canteen or restaurant.

ER = meals × (W_plate × EF_food_waste − EF_clean_plate): the baseline is the plate waste of an
average urban diner (93 g a meal, CAS-IGSNRR/WWF 2018) times the life-cycle emissions of wasted
food per kg (Chinese canteen plate waste, Qian et al. 2022); a clean plate leaves none.

Usual practice and additionality: the average diner leaves 93 g, so a confirmed clean plate
is a change from the usual practice, but diners who always finish their plate select
themselves into the programme. That is why only a partner's confirmation counts, meals a day
are limited, and the factor is the smaller of the cited values (FAO 2013's ≈2.5 kg/kg is an
upper bound; this uses 1.619).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from .base import Parameter, decimal_param
from .clean_plate import CleanPlate

FILINGS = Path(__file__).resolve().parent.parent / "docs" / "methodologies"


class CleanPlateV2(CleanPlate):
    version = "2.0.0"
    description = (
        "Avoided food-waste emissions for a meal finished without leftovers, reported by a "
        "partner canteen or restaurant (ER = meals × 93 g plate waste × emissions per kg of "
        "wasted food)."
    )
    earlier_releases = (CleanPlate,)
    filing_document = str(FILINGS / "clean_plate.md")

    @classmethod
    def default_parameters(cls) -> dict[str, Parameter]:
        D = Decimal
        params = super().default_parameters()
        params.pop("ef_baseline_waste_g_per_meal")
        return {
            "plate_waste_g_per_meal": Parameter(
                D("93"), "g food / person / meal",
                "中国科学院地理科学与资源研究所 and WWF, 《中国城市餐饮食物浪费报告》 (2018): "
                "urban restaurant diners waste 93 g per person per meal",
                "Baseline plate waste of an average urban diner.",
            ),
            "ef_food_waste_g_per_g": Parameter(
                D("1.619"), "g CO2e / g food wasted",
                "Qian L. et al. (2022), 'Food waste and associated carbon footprint: evidence "
                "from Chinese universities', Ecosystem Health and Sustainability 8(1):2130094, "
                "https://doi.org/10.1080/20964129.2022.2130094: 1.55 Mt plate waste in 2018 "
                "with a footprint of 2.51 Mt CO2e, 2.51 / 1.55 = 1.6193 (rounded down)",
                "Life-cycle emissions of the wasted food (production to plate). A Chinese "
                "canteen mix; below FAO 2013's global ≈2.5 kg/kg, an upper bound.",
            ),
            **params,
            "daily_cap_g": Parameter(
                D("602"), "g CO2e / user / local day",
                "Derived: max_meals_per_day × plate waste × factor = 4 × 150.567 g, rounded "
                "down",
                "Never more than four clean-plate meals a day are credited.",
            ),
        }

    @classmethod
    def emissions(
        cls, record: Mapping[str, Any], params: Mapping[str, Any]
    ) -> tuple[Decimal, Decimal]:
        meals = Decimal(record["meals"])
        per_meal = decimal_param(params, "plate_waste_g_per_meal") * decimal_param(
            params, "ef_food_waste_g_per_g")
        return meals * per_meal, meals * decimal_param(params, "ef_clean_plate_g_per_meal")
