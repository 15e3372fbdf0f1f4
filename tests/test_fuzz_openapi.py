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

Random ids in paths (and queries) almost always name nothing, so most cases of an
operation taking an id stopped at 404 and never reached the code behind it. So each case
is also steered, by hypothesis draws (repeatable), towards real objects owned by or visible
to its own callers: the staff's merchant and its rewards (one listed, one awaiting review,
with its revision), a reserved redemption of the citizen and its code, the citizen's
credited and queued behaviours and their earn, a pending methodology version, a partner
with its key and a link of the citizen's, and dates near today. An object is made only
when a draw picks it (through the app's services, one unit of work per case), so an
unsteered case costs nothing more; a steerable value keeps its random one a third of the
time. Bodies whose random values never get past validation are steered the same way where
it is cheap: a citizen's report, a methodology proposal's parameter names, a conversion
rate, an approval's date, a partner's methodologies, the code a merchant verifies.
"""

from __future__ import annotations

import itertools
import json
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cached_property
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

from app import behaviours, create_app, ledger, rewards
from app.auth.passwords import hash_password
from app.extensions import db
from app.http.problems import ApiError
from app.merchants import service as merchants
from app.methodology import service as methodology
from app.partners import service as partners
from app.partners.signing import canonical, sign
from app.uow import unit_of_work
from app.users.models import ROLES, User, UserRole
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
    with app.app_context(), unit_of_work():  # what `flask methodologies sync` does
        methodology.sync_discovered()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    if database["kind"] == "postgresql":
        _truncate_all(url)


@dataclass
class Cast:
    """One case's callers: their headers (in CALLERS order) and who they are."""

    headers: list[dict[str, str]]
    citizen: int
    staff: int
    admin: int
    merchant: int  # the staff's


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

    def callers(self, *, refresh: bool = False) -> Cast:
        """A fresh caller of each kind (CALLERS): none, a citizen, staff of a new merchant
        and an administrator, with access tokens (refresh tokens if asked)."""
        token = create_refresh_token if refresh else create_access_token
        with self.app.app_context(), unit_of_work():
            citizen, staff, admin = self.user(), self.user(), self.user("admin")
            merchant = merchants.create(admin, name=f"Fuzz 商户 {staff.id}",
                                        contact="021-0000 0000")
            merchants.add_staff(admin, merchant, staff)
            return Cast([{}, *({"Authorization": "Bearer " + token(
                identity=str(user.id), additional_claims={"ep": user.token_epoch})}
                for user in (citizen, staff, admin))],
                citizen=citizen.id, staff=staff.id, admin=admin.id, merchant=merchant.id)


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
        for version in methodology.discovered_pending("1.0.0"):
            methodology.approve(admin, version.id, datetime.now(UTC) - timedelta(days=365))
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
    if methodology == "paperless":
        return {"kind": "e_receipt", "sheets": 3}
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
            # Most inside the claim window (9 days), some beyond it.
            hours = draw(st.integers(min_value=0, max_value=24 * 12))
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


REWARD = {"title_zh": "环保购物袋", "title_en": "Reusable shopping bag", "category": "shopping",
          "description": "帆布袋一个", "image_url": "https://img.example.com/bag.png",
          "points_price": 10, "total_stock": 5}
SEED_POINTS = 100  # the citizen's: enough for a redemption, and a debit or two by the fuzz
_proposals = itertools.count(1)  # makes each proposed methodology version's parameters new


def _reported_at() -> datetime:
    """When a self-report steered or staged here happened: inside the claim window."""
    return datetime.now(UTC) - timedelta(hours=2)


def _self_report_data(methodology: str) -> dict[str, Any]:
    """A record a citizen may report themselves: a self-reported trip must give its times
    and end points (a plausible metro speed), a paperless receipt is queued for review."""
    if methodology == "green_travel":
        start = _reported_at() - timedelta(minutes=15)
        return {"mode": "metro", "started_at": start.isoformat(),
                "ended_at": (start + timedelta(minutes=30)).isoformat(),
                "start": {"lat": 32.0, "lon": 118.8}, "end": {"lat": 32.09, "lon": 118.8}}
    return _valid_record_data(methodology)


class Stage:
    """Real objects for one case, each made on first use through the app's services (in
    the unit of work `targets` opens) and owned by, or visible to, the case's callers."""

    def __init__(self, principals: Principals, cast: Cast) -> None:
        self.principals, self.app, self.cast = principals, principals.app, cast

    def targets(self, names: set[str]) -> dict[str, list[Any]]:
        """For each name of TARGETS asked for, the real values a parameter may take."""
        if not names:
            return {}
        if names & {"behaviour_id", "tx_id", "version_id"}:
            for code in ("green_travel", "paperless"):
                self._keep_in_force(code)
        with self.app.app_context(), unit_of_work():
            return {name: [v for v in TARGETS[name](self) if v is not None] for name in names}

    def _keep_in_force(self, code: str) -> None:
        """Earlier admin cases may have retired the version the behaviours need: approve a
        new one from yesterday if none is in force (best effort: a version approved for a
        later date, also the fuzz's doing, leaves no room for one; the behaviour is then
        rejected, still a real object)."""
        with self.app.app_context():
            try:
                with unit_of_work():
                    if methodology.active_version(code, datetime.now(UTC)) is None:
                        version = self._propose(code)
                        methodology.approve(self.principals.user("admin"), version.id,
                                              datetime.now(UTC) - timedelta(days=1))
            except ApiError:
                pass

    def _propose(self, code: str):
        cap = methodology.full_parameters(methodology.module(code))["daily_cap_g"]["value"]
        change = {"value": str(Decimal(str(cap)) + Decimal(next(_proposals)) / 1000),
                  "source": "fuzz"}
        # By an administrator of its own: the case's may then approve it (four eyes).
        return methodology.propose(self.principals.user("admin"), code,
                                     {"daily_cap_g": change}, note="fuzz")

    def codes(self) -> list[str]:
        """The loaded methodologies' codes."""
        with self.app.app_context():
            return methodology.registry().codes()

    def parameter_values(self, code: str) -> dict[str, Any] | None:
        """A methodology's parameters and their values in force, or its newest release's
        defaults (None: no such one): a proposal changes the release in force."""
        with self.app.app_context():
            if code not in self.codes():
                return None
            version = methodology.active_version(code, datetime.now(UTC))
            params = version.parameters if version is not None else \
                methodology.full_parameters(methodology.module(code))
            return {name: p["value"] for name, p in params.items()}

    def user(self, user_id: int) -> User:
        return db.session.get(User, user_id)

    @cached_property
    def merchant(self):
        return merchants.get(self.cast.merchant)

    @cached_property
    def queued_reward(self):
        """A reward its staff proposed, awaiting review (its create revision pending)."""
        return rewards.create_reward(self.user(self.cast.staff), self.merchant, dict(REWARD))

    @cached_property
    def listed_reward(self):
        """A reward on the catalogue, which the citizen has the points for."""
        self.seed_earn  # noqa: B018 (made for the points)
        reward = rewards.create_reward(self.user(self.cast.staff), self.merchant, dict(REWARD))
        rewards.approve(self.user(self.cast.admin), reward.pending.id)
        return reward

    @cached_property
    def seed_earn(self) -> int:
        """The citizen's points, as an earn (reversible by an administrator)."""
        return ledger.earn(self.cast.citizen, SEED_POINTS, key=f"fuzz-seed-{uuid.uuid4().hex}",
                           cause_type="behaviour").id

    @cached_property
    def redemption(self):
        """The citizen's reserved redemption of the listed reward."""
        return rewards.redeem(self.cast.citizen, self.listed_reward.id,
                              request_key=uuid.uuid4().hex)

    def _behaviour(self, methodology: str, data: dict[str, Any]):
        return behaviours.submit(
            user_id=self.cast.citizen, methodology=methodology, data=data, evidence=None,
            occurred_at=_reported_at(), source="self_report")

    @cached_property
    def credited_behaviour(self):
        """A self-reported metro ride: credited (discounted) while green_travel is in force."""
        return self._behaviour("green_travel", _self_report_data("green_travel"))

    @cached_property
    def queued_behaviour(self):
        """A self-reported paperless receipt: queued for review."""
        return self._behaviour("paperless", _self_report_data("paperless"))

    @cached_property
    def pending_version(self):
        return self._propose("paperless")

    @property
    def version_in_force(self) -> int | None:
        """Paperless's version in force (one a retirement may stop; staging restores one)."""
        version = methodology.active_version("paperless", datetime.now(UTC))
        return version.id if version else None

    @cached_property
    def partner(self):
        """A partner the case's administrator made, with its key and the citizen linked."""
        partner, key, _secret = partners.create(
            self.user(self.cast.admin), name=f"Fuzz 伙伴 {uuid.uuid4().hex[:8]}",
            methodologies=PARTNER_METHODOLOGIES)
        code, _ = partners.new_link_code(self.user(self.cast.citizen))
        link, _ = partners.bind(partner, code, f"fuzz-{self.cast.citizen}")
        return partner, key, link


# Which real values each parameter may be steered to, by the parameter's name (path and
# query parameters; "redemption_code" is the verify body's code).
TARGETS: dict[str, Callable[[Stage], list[Any]]] = {
    "user_id": lambda s: [s.cast.citizen, s.cast.staff, s.cast.admin],
    "role": lambda s: list(ROLES),
    "merchant_id": lambda s: [s.cast.merchant],
    "code": lambda s: s.codes(),
    "reward_id": lambda s: [s.listed_reward.id, s.queued_reward.id],
    "revision_id": lambda s: [s.queued_reward.pending.id],
    "redemption_id": lambda s: [s.redemption.id],
    "redemption_code": lambda s: [s.redemption.code],
    "behaviour_id": lambda s: [s.credited_behaviour.id, s.queued_behaviour.id],
    "tx_id": lambda s: [s.seed_earn, s.credited_behaviour.ledger_tx_id],
    "version_id": lambda s: [s.pending_version.id, s.version_in_force],
    "partner_id": lambda s: [s.partner[0].id],
    "key_id": lambda s: [s.partner[1].key_id],
    "link_id": lambda s: [s.partner[2].id],
}


def _steer_to_objects(case, draw, stage: Stage) -> None:
    """Point some of a case's ids at the stage's real objects, and its dates near today.

    Each steerable value is replaced two times in three (a draw), so random values are
    still sent too; the objects are then made for the names drawn, and one of each name's
    real values drawn in turn. Path parameters are held percent-encoded, as they are sent.
    """
    def steer() -> bool:
        return draw(st.integers(min_value=0, max_value=2)) > 0

    path = case.path_parameters or {}
    query = case.query if isinstance(case.query, dict) else {}
    body = case.body if isinstance(case.body, dict) else {}
    chosen = [(path, name) for name in sorted(path) if name in TARGETS and steer()]
    chosen += [(query, name) for name in sorted(query) if name in TARGETS and steer()]
    verify = case.path.endswith("/redemptions/verify") and "code" in body
    if verify and steer():
        chosen.append((body, "redemption_code"))
    targets = stage.targets({name for _, name in chosen})
    for where, name in chosen:
        value = draw(st.sampled_from(targets[name]))
        if where is path:
            where[name] = quote(str(value), safe="")
        elif name == "redemption_code":  # as typed at the counter now and then
            where["code"] = draw(st.sampled_from([value, value.lower(),
                                                  f"{value[:4]}-{value[4:]}"]))
        else:
            where[name] = value
    # A citizen's own report names a random methodology (404): some name one they may
    # report, with a valid record from a couple of hours ago, and reach the crediting.
    report = case.method == "POST" and case.path.endswith("/v1/behaviours")
    if report and body and steer():
        methodology = draw(st.sampled_from(["green_travel", "paperless"]))
        body.update(methodology=methodology, data=_self_report_data(methodology),
                    occurred_at=_reported_at().isoformat())
    # A proposal's parameter names are random (422 "unknown parameters"): some name the
    # methodology's own, with the generated value, the default or a decimal, so that they
    # reach its coercion and, now and then, make a new version.
    proposal = body.get("parameters") if case.path.endswith("/versions") else None
    defaults = (stage.parameter_values(path.get("code", ""))
                if isinstance(proposal, dict) else None)
    if defaults and steer():
        changes = {}
        for change in proposal.values() or [{"source": "fuzz: a steered change"}]:
            name = draw(st.sampled_from(sorted(defaults)))
            value = draw(st.sampled_from(["generated", "default", "decimal"]))
            if value == "default":
                change = {**change, "value": defaults[name]}
            elif value == "decimal":
                thousandths = draw(st.integers(min_value=0, max_value=10_000_000))
                change = {**change, "value": str(Decimal(thousandths) / 1000)}
            changes[name] = change
        body["parameters"] = changes
    # A conversion rate is a decimal string: random strings are all 422.
    if case.path.endswith("/conversion-rates") and "points_per_gram" in body and steer():
        micro = draw(st.integers(min_value=1, max_value=1_000_000_000))
        body["points_per_gram"] = str(Decimal(micro) / 1_000_000)
    # An approval dated at random is mostly before the version in force (409): some take
    # effect within the next two hours.
    approval = case.path.endswith("/approve") and "version_id" in path
    if approval and "effective_from" in body and steer():
        minutes = draw(st.integers(min_value=0, max_value=120))
        body["effective_from"] = (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()
    # A partner's methodologies are random strings (422): some are the loaded ones.
    if isinstance(body.get("methodologies"), list) and steer():
        body["methodologies"] = draw(st.lists(st.sampled_from(stage.codes()), min_size=1,
                                              max_size=4))
    # Reports and settlements over random dates are almost always empty: some are steered
    # to a few days around today, where this run's redemptions and behaviours are.
    for name in ("from", "to"):
        if name in query and steer():
            days = draw(st.integers(min_value=-3, max_value=3))
            query[name] = (date.today() + timedelta(days=days)).isoformat()


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_app)


def _operations() -> list[tuple[str, str]]:
    """Every operation of the document, read at collection time (no database needed)."""
    app = create_app({"DATABASE_URL": "sqlite://", "JWT_SECRET_KEY": TEST_JWT_SECRET,
                      "LOG_LEVEL": "WARNING"},
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
        cast = principals.callers(refresh=path == REFRESH_PATH)
        _steer_to_objects(case, data.draw, Stage(principals, cast))
        for caller, headers in zip(CALLERS, cast.headers, strict=True):
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
