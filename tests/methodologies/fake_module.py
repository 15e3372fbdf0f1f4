"""Small methodology classes for registry and base-class tests (not collected by pytest)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from marshmallow import Schema, fields, validate

from methodologies.base import Methodology, Parameter


class UnitsSchema(Schema):
    units = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))


def _policy() -> dict[str, Parameter]:
    return {
        "daily_cap_g": Parameter(Decimal("100"), "g", "test", "cap"),
        "accepted_sources": Parameter(("partner", "self_report"), "", "test", "sources"),
        "self_report_policy": Parameter("discount", "", "test", "policy"),
        "self_report_factor": Parameter(Decimal("0.5"), "fraction", "test", "factor"),
    }


class FakeMethodology(Methodology):
    """Baseline 10 g per unit, project 4 g per unit: 6 g per unit."""

    code = "fake_method"
    name_zh = "测试方法学"
    name_en = "Fake methodology"
    version = "0.1.0"
    description = "Test-only methodology."
    record_schema = UnitsSchema

    @classmethod
    def default_parameters(cls) -> dict[str, Parameter]:
        return {
            "baseline_g": Parameter(Decimal("10"), "g / unit", "test", "baseline"),
            "project_g": Parameter(Decimal("4"), "g / unit", "test", "project"),
            **_policy(),
        }

    @classmethod
    def emissions(
        cls, record: Mapping[str, Any], params: Mapping[str, Any]
    ) -> tuple[Decimal, Decimal]:
        units = Decimal(record["units"])
        return units * Decimal(params["baseline_g"]), units * Decimal(params["project_g"])


class NegativeMethodology(FakeMethodology):
    """Project emissions above the baseline: the reduction must clamp to 0."""

    code = "negative_method"

    @classmethod
    def default_parameters(cls) -> dict[str, Parameter]:
        params = super().default_parameters()
        params["project_g"] = Parameter(Decimal("25"), "g / unit", "test", "project")
        return params


class NotAMethodology:
    """Looks like a methodology but does not subclass Methodology."""

    code = "not_a_methodology"
    version = "1.0.0"


class AbstractMethodology(Methodology):
    """Forgets to implement emissions()."""

    code = "abstract_method"
    name_zh = "抽象"
    name_en = "Abstract"
    version = "1.0.0"
    description = "Missing emissions()."
    record_schema = UnitsSchema

    @classmethod
    def default_parameters(cls) -> dict[str, Parameter]:
        return _policy()


class IncoherentPolicyMethodology(FakeMethodology):
    """Refuses self-reports but lists them as accepted."""

    code = "incoherent_policy"

    @classmethod
    def default_parameters(cls) -> dict[str, Parameter]:
        params = super().default_parameters()
        params["self_report_policy"] = Parameter("refuse", "", "test", "policy")
        return params


class SameCodeAsFake(FakeMethodology):
    """A different class that claims the code of FakeMethodology."""

    version = "9.9.9"
