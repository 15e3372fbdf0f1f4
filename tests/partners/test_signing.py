"""HMAC request signing: good, bad, stale, replayed; keys, rotation, suspension."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import datetime

import pytest

from app.partners.signing import canonical, sign
from app.scheduler import jobs
from tests.conftest import run_sql
from tests.helpers import assert_problem
from tests.partners.conftest import PREFIX, count


def _writes(app) -> dict[str, int]:
    return {t: count(app, t) for t in ("partner_request_nonces", "partner_links",
                                       "audit_events", "idempotency_keys")}


def test_sign_matches_the_documented_scheme():
    body = b'{"a": 1}'
    expected = hmac.new(b"s3cret", ("1700000000\nPOST\n/api/v1/partner/links\n"
                                    + hashlib.sha256(body).hexdigest()).encode(),
                        hashlib.sha256).hexdigest()
    headers = sign("s3cret", "post", "/api/v1/partner/links", body, 1700000000, key_id="pk_x")
    assert headers == {"X-Timestamp": "1700000000", "X-Signature": expected,
                       "X-Partner-Key": "pk_x"}
    assert canonical(1, "get", "/p", b"").endswith(hashlib.sha256(b"").hexdigest())


def test_good_signature_is_accepted_and_its_nonce_kept(app, partner, link):
    link("u-1")
    resp = partner.get("/links/u-1")
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["status"] == "active"
    assert count(app, "partner_request_nonces") == 2  # the bind and this check


def test_replayed_request_is_refused_and_nothing_written(app, api, partner, link):
    link("u-1")
    path = PREFIX + "/links/u-1"
    headers = partner.signed("GET", path)
    assert partner.raw("GET", path, b"", headers).status_code == 200
    before = _writes(app)
    assert_problem(partner.raw("GET", path, b"", headers), 401, "partner-auth-replayed")
    assert _writes(app) == before


def test_replay_with_uppercase_hex_is_still_a_replay(app, partner, link):
    link("u-1")
    path = PREFIX + "/links/u-1"
    headers = partner.signed("GET", path)
    upper = dict(headers, **{"X-Signature": headers["X-Signature"].upper()})
    assert partner.raw("GET", path, b"", upper).status_code == 200
    assert_problem(partner.raw("GET", path, b"", headers), 401, "partner-auth-replayed")


def test_replayed_bind_writes_nothing(app, api, partner):
    citizen = api.caller()
    code = api.post("/api/v1/me/partner-links/codes", citizen).get_json()["code"]
    body = json.dumps({"code": code, "partner_user_ref": "u-9"}).encode()
    headers = partner.signed("POST", PREFIX + "/links", body)
    assert partner.raw("POST", PREFIX + "/links", body, headers).status_code == 201
    before = _writes(app)
    assert_problem(partner.raw("POST", PREFIX + "/links", body, headers), 401,
                   "partner-auth-replayed")
    assert _writes(app) == before


def test_bad_signature_is_refused_and_nothing_written(app, api, partner):
    citizen = api.caller()
    code = api.post("/api/v1/me/partner-links/codes", citizen).get_json()["code"]
    signed_body = json.dumps({"code": code, "partner_user_ref": "u-1"}).encode()
    headers = partner.signed("POST", PREFIX + "/links", signed_body)
    tampered = signed_body.replace(b"u-1", b"u-2")
    before = _writes(app)
    resp = partner.raw("POST", PREFIX + "/links", tampered, headers)
    body = assert_problem(resp, 401, "partner-auth-invalid")
    assert "PartnerHMAC" in resp.headers["WWW-Authenticate"]
    assert "secret" not in body["detail"].lower()
    assert _writes(app) == before
    assert count(app, "partner_link_codes", "used_at IS NOT NULL") == 0
    # Signed for another path or method, or with another secret: refused too.
    other_path = partner.signed("POST", PREFIX + "/behaviours", signed_body)
    assert_problem(partner.raw("POST", PREFIX + "/links", signed_body, other_path), 401,
                   "partner-auth-invalid")
    wrong_secret = partner.signed("POST", PREFIX + "/links", signed_body, secret="ps_nope")
    assert_problem(partner.raw("POST", PREFIX + "/links", signed_body, wrong_secret), 401,
                   "partner-auth-invalid")
    assert _writes(app) == before


@pytest.mark.parametrize("offset", [-301, 301, -3600])
def test_stale_timestamp_is_refused(app, partner, link, offset):
    link("u-1")
    before = _writes(app)
    resp = partner.get("/links/u-1", timestamp=int(time.time()) + offset)
    assert_problem(resp, 401, "partner-auth-stale")
    assert _writes(app) == before


@pytest.mark.parametrize("offset", [-290, 290])
def test_timestamp_within_five_minutes_is_accepted(partner, link, offset):
    link("u-1")
    assert partner.get("/links/u-1", timestamp=int(time.time()) + offset).status_code == 200


@pytest.mark.parametrize("missing", ["X-Partner-Key", "X-Timestamp", "X-Signature"])
def test_missing_header_is_refused(app, partner, missing):
    path = PREFIX + "/links/u-1"
    headers = partner.signed("GET", path)
    del headers[missing]
    assert_problem(partner.raw("GET", path, b"", headers), 401, "partner-auth-missing")
    assert count(app, "partner_request_nonces") == 0


@pytest.mark.parametrize("field,value", [("X-Timestamp", "17e8"), ("X-Timestamp", "-5"),
                                         ("X-Signature", "zz" * 32), ("X-Signature", "ab")])
def test_malformed_header_is_refused(partner, field, value):
    path = PREFIX + "/links/u-1"
    headers = dict(partner.signed("GET", path), **{field: value})
    assert_problem(partner.raw("GET", path, b"", headers), 401, "partner-auth-invalid")


def test_unknown_key_is_refused(partner):
    assert_problem(partner.get("/links/u-1", key_id="pk_doesnotexist0000"), 401,
                   "partner-auth-invalid")
    assert_problem(partner.get("/links/u-1", key_id="pk_" + "x" * 200), 401,
                   "partner-auth-invalid")


def test_revoked_key_is_refused_at_once(api, admin, partner, link):
    link("u-1")
    resp = api.delete(f"/api/v1/admin/partners/{partner.creds.id}/keys/{partner.creds.key_id}",
                      admin)
    assert resp.status_code == 200 and resp.get_json()["revoked_at"]
    assert_problem(partner.get("/links/u-1"), 401, "partner-auth-invalid")


def test_rotation_overlap_then_old_key_expires(app, api, admin, partner, link):
    link("u-1")
    old = partner.creds.key_id
    resp = api.post(f"/api/v1/admin/partners/{partner.creds.id}/keys", admin)
    assert resp.status_code == 201
    new = resp.get_json()
    assert new["key_id"] != old and new["secret"] and new["old_keys_expire_at"]
    # During the overlap both keys work.
    assert partner.get("/links/u-1").status_code == 200
    assert partner.get("/links/u-1", key_id=new["key_id"], secret=new["secret"]
                       ).status_code == 200
    run_sql(app, "UPDATE partner_keys SET expires_at = :t WHERE key_id = :k",
            t="2000-01-01 00:00:00", k=old)
    assert_problem(partner.get("/links/u-1"), 401, "partner-auth-invalid")
    assert partner.get("/links/u-1", key_id=new["key_id"], secret=new["secret"]
                       ).status_code == 200


def test_rotation_overlap_length_comes_from_config(api, admin, partner):
    body = api.post(f"/api/v1/admin/partners/{partner.creds.id}/keys", admin).get_json()
    keys = api.get(f"/api/v1/admin/partners/{partner.creds.id}", admin).get_json()["keys"]
    old = next(k for k in keys if k["key_id"] == partner.creds.key_id)
    assert old["expires_at"] == body["old_keys_expire_at"]
    new = next(k for k in keys if k["key_id"] == body["key_id"])
    assert new["expires_at"] is None
    gap = (datetime.fromisoformat(old["expires_at"])
           - datetime.fromisoformat(new["created_at"])).total_seconds()
    assert abs(gap - 72 * 3600) < 60


def test_suspended_partner_is_refused_until_reinstated(api, admin, partner, link):
    link("u-1")
    url = f"/api/v1/admin/partners/{partner.creds.id}"
    assert api.patch(url, admin, json={"status": "suspended"}).status_code == 200
    body = assert_problem(partner.get("/links/u-1"), 401, "partner-auth-invalid")
    assert "suspended" in body["detail"]
    assert api.patch(url, admin, json={"status": "active"}).status_code == 200
    assert partner.get("/links/u-1").status_code == 200


def test_partner_endpoints_refuse_jwts(api, admin):
    citizen = api.caller()
    for caller in (admin, citizen):
        assert_problem(api.get(PREFIX + "/links/u-1", caller), 401, "partner-auth-missing")
        assert_problem(api.post(PREFIX + "/links", caller, json={"code": "ABCD-EFGH",
                                                                "partner_user_ref": "x"}),
                       401, "partner-auth-missing")
        assert_problem(api.post(PREFIX + "/behaviours", caller, json={"records": []}),
                       401, "partner-auth-missing")


def test_citizen_and_admin_endpoints_refuse_partner_signatures(partner):
    for method, path in (("GET", "/api/v1/me/partner-links"),
                         ("POST", "/api/v1/me/partner-links/codes"),
                         ("GET", "/api/v1/admin/partners")):
        resp = partner.send(method, path)
        assert_problem(resp, 401, "missing-token")


def test_purge_job_forgets_old_nonces(app, partner, link):
    link("u-1")
    run_sql(app, "INSERT INTO partner_request_nonces (partner_id, signature, seen_at) "
                 "VALUES (:p, :s, :t)", p=partner.creds.id, s="0" * 64, t="2000-01-01 00:00:00")
    assert count(app, "partner_request_nonces") == 2
    jobs.bind_app(app)
    result = jobs.run_job("purge_partner_nonces")
    assert result["nonces"] == 1
    assert count(app, "partner_request_nonces") == 1


def test_openapi_documents_the_partner_scheme(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    scheme = spec["components"]["securitySchemes"]["partnerHmac"]
    assert scheme["type"] == "apiKey" and scheme["in"] == "header"
    assert scheme["name"] == "X-Signature" and "HMAC-SHA256" in scheme["description"]
    for path, method in (("/api/v1/partner/links", "post"),
                         ("/api/v1/partner/behaviours", "post")):
        op = spec["paths"][path][method]
        assert op["security"] == [{"partnerKey": [], "partnerTimestamp": [], "partnerHmac": []}]
        assert "401" in op["responses"]
    batch = spec["paths"]["/api/v1/partner/behaviours"]["post"]
    assert "Idempotency-Key" in {p["name"] for p in batch["parameters"]}
    me = spec["paths"]["/api/v1/me/partner-links"]["get"]
    assert me["security"] == [{"bearerAuth": []}]
