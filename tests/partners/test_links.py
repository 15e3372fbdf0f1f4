"""Consent: one-time link codes, partner binding, citizens listing and revoking."""

from __future__ import annotations

import hashlib
import re
import threading
from datetime import datetime, timedelta

import pytest

from app.partners.service import resolve_user
from tests.conftest import run_sql
from tests.helpers import assert_problem
from tests.partners.conftest import count

CODES = "/api/v1/me/partner-links/codes"
MINE = "/api/v1/me/partner-links"


def _code(api, citizen) -> str:
    resp = api.post(CODES, citizen)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["code"]


def _resolve(app, partner, ref):
    with app.app_context():
        return resolve_user(partner.creds.id, ref)


def test_code_is_short_one_time_and_stored_hashed(app, api):
    citizen = api.caller()
    resp = api.post(CODES, citizen)
    assert resp.status_code == 201 and resp.headers["Cache-Control"] == "no-store"
    body = resp.get_json()
    assert re.fullmatch(r"[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}", body["code"])
    ttl = datetime.fromisoformat(body["expires_at"]) - datetime.now(
        datetime.fromisoformat(body["expires_at"]).tzinfo)
    assert timedelta(minutes=9) < ttl <= timedelta(minutes=10)
    rows = run_sql(app, "SELECT code_hash, user_id FROM partner_link_codes")
    plain = body["code"].replace("-", "")
    assert rows == [(hashlib.sha256(plain.encode()).hexdigest(), citizen.id)]
    assert body["code"] not in str(rows) and plain not in str(rows)
    assert_problem(api.post(CODES), 401, "missing-token")


def test_bind_links_the_citizen(app, api, partner):
    citizen = api.caller()
    resp = partner.post("/links", {"code": _code(api, citizen), "partner_user_ref": "card-42"})
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["partner_user_ref"] == "card-42" and body["status"] == "active"
    assert "user_id" not in body and "link_id" not in body  # one name for the link: id
    assert _resolve(app, partner, "card-42") == citizen.id
    assert _resolve(app, partner, "card-43") is None
    mine = api.get(MINE, citizen).get_json()
    assert mine["total"] == 1
    item = mine["items"][0]
    assert item["id"] == body["id"] and item["partner_name"] == "Metro Line Co"
    assert item["partner_id"] == partner.creds.id and item["partner_user_ref"] == "card-42"
    status = partner.get("/links/card-42").get_json()
    assert status["status"] == "active" and status["id"] == body["id"]
    assert_problem(partner.get("/links/nobody"), 404, "not-found")


def test_code_forms_are_forgiving(api, partner):
    citizen = api.caller()
    code = _code(api, citizen).replace("-", "").lower()
    assert partner.post("/links", {"code": code, "partner_user_ref": "r"}).status_code == 201


def test_code_is_single_use(app, api, partner, make_partner):
    citizen = api.caller()
    code = _code(api, citizen)
    assert partner.post("/links", {"code": code, "partner_user_ref": "a"}).status_code == 201
    again = partner.post("/links", {"code": code, "partner_user_ref": "b"})
    assert_problem(again, 422, "link-code-used")
    other = make_partner("Canteen", ["clean_plate"])
    assert_problem(other.post("/links", {"code": code, "partner_user_ref": "a"}), 422,
                   "link-code-used")
    assert count(app, "partner_links") == 1


def test_unknown_and_expired_codes_are_refused(app, api, partner):
    citizen = api.caller()
    for bad in ("ABCD-EFGH", "0000-0000", "short"):
        assert_problem(partner.post("/links", {"code": bad, "partner_user_ref": "a"}), 422,
                       "link-code-invalid")
    code = _code(api, citizen)
    run_sql(app, "UPDATE partner_link_codes SET expires_at = :t", t="2000-01-01 00:00:00")
    assert_problem(partner.post("/links", {"code": code, "partner_user_ref": "a"}), 422,
                   "link-code-expired")
    assert count(app, "partner_links") == 0
    assert count(app, "partner_link_codes", "used_at IS NOT NULL") == 0
    assert_problem(partner.post("/links", {"partner_user_ref": "a"}), 422)
    assert_problem(partner.post("/links", {"code": code, "partner_user_ref": "x" * 129}), 422)


def test_reference_linked_to_another_citizen_is_409(app, api, partner, link):
    link("shared")
    intruder = api.caller()
    code = _code(api, intruder)
    resp = partner.post("/links", {"code": code, "partner_user_ref": "shared"})
    assert_problem(resp, 409, "partner-user-ref-taken")
    assert count(app, "partner_link_codes", "used_at IS NOT NULL") == 1  # only the first
    assert count(app, "partner_links") == 1


def test_same_pair_again_returns_the_link(api, partner, link):
    citizen = link("r1")
    first = partner.get("/links/r1").get_json()
    resp = partner.post("/links", {"code": _code(api, citizen), "partner_user_ref": "r1"})
    assert resp.status_code == 200
    assert resp.get_json()["id"] == first["id"]


def test_new_reference_for_a_linked_citizen_replaces_the_old(app, api, partner, link):
    citizen = link("old-card")
    resp = partner.post("/links", {"code": _code(api, citizen), "partner_user_ref": "new-card"})
    assert resp.status_code == 201
    assert _resolve(app, partner, "old-card") is None
    assert _resolve(app, partner, "new-card") == citizen.id
    assert partner.get("/links/old-card").get_json()["status"] == "revoked"
    statuses = sorted(i["status"] for i in api.get(MINE, citizen).get_json()["items"])
    assert statuses == ["active", "revoked"]


def test_revoke_stops_the_partner(app, api, partner, link):
    citizen = link("r1")
    link_id = api.get(MINE, citizen).get_json()["items"][0]["id"]
    resp = api.delete(f"{MINE}/{link_id}", citizen)
    assert resp.status_code == 200 and resp.get_json()["status"] == "revoked"
    assert resp.get_json()["revoked_at"]
    assert _resolve(app, partner, "r1") is None
    assert partner.get("/links/r1").get_json()["status"] == "revoked"
    assert api.delete(f"{MINE}/{link_id}", citizen).status_code == 200
    assert api.get(MINE + "?status=active", citizen).get_json()["total"] == 0
    assert count(app, "audit_events", "action = 'partner_link.revoked'") == 1
    # Consent can be given again with a new code.
    link("r1", citizen)
    assert _resolve(app, partner, "r1") == citizen.id
    assert partner.get("/links/r1").get_json()["status"] == "active"


def test_citizens_see_and_revoke_only_their_own(app, api, partner, link):
    alice, bob = link("a"), link("b")
    alice_link = api.get(MINE, alice).get_json()["items"][0]["id"]
    assert [i["partner_user_ref"] for i in api.get(MINE, bob).get_json()["items"]] == ["b"]
    assert_problem(api.delete(f"{MINE}/{alice_link}", bob), 404, "not-found")
    assert_problem(api.delete(f"{MINE}/999999", bob), 404, "not-found")
    assert _resolve(app, partner, "a") == alice.id
    assert_problem(api.get(MINE), 401)


def test_one_citizen_many_partners(app, api, partner, make_partner, link):
    citizen = link("m-1")
    canteen = make_partner("Canteen", ["clean_plate"])
    link("c-1", citizen, via=canteen)
    assert _resolve(app, partner, "m-1") == citizen.id
    assert _resolve(app, canteen, "c-1") == citizen.id
    assert _resolve(app, canteen, "m-1") is None
    assert api.get(MINE, citizen).get_json()["total"] == 2


def test_disabled_citizen_resolves_to_nobody(app, api, admin, partner, link):
    citizen = link("d-1")
    api.post(f"/api/v1/admin/users/{citizen.id}/disable", admin)
    assert _resolve(app, partner, "d-1") is None


def test_purge_job_drops_long_expired_codes(app, api):
    from app.scheduler import jobs

    _code(api, api.caller())
    _code(api, api.caller())
    run_sql(app, "UPDATE partner_link_codes SET expires_at = :t WHERE user_id = "
                 "(SELECT min(user_id) FROM partner_link_codes)", t="2000-01-01 00:00:00")
    jobs.bind_app(app)
    assert jobs.run_job("purge_partner_nonces")["link_codes"] == 1
    assert count(app, "partner_link_codes") == 1


def test_wrong_codes_are_rate_limited_per_partner(app, api, partner, make_partner):
    app.config["PARTNER_LINK_FAILURE_LIMIT"] = "3 per minute"
    for _ in range(3):
        assert_problem(partner.post("/links", {"code": "ABCD-EFGH", "partner_user_ref": "a"}),
                       422, "link-code-invalid")
    code = _code(api, api.caller())
    assert_problem(partner.post("/links", {"code": code, "partner_user_ref": "a"}), 429)
    other = make_partner("Canteen", ["clean_plate"])
    assert other.post("/links", {"code": code, "partner_user_ref": "a"}).status_code == 201


def test_only_citizens_can_ask_for_a_link_code(api):
    staff_only = api.caller("merchant")
    resp = api.post("/api/v1/me/partner-links/codes", staff_only)
    assert resp.status_code == 403


def test_a_ref_with_escaped_characters_is_signed_as_sent(api, partner, link):
    """The partner signs the path it puts on the request line, escapes and all."""
    link("card 42/红")
    sent = "/api/v1/partner/links/card%2042%2F%E7%BA%A2"
    resp = partner.raw("GET", sent, b"", partner.signed("GET", sent))
    assert resp.status_code == 200 and resp.get_json()["partner_user_ref"] == "card 42/红"
    decoded = "/api/v1/partner/links/card 42/红"
    assert_problem(partner.raw("GET", sent, b"", partner.signed("GET", decoded)), 401,
                   "partner-auth-invalid")


@pytest.mark.parametrize("withdrawal", ["revoke", "erase"])
def test_consent_withdrawn_while_a_batch_runs_waits_for_the_batch(
        app, api, partner, link, is_postgres, withdrawal):
    """A batch holds the links and users it resolved until it commits; a revocation or an
    erasure that comes meanwhile waits for it (real parallel sessions), and never
    deadlocks with it although the batch takes the user's ledger lock afterwards."""
    if not is_postgres:
        pytest.skip("row locks are PostgreSQL's (SQLite serialises whole write transactions)")
    from app import ledger
    from app.extensions import db
    from app.partners.service import resolve_users
    from tests.helpers import PASSWORD

    citizen = link("r1")
    link_id = api.get(MINE, citizen).get_json()["items"][0]["id"]
    resolved, release, done = threading.Event(), threading.Event(), threading.Event()
    answers = []

    def batch() -> None:
        with app.app_context():
            assert resolve_users(partner.creds.id, ["r1"]) == {"r1": citizen.id}
            resolved.set()
            release.wait(10)
            ledger.lock_books([citizen.id])  # what submit_many takes next
            db.session.commit()

    def withdraw() -> None:
        with app.app_context():
            client = app.test_client()
            if withdrawal == "revoke":
                answers.append(client.delete(f"{MINE}/{link_id}", headers=citizen.headers))
            else:
                answers.append(client.delete("/api/v1/me", headers=citizen.headers,
                                             json={"password": PASSWORD}))
            done.set()

    first = threading.Thread(target=batch)
    first.start()
    assert resolved.wait(10)
    second = threading.Thread(target=withdraw)
    second.start()
    assert not done.wait(0.5)  # waiting for the batch's locks
    release.set()
    first.join(10)
    second.join(10)
    assert answers and answers[0].status_code in (200, 204), answers[0].get_json()
    assert _resolve(app, partner, "r1") is None
