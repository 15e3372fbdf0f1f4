"""Partners: an admin, a registered partner with its key, and a client that signs."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from app.partners.signing import sign
from tests.conftest import run_sql

PREFIX = "/api/v1/partner"


@dataclass
class PartnerCreds:
    id: int
    key_id: str
    secret: str


class PartnerClient:
    """Sends requests signed with a partner key (or deliberately not quite)."""

    def __init__(self, client: FlaskClient, creds: PartnerCreds) -> None:
        self.client = client
        self.creds = creds
        self._last = 2**62

    def _now(self) -> int:
        # The same request signed twice in one second has the same signature, which the
        # server refuses as a replay; tests repeat requests quickly, so every call gets an
        # earlier second than the last (tests make far fewer than 300 calls).
        self._last = min(int(time.time()), self._last - 1)
        return self._last

    def signed(self, method: str, path: str, body: bytes = b"", *, timestamp: int | None = None,
               key_id: str | None = None, secret: str | None = None) -> dict[str, str]:
        return sign(secret or self.creds.secret, method, path, body,
                    self._now() if timestamp is None else timestamp,
                    key_id=key_id or self.creds.key_id)

    def send(self, method: str, path: str, payload: Any = None, *, headers: dict | None = None,
             body: bytes | None = None, **sign_kw: Any):
        if body is None:
            body = b"" if payload is None else json.dumps(payload).encode()
        signed = self.signed(method, path, body, **sign_kw)
        return self.raw(method, path, body, {**signed, **(headers or {})})

    def raw(self, method: str, path: str, body: bytes, headers: dict[str, str]):
        return self.client.open(path, method=method, data=body, headers=headers,
                                content_type="application/json" if body else None)

    def post(self, path: str, payload: Any = None, **kw: Any):
        return self.send("POST", PREFIX + path, payload, **kw)

    def get(self, path: str, **kw: Any):
        return self.send("GET", PREFIX + path, **kw)


@pytest.fixture
def admin(api):
    return api.caller("admin")


@pytest.fixture
def make_partner(api, admin, client):
    def make(name: str = "Metro Line Co", methodologies: list[str] | None = None
             ) -> PartnerClient:
        resp = api.post("/api/v1/admin/partners", admin, json={
            "name": name, "methodologies": methodologies or ["green_travel"]})
        assert resp.status_code == 201, resp.get_json()
        body = resp.get_json()
        return PartnerClient(client, PartnerCreds(body["partner"]["id"], body["key_id"],
                                                  body["secret"]))

    return make


@pytest.fixture
def partner(make_partner) -> PartnerClient:
    return make_partner()


@pytest.fixture
def link(api, partner):
    """Link a new citizen to `partner` as its user `ref`; returns the citizen."""

    def run(ref: str, citizen=None, via: PartnerClient | None = None):
        citizen = citizen or api.caller()
        code = api.post("/api/v1/me/partner-links/codes", citizen).get_json()["code"]
        resp = (via or partner).post("/links", {"code": code, "partner_user_ref": ref})
        assert resp.status_code in (200, 201), resp.get_json()
        return citizen

    return run


def count(app, table: str, where: str = "1=1", **params: Any) -> int:
    return run_sql(app, f"SELECT count(*) FROM {table} WHERE {where}", **params)[0][0]


@pytest.fixture
def approved(app, api):
    """Approve every discovered default methodology version, in force from a year ago
    (needs the methodology and behaviours domains)."""
    from app.extensions import db
    from app.methodology import service as methodology
    from app.uow import unit_of_work
    from app.users.models import User

    admin_id = api.create_user("admin")
    with app.app_context(), unit_of_work():
        admin = db.session.get(User, admin_id)
        for v in methodology.discovered_pending("1.0.0"):
            methodology.approve(admin, v.id, datetime.now(UTC) - timedelta(days=365))


def _at(hours_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat()


def trip(ext: str, ref: str, hours_ago: float, km: str = "10", **over):
    record = {"external_id": ext, "user_ref": ref, "methodology": "green_travel",
              "occurred_at": _at(hours_ago), "data": {"mode": "metro", "distance_km": km}}
    record.update(over)
    return record
