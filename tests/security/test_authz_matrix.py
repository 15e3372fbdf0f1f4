"""Authorization matrix: every documented operation, called as every principal.

The operations come from the OpenAPI document, so a new endpoint cannot slip past: it fails
here until someone decides, in EXPECTED, who may call it. Path parameters name citizen A's
and merchant A's resources (see conftest.py), so "allowed" for the other citizen or the
other merchant's staff means one of them reached something that is not theirs.

Verdicts: 401 and 403 are refusals; so is 404 where the path (or body) names an owned
resource, because hiding its existence is a refusal too. Anything else below 500 —
including 400, 409 and 422 — means authorization let the request through to the work.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app import create_app
from app.extensions import db
from tests.conftest import TEST_JWT_SECRET
from tests.security.conftest import (
    ADMIN,
    ANON,
    CITIZEN,
    OTHER_CITIZEN,
    OTHER_STAFF,
    PARTNER,
    PRINCIPALS,
    STAFF,
    World,
)

HTTP_METHODS = ("get", "put", "post", "delete", "patch")
BODY_METHODS = {"POST", "PUT", "PATCH"}

USERS = frozenset({CITIZEN, OTHER_CITIZEN, STAFF, OTHER_STAFF, ADMIN})
EVERYONE = USERS | {ANON, PARTNER}
CITIZENS = frozenset({CITIZEN, OTHER_CITIZEN})
ALL_STAFF = frozenset({STAFF, OTHER_STAFF})

Operation = tuple[str, str]


@dataclass(frozen=True)
class Rule:
    allowed: frozenset[str]
    # The path (or body) names citizen A's or merchant A's resource: a 404 is a refusal.
    # Ownership is checked after the body is validated, so a scoped operation needs a body
    # the owner's call succeeds with; otherwise a 422 would hide a missing check.
    scoped: bool = False
    body: Callable[[World], Any] | None = None
    # Path parameters whose name alone does not say whose id to use.
    params: Mapping[str, str] = field(default_factory=dict)
    refresh: bool = False


def rule(*allowed: str | frozenset[str], scoped: bool = False,
         body: Callable[[World], Any] | None = None, params: Mapping[str, str] | None = None,
         refresh: bool = False) -> Rule:
    names: set[str] = set()
    for item in allowed:
        names |= {item} if isinstance(item, str) else set(item)
    return Rule(frozenset(names), scoped, body, dict(params or {}), refresh)


V1 = "/api/v1"
EXPECTED: dict[Operation, Rule] = {
    # -- accounts and tokens
    ("POST", f"{V1}/auth/register"): rule(EVERYONE),
    ("POST", f"{V1}/auth/login"): rule(EVERYONE),
    ("POST", f"{V1}/auth/refresh"): rule(USERS, refresh=True),
    ("POST", f"{V1}/auth/logout"): rule(USERS),
    ("GET", f"{V1}/me"): rule(USERS),
    ("PATCH", f"{V1}/me"): rule(USERS),
    ("GET", f"{V1}/me/export"): rule(USERS),
    # The body lacks the password (422): a right one would erase whoever sends it.
    ("DELETE", f"{V1}/me"): rule(USERS, body=lambda _w: {}),
    ("GET", f"{V1}/admin/users"): rule(ADMIN),
    ("GET", f"{V1}/admin/users/{{user_id}}"): rule(ADMIN),
    ("PUT", f"{V1}/admin/users/{{user_id}}/roles/{{role}}"): rule(ADMIN),
    ("DELETE", f"{V1}/admin/users/{{user_id}}/roles/{{role}}"): rule(ADMIN),
    ("POST", f"{V1}/admin/users/{{user_id}}/disable"): rule(ADMIN),
    ("POST", f"{V1}/admin/users/{{user_id}}/enable"): rule(ADMIN),
    ("GET", f"{V1}/admin/audit-events"): rule(ADMIN),
    # -- ledger: the caller's own account; anyone else's only for administrators
    ("GET", f"{V1}/account"): rule(USERS),
    ("GET", f"{V1}/account/entries"): rule(USERS),
    ("GET", f"{V1}/admin/users/{{user_id}}/account"): rule(ADMIN),
    ("GET", f"{V1}/admin/users/{{user_id}}/account/entries"): rule(ADMIN),
    ("POST", f"{V1}/admin/users/{{user_id}}/account/adjustments"): rule(ADMIN),
    ("POST", f"{V1}/admin/ledger/transactions/{{tx_id}}/reversal"): rule(ADMIN),
    ("GET", f"{V1}/admin/ledger/verify"): rule(ADMIN),
    # -- methodologies: published to everyone, changed by administrators
    ("GET", f"{V1}/methodologies"): rule(EVERYONE),
    ("GET", f"{V1}/methodologies/{{code}}"): rule(EVERYONE),
    ("GET", f"{V1}/methodologies/{{code}}/filing"): rule(EVERYONE),
    ("GET", f"{V1}/admin/methodologies"): rule(ADMIN),
    ("POST", f"{V1}/admin/methodologies/{{code}}/versions"): rule(ADMIN),
    ("POST", f"{V1}/admin/methodology-versions/{{version_id}}/approve"): rule(ADMIN),
    ("POST", f"{V1}/admin/methodology-versions/{{version_id}}/reject"): rule(ADMIN),
    ("POST", f"{V1}/admin/methodology-versions/{{version_id}}/retire"): rule(ADMIN),
    # -- behaviours
    ("POST", f"{V1}/behaviours"): rule(CITIZENS),
    ("GET", f"{V1}/behaviours"): rule(USERS),
    ("GET", f"{V1}/behaviours/{{behaviour_id}}"): rule(CITIZEN, scoped=True),
    ("GET", f"{V1}/admin/behaviours"): rule(ADMIN),
    ("GET", f"{V1}/admin/behaviours/{{behaviour_id}}"): rule(ADMIN),
    ("GET", f"{V1}/admin/behaviours/{{behaviour_id}}/recompute"): rule(ADMIN),
    ("POST", f"{V1}/admin/behaviours/{{behaviour_id}}/approve"): rule(ADMIN),
    ("POST", f"{V1}/admin/behaviours/{{behaviour_id}}/reject"): rule(ADMIN),
    ("POST", f"{V1}/admin/behaviours/{{behaviour_id}}/reverse"): rule(ADMIN),
    ("GET", f"{V1}/admin/conversion-rates"): rule(ADMIN),
    ("POST", f"{V1}/admin/conversion-rates"): rule(ADMIN),
    ("GET", f"{V1}/admin/stats/reductions"): rule(ADMIN),
    ("GET", f"{V1}/admin/stats/reductions.csv"): rule(ADMIN),
    # -- merchants
    ("POST", f"{V1}/admin/merchants"): rule(ADMIN),
    ("GET", f"{V1}/admin/merchants"): rule(ADMIN),
    ("GET", f"{V1}/admin/merchants/{{merchant_id}}"): rule(ADMIN),
    ("PATCH", f"{V1}/admin/merchants/{{merchant_id}}"): rule(ADMIN),
    ("POST", f"{V1}/admin/merchants/{{merchant_id}}/suspend"): rule(ADMIN),
    ("POST", f"{V1}/admin/merchants/{{merchant_id}}/reinstate"): rule(ADMIN),
    ("GET", f"{V1}/admin/merchants/{{merchant_id}}/staff"): rule(ADMIN),
    ("PUT", f"{V1}/admin/merchants/{{merchant_id}}/staff/{{user_id}}"):
        rule(ADMIN, params={"user_id": "staff_user_id"}),
    ("DELETE", f"{V1}/admin/merchants/{{merchant_id}}/staff/{{user_id}}"):
        rule(ADMIN, params={"user_id": "staff_user_id"}),
    # Each staff account sees its own merchant; nothing in the path to overreach with.
    ("GET", f"{V1}/merchant"): rule(ALL_STAFF),
    # -- rewards: the catalogue is open to every account, redeeming needs a citizen
    ("GET", f"{V1}/rewards"): rule(USERS),
    ("GET", f"{V1}/rewards/{{reward_id}}"): rule(USERS),
    ("POST", f"{V1}/rewards/{{reward_id}}/redemptions"): rule(CITIZENS),
    ("GET", f"{V1}/redemptions"): rule(USERS),
    ("GET", f"{V1}/redemptions/{{redemption_id}}"): rule(CITIZEN, scoped=True),
    ("POST", f"{V1}/redemptions/{{redemption_id}}/cancel"): rule(CITIZEN, scoped=True),
    ("GET", f"{V1}/merchant/rewards"): rule(ALL_STAFF),
    ("POST", f"{V1}/merchant/rewards"): rule(ALL_STAFF),
    ("GET", f"{V1}/merchant/rewards/{{reward_id}}"): rule(STAFF, scoped=True),
    ("PATCH", f"{V1}/merchant/rewards/{{reward_id}}"):
        rule(STAFF, scoped=True, body=lambda _w: {"description": "帆布袋两个"}),
    ("GET", f"{V1}/merchant/rewards/{{reward_id}}/revisions"): rule(STAFF, scoped=True),
    ("GET", f"{V1}/merchant/redemptions"): rule(ALL_STAFF),
    # The code of citizen A's redemption at merchant A: only merchant A's staff may use it.
    ("POST", f"{V1}/merchant/redemptions/verify"):
        rule(STAFF, scoped=True, body=lambda w: {"code": w.redemption_code}),
    ("GET", f"{V1}/merchant/settlement"): rule(ALL_STAFF),
    ("GET", f"{V1}/merchant/settlement.csv"): rule(ALL_STAFF),
    ("GET", f"{V1}/admin/rewards"): rule(ADMIN),
    ("GET", f"{V1}/admin/rewards/{{reward_id}}"): rule(ADMIN),
    ("GET", f"{V1}/admin/rewards/revisions"): rule(ADMIN),
    ("POST", f"{V1}/admin/rewards/revisions/{{revision_id}}/approve"): rule(ADMIN),
    ("POST", f"{V1}/admin/rewards/revisions/{{revision_id}}/reject"): rule(ADMIN),
    ("GET", f"{V1}/admin/merchants/settlement"): rule(ADMIN),
    ("GET", f"{V1}/admin/merchants/settlement.csv"): rule(ADMIN),
    # -- data partners
    ("POST", f"{V1}/admin/partners"): rule(ADMIN),
    ("GET", f"{V1}/admin/partners"): rule(ADMIN),
    ("GET", f"{V1}/admin/partners/{{partner_id}}"): rule(ADMIN),
    ("PATCH", f"{V1}/admin/partners/{{partner_id}}"): rule(ADMIN),
    ("POST", f"{V1}/admin/partners/{{partner_id}}/keys"): rule(ADMIN),
    ("DELETE", f"{V1}/admin/partners/{{partner_id}}/keys/{{key_id}}"): rule(ADMIN),
    ("POST", f"{V1}/me/partner-links/codes"): rule(CITIZENS),
    ("GET", f"{V1}/me/partner-links"): rule(USERS),
    ("DELETE", f"{V1}/me/partner-links/{{link_id}}"): rule(CITIZEN, scoped=True),
    ("POST", f"{V1}/partner/links"): rule(PARTNER),
    ("GET", f"{V1}/partner/links/{{partner_user_ref}}"): rule(PARTNER),
    ("POST", f"{V1}/partner/behaviours"): rule(PARTNER),
}

# Refusals go first: a refused request changes nothing, so they all see the world as it
# was built. Among the allowed, the owner and the administrator go last because their
# calls (cancel, revoke, disable, remove staff…) change it most.
CALL_ORDER = (ANON, PARTNER, OTHER_CITIZEN, OTHER_STAFF, STAFF, CITIZEN, ADMIN)
assert set(CALL_ORDER) == set(PRINCIPALS)


def documented_operations(spec: dict) -> dict[Operation, dict]:
    return {(method.upper(), path): op
            for path, ops in spec["paths"].items()
            for method, op in ops.items() if method in HTTP_METHODS}


def _document_at_collection() -> dict[Operation, dict]:
    # Parametrisation happens before any fixture exists, so this app is a throwaway one
    # that is never given a request needing its database.
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"DATABASE_URL": f"sqlite:///{tmp}/unused.db",
                          "JWT_SECRET_KEY": TEST_JWT_SECRET},
                         instance_path=f"{tmp}/instance", TESTING=True)
        spec = app.test_client().get("/api/v1/openapi.json").get_json()
        with app.app_context():
            db.engine.dispose()
    return documented_operations(spec)


DOCUMENTED = _document_at_collection()
OPERATIONS = sorted(set(DOCUMENTED) | set(EXPECTED), key=lambda o: (o[1], o[0]))


def fill_path(path: str, rule_: Rule, ids: Mapping[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        key = rule_.params.get(name, name)
        if key not in ids:
            pytest.fail(f"no value for path parameter {{{name}}} in {path}: add it to the "
                        "world's ids or to the rule's params")
        return str(ids[key])

    return re.sub(r"\{(\w+)\}", value, path)


def verdict(status: int, scoped: bool) -> str:
    """'allowed', 'denied' or 'unexpected' (a status that says nothing about authz)."""
    if status in (401, 403) or (status == 404 and scoped):
        return "denied"
    if status == 404 or status >= 500:
        # An unscoped 404 means the world lacks the resource, so the call proved nothing.
        return "unexpected"
    return "allowed"


def describe(resp: TestResponse) -> str:
    body = resp.get_json(silent=True)
    if isinstance(body, dict) and "type" in body:
        return f"{resp.status_code} {body.get('type')}: {body.get('detail')}"
    return str(resp.status_code)


def call_order(allowed: Iterable[str]) -> list[str]:
    allowed = set(allowed)
    return sorted(CALL_ORDER, key=lambda p: (p in allowed, CALL_ORDER.index(p)))


def test_every_documented_operation_has_an_expectation(client: FlaskClient) -> None:
    # Against the document of the app under test, not only the one used for collection.
    documented = documented_operations(client.get("/api/v1/openapi.json").get_json())
    missing = sorted(set(documented) - set(EXPECTED))
    stale = sorted(set(EXPECTED) - set(documented))
    assert not missing, "operations missing from EXPECTED: " + ", ".join(
        f"{m} {p}" for m, p in missing)
    assert not stale, "EXPECTED entries no longer in the OpenAPI document: " + ", ".join(
        f"{m} {p}" for m, p in stale)


def test_expectations_agree_with_declared_security() -> None:
    # The document tells clients which credentials to send; the table must not contradict it.
    wrong = []
    for operation, op in DOCUMENTED.items():
        expected = EXPECTED.get(operation)
        if expected is None:
            continue
        schemes = {name for requirement in op.get("security", []) for name in requirement}
        if not schemes:
            ok = {ANON, PARTNER} <= expected.allowed
        elif schemes == {"partnerHmac", "partnerKey", "partnerTimestamp"}:
            ok = expected.allowed == {PARTNER}
        else:
            ok = ANON not in expected.allowed and PARTNER not in expected.allowed
        if not ok:
            wrong.append(f"{operation[0]} {operation[1]} (security {sorted(schemes)})")
    assert not wrong, "EXPECTED contradicts the documented security of: " + ", ".join(wrong)


@pytest.mark.parametrize("operation", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_admits_exactly_the_expected_principals(
        operation: Operation, request: pytest.FixtureRequest) -> None:
    method, path = operation
    expected = EXPECTED.get(operation)
    if expected is None:
        pytest.fail(f"{method} {path} is in the OpenAPI document but not in EXPECTED: "
                    "decide which principals may call it")
    if operation not in DOCUMENTED:
        pytest.fail(f"{method} {path} is in EXPECTED but no longer in the OpenAPI document")

    world: World = request.getfixturevalue("world")
    url = fill_path(path, expected, world.ids)
    if expected.body is not None:
        body = expected.body(world)
    else:
        body = {} if method in BODY_METHODS else None

    problems = []
    for principal in call_order(expected.allowed):
        resp = world.call(principal, method, url, body, refresh=expected.refresh)
        got = verdict(resp.status_code, expected.scoped)
        want = "allowed" if principal in expected.allowed else "denied"
        if got != want:
            problems.append(f"{principal}: expected {want}, got {describe(resp)}")
        elif expected.scoped and want == "allowed" and resp.status_code >= 300:
            problems.append(f"{principal}: the owner must succeed, or the others' refusals "
                            f"prove nothing; got {describe(resp)}")
    assert not problems, f"{method} {url}:\n  " + "\n  ".join(problems)


# Lists and "my …" views answer every account, so the matrix above cannot tell whether
# they answer with the caller's own records. Each entry: who owns the records, and where
# in the response ("section" or "section.field": records listed under that key, the id in
# that field, default "id"; "" for the response itself) which world id must appear for
# the owner and for nobody else. The merchant_id in the query asks for merchant A's
# rewards outright, which staff of B must not get.
OWN_VIEWS: dict[Operation, tuple[str, dict[str, str]]] = {
    ("GET", f"{V1}/behaviours"): (CITIZEN, {"items": "behaviour_id"}),
    ("GET", f"{V1}/redemptions"): (CITIZEN, {"items": "redemption_id"}),
    ("GET", f"{V1}/me/partner-links"): (CITIZEN, {"items": "link_id"}),
    ("GET", f"{V1}/account/entries"): (CITIZEN, {"items": "tx_id"}),
    ("GET", f"{V1}/me/export"): (CITIZEN, {"behaviours": "behaviour_id",
                                          "redemptions": "redemption_id",
                                          "partner_links": "link_id",
                                          "ledger_entries": "tx_id"}),
    ("GET", f"{V1}/merchant"): (STAFF, {"": "merchant_id"}),
    ("GET", f"{V1}/merchant/rewards?merchant_id={{merchant_id}}"): (STAFF, {"items": "reward_id"}),
    ("GET", f"{V1}/merchant/redemptions"): (STAFF, {"items": "redemption_id"}),
    ("GET", f"{V1}/merchant/settlement"):
        (STAFF, {"lines.redemption_id": "fulfilled_redemption_id"}),
}


def shown_ids(body: Any, where: str) -> set[int]:
    """The ids at `where` (ids of different kinds of record overlap, so each kind is
    looked for only where that kind is listed)."""
    if not isinstance(body, dict):
        return set()
    section, _, key = where.partition(".")
    records = [body] if section == "" else body.get(section) or []
    key = key or "id"
    return {r[key] for r in records if isinstance(r, dict) and isinstance(r.get(key), int)}


@pytest.mark.parametrize("operation", list(OWN_VIEWS), ids=[f"{m} {p}" for m, p in OWN_VIEWS])
def test_own_views_show_nobody_else_the_owners_records(operation: Operation,
                                                       world: World) -> None:
    method, template = operation
    owner, places = OWN_VIEWS[operation]
    url = template.format(**world.ids)

    resp = world.call(owner, method, url)
    assert resp.status_code == 200, describe(resp)
    for where, id_key in places.items():
        assert world.ids[id_key] in shown_ids(resp.get_json(), where), (
            f"{owner} does not see its own {id_key}={world.ids[id_key]} under "
            f"{where!r}, so the check proves nothing")

    leaks = []
    for principal in sorted(EXPECTED[(method, template.split("?", 1)[0])].allowed - {owner}):
        resp = world.call(principal, method, url)
        assert resp.status_code == 200, (principal, describe(resp))
        leaks += [f"{principal} sees {id_key}={world.ids[id_key]}"
                  for where, id_key in places.items()
                  if world.ids[id_key] in shown_ids(resp.get_json(), where)]
    assert not leaks, f"{method} {url} shows {owner}'s records: " + "; ".join(leaks)


def test_an_idempotency_key_replays_only_for_the_caller_who_used_it(world: World) -> None:
    # A replay returns the stored response, redemption code included: a key guessed or
    # seen on the wire must not hand one citizen another's.
    url = f"{V1}/rewards/{world.ids['reward_id']}/redemptions"
    key = "shared-key-0001"
    first = world.client.post(url, headers={
        "Idempotency-Key": key,
        "Authorization": f"Bearer {world.principals[CITIZEN].access_token}"})
    assert first.status_code == 201, describe(first)
    second = world.client.post(url, headers={
        "Idempotency-Key": key,
        "Authorization": f"Bearer {world.principals[OTHER_CITIZEN].access_token}"})
    assert second.headers.get("Idempotent-Replayed") is None, describe(second)
    assert first.get_json()["code"] not in second.get_data(as_text=True)
