"""The world the authorization matrix runs in: two citizens, two merchants with one staff
account each, an administrator and a data partner, and resources that all belong to
citizen A or merchant A, so that everybody else has to be refused them."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app import ledger
from app.auth import service as auth
from app.auth.passwords import hash_password
from app.extensions import db
from app.methodology import service as methodology
from app.partners.signing import sign
from app.uow import unit_of_work
from app.users import service as users
from app.users.models import User
from tests.helpers import PASSWORD

ANON = "anonymous"
CITIZEN = "citizen"
OTHER_CITIZEN = "other_citizen"
STAFF = "merchant_staff"
OTHER_STAFF = "other_merchant_staff"
ADMIN = "admin"
PARTNER = "partner"
PRINCIPALS = (ANON, CITIZEN, OTHER_CITIZEN, STAFF, OTHER_STAFF, ADMIN, PARTNER)

_HASH = hash_password(PASSWORD)
_seq = itertools.count(1)


@dataclass
class Principal:
    name: str
    user_id: int | None = None
    access_token: str | None = None
    refresh_token: str | None = None


@dataclass
class Signer:
    """Signs partner requests; each gets a distinct, earlier second, because the server
    refuses a signature it has seen and a matrix sends many requests within one second."""

    key_id: str
    secret: str
    _last: int = field(default=2**62)

    def headers(self, method: str, path: str, body: bytes) -> dict[str, str]:
        self._last = min(int(time.time()), self._last - 1)
        return sign(self.secret, method, path, body, self._last, key_id=self.key_id)


@dataclass
class World:
    client: FlaskClient
    principals: dict[str, Principal]
    signer: Signer
    ids: dict[str, Any]
    redemption_code: str

    def call(self, principal: str, method: str, path: str, body: Any = None, *,
             refresh: bool = False) -> TestResponse:
        """Send one request as `principal`. Bearer principals use their access token
        (their refresh token where the operation wants one); the partner signs."""
        raw = b"" if body is None else json.dumps(body).encode()
        headers = {"Idempotency-Key": uuid.uuid4().hex}
        who = self.principals[principal]
        if principal == PARTNER:
            headers.update(self.signer.headers(method, path, raw))
        elif who.access_token:
            token = who.refresh_token if refresh else who.access_token
            headers["Authorization"] = f"Bearer {token}"
        return self.client.open(path, method=method, data=raw, headers=headers,
                                content_type="application/json" if raw else None)


def _account(app: Flask, *roles: str) -> tuple[int, dict[str, str]]:
    # Tokens are issued directly: a login per account would cost an Argon2 verification.
    with app.app_context(), unit_of_work():
        user = users.register(email=f"authz{next(_seq)}-{uuid.uuid4().hex[:6]}@example.com",
                              password=PASSWORD, roles=roles)
        return user.id, auth.issue_tokens(user)


def _ok(resp: TestResponse, *statuses: int) -> dict:
    assert resp.status_code in (statuses or (200, 201)), (resp.status_code, resp.get_json())
    return resp.get_json()


@pytest.fixture
def world(app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setattr(users, "hash_password", lambda _password: _HASH)
    # Staff and the administrator hold only their own role (as the demo accounts do), so
    # the matrix shows what each role opens rather than what a citizen role adds to it.
    roles = {CITIZEN: ("citizen",), OTHER_CITIZEN: ("citizen",), STAFF: ("merchant",),
             OTHER_STAFF: ("merchant",), ADMIN: ("admin",)}
    principals = {ANON: Principal(ANON), PARTNER: Principal(PARTNER)}
    for name, granted in roles.items():
        user_id, tokens = _account(app, *granted)
        principals[name] = Principal(name, user_id, tokens["access_token"],
                                     tokens["refresh_token"])
    world = World(client, principals, Signer("", ""), {}, "")

    def as_(name: str, method: str, path: str, body: Any = None, *statuses: int) -> dict:
        return _ok(world.call(name, method, path, body), *statuses)

    # Self-reports are credited only under an approved version; approval needs an
    # administrator other than the one who proposed it, which no one did here.
    with app.app_context(), unit_of_work():
        admin = db.session.get(User, principals[ADMIN].user_id)
        [version] = [v for v in methodology.discovered_pending("1.0.0")
                     if v.code == "green_travel"]
        methodology.approve(admin, version.id, datetime.now(UTC) - timedelta(days=365))
        version_id = version.id

    merchants = {}
    for staff in (STAFF, OTHER_STAFF):
        merchant = as_(ADMIN, "POST", "/api/v1/admin/merchants",
                       {"name": f"商户 {staff}", "contact": "021-5555 0000"}, 201)
        as_(ADMIN, "PUT", f"/api/v1/admin/merchants/{merchant['id']}/staff/"
                          f"{principals[staff].user_id}")
        merchants[staff] = merchant["id"]

    reward = as_(STAFF, "POST", "/api/v1/merchant/rewards", {
        "title_zh": "环保购物袋", "title_en": "Reusable shopping bag", "category": "shopping",
        "description": "帆布袋一个", "image_url": "https://img.example.com/bag.png",
        "points_price": 100, "total_stock": 10}, 201)
    queue = as_(ADMIN, "GET", "/api/v1/admin/rewards/revisions?per_page=100")
    [revision] = [r for r in queue["items"] if r["reward_id"] == reward["id"]]
    as_(ADMIN, "POST", f"/api/v1/admin/rewards/revisions/{revision['id']}/approve")

    with app.app_context(), unit_of_work():
        earn = ledger.earn(principals[CITIZEN].user_id, 1000, key=f"authz-{uuid.uuid4().hex}",
                           cause_type="behaviour")
        tx_id = earn.id

    occurred = (datetime.now(UTC) - timedelta(hours=3)).isoformat()
    behaviour = as_(CITIZEN, "POST", "/api/v1/behaviours", {
        "methodology": "green_travel", "occurred_at": occurred,
        "data": {"mode": "metro", "distance_km": "10"}}, 201)
    # One redemption stays reserved (to read, cancel and verify); the other is verified at
    # once, so that merchant A's settlement has a line to keep from merchant B.
    redemption = as_(CITIZEN, "POST", f"/api/v1/rewards/{reward['id']}/redemptions", None, 201)
    fulfilled = as_(CITIZEN, "POST", f"/api/v1/rewards/{reward['id']}/redemptions", None, 201)
    as_(STAFF, "POST", "/api/v1/merchant/redemptions/verify", {"code": fulfilled["code"]})

    created = as_(ADMIN, "POST", "/api/v1/admin/partners",
                  {"name": "Metro Line Co", "methodologies": ["green_travel"]}, 201)
    world.signer = Signer(created["key_id"], created["secret"])
    code = as_(CITIZEN, "POST", "/api/v1/me/partner-links/codes", None, 201)["code"]
    link = as_(PARTNER, "POST", "/api/v1/partner/links",
               {"code": code, "partner_user_ref": "rider-a"}, 201)

    world.redemption_code = redemption["code"]
    world.ids = {
        "user_id": principals[CITIZEN].user_id,
        "staff_user_id": principals[STAFF].user_id,
        "role": "citizen",
        "tx_id": tx_id,
        "code": "green_travel",
        "version_id": version_id,
        "behaviour_id": behaviour["id"],
        "merchant_id": merchants[STAFF],
        "reward_id": reward["id"],
        "revision_id": revision["id"],
        "redemption_id": redemption["id"],
        "fulfilled_redemption_id": fulfilled["id"],
        "partner_id": created["partner"]["id"],
        "key_id": created["key_id"],
        "link_id": link["id"],
        "partner_user_ref": "rider-a",
    }
    return world
