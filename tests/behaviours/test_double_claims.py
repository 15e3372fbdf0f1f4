"""No double claims: one trip from two sources' instants, overlaps across modes, and a
reduction already claimed in another mechanism."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from app.db_types import utcnow
from app.extensions import db
from app.methodology import service as methodology
from app.uow import unit_of_work
from methodologies.base import Parameter
from methodologies.green_travel import GreenTravel
from tests.behaviours.test_crediting import partner_submit, post, trip
from tests.conftest import run_sql
from tests.helpers import PASSWORD, assert_problem

SHANGHAI = ZoneInfo("Asia/Shanghai")
TOLERANCE_S = 3600


class TolerantTravel(GreenTravel):
    """green_travel 1.0.0 with the instant match tolerance its 2.0.0 states."""

    code = "tolerant_travel"

    @classmethod
    def default_parameters(cls) -> dict[str, Parameter]:
        return {**super().default_parameters(), "instant_match_tolerance_s": Parameter(
            TOLERANCE_S, "s", "test", "how far two sources' instants of one trip may lie")}


class TolerantTravelV2(TolerantTravel):
    """A newer release installed beside it, taking a parameter 1.0.0 has not: the tolerance
    of 1.0.0, in force, is read with 1.0.0's class (the newest could not type its set)."""

    version = "2.0.0"
    earlier_releases = (TolerantTravel,)

    @classmethod
    def default_parameters(cls) -> dict[str, Parameter]:
        return {**super().default_parameters(), "only_in_2_0_0": Parameter(
            1, "", "test", "a parameter the release in force does not take")}


@pytest.fixture(autouse=True)
def _approved(app, approve_all):
    with app.app_context(), unit_of_work():
        methodology.registry().register(TolerantTravelV2)
        methodology.sync_discovered()
    approve_all()


def _partner(app, admin_id: int, name: str) -> int:
    from app.partners.models import Partner

    with app.app_context(), unit_of_work():
        partner = Partner(name=name, status="active", created_by=admin_id,
                          methodologies=["green_travel", "tolerant_travel"])
        db.session.add(partner)
        db.session.flush()
        return partner.id


@pytest.fixture
def two_partners(app, api) -> tuple[int, int]:
    admin = api.create_user("admin")
    return _partner(app, admin, "Transit Card Co"), _partner(app, admin, "Map App Co")


def _bus(code: str = "tolerant_travel"):
    return code, {"mode": "bus", "distance_km": "8"}


def test_one_trip_sent_as_two_sources_instants_is_credited_once(app, api, two_partners):
    card, maps = two_partners
    me = api.caller()
    tap_in = utcnow() - timedelta(hours=5)
    first = partner_submit(app, me.id, *_bus(), tap_in, "tap-in-1", card)
    # The map app's trip end 40 minutes later: within the tolerance, another source.
    end = partner_submit(app, me.id, *_bus(), tap_in + timedelta(minutes=40), "end-1", maps)
    assert first["status"] == "credited" and end["status"] == "rejected"
    assert end["reasons"] == [f"duplicate of behaviour {first['id']} (partner) covering the "
                              "same time"]
    # The card's own next tap is its own account of another trip.
    own = partner_submit(app, me.id, *_bus(), tap_in + timedelta(minutes=30), "tap-in-2",
                         card)
    assert own["status"] == "credited"
    # Beyond the tolerance of both of them, the map app's instant is another trip.
    later = partner_submit(app, me.id, *_bus(), tap_in + timedelta(minutes=95), "end-2", maps)
    assert later["status"] == "credited"


def test_a_version_without_the_tolerance_matches_instants_exactly(app, api, two_partners):
    card, maps = two_partners
    me = api.caller()
    tap_in = utcnow() - timedelta(hours=5)
    first = partner_submit(app, me.id, *_bus("green_travel"), tap_in, "a", card)
    end = partner_submit(app, me.id, *_bus("green_travel"), tap_in + timedelta(minutes=40),
                         "b", maps)
    same = partner_submit(app, me.id, *_bus("green_travel"), tap_in, "c", maps)
    assert (first["status"], end["status"], same["status"]) == (
        "credited", "credited", "rejected")


def test_the_tolerance_reaches_across_midnight(app, api, two_partners):
    """The nearby read widens by the tolerance: the earlier instant is another local day."""
    card, maps = two_partners
    me = api.caller()
    day = datetime.now(SHANGHAI).date() - timedelta(days=2)
    late = datetime(day.year, day.month, day.day, 23, 50, tzinfo=SHANGHAI)
    first = partner_submit(app, me.id, *_bus(), late, "tap", card)
    after = partner_submit(app, me.id, *_bus(), late + timedelta(minutes=30), "end", maps)
    assert first["status"] == "credited" and after["status"] == "rejected"


def test_trips_overlap_across_modes_whatever_the_new_record_carries(app, api, two_partners):
    card, _ = two_partners
    me = api.caller()
    start = utcnow() - timedelta(hours=4)
    metro = post(api, me, "green_travel", trip(start, 40), start + timedelta(minutes=40),
                 "metro").get_json()
    assert metro["status"] == "credited"
    walk = {"mode": "walk", "distance_km": "1"}
    # A walking leg inside the metro trip's window, as a span or as an instant only.
    leg = partner_submit(app, me.id, "green_travel", {
        **walk, "started_at": (start + timedelta(minutes=10)).isoformat(),
        "ended_at": (start + timedelta(minutes=20)).isoformat()},
        start + timedelta(minutes=20), "leg", card)
    instant = partner_submit(app, me.id, "green_travel", walk, start + timedelta(minutes=25),
                             "step", card)
    duplicate = f"duplicate of behaviour {metro['id']} (self_report) covering the same time"
    assert leg["status"] == instant["status"] == "rejected"
    assert leg["reasons"] == instant["reasons"] == [duplicate]
    # A bus tapped as the metro trip ends is a change of mode, not the same trip.
    change = partner_submit(app, me.id, "green_travel", {"mode": "bus", "distance_km": "3"},
                            start + timedelta(minutes=40), "change", card)
    assert change["status"] == "credited"


CLAIM = {"mechanism": "bank carbon account", "reference": "BCA-2026-0042"}


def test_a_self_report_claimed_elsewhere_is_recorded_and_refused(app, api, two_partners):
    card, _ = two_partners
    me = api.caller()
    start = utcnow() - timedelta(hours=3)
    resp = api.post("/api/v1/behaviours", me, json={
        "methodology": "green_travel", "occurred_at": (start + timedelta(minutes=20)).isoformat(),
        "data": trip(start, 20), "claimed_elsewhere": CLAIM}, headers={"Idempotency-Key": "c"})
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["status"] == "rejected" and body["points"] == 0
    assert body["reasons"] == ["already claimed in another mechanism (bank carbon account): one "
                               "reduction is filed once (DB11/T 3043-2024), so it is recorded "
                               "without credit"]
    assert body["claimed_elsewhere"] == CLAIM
    assert api.get("/api/v1/account", me).get_json()["posted"] == 0
    # The same trip from a partner, undeclared, is that claimed trip again.
    again = partner_submit(app, me.id, "green_travel", {"mode": "metro", "distance_km": "10"},
                           start + timedelta(minutes=20), "tap", card)
    assert again["status"] == "rejected" and f"behaviour {body['id']}" in again["reasons"][0]
    # A declaration without its mechanism is a 422 that records nothing.
    bad = api.post("/api/v1/behaviours", me, json={
        "methodology": "green_travel", "occurred_at": (start + timedelta(hours=1)).isoformat(),
        "data": trip(start + timedelta(minutes=40), 20), "claimed_elsewhere": {"reference": "x"}},
        headers={"Idempotency-Key": "d"})
    assert "claimed_elsewhere" in assert_problem(bad, 422, "validation-error")["errors"]
    assert run_sql(app, "SELECT count(*) FROM behaviours")[0][0] == 2


def test_a_claim_elsewhere_after_a_credit_of_the_same_act_is_flagged_not_reversed(
        app, api, two_partners):
    card, _ = two_partners
    me = api.caller()
    start = utcnow() - timedelta(hours=3)
    first = post(api, me, "green_travel", trip(start, 20), start + timedelta(minutes=20),
                 "trip").get_json()
    assert first["status"] == "credited" and first["points"] > 0
    # A partner then sends the same trip, declared claimed in a bank's carbon account.
    def claim(at, external_id: str) -> dict:
        from app import behaviours

        with app.app_context(), unit_of_work():
            b = behaviours.submit(user_id=me.id, methodology="green_travel", occurred_at=at,
                                  data={"mode": "metro", "distance_km": "10"}, evidence=None,
                                  source="partner", partner_id=card, external_id=external_id,
                                  claimed_elsewhere=CLAIM)
            return {"id": b.id, "status": b.status, "reasons": b.reasons}

    claimed = claim(start + timedelta(minutes=10), "claimed")
    assert claimed["status"] == "rejected"
    assert claimed["reasons"] == [
        "already claimed in another mechanism (bank carbon account): one reduction is filed "
        "once (DB11/T 3043-2024), so it is recorded without credit",
        f"the same act was already recorded as behaviour {first['id']} (credited): an "
        "administrator should review it"]
    # The earlier credit stands: a partner's declaration alone takes no citizen's points.
    assert run_sql(app, "SELECT status, points FROM behaviours WHERE id = :i",
                   i=first["id"]) == [("credited", first["points"])]
    [(actor, target_type, target_id, details)] = run_sql(
        app, "SELECT actor_id, target_type, target_id, details FROM audit_events "
             "WHERE action = 'behaviour.claimed_elsewhere_conflict'")
    assert (actor, target_type, target_id) == (None, "behaviour", str(first["id"]))
    assert "BCA-2026-0042" not in str(details) and str(claimed["id"]) in str(details)
    # A claim with no earlier credit of its act is refused with its one reason, unaudited.
    alone = claim(start + timedelta(hours=2), "alone")
    assert alone["status"] == "rejected" and len(alone["reasons"]) == 1
    assert run_sql(app, "SELECT count(*) FROM audit_events WHERE action = "
                        "'behaviour.claimed_elsewhere_conflict'") == [(1,)]


def test_erasure_keeps_the_claims_mechanism_and_drops_its_reference(app, api):
    me = api.caller()
    start = utcnow() - timedelta(hours=3)
    api.post("/api/v1/behaviours", me, json={
        "methodology": "green_travel", "occurred_at": (start + timedelta(minutes=20)).isoformat(),
        "data": trip(start, 20), "claimed_elsewhere": CLAIM}, headers={"Idempotency-Key": "c"})
    resp = api.delete("/api/v1/me", me, json={"password": PASSWORD})
    assert resp.status_code == 204
    [(claim,)] = run_sql(app, "SELECT claimed_elsewhere FROM behaviours")
    assert "BCA-2026-0042" not in str(claim) and "bank carbon account" in str(claim)
    assert Decimal(0) == Decimal(run_sql(app, "SELECT credited_g FROM behaviours")[0][0])
