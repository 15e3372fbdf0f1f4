"""app.auth.jwt_manager parses a token once; it must answer exactly as the library does."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import timedelta

import flask_jwt_extended
import jwt as pyjwt
import pytest

from app import create_app
from app.config import jwt_key_id
from app.extensions import jwt

OLD = "old-signing-key-" + "o" * 32
NEW = "new-signing-key-" + "n" * 32
DROP = object()  # a claim left out


@pytest.fixture
def app(db_url, tmp_path):
    return create_app({"DATABASE_URL": db_url, "JWT_SECRET_KEY": NEW,
                       "JWT_PREVIOUS_SECRET_KEYS": OLD},
                      instance_path=str(tmp_path / "instance"), TESTING=True)


def _b64(data: dict | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _tokens(app) -> dict[str, str]:
    now = int(time.time())
    claims = {"sub": "7", "jti": "j", "type": "access", "fresh": False, "iat": now,
              "nbf": now, "exp": now + 900, "ep": 0}

    def signed(key: str = NEW, kid: object = None, alg: str = "HS256", **changes) -> str:
        # By hand: PyJWT would refuse to write some of these headers.
        header = {"alg": alg, "typ": "JWT", "kid": jwt_key_id(key) if kid is None else kid}
        header = {k: v for k, v in header.items() if v is not DROP}
        payload = {k: v for k, v in {**claims, **changes}.items() if v is not DROP}
        signing_input = f"{_b64(header)}.{_b64(payload)}"
        digest = hashlib.sha512 if alg == "HS512" else hashlib.sha256
        mac = hmac.new(key.encode(), signing_input.encode(), digest).digest()
        return f"{signing_input}.{_b64(mac)}"

    valid = signed()
    head, body, sig = valid.split(".")
    with app.app_context():
        minted = flask_jwt_extended.create_access_token(identity="7")
        expired = flask_jwt_extended.create_access_token(identity="7",
                                                         expires_delta=timedelta(seconds=-5))
    return {
        "valid": valid, "minted": minted, "expired": expired,
        "retired key": signed(OLD), "unknown kid, current key": signed(kid="nope"),
        "unknown kid, other key": signed("other-key-" + "x" * 40, kid="nope"),
        "named key, signed by another": signed(OLD, kid=jwt_key_id(NEW)),
        "no kid": signed(kid=DROP), "no kid, retired key": signed(OLD, kid=DROP),
        "kid not a string": signed(kid=5), "kid a list": signed(kid=["a"]),
        "no sub": signed(sub=DROP), "sub not a string": signed(sub=7),
        "no jti, type or fresh": signed(jti=DROP, type=DROP, fresh=DROP),
        "not yet valid": signed(nbf=now + 3600),
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{body}.",
        "alg HS512": signed(alg="HS512"),
        "tampered payload": f"{head}.{_b64({**claims, 'sub': '8'})}.{sig}",
        "payload not JSON": f"{head}.{_b64(b'not json')}.{sig}",
        "header not JSON": f"{_b64(b'{oops')}.{body}.{sig}",
        "header a list": f"{_b64(b'[1]')}.{body}.{sig}",
        "bad padding": f"{head}.{body}!.{sig}",
        "two segments": f"{head}.{body}", "one segment": "abc", "empty": "",
        "four segments": f"{valid}.x",
    }


def _outcome(decode, token: str):
    try:
        return "ok", decode(token)
    except Exception as exc:  # noqa: BLE001 - the exception is the outcome compared
        return type(exc), str(exc), getattr(exc, "jwt_header", None), getattr(exc, "jwt_data",
                                                                              None)


@pytest.mark.parametrize("allow_expired", [False, True])
def test_single_parse_decodes_like_the_library(app, allow_expired):
    library = flask_jwt_extended.JWTManager._decode_jwt_from_config
    with app.test_request_context():
        for name, token in _tokens(app).items():
            ours = _outcome(lambda t: jwt._decode_jwt_from_config(
                t, allow_expired=allow_expired), token)
            theirs = _outcome(lambda t: library(jwt, t, allow_expired=allow_expired), token)
            assert ours == theirs, name


def test_valid_tokens_are_parsed_once(app, monkeypatch):
    calls = []
    real = pyjwt.api_jws.PyJWS._load
    monkeypatch.setattr(pyjwt.api_jws.PyJWS, "_load",
                        lambda self, token: calls.append(token) or real(self, token))
    tokens = _tokens(app)
    with app.test_request_context():
        jwt._decode_jwt_from_config(tokens["retired key"])
    assert len(calls) == 1
