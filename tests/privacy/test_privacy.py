"""PIPL: a citizen downloads everything held on them, and deletes their account while
the ledger stays balanced."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from app.behaviours.models import Behaviour
from app.db_types import utcnow
from app.extensions import db
from app.ledger.verify import verify
from app.methodology import service as methodologies
from app.uow import unit_of_work
from app.users.models import User
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
