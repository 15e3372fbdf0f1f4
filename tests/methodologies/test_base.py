"""Parameters, parameter hashes, the quantify clamp and the source/daily-cap policy."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal, localcontext
from pathlib import Path

import pytest

from methodologies.base import (
    Parameter,
    PlausibilityContext,
    check_policy_values,
    parameter_hash,
    params_values,
    values_to_json,
)
from methodologies.clean_plate import CleanPlate
from methodologies.green_travel import GreenTravel
from methodologies.paperless import Paperless
from methodologies.recycling import Recycling
from tests.methodologies.fake_module import FakeMethodology, NegativeMethodology

BUILTINS = (GreenTravel, CleanPlate, Recycling, Paperless)
ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- Parameter


def test_parameter_list_value_becomes_tuple() -> None:
    p = Parameter(["partner"], "", "test", "sources")
    assert p.value == ("partner",)
    assert hash(p)  # frozen and hashable


@pytest.mark.parametrize("bad", [0.5, None, {"a": 1}, ("partner", 1), Decimal("NaN")])
def test_parameter_rejects_bad_values(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        Parameter(bad, "", "test", "bad")  # type: ignore[arg-type]


def test_params_values_keeps_only_values() -> None:
    params = {"a": Parameter(Decimal("1.5"), "g", "src", "d"), "b": Parameter(3, "", "s", "d")}
    assert params_values(params) == {"a": Decimal("1.5"), "b": 3}


# --------------------------------------------------------------------------- hashing


def test_parameter_hash_is_stable() -> None:
    values = GreenTravel.default_values()
    reordered = dict(reversed(list(values.items())))
    assert parameter_hash(values) == parameter_hash(reordered)
    assert parameter_hash(values) == parameter_hash(GreenTravel.default_values())
    assert len(parameter_hash(values)) == 64


def test_parameter_hash_changes_with_a_factor() -> None:
    values = GreenTravel.default_values()
    changed = {**values, "ef_bus_g_per_pkm": Decimal("103.86")}
    assert parameter_hash(values) != parameter_hash(changed)


def test_parameter_hash_canonical_form() -> None:
    # Decimals are hashed as strings, keys sorted, no whitespace.
    values = {"b": Decimal("1.50"), "a": ("partner",), "c": True, "d": 3}
    import hashlib

    canonical = '{"a":["partner"],"b":"1.50","c":true,"d":3}'
    assert parameter_hash(values) == hashlib.sha256(canonical.encode()).hexdigest()
    # The recorded representation counts: 1.5 and 1.50 are different parameter sets.
    assert parameter_hash({"b": Decimal("1.5")}) != parameter_hash({"b": Decimal("1.50")})
    # bool and int are distinct.
    assert parameter_hash({"x": True}) != parameter_hash({"x": 1})


def test_parameter_hash_rejects_floats() -> None:
    with pytest.raises(TypeError):
        parameter_hash({"x": 0.5})


@pytest.mark.parametrize("methodology", BUILTINS, ids=lambda m: m.code)
def test_stored_parameter_set_round_trips(methodology) -> None:
    values = methodology.default_values()
    stored = json.loads(json.dumps(values_to_json(values)))
    restored = methodology.coerce_params(stored)
    assert restored == values
    assert parameter_hash(restored) == parameter_hash(values)


def test_coerce_params_rejects_mismatched_sets() -> None:
    stored = values_to_json(FakeMethodology.default_values())
    with pytest.raises(ValueError, match="missing"):
        FakeMethodology.coerce_params({k: v for k, v in stored.items() if k != "baseline_g"})
    with pytest.raises(ValueError, match="unknown"):
        FakeMethodology.coerce_params({**stored, "extra": "1"})
    with pytest.raises(ValueError, match="baseline_g"):
        FakeMethodology.coerce_params({**stored, "baseline_g": "ten"})
    with pytest.raises(ValueError, match="self_report_factor"):
        FakeMethodology.coerce_params({**stored, "self_report_factor": "1.5"})


def test_check_policy_values_rejects_incoherent_policy() -> None:
    values = FakeMethodology.default_values()
    with pytest.raises(ValueError, match="refuse"):
        check_policy_values({**values, "self_report_policy": "refuse"})
    with pytest.raises(ValueError, match="accepted_sources"):
        check_policy_values({**values, "accepted_sources": ("partner", "fax")})


# --------------------------------------------------------------------------- quantify


def test_quantify_is_baseline_minus_project() -> None:
    # 3 units × (10 − 4) g = 18 g
    record = FakeMethodology.load_record({"units": 3})
    assert FakeMethodology.quantify(record, FakeMethodology.default_values()) == Decimal("18")


def test_quantify_never_negative() -> None:
    # 3 units × (10 − 25) g = −45 g → clamped to 0
    record = NegativeMethodology.load_record({"units": 3})
    result = NegativeMethodology.quantify(record, NegativeMethodology.default_values())
    assert result == Decimal("0")
    assert not result.is_signed()


def test_quantify_ignores_the_callers_decimal_context() -> None:
    record = GreenTravel.load_record({"mode": "metro", "distance_km": "10"})
    with localcontext() as ctx:
        ctx.prec = 2
        assert GreenTravel.quantify(record, GreenTravel.default_values()) == Decimal("837.0")


# --------------------------------------------------------------------------- policy


def test_apply_policy_discount_and_cap() -> None:
    values = FakeMethodology.default_values()  # discount 0.5, cap 100 g
    apply = FakeMethodology.apply_policy
    assert apply(Decimal("60"), values, source="partner") == Decimal("60")
    assert apply(Decimal("60"), values, source="self_report") == Decimal("30")
    # 80 g already credited today: only 20 g of room left under the 100 g cap.
    assert apply(Decimal("60"), values, source="partner", credited_today_g=Decimal("80")) == 20
    assert apply(Decimal("60"), values, source="partner", credited_today_g=Decimal("150")) == 0
    assert apply(Decimal("-5"), values, source="partner") == 0
    with pytest.raises(ValueError):
        apply(Decimal("1"), values, source="fax")


def test_plausibility_context_validates_source() -> None:
    with pytest.raises(ValueError):
        PlausibilityContext(same_day_count=0, source="fax")
    with pytest.raises(ValueError):
        PlausibilityContext(same_day_count=-1, source="partner")
    ctx = PlausibilityContext(same_day_count=0, source="partner", same_day_records=[{}])
    assert ctx.same_day_records == ({},)


# --------------------------------------------------------------------------- built-ins


@pytest.mark.parametrize("methodology", BUILTINS, ids=lambda m: m.code)
def test_every_builtin_parameter_is_documented(methodology) -> None:
    params = methodology.default_parameters()
    for name in ("daily_cap_g", "accepted_sources", "self_report_policy", "self_report_factor"):
        assert name in params
    for name, p in params.items():
        assert p.source.strip(), f"{methodology.code}.{name} has no source"
        assert p.description.strip(), f"{methodology.code}.{name} has no description"
        if name.startswith("ef_"):
            assert isinstance(p.value, Decimal) and p.value >= 0
            assert p.unit.startswith("g"), f"{name} should be in grams"


def test_package_imports_without_the_app() -> None:
    code = (
        "import sys, methodologies, methodologies.green_travel, methodologies.clean_plate, "
        "methodologies.recycling, methodologies.paperless; "
        "bad = [m for m in ('app', 'flask', 'sqlalchemy') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
