"""The partner guide's test vectors hold, computed by hand and accepted by the server."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.extensions import db
from app.partners import signing
from app.partners.models import PartnerKey
from app.uow import unit_of_work
from tests.helpers import assert_problem

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "partners.md"
_VECTOR = re.compile(r"^### Vector \d+.*?```text\n(.*?)```", re.S | re.M)


def guide_vectors() -> list[dict[str, str]]:
    """Each vector block of docs/partners.md as {field: value} (values are JSON strings)."""
    vectors = []
    for block in _VECTOR.findall(GUIDE.read_text(encoding="utf-8")):
        fields = {}
        for line in block.strip().splitlines():
            name, value = line.split(":", 1)
            fields[name.strip()] = json.loads(value.strip())
        vectors.append(fields)
    return vectors


VECTORS = guide_vectors()


def test_the_guide_has_three_vectors():
    assert len(VECTORS) == 3
    assert {v["method"] for v in VECTORS} == {"GET", "POST"}
    assert any("?" in v["request target"] and "%" in v["path"] for v in VECTORS)


@pytest.mark.parametrize("v", VECTORS, ids=lambda v: v["key id"])
def test_vector_computed_by_hand(v):
    """The steps of the guide, with hashlib and hmac only."""
    body = v["body"].encode("utf-8")
    assert hashlib.sha256(body).hexdigest() == v["body sha256"]
    assert v["path"] == v["request target"].split("?", 1)[0]
    canonical = "\n".join([v["timestamp"], v["method"].upper(), v["path"], v["body sha256"]])
    assert canonical == v["canonical"]
    mac = hmac.new(v["secret"].encode("utf-8"), canonical.encode("utf-8"), hashlib.sha256)
    assert mac.hexdigest() == v["signature"]
    # The server's own functions agree.
    assert signing.canonical(v["timestamp"], v["method"], v["path"], body) == canonical
    assert signing.signature(v["secret"], v["timestamp"], v["method"], v["path"], body) == \
        v["signature"]


@pytest.fixture
def vector_keys(app, partner):
    """The vectors' keys, installed for one partner as if issued to it."""
    with app.app_context(), unit_of_work():
        for v in VECTORS:
            db.session.add(PartnerKey(key_id=v["key id"], partner_id=partner.creds.id,
                                      secret=v["secret"]))


def _at_vector_time(monkeypatch, v) -> None:
    # The vectors carry fixed timestamps: the server's clock is set to each one's.
    moment = datetime.fromtimestamp(int(v["timestamp"]), UTC)
    monkeypatch.setattr(signing, "utcnow", lambda: moment)


def _send(client, v, signature: str | None = None):
    body = v["body"].encode("utf-8")
    headers = {"X-Partner-Key": v["key id"], "X-Timestamp": v["timestamp"],
               "X-Signature": signature or v["signature"]}
    return client.open(v["request target"], method=v["method"], data=body, headers=headers,
                       content_type="application/json" if body else None)


# What each vector's request gets once its signature is accepted: no link exists, so the
# link lookups find nothing and the batch's record is refused for want of consent.
EXPECTED = {"pk_Xa91bC7dE3fG5hJ2": 404, "pk_Mn4oP8qR2sT6uV0w": 200,
            "pk_Rt5yU7iO9pA1sD3f": 404}


@pytest.mark.parametrize("v", VECTORS, ids=lambda v: v["key id"])
def test_vector_is_accepted_by_the_server(client, vector_keys, monkeypatch, v):
    _at_vector_time(monkeypatch, v)
    resp = _send(client, v)
    assert resp.status_code == EXPECTED[v["key id"]], resp.get_json()
    again = _send(client, v, v["signature"].upper())  # upper-case hex: the same signature
    if resp.status_code == 404:
        assert_problem(resp, 404, "not-found")
        # A refused request keeps nothing, its signature included: the same again is no replay.
        assert_problem(again, 404, "not-found")
    else:
        result = resp.get_json()["results"][0]
        assert result["status"] == "rejected" and result["external_id"] == "trip-0001"
        assert_problem(again, 401, "partner-auth-replayed")


@pytest.mark.parametrize("v", VECTORS, ids=lambda v: v["key id"])
def test_vector_with_one_digit_changed_is_refused(client, vector_keys, monkeypatch, v):
    _at_vector_time(monkeypatch, v)
    last = v["signature"][-1]
    wrong = v["signature"][:-1] + ("0" if last != "0" else "1")
    assert_problem(_send(client, v, wrong), 401, "partner-auth-invalid")


def test_vector_outside_the_clock_tolerance_is_stale(client, vector_keys, monkeypatch):
    v = VECTORS[0]
    moment = datetime.fromtimestamp(int(v["timestamp"]) + signing.MAX_SKEW_SECONDS + 1, UTC)
    monkeypatch.setattr(signing, "utcnow", lambda: moment)
    assert signing.MAX_SKEW_SECONDS == 300  # as the guide says
    assert_problem(_send(client, v), 401, "partner-auth-stale")
