"""Pluggable methodology modules: each turns a verified behaviour record into a reduction
in grams CO2e (baseline minus project emissions). Built-ins and third-party modules register
through the `carbon_points.methodologies` entry-point group."""

from .base import (
    ENTRY_POINT_GROUP,
    POLICY_PARAMETERS,
    SELF_REPORT_POLICIES,
    SOURCES,
    InvalidMethodology,
    Methodology,
    MethodologyError,
    MethodologyNotInstalled,
    MethodologyRegistry,
    Parameter,
    PlausibilityContext,
    discover,
    parameter_hash,
    params_values,
    validate_methodology,
    values_to_json,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "POLICY_PARAMETERS",
    "SELF_REPORT_POLICIES",
    "SOURCES",
    "InvalidMethodology",
    "Methodology",
    "MethodologyError",
    "MethodologyNotInstalled",
    "MethodologyRegistry",
    "Parameter",
    "PlausibilityContext",
    "discover",
    "parameter_hash",
    "params_values",
    "validate_methodology",
    "values_to_json",
]
