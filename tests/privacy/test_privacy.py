"""PIPL: a citizen downloads everything held on them, and deletes their account while
the ledger stays balanced."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from app.behaviours import service as behaviours
from app.behaviours.models import Behaviour
from app.db_types import utcnow
from app.extensions import db
from app.ledger.verify import verify
from app.methodology import service as methodologies
from app.partners import service as partners
from app.partners.models import Partner
from app.privacy.service import ERASED_BEFORE_REVIEW
from app.uow import unit_of_work
from app.users.models import User
from methodologies.green_travel import haversine_km
from tests.helpers import PASSWORD, assert_problem
from tests.rewards.conftest import World


def _approve_methodologies(world: World) -> None:
    with world.app.app_context(), unit_of_work():
        admin = db.session.get(User, world.admin.id)
        for version in methodologies.versions():
            if version.status == "pending":
                methodologies.approve(admin, version.id, utcnow() - timedelta(days=365))


def _lived_in(world: World):
    """A citizen with points, a self-reported behaviour with evidence, one fulfilled and
    one reserved redemption, and a partner link code."""
    _approve_methodologies(world)
    me = world.citizen(points=1000)
    behaviour = world.api.post("/api/v1/behaviours", me, json={
        "methodology": "paperless", "occurred_at": (utcnow() - timedelta(hours=1)).isoformat(),
        "data": {"kind": "e_invoice", "sheets": 2},
        "evidence": {"photo_url": "https://img.example.com/me-at-my-desk.jpg"}},
        headers={"Idempotency-Key": uuid.uuid4().hex})
    assert behaviour.status_code == 201, behaviour.get_json()
    reward_id = world.reward()
    fulfilled = world.redeem(me, reward_id).get_json()
    assert world.verify(fulfilled["code"]).status_code == 200
    reserved = world.redeem(me, reward_id).get_json()
    assert world.api.post("/api/v1/me/partner-links/codes", me).status_code == 201
    return me, reward_id, fulfilled, reserved


def test_export_holds_everything_about_me_and_nothing_about_others(world):
    me, _reward, fulfilled, reserved = _lived_in(world)
    other = world.citizen(points=50)

    resp = world.api.get("/api/v1/me/export", me)
    assert resp.status_code == 200
    assert "attachment" in resp.headers["Content-Disposition"]
    data = resp.get_json()
    assert data["profile"]["id"] == me.id and data["profile"]["email"] == me.email
    assert data["account"]["posted"] == 1000 - 100 + data["behaviours"][0]["points"]
    assert {e["type"] for e in data["ledger_entries"]} >= {"earn", "hold", "capture"}
    assert data["behaviours"][0]["evidence"]["photo_url"].endswith("me-at-my-desk.jpg")
    assert {r["id"] for r in data["redemptions"]} == {fulfilled["id"], reserved["id"]}
    assert other.email not in resp.get_data(as_text=True)


def test_export_needs_a_token(client):
    assert_problem(client.get("/api/v1/me/export"), 401)


def test_erasure_removes_personal_data_and_keeps_the_ledger_verifiable(world):
    me, reward_id, fulfilled, reserved = _lived_in(world)
    stock_before = world.stock_left(reward_id)

    assert_problem(world.api.delete("/api/v1/me", me, json={"password": "not-my-password"}),
                   403, "wrong-password")
    resp = world.api.delete("/api/v1/me", me, json={"password": PASSWORD})
    assert resp.status_code == 204

    # Every token is dead and the login is gone.
    assert_problem(world.api.get("/api/v1/me", me), 401)
    assert world.api.login(me.email).status_code == 401
    with world.app.app_context():
        user = db.session.get(User, me.id)
        assert user.deleted_at is not None and user.role_names == []
        assert me.email not in (user.email or "") and user.mobile is None
        assert user.display_name != me.email
        evidence = db.session.scalars(select(Behaviour.evidence)
                                      .where(Behaviour.user_id == me.id)).all()
        assert evidence == [None]
        for table in ("partner_link_codes", "partner_links", "idempotency_keys",
                      "revoked_tokens", "user_roles"):
            assert db.session.execute(db.text(f"SELECT count(*) FROM {table} WHERE user_id = :u"),
                                      {"u": me.id}).scalar() == 0, table
        # The reservation was cancelled through the ledger; the fulfilled one stays.
        statuses = dict(db.session.execute(db.text(
            "SELECT id, status FROM redemptions WHERE user_id = :u"), {"u": me.id}).all())
        assert statuses == {fulfilled["id"]: "fulfilled", reserved["id"]: "cancelled"}
        assert verify() == []
    assert world.stock_left(reward_id) == stock_before + 1
    assert world.balance(me.id)["held"] == 0

    # The address is free to register again, as a new person.
    again = world.api.client.post("/api/v1/auth/register",
                                  json={"email": me.email, "password": PASSWORD})
    assert again.status_code == 201, again.get_json()
    assert again.get_json()["id"] != me.id


def test_the_last_administrator_cannot_erase_themselves(world):
    assert_problem(world.api.delete("/api/v1/me", world.admin, json={"password": PASSWORD}),
                   409, "last-admin")


def test_erasure_needs_the_password(world):
    me = world.citizen()
    assert_problem(world.api.delete("/api/v1/me", me, json={}), 422)
    assert world.api.get("/api/v1/me", me).status_code == 200


# ------------------------------------------------------------ erasure: where and when

# My trip's places and the identifiers that lead back to me: none may survive erasure.
HOME, OFFICE = {"lat": 31.2304, "lon": 121.4737}, {"lat": 31.3177, "lon": 121.4737}
TRACES = ("31.2304", "121.4737", "31.3177", "canteen-njust-3", "metro-user-9001",
          "trip-778899", "meal-778899", "note-about-the-citizen", "reason-about-the-citizen")


def _partner(world: World) -> int:
    with world.app.app_context(), unit_of_work():
        partner = Partner(name=f"Metro {uuid.uuid4().hex[:6]}", status="active",
                          methodologies=["green_travel", "clean_plate"],
                          created_by=world.admin.id)
        db.session.add(partner)
        db.session.flush()
        return partner.id


def _link(world: World, me, partner_id: int, ref: str) -> None:
    code = world.api.post("/api/v1/me/partner-links/codes", me).get_json()["code"]
    with world.app.app_context(), unit_of_work():
        partners.bind(db.session.get(Partner, partner_id), code, ref)


def _batch(world: World, partner_id: int, *records: dict) -> list[dict]:
    with world.app.app_context(), unit_of_work():
        return partners.submit_batch(db.session.get(Partner, partner_id),
                                     list(records))["results"]


def _self_report(world: World, who, methodology: str, data: dict, at) -> dict:
    resp = world.api.post("/api/v1/behaviours", who, json={
        "methodology": methodology, "occurred_at": at.isoformat(), "data": data},
        headers={"Idempotency-Key": uuid.uuid4().hex})
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


def _rows_with_traces(app, but_behaviour: int) -> set[str]:
    """Tables with a row holding one of TRACES (but that behaviour of another citizen)."""
    found = set()
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(select(table)).all():
                text = repr(tuple(row))
                if (any(trace in text for trace in TRACES)
                        and not (table.name == "behaviours" and row.id == but_behaviour)):
                    found.add(table.name)
    return found


def test_erasure_keeps_no_place_time_or_pseudonym_and_credits_still_recompute(world):
    _approve_methodologies(world)
    me, other = world.citizen(), world.citizen()
    start = utcnow() - timedelta(hours=3)
    trip = {"mode": "metro", "start": HOME, "end": OFFICE, "started_at": start.isoformat(),
            "ended_at": (start + timedelta(minutes=25)).isoformat()}
    mine = _self_report(world, me, "green_travel", trip, start + timedelta(minutes=25))
    theirs = _self_report(world, other, "green_travel", trip, start + timedelta(minutes=25))
    assert mine["status"] == theirs["status"] == "credited"

    partner_id = _partner(world)
    _link(world, me, partner_id, "metro-user-9001")
    at = start + timedelta(hours=1)
    results = _batch(world, partner_id, {
        "external_id": "trip-778899", "user_ref": "metro-user-9001",
        "methodology": "green_travel", "occurred_at": at.isoformat(),
        "data": {"mode": "bus", "distance_km": "6.5", "started_at": at.isoformat(),
                 "ended_at": (at + timedelta(minutes=30)).isoformat()}}, {
        "external_id": "meal-778899", "user_ref": "metro-user-9001",
        "methodology": "clean_plate", "occurred_at": at.isoformat(),
        "data": {"meals": 1, "canteen_id": "canteen-njust-3"}})
    assert [r["status"] for r in results] == ["credited", "credited"], results

    # Paperless self-reports wait for review: one approved with a note, one rejected with
    # a reason, one still queued when the account goes.
    queued = [_self_report(world, me, "paperless", {"kind": "e_receipt", "sheets": 1},
                           start + timedelta(minutes=i)) for i in range(3)]
    assert world.api.post(f"/api/v1/admin/behaviours/{queued[0]['id']}/approve", world.admin,
                          json={"note": "note-about-the-citizen"}).status_code == 200
    assert world.api.post(f"/api/v1/admin/behaviours/{queued[1]['id']}/reject", world.admin,
                          json={"reason": "reason-about-the-citizen"}).status_code == 200

    # The other citizen's identical trip is theirs to keep.
    assert _rows_with_traces(world.app, theirs["id"]) == {"behaviours", "partner_links"}
    assert world.api.delete("/api/v1/me", me, json={"password": PASSWORD}).status_code == 204
    assert _rows_with_traces(world.app, theirs["id"]) == set()

    with world.app.app_context():
        # Two records of one partner now both have no external_id: the unique
        # (partner_id, external_id) constraint holds NULLs distinct on both databases.
        stored = {b.id: b for b in db.session.scalars(
            select(Behaviour).where(Behaviour.user_id == me.id))}
        assert len(stored) == 6
        for b in stored.values():
            assert b.external_id is None and b.review_note is None and b.evidence is None
            assert b.window_start == b.window_end == b.occurred_at
            assert not {"start", "end", "started_at", "ended_at", "canteen_id"} & set(b.data)
        # The points became their distance, by the function quantify() uses.
        assert stored[mine["id"]].data == {"mode": "metro",
                                           "distance_km": str(haversine_km(HOME, OFFICE))}
        credited = [b for b in stored.values() if b.status == "credited"]
        assert len(credited) == 4  # my trip, the partner's trip and meal, the approved receipt
        for b in credited:
            assert behaviours.recompute(b) == b.reduction_g, b.methodology
        assert stored[queued[1]["id"]].reasons == ["rejected on review"]
        assert stored[queued[2]["id"]].status == "rejected"
        assert stored[queued[2]["id"]].reasons[-1] == ERASED_BEFORE_REVIEW
        # The other citizen's trip is untouched.
        assert db.session.get(Behaviour, theirs["id"]).data["start"] == HOME
        assert verify() == []

    # The partner's resend finds no consent: nothing is credited to the erased account.
    again = _batch(world, partner_id, {
        "external_id": "trip-778899", "user_ref": "metro-user-9001",
        "methodology": "green_travel", "occurred_at": at.isoformat(),
        "data": {"mode": "bus", "distance_km": "6.5"}})
    assert again[0]["status"] == "rejected"
