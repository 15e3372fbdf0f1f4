"""PIPL: a citizen downloads everything held on them, and deletes their account while
the ledger stays balanced."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from app import behaviours
from app.behaviours import ERASED_BEFORE_REVIEW
from app.behaviours.models import Behaviour
from app.db_types import utcnow
from app.extensions import db
from app.ledger.verify import verify
from app.methodology import service as methodology
from app.partners import service as partners
from app.partners.models import Partner, PartnerLinkCode
from app.uow import unit_of_work
from app.users.models import User
from methodologies.green_travel import haversine_km
from tests.helpers import PASSWORD, assert_problem
from tests.rewards.conftest import World


def _approve_methodologies(world: World) -> None:
    with world.app.app_context(), unit_of_work():
        admin = db.session.get(User, world.admin.id)
        for version in methodology.discovered_pending("1.0.0"):
            methodology.approve(admin, version.id, utcnow() - timedelta(days=365))


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


def test_export_sections_are_documented(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    export = schemas["Export"]["properties"]
    for section, item in (("partner_link_codes", "ExportedLinkCode"),
                          ("verified_redemptions", "VerifiedRedemption"),
                          ("reward_revisions", "ExportedRevision")):
        assert export[section]["items"]["$ref"].endswith(f"/{item}")
        assert export[section]["description"]
    assert "code_hash" not in schemas["ExportedLinkCode"]["properties"]
    assert "user_id" not in schemas["VerifiedRedemption"]["properties"]


def test_exports_are_rate_limited_per_account(world, app):
    app.config["EXPORT_LIMIT"] = "2 per minute"
    me, other = world.citizen(), world.citizen()
    for _ in range(2):
        assert world.api.get("/api/v1/me/export", me).status_code == 200
    assert_problem(world.api.get("/api/v1/me/export", me), 429)
    assert world.api.get("/api/v1/me/export", other).status_code == 200


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



def test_export_lists_my_link_codes_without_the_codes(world):
    me, _reward, _fulfilled, _reserved = _lived_in(world)
    other = world.citizen()
    assert world.api.post("/api/v1/me/partner-links/codes", other).status_code == 201
    partner_id = _partner(world)
    _link(world, me, partner_id, "my-ref-at-the-partner")

    resp = world.api.get("/api/v1/me/export", me)
    codes = resp.get_json()["partner_link_codes"]
    assert len(codes) == 2  # the one in _lived_in, unused, and the one the partner used
    assert all(set(c) == {"created_at", "expires_at", "used_at", "used_by_partner_id"}
               for c in codes)
    assert [(c["used_at"] is not None, c["used_by_partner_id"]) for c in codes] == [
        (False, None), (True, partner_id)]
    with world.app.app_context():
        hashes = db.session.scalars(select(PartnerLinkCode.code_hash)).all()
    assert len(hashes) == 3
    assert not any(h in resp.get_data(as_text=True) for h in hashes)


def test_export_of_staff_holds_what_they_did_for_their_merchant(world):
    citizen = world.citizen(points=1000)
    reward_id = world.reward()  # proposed by world.staff, approved by world.admin
    mine = world.redeem(citizen, reward_id).get_json()
    assert world.verify(mine["code"]).status_code == 200
    # Another merchant's staff does the same: none of it is mine.
    other_merchant, other_staff = world.merchant()
    other_reward = world.reward(other_staff)
    theirs = world.redeem(citizen, other_reward).get_json()
    assert world.verify(theirs["code"], other_staff).status_code == 200
    # The citizen's own cancellation ends a redemption too; it is not a verification.
    cancelled = world.redeem(citizen, reward_id).get_json()
    assert world.api.post(f"/api/v1/redemptions/{cancelled['id']}/cancel",
                          citizen).status_code == 200

    resp = world.api.get("/api/v1/me/export", world.staff)
    data = resp.get_json()
    [verified] = data["verified_redemptions"]
    assert verified["id"] == mine["id"] and verified["reward"]["id"] == reward_id
    assert verified["merchant_id"] == world.merchant_id and verified["points"] == 100
    assert set(verified) == {"id", "merchant_id", "reward", "points", "verified_at"}
    [revision] = data["reward_revisions"]
    assert revision["reward_id"] == reward_id and revision["status"] == "approved"
    assert revision["proposed_by_you"] and not revision["decided_by_you"]
    assert not {"proposed_by", "decided_by"} & set(revision)
    [added] = [e for e in data["audit_events"] if e["action"] == "merchant.staff_added"]
    assert added["target_id"] == str(world.merchant_id) and not added["by_you"]
    assert added["details"] == {"user_id": world.staff.id}
    text = resp.get_data(as_text=True)
    assert citizen.email not in text and other_staff.email not in text
    assert not any(code.replace("-", "") in text.replace("-", "")
                   for code in (mine["code"], theirs["code"]))

    # The citizen's export has their redemptions, not a verification of their own.
    assert world.api.get("/api/v1/me/export", citizen).get_json()["verified_redemptions"] == []
    # The administrator decided both revisions and proposed none.
    decided = world.api.get("/api/v1/me/export", world.admin).get_json()["reward_revisions"]
    assert {r["reward_id"] for r in decided} == {reward_id, other_reward}
    assert all(r["decided_by_you"] and not r["proposed_by_you"] for r in decided)
    # other_staff sees their own merchant's events only.
    events = world.api.get("/api/v1/me/export", other_staff).get_json()["audit_events"]
    assert {(e["action"], e["target_id"]) for e in events if not e["by_you"]} >= {
        ("merchant.staff_added", str(other_merchant))}
    assert all(e["details"].get("user_id") in (None, other_staff.id) for e in events)


def test_export_of_former_staff_still_shows_they_were_added_and_removed(world):
    former = world.citizen()
    url = f"/api/v1/admin/merchants/{world.merchant_id}/staff/{former.id}"
    assert world.api.put(url, world.admin).status_code == 200
    assert world.api.delete(url, world.admin).status_code == 204

    data = world.api.get("/api/v1/me/export", former).get_json()
    assert data["merchant_staff"] == []
    assert [(e["action"], e["target_type"], e["target_id"], e["by_you"])
            for e in data["audit_events"] if e["target_type"] == "merchant"] == [
        ("merchant.staff_added", "merchant", str(world.merchant_id), False),
        ("merchant.staff_removed", "merchant", str(world.merchant_id), False)]


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

    exported = world.api.get("/api/v1/me/export", me).get_json()["behaviours"]
    assert [b["review_note"] for b in exported if b["id"] == queued[0]["id"]] == [
        "note-about-the-citizen"]
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


def test_erasure_leaves_no_reviewers_reversal_reason_in_the_ledger(world):
    """The reversal's free text was also the ledger transaction's reason, which the
    append-only ledger keeps for good; it belongs on the behaviour, which erasure reduces."""
    _approve_methodologies(world)
    me = world.citizen()
    start = utcnow() - timedelta(hours=3)
    trip = {"mode": "metro", "start": HOME, "end": OFFICE, "started_at": start.isoformat(),
            "ended_at": (start + timedelta(minutes=25)).isoformat()}
    credited = _self_report(world, me, "green_travel", trip, start + timedelta(minutes=25))
    why = "seen-driving-to-work-at-the-citizens-address"
    reversed_ = world.api.post(f"/api/v1/admin/behaviours/{credited['id']}/reverse",
                               world.admin, json={"reason": why})
    assert reversed_.status_code == 200
    assert reversed_.get_json()["reasons"][-1] == f"reversed: {why}"
    entries = world.api.get("/api/v1/account/entries", me).get_json()["items"]
    assert entries[0]["reason"] == f"behaviour {credited['id']} reversed on review"
    assert world.api.delete("/api/v1/me", me, json={"password": PASSWORD}).status_code == 204
    with world.app.app_context():
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(select(table)).all():
                assert why not in repr(tuple(row)), table.name
        assert verify() == []
