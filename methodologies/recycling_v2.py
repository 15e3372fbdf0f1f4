"""垃圾分类与回收 sorting and recycling, release 2.0.0: kilograms of a material recycled
instead of burnt with the residual waste.

ER = Σ kg_m × EF_m, EF_m = the production emissions recycled material m avoids (UK DESNZ 2025
'Material use': primary production minus closed-loop source, per tonne).

Baseline disposal route: incineration with energy recovery. Jiangsu burns most of its
residual municipal waste rather than landfilling it, so the US landfill route of WARM (1.0.0's
source for plastics and glass) does not apply: no avoided landfill methane is credited. Under
DESNZ's cut-off convention the emissions of burning waste and the energy it yields belong to
that energy's users, so the disposal route adds nothing to the factors above and the credit
is the production saving alone. Conservative for the route: burning plastics and synthetic
textiles emits fossil CO2 (about 2 kg per kg of plastic) that recycling avoids and that is not
credited here. Not conservative in one respect, stated in the filing (§2, §5): the cut-off
convention ignores the energy incinerating paper, board and textiles would have recovered,
which the grid then makes up; that displaced energy is not deducted. Records come from
partner kiosks and stations that weigh the material.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from .base import Parameter
from .recycling import DESNZ_2025_MATERIAL, Recycling

FILINGS = Path(__file__).resolve().parent.parent / "docs" / "methodologies"
BASELINE_ROUTE = (
    "Baseline disposal: incineration with energy recovery (Jiangsu burns most residual "
    "municipal waste); no landfill methane is credited"
)


class RecyclingV2(Recycling):
    version = "2.0.0"
    description = (
        "Avoided production emissions of weighed recyclables (paper, cardboard, plastic, "
        "metal, glass, textiles, e-waste) recycled instead of incinerated with the residual "
        "waste, reported by a partner station."
    )
    earlier_releases = (Recycling,)
    filing_document = str(FILINGS / "recycling.md")

    @classmethod
    def default_parameters(cls) -> dict[str, Parameter]:
        D = Decimal
        return {
            "ef_paper_g_per_kg": Parameter(
                D("295"), "g CO2e avoided / kg",
                f"{DESNZ_2025_MATERIAL}; Paper and board: paper, 1,345 − 1,050 = 295 kg CO2e/t",
                f"{BASELINE_ROUTE}. Office and newspaper-grade paper.",
            ),
            "ef_cardboard_g_per_kg": Parameter(
                D("101"), "g CO2e avoided / kg",
                f"{DESNZ_2025_MATERIAL}; Paper and board: board, 1,199.7 − 1,098.1 = 101.6 kg "
                "CO2e/t (rounded down)",
                f"{BASELINE_ROUTE}. 1.0.0 used the paper row (295), which over-credits board "
                "2.9×; WARM's corrugated 3.66 kg/kg counts forest carbon and landfill methane "
                "and is not used. Old cardboard is already collected commercially, so this "
                "credit is small on purpose.",
            ),
            "ef_plastic_g_per_kg": Parameter(
                D("1597"), "g CO2e avoided / kg",
                f"{DESNZ_2025_MATERIAL}; Plastics: average plastics, 1,597.1 kg CO2e/t "
                "(rounded down)",
                f"{BASELINE_ROUTE}. Resin unknown at a citizen drop-off, so the average. "
                "Against incineration the avoided fossil CO2 of burning would add about 2 kg/kg; "
                "it is left out (conservative).",
            ),
            "ef_metal_g_per_kg": Parameter(
                D("1040"), "g CO2e avoided / kg",
                f"{DESNZ_2025_MATERIAL}; Metal: steel cans, 1,040 kg CO2e/t",
                f"{BASELINE_ROUTE}. Metal is credited as steel cans: the mix is unknown and "
                "aluminium (8,120.8 kg/t) would over-credit steel.",
            ),
            "ef_glass_g_per_kg": Parameter(
                D("579"), "g CO2e avoided / kg",
                f"{DESNZ_2025_MATERIAL}; Glass, 579.6 kg CO2e/t (rounded down)",
                f"{BASELINE_ROUTE}. Glass is inert in an incinerator: the production saving "
                "is the whole credit (1.0.0's 330 g was WARM's landfill comparison).",
            ),
            "ef_textile_g_per_kg": Parameter(
                D("1280"), "g CO2e avoided / kg",
                "Luzhou 绿芽积分 platform rule: 1 kg old clothes = 1,280 g, as reported in the "
                "project reference primer (a platform rule, not a measured factor)",
                f"{BASELINE_ROUTE}. Kept from 1.0.0: poorly sourced, but far below the "
                "production emissions of any textile fibre (cotton and polyester take several "
                "kg CO2e per kg to make), so conservative; replace with a cited factor.",
            ),
            "ef_e_waste_g_per_kg": Parameter(
                D("992.08"), "g CO2e avoided / kg",
                "US EPA Waste Reduction Model (WARM) v16 documentation, "
                "https://www.epa.gov/warm: mixed electronics, the recycling factor alone "
                "(−0.90 MTCO2E/short ton; no landfilling term subtracted), converted at "
                "1 short ton = 907.18474 kg",
                f"{BASELINE_ROUTE}. 0.90 t / 907.18474 kg = 992.08 g/kg (rounded down): the "
                "material-recovery credit alone, no disposal term; DESNZ 2025 has no mixed "
                "electronics row.",
            ),
            "max_kg_per_record": Parameter(
                D("200"), "kg", "Policy choice",
                "A citizen drop-off heavier than this is a business volume."),
            "max_kg_per_material": Parameter(
                D("100"), "kg", "Policy choice", "Limit for a single material in one record."),
            "max_records_per_day": Parameter(
                10, "records / day", "Policy choice", "Drop-offs per user per local day."),
            "daily_cap_g": Parameter(
                D("3000"), "g CO2e / user / local day", "Policy choice",
                "Below the platform's 5,000 g a day for all methodologies, so it binds: about "
                "10 kg of paper or 1.9 kg of plastic a day; business volumes belong in another "
                "mechanism.",
            ),
            "accepted_sources": Parameter(
                ("partner",), "",
                "Policy choice (reference primer: recycling kiosks send verified records)",
                "Only weighing partners (kiosks, recycling stations)."),
            "self_report_policy": Parameter(
                "refuse", "", "Policy choice", "Self-reported weights are refused."),
            "self_report_factor": Parameter(
                D("0"), "fraction", "Policy choice", "Unused: self-reports are refused."),
        }
