"""Property-based fuzzing of every operation in /api/v1/openapi.json (schemathesis).

Each generated request is sent as an anonymous caller, a citizen, merchant staff and an
administrator, and, for the operations secured by partnerHmac, also as a data partner that
signs every case afresh. Whatever the input: no 5xx, the status code is one the document
lists for the operation, and the body matches the documented schema and media type.

Every case is sent by principals of its own. Many operations lock out whoever calls
them or whoever they name (logout revokes the token; erasing the account, a password
change, disabling a user, taking a role away or suspending a merchant do the same, and
hypothesis favours the small ids of the earliest users), so callers shared across cases
answered 401 after the first such success and the fuzz never got past authentication.
So each case mints a fresh citizen, a fresh staff member of a fresh merchant and a fresh
administrator: rows written directly (one password hash computed for all of them) and
access tokens made with flask_jwt_extended, no login (POST /auth/refresh gets refresh
tokens). The anonymous caller goes first and the administrator last, so nothing a case
does reaches its own later callers either; a signed-in caller is therefore never
answered 401 on a bearer-secured operation, and the test asserts exactly that.

The partner reports two methodologies (approved, so records can be credited) and has a few
citizens linked; a fresh one, with fresh citizens, for each partner operation. Its
generated cases are nudged towards those references, methodologies, valid records and
fresh link codes, so that they reach past signing and consent checks rather than all
stopping at 401 or "no consent". It signs the path exactly as sent, percent escapes and
all, and is never answered 401 either.
"""

from __future__ import annotations

import itertools
import json
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from flask import Flask
from flask_jwt_extended import create_access_token, create_refresh_token
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from app import create_app
from app.auth.passwords import hash_password
from app.extensions import db
from app.ledger import service as ledger
from app.merchants import service as merchants
from app.methodology import service as methodologies
from app.partners import service as partners
from app.partners.signing import canonical, sign
from app.uow import unit_of_work
from app.users.models import User, UserRole
from tests.conftest import TEST_JWT_SECRET, _truncate_all
from tests.helpers import PASSWORD

EXAMPLES_PER_OPERATION = 12
PARTNER_EXAMPLES_PER_OPERATION = 40  # never fuzzed past 401 before; cheap (≈ 0.5 s each op)
PARTNER_METHODOLOGIES = ["green_travel", "recycling"]
CALLERS = ("anonymous", "citizen", "staff", "admin")
REFRESH_PATH = "/api/v1/auth/refresh"  # the one operation that takes a refresh token
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
def fuzz_app(database, tmp_path_factory) -> Iterator[Flask]:
    """One database for the whole module: the fuzzer's requests pile up in it, as they
    would on a live service."""
    if database["kind"] == "sqlite":
        path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
        shutil.copy(database["template"], path)
        url = f"sqlite:///{path}"
    else:
        url = database["url"]
    # The partner's wrong-code limit (30 per 10 minutes) would turn most generated link
    # requests into 429 before their validation is reached; tests/partners covers the limit.
    app = create_app({"DATABASE_URL": url, "JWT_SECRET_KEY": TEST_JWT_SECRET,
                      "LOG_LEVEL": "WARNING", "PARTNER_LINK_FAILURE_LIMIT": "10000 per minute"},
                     instance_path=str(tmp_path_factory.mktemp("fuzz-instance")), TESTING=True)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    if database["kind"] == "postgresql":
        _truncate_all(url)


class Principals:
    """Makes fresh users straight in the database: no registration, no login, one hash."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.password_hash = hash_password(PASSWORD)
        self._made = itertools.count(1)

    def user(self, *roles: str) -> User:
        """A new user holding roles (and citizen's points accounts); in an app context."""
        n = next(self._made)
        user = User(email=f"fuzz-{n}@example.com", password_hash=self.password_hash,
                    display_name=f"fuzz {n}")
        user.roles = [UserRole(role=role) for role in ("citizen", *roles)]
        db.session.add(user)
        db.session.flush()
        ledger.open_books([user.id])
        return user

    def callers(self, *, refresh: bool = False) -> list[dict[str, str]]:
        """Headers of a fresh caller of each kind (CALLERS): none, a citizen, staff of a
        new merchant and an administrator, with access tokens (refresh tokens if asked)."""
        token = create_refresh_token if refresh else create_access_token
        with self.app.app_context(), unit_of_work():
            citizen, staff, admin = self.user(), self.user(), self.user("admin")
            merchant = merchants.create(admin, name=f"Fuzz 商户 {staff.id}",
                                        contact="021-0000 0000")
            merchants.add_staff(admin, merchant, staff)
            return [{}, *({"Authorization": "Bearer " + token(
                identity=str(user.id), additional_claims={"ep": user.token_epoch})}
                for user in (citizen, staff, admin))]


@pytest.fixture(scope="module")
def principals(fuzz_app) -> Principals:
    return Principals(fuzz_app)


class PartnerCaller:
    """A data partner: signs each request, remembers what it saw."""

    def __init__(self, app: Flask, key_id: str, secret: str, refs: list[str],
                 movers: list[int]) -> None:
        self.app, self.key_id, self.secret = app, key_id, secret
        self.refs = refs  # references linked in setup (a citizen may revoke one meanwhile)
        self.movers = movers  # linked citizens whose fresh codes may be redeemed by the fuzz
        self._signed: set[str] = set()
        self.statuses: Counter[int] = Counter()
        self.outcomes: Counter[str] = Counter()  # batch record statuses

    def headers(self, method: str, path: str, body: bytes) -> dict[str, str]:
        """Signed headers; never the same signature twice (the server refuses a replay),
        even when hypothesis generates the same request again within a second."""
        timestamp = int(time.time())
        while canonical(timestamp, method, path, body) in self._signed:
            timestamp -= 1
        self._signed.add(canonical(timestamp, method, path, body))
        return sign(self.secret, method, path, body, timestamp, key_id=self.key_id)

    def fresh_code(self, user_id: int) -> str:
        with self.app.app_context(), unit_of_work():
            code, _ = partners.new_link_code(db.session.get(User, user_id))
        return code


@pytest.fixture(scope="module")
def new_partner(fuzz_app, principals) -> Callable[[], PartnerCaller]:
    """Makes partners reporting PARTNER_METHODOLOGIES (approved, in force), each with
    fresh citizens of its own linked to it. A fresh one for each partner operation: earlier
    admin cases may have suspended a partner, revoked its key or disabled its citizens."""
    refs = ["fuzz-ref-1", "fuzz-ref-2", "fuzz-mover-1", "fuzz-mover-2"]
    with fuzz_app.app_context(), unit_of_work():
        admin = principals.user("admin")
        for version in methodologies.versions():
            if version.status == "pending":
                methodologies.approve(admin, version.id, datetime.now(UTC) - timedelta(days=365))
    made = itertools.count(1)

    def make() -> PartnerCaller:
        with fuzz_app.app_context(), unit_of_work():
            created, key, secret = partners.create(
                principals.user("admin"), name=f"Fuzz 数据伙伴 {next(made)}",
                methodologies=PARTNER_METHODOLOGIES)
            linked_ids = []
            for ref in refs:
                user = principals.user()
                code, _ = partners.new_link_code(user)
                partners.bind(created, code, ref)
                linked_ids.append(user.id)
            key_id = key.key_id
        return PartnerCaller(fuzz_app, key_id, secret, refs, linked_ids[2:])

    return make


def _valid_record_data(methodology: str) -> dict[str, Any]:
    if methodology == "green_travel":
        return {"mode": "metro", "distance_km": "12.5"}
    return {}


def _steer(case, draw, partner: PartnerCaller) -> None:
    """Point some of a generated case's values at what exists, drawn by hypothesis (so
    runs repeat): linked references, allowed methodologies, valid records, fresh codes.
    Every replacement is itself valid for the documented schema."""
    ref = st.sampled_from(partner.refs)
    if "partner_user_ref" in (case.path_parameters or {}) and draw(st.booleans()):
        # Path parameters are held percent-encoded, as they are sent.
        case.path_parameters["partner_user_ref"] = quote(draw(ref), safe="")
    if not isinstance(case.body, dict):
        return
    if case.path.endswith("/partner/links"):
        if draw(st.booleans()):
            case.body["code"] = partner.fresh_code(draw(st.sampled_from(partner.movers)))
        if draw(st.booleans()):
            case.body["partner_user_ref"] = draw(ref)
    for record in case.body.get("records", []):
        if not isinstance(record, dict) or not draw(st.booleans()):
            continue
        methodology = draw(st.sampled_from([*PARTNER_METHODOLOGIES, "paperless"]))
        record.update(user_ref=draw(ref), methodology=methodology)
        if draw(st.booleans()):
            hours = draw(st.integers(min_value=0, max_value=24 * 40))
            record.update(data=_valid_record_data(methodology),
                          occurred_at=(datetime.now(UTC) - timedelta(hours=hours)).isoformat())
        if draw(st.booleans()):
            record["external_id"] = draw(st.sampled_from(["fuzz-ext-1", "fuzz-ext-2"]))


def _call_as_partner(case, partner: PartnerCaller) -> None:
    """Send the case signed: the body is serialized here, so the bytes signed are the bytes
    sent; the path signed is the one sent, percent escapes and all (the request line's,
    which the server checks)."""
    body = b"" if case.body is None or not case.media_type else json.dumps(case.body).encode()
    path = case.operation.schema.get_full_path(case.formatted_path)
    extra = {"data": body} if case.media_type else {}
    response = case.call_and_validate(
        headers=partner.headers(case.method, path, body), checks=CHECKS, **extra)
    partner.statuses[response.status_code] += 1
    if response.status_code == 200 and case.path.endswith("/partner/behaviours"):
        partner.outcomes.update(r["status"] for r in response.json()["results"])


def _partner_operation(operation) -> bool:
    return any("partnerHmac" in requirement
               for requirement in operation.definition.raw.get("security", []))


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_app)


def _operations() -> list[tuple[str, str]]:
    """Every operation of the document, read at collection time (no database needed)."""
    app = create_app({"DATABASE_URL": "sqlite://", "JWT_SECRET_KEY": TEST_JWT_SECRET,
                      "METHODOLOGY_SYNC_ON_START": "0", "LOG_LEVEL": "WARNING"},
                     instance_path=str(Path(tempfile.gettempdir()) / "fuzz-collect"))
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    return [pytest.param(method.upper(), path, id=f"{method.upper()} {path}")
            for path, item in spec["paths"].items()
            for method in item if method in ("get", "post", "put", "patch", "delete")]


def _bearer_operation(operation) -> bool:
    return any("bearerAuth" in requirement
               for requirement in operation.definition.raw.get("security", []))


# schemathesis's own pytest integration (from_fixture) does not run on this pytest, so the
# operations are parametrized here and each draws its cases from schemathesis's strategy.
@pytest.mark.parametrize(("method", "path"), _operations())
def test_every_operation_as_every_caller(method, path, api_schema, principals, new_partner):
    operation = api_schema[path][method]
    as_partner = _partner_operation(operation)
    partner = new_partner() if as_partner else None
    statuses: dict[str, Counter[int]] = {caller: Counter() for caller in CALLERS}

    @settings(max_examples=PARTNER_EXAMPLES_PER_OPERATION if as_partner
              else EXAMPLES_PER_OPERATION, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck), database=None)
    @given(case=operation.as_strategy(), data=st.data())
    def run(case, data) -> None:
        callers = principals.callers(refresh=path == REFRESH_PATH)
        for caller, headers in zip(CALLERS, callers, strict=True):
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            statuses[caller][response.status_code] += 1
        if as_partner:
            _steer(case, data.draw, partner)
            _call_as_partner(case, partner)

    run()
    if _bearer_operation(operation):
        # Every signed-in caller held a working token: none was refused as unauthenticated
        # (a missing role is a 403).
        for caller in CALLERS[1:]:
            assert statuses[caller][401] == 0, (caller, statuses[caller])
    if as_partner:
        # The partner's cases were all signed correctly, escaped paths included.
        assert partner.statuses[401] == 0, partner.statuses
        if path.endswith("/partner/behaviours"):
            # ... and some records named a linked user_ref and an allowed methodology.
            assert set(partner.outcomes) - {"invalid", "rejected"}, partner.outcomes
