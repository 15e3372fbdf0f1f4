"""Authorization matrix of the console: every console route, opened as every principal.

Routes come from the URL map, so a new console page fails here until EXPECTED says who
may open it. Anonymous visitors are sent to sign in; a signed-in user without the role
(or merchant staff on another merchant's data) gets the 403 page.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import rewards
from app.extensions import db
from app.merchants import service as merchants
from app.methodology import service as methodology
from app.partners import service as partners
from app.rewards.schemas import RewardCreateSchema
from app.uow import unit_of_work
from app.users import service as users
from app.users.models import User
from tests.helpers import PASSWORD

ANON, CITIZEN, STAFF, OTHER_STAFF, ADMIN = (
    "anonymous", "citizen", "merchant_staff", "other_merchant_staff", "admin")
SIGNED_IN = (CITIZEN, STAFF, OTHER_STAFF, ADMIN)
PUBLIC = "public"  # open to everybody, signed in or not

# (method, rule) -> who may pass; "scoped" routes name merchant A's data in the path.
EXPECTED: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/console/"): {"allowed": PUBLIC},
    ("GET", "/console/login"): {"allowed": PUBLIC},
    ("POST", "/console/login"): {"allowed": PUBLIC},
    ("POST", "/console/logout"): {"allowed": PUBLIC},
    ("POST", "/console/language"): {"allowed": PUBLIC},
    ("GET", "/console/no-access"): {"allowed": PUBLIC},
    ("GET", "/console/admin"): {"allowed": {ADMIN}},
    ("GET", "/console/admin/dashboard/<table>.csv"): {"allowed": {ADMIN}},
    ("GET", "/console/merchant/verify"): {"allowed": {STAFF, OTHER_STAFF}},
    ("POST", "/console/merchant/verify"): {"allowed": {STAFF, OTHER_STAFF}},
    ("GET", "/console/merchant/redemptions"): {"allowed": {STAFF, OTHER_STAFF}},
    ("GET", "/console/merchant/rewards"): {"allowed": {STAFF, OTHER_STAFF}},
    ("GET", "/console/merchant/rewards/new"): {"allowed": {STAFF, OTHER_STAFF}},
    ("POST", "/console/merchant/rewards/new"): {"allowed": {STAFF, OTHER_STAFF}},
    # Merchant A's reward: the other merchant's staff get a 404, which hides it.
    ("GET", "/console/merchant/rewards/<int:reward_id>/edit"): {"allowed": {STAFF},
                                                                "hidden": {OTHER_STAFF}},
    ("POST", "/console/merchant/rewards/<int:reward_id>/edit"): {"allowed": {STAFF},
                                                                 "hidden": {OTHER_STAFF}},
    ("GET", "/console/merchant/settlement"): {"allowed": {STAFF, OTHER_STAFF}},
    # Merchant A's settlement: its staff and administrators only.
    ("GET", "/console/merchants/<int:merchant_id>/settlement"): {"allowed": {STAFF, ADMIN}},
    # methodologies, the review queue, the audit log and ledger health: administrators only
    ("GET", "/console/admin/methodologies"): {"allowed": {ADMIN}},
    ("GET", "/console/admin/methodologies/<string:code>/propose"): {"allowed": {ADMIN}},
    ("POST", "/console/admin/methodologies/<string:code>/propose"): {"allowed": {ADMIN}},
    ("GET", "/console/admin/methodology-versions/<int:version_id>"): {"allowed": {ADMIN}},
    ("POST", "/console/admin/methodology-versions/<int:version_id>/approve"): {
        "allowed": {ADMIN}},
    ("POST", "/console/admin/methodology-versions/<int:version_id>/reject"): {
        "allowed": {ADMIN}},
    ("POST", "/console/admin/methodology-versions/<int:version_id>/retire"): {
        "allowed": {ADMIN}},
    ("GET", "/console/admin/review"): {"allowed": {ADMIN}},
    ("GET", "/console/admin/behaviours/<int:behaviour_id>"): {"allowed": {ADMIN}},
    ("POST", "/console/admin/behaviours/<int:behaviour_id>/approve"): {"allowed": {ADMIN}},
    ("POST", "/console/admin/behaviours/<int:behaviour_id>/reject"): {"allowed": {ADMIN}},
    ("POST", "/console/admin/behaviours/<int:behaviour_id>/reverse"): {"allowed": {ADMIN}},
    ("GET", "/console/admin/audit"): {"allowed": {ADMIN}},
    ("GET", "/console/admin/ledger"): {"allowed": {ADMIN}},
    ("POST", "/console/admin/ledger/verify"): {"allowed": {ADMIN}},
    # Partners, merchants and rewards, citizens: administrators only.
    **{(m, "/console/admin/" + r): {"allowed": {ADMIN}} for m, r in (
        ("GET", "partners"), ("GET", "partners/new"), ("POST", "partners/new"),
        ("GET", "partners/<int:partner_id>"),
        ("POST", "partners/<int:partner_id>/methodologies"),
        ("POST", "partners/<int:partner_id>/keys"),
        ("POST", "partners/<int:partner_id>/keys/<string:key_id>/revoke"),
        ("GET", "merchants"), ("POST", "merchants"), ("GET", "merchants/<int:merchant_id>"),
        ("POST", "merchants/<int:merchant_id>/suspend"),
        ("POST", "merchants/<int:merchant_id>/reinstate"),
        ("POST", "merchants/<int:merchant_id>/staff"),
        ("POST", "merchants/<int:merchant_id>/staff/<int:user_id>/remove"),
        ("GET", "revisions"), ("POST", "revisions/<int:revision_id>/approve"),
        ("POST", "revisions/<int:revision_id>/reject"), ("GET", "settlement"),
        ("GET", "citizens"), ("GET", "citizens/<int:user_id>"),
        ("POST", "citizens/<int:user_id>/disable"), ("POST", "citizens/<int:user_id>/enable"),
        ("POST", "citizens/<int:user_id>/roles/<string:role>/grant"),
        ("POST", "citizens/<int:user_id>/roles/<string:role>/revoke"),
        ("POST", "citizens/<int:user_id>/adjust"))},
}


def console_routes(app: Flask) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("console.") and rule.endpoint != "console.static":
            found |= {(m, rule.rule) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return found


def test_every_console_route_has_a_rule(app):
    assert console_routes(app) == set(EXPECTED)


@pytest.fixture
def principals(app: Flask, monkeypatch) -> dict[str, Any]:
    from app.auth.passwords import hash_password

    fixed = hash_password(PASSWORD)
    monkeypatch.setattr(users, "hash_password", lambda _p: fixed)
    ids: dict[str, int] = {}
    with app.app_context(), unit_of_work():
        for name, roles in ((CITIZEN, ("citizen",)), (STAFF, ("merchant",)),
                            (OTHER_STAFF, ("merchant",)), (ADMIN, ("admin",))):
            ids[name] = users.register(email=f"{name}@example.com", password=PASSWORD,
                                       roles=roles).id
        admin = db.session.get(User, ids[ADMIN])
        for name in (STAFF, OTHER_STAFF):
            merchant = merchants.create(admin, name=f"商户 {name}", contact="021-5555 0000")
            merchants.add_staff(admin, merchant, db.session.get(User, ids[name]))
            ids[f"{name}_merchant"] = merchant.id
        ids["version"] = methodology.versions("paperless")[0].id
        ids["reward"] = rewards.create_reward(
            db.session.get(User, ids[STAFF]), merchants.get(ids[f"{STAFF}_merchant"]),
            RewardCreateSchema().load({"title_zh": "环保袋", "category": "shopping",
                                       "points_price": 100, "total_stock": 5})).id
    with app.app_context(), unit_of_work():  # what the admin pages act on
        admin = db.session.get(User, ids[ADMIN])
        ids["user"] = users.register(email="target@example.com", password=PASSWORD).id
        partner, key, _secret = partners.create(admin, name="matrix partner",
                                                methodologies=["green_travel"])
        ids["partner"], ids["key"] = partner.id, key.key_id
        ids["revision"] = db.session.scalars(rewards.revisions(status="pending")).first().id
    clients = {ANON: app.test_client()}
    for name in SIGNED_IN:
        client = app.test_client()
        page = client.get("/console/login").get_data(as_text=True)
        token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
        resp = client.post("/console/login", data={"identifier": f"{name}@example.com",
                                                   "password": PASSWORD, "csrf_token": token})
        assert resp.status_code == 302
        clients[name] = client
    return {"clients": clients, "ids": ids}


def _csrf(client: FlaskClient) -> str:
    with client.session_transaction("/console/") as session:
        return session.setdefault("csrf", secrets.token_urlsafe(32))


def _path(rule: str, ids: dict[str, int]) -> str:
    return (rule.replace("<int:merchant_id>", str(ids[f"{STAFF}_merchant"]))
            .replace("<int:version_id>", str(ids["version"]))
            .replace("<string:code>", "paperless").replace("<int:behaviour_id>", "1")
            .replace("<int:reward_id>", str(ids["reward"]))
            .replace("<int:partner_id>", str(ids.get("partner")))
            .replace("<string:key_id>", str(ids.get("key")))
            .replace("<int:revision_id>", str(ids.get("revision")))
            .replace("<int:user_id>", str(ids.get("user")))
            .replace("<string:role>", "citizen")
            .replace("<table>", "ledger"))


def test_console_matrix(app, principals):
    failures = []
    for (method, rule), expected in sorted(EXPECTED.items()):
        if expected["allowed"] == PUBLIC:
            continue
        for name, client in principals["clients"].items():
            path = _path(rule, principals["ids"])
            data = {"csrf_token": _csrf(client)} if method == "POST" else None
            resp = client.open(path, method=method, data=data)
            to_login = (resp.status_code == 302
                        and resp.headers["Location"].startswith("/console/login"))
            if name == ANON:
                ok = to_login
            elif name in expected.get("hidden", ()):
                ok = resp.status_code == 404
            elif name in expected["allowed"]:
                ok = resp.status_code not in (401, 403) and resp.status_code < 500 and not to_login
            else:
                ok = resp.status_code == 403
            if not ok:
                failures.append((method, rule, name, resp.status_code))
    assert not failures
