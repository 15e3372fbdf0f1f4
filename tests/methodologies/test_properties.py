"""Property tests: reductions are never negative and always kept to the milligram."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from methodologies.clean_plate import CleanPlate
from methodologies.green_travel import MODES, GreenTravel
from methodologies.paperless import KINDS, Paperless
from methodologies.recycling import MATERIALS, Recycling

factors = st.decimals(min_value=0, max_value=10_000, places=3, allow_nan=False)
amounts = st.decimals(min_value=Decimal("0.001"), max_value=5_000, places=3, allow_nan=False)


def _check(result: Decimal) -> None:
    assert result >= 0
    assert result == result.quantize(Decimal("0.001"))


@settings(max_examples=200)
@given(
    mode=st.sampled_from(MODES),
    km=amounts,
    occupancy=st.decimals(min_value=1, max_value=8, places=2),
    project=factors,
)
def test_green_travel_never_negative(mode, km, occupancy, project) -> None:
    params = {
        **GreenTravel.default_values(),
        "car_occupancy": occupancy,
        f"ef_{mode}_g_per_pkm": project,
    }
    record = GreenTravel.load_record({"mode": mode, "distance_km": str(km)})
    _check(GreenTravel.quantify(record, params))


@given(meals=st.integers(1, 1000), baseline=factors, project=factors)
def test_clean_plate_never_negative(meals, baseline, project) -> None:
    params = {
        **CleanPlate.default_values(),
        "ef_baseline_waste_g_per_meal": baseline,
        "ef_clean_plate_g_per_meal": project,
    }
    _check(CleanPlate.quantify(CleanPlate.load_record({"meals": meals}), params))


@given(
    items=st.dictionaries(st.sampled_from(MATERIALS), amounts, min_size=1, max_size=7),
    shift=st.decimals(min_value=-5_000, max_value=5_000, places=2),
)
def test_recycling_never_negative(items, shift) -> None:
    params = {**Recycling.default_values(), "ef_paper_g_per_kg": shift}
    record = Recycling.load_record(
        {"items": [{"material": m, "kg": str(kg)} for m, kg in items.items()]}
    )
    _check(Recycling.quantify(record, params))


@given(kind=st.sampled_from(KINDS), sheets=st.integers(1, 100_000), digital=factors)
def test_paperless_never_negative(kind, sheets, digital) -> None:
    params = {**Paperless.default_values(), "ef_digital_g_per_sheet": digital}
    _check(Paperless.quantify(Paperless.load_record({"kind": kind, "sheets": sheets}), params))
