"""Each built-in's filing document agrees with its newest release, number for number: the
worked examples reproduce and the parameter table lists the default values."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from methodologies.base import PlausibilityContext, values_to_json
from methodologies.clean_plate_v2 import CleanPlateV2
from methodologies.green_travel_v2 import GreenTravelV2
from methodologies.paperless_v2 import PaperlessV2
from methodologies.recycling_v2 import RecyclingV2

NEWEST = (GreenTravelV2, RecyclingV2, PaperlessV2, CleanPlateV2)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "methodologies"
_EXAMPLES = re.compile(r"```json worked-example\n(.*?)```", re.S)
_ROW = re.compile(r"^\| `([a-z0-9_]+)` \| ([^|]*) \|", re.M)


def _document(cls) -> str:
    assert cls.filing_document == str(DOCS / f"{cls.code}.md")
    return Path(cls.filing_document).read_text(encoding="utf-8")


@pytest.mark.parametrize("cls", NEWEST, ids=lambda c: c.code)
def test_worked_examples_reproduce(cls) -> None:
    text = _document(cls)
    [block] = _EXAMPLES.findall(text)
    worked = json.loads(block)
    assert worked["release"] == cls.version
    params = cls.default_values()
    prose = _EXAMPLES.sub("", text)
    for example in worked["examples"]:
        record = cls.load_record(example["record"])
        source = example.get("source", "partner")
        reasons = cls.plausibility(record, params, PlausibilityContext(0, source))
        if "refused" in example:
            assert any(example["refused"] in r for r in reasons), (example, reasons)
            continue
        assert reasons == [], (example, reasons)  # an example not marked refused passes
        reduction = cls.quantify(record, params)
        assert reduction == Decimal(example["reduction_g"]), example
        figure = example.get("credited_g", example["reduction_g"])
        if "credited_g" in example:
            credited = cls.apply_policy(reduction, params, source=source)
            assert credited == Decimal(example["credited_g"]), example
        # The prose table shows the same figure as the block the test reads.
        assert f"| {figure}" in prose, f"{figure} missing from the worked example's table"


@pytest.mark.parametrize("cls", NEWEST, ids=lambda c: c.code)
def test_parameter_table_lists_every_default_value(cls) -> None:
    listed = dict(_ROW.findall(_document(cls)))
    expected = {name: ", ".join(v) if isinstance(v, list) else str(v)
                for name, v in values_to_json(cls.default_values()).items()}
    assert {name: value.strip() for name, value in listed.items()} == expected


@pytest.mark.parametrize("cls", NEWEST, ids=lambda c: c.code)
def test_filing_covers_the_template_sections(cls) -> None:
    template = (DOCS / "TEMPLATE.md").read_text(encoding="utf-8")
    sections = re.findall(r"^## (\d+\. .+)$", template, re.M)
    assert len(sections) == 10
    text = _document(cls)
    for section in sections:
        assert f"## {section}" in text, section
