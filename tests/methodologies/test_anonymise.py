"""anonymise(): an erased account's records keep what the accounting needs, and no more."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import Schema, fields

from methodologies.base import InvalidMethodology, validate_methodology
from methodologies.clean_plate import CleanPlate
from methodologies.green_travel import MODES, GreenTravel, haversine_km
from methodologies.paperless import Paperless
from methodologies.recycling import Recycling
from tests.methodologies.fake_module import FakeMethodology

START, END = {"lat": 32.0, "lon": 118.8}, {"lat": 32.0899, "lon": 118.8}
TIMES = {"started_at": "2025-06-02T08:00:00+08:00", "ended_at": "2025-06-02T08:20:00+08:00"}


def same_reduction(cls, data: dict) -> dict:
    """The anonymised record, after checking it quantifies as the original did."""
    kept = cls.anonymise(data)
    params = cls.default_values()
    assert cls.quantify(cls.load_record(kept), params) == cls.quantify(cls.load_record(data),
                                                                       params)
    return kept


def test_a_trip_by_points_keeps_its_mode_and_distance_only() -> None:
    kept = same_reduction(GreenTravel, {"mode": "metro", "start": START, "end": END, **TIMES})
    assert kept == {"mode": "metro", "distance_km": str(haversine_km(START, END))}


def test_partner_trips_keep_distance_or_steps_and_lose_their_times() -> None:
    assert same_reduction(GreenTravel, {"mode": "bus", "distance_km": "7.25", **TIMES}) == {
        "mode": "bus", "distance_km": "7.25"}
    assert same_reduction(GreenTravel, {"mode": "walk", "steps": 4321}) == {
        "mode": "walk", "steps": 4321}


@settings(max_examples=200)
@given(mode=st.sampled_from(MODES),
       lat=st.floats(-60, 60), lon=st.floats(-170, 170),
       dlat=st.floats(0.0001, 0.5), dlon=st.floats(-0.5, 0.5))
def test_any_trip_by_points_recomputes_to_the_same_reduction(mode, lat, lon, dlat, dlon) -> None:
    data = {"mode": mode, "start": {"lat": lat, "lon": lon},
            "end": {"lat": lat + dlat, "lon": lon + dlon}}
    kept = same_reduction(GreenTravel, data)
    assert set(kept) == {"mode", "distance_km"}


def test_a_clean_plate_loses_its_canteen() -> None:
    assert same_reduction(CleanPlate, {"meals": 2, "canteen_id": "njust-3"}) == {"meals": 2}


def test_recycling_and_paperless_records_hold_nothing_personal() -> None:
    items = {"items": [{"material": "plastic", "kg": "1.25"}, {"material": "glass", "kg": "3"}]}
    assert same_reduction(Recycling, items) == items
    assert same_reduction(Paperless, {"kind": "e_invoice", "sheets": 2}) == {
        "kind": "e_invoice", "sheets": 2}


def test_the_default_drops_personal_and_undeclared_fields() -> None:
    class Note(FakeMethodology):
        class record_schema(Schema):  # noqa: N801  (the contract's attribute name)
            units = fields.Integer(required=True)
            note = fields.String(data_key="remark")

        personal_fields = frozenset({"remark"})

    assert Note.anonymise({"units": 3, "remark": "at my home", "stray": 1}) == {"units": 3}


def test_personal_fields_must_be_a_frozenset_of_names() -> None:
    class Broken(FakeMethodology):
        personal_fields = ["start"]

    with pytest.raises(InvalidMethodology, match="personal_fields"):
        validate_methodology(Broken)


def test_distance_is_kept_exactly() -> None:
    kept = GreenTravel.anonymise({"mode": "bike", "start": START, "end": END})
    assert Decimal(kept["distance_km"]) == haversine_km(START, END)
