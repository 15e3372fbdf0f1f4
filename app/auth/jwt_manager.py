"""flask-jwt-extended's JWTManager: our signing keys, and each presented token parsed once.

Tokens name the key that signed them (`kid` header), so after a key rotation the tokens of
the retired key keep working until they expire (verify_key).

The library reads a token's claims and then its header, both unverified, only to choose
the verification key, and then parses the whole token again with the signature checked:
about 80 µs of CPU on every authenticated request. Our key depends on the header alone,
so the header is read from the token's first segment and the token is parsed once,
verified. A token that fails anywhere on this path is decoded again by the library's own
code, so every refusal keeps the library's exact exception and reason; only tokens that
pass take the short path.
"""

from __future__ import annotations

import json
from typing import Any

import flask_jwt_extended
from flask import current_app
from flask_jwt_extended.config import config
from flask_jwt_extended.tokens import _decode_jwt
from jwt.utils import base64url_decode

from app.config import jwt_key_id


def verify_key(header: dict[str, Any]) -> str:
    """The key a token's signature is checked with: the one its `kid` names, current or
    retired (JWT_VERIFY_KEYS); without a kid, or with an unknown one, the current key."""
    return current_app.config["JWT_VERIFY_KEYS"].get(
        header.get("kid"), current_app.config["JWT_SECRET_KEY"])


class JWTManager(flask_jwt_extended.JWTManager):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.additional_headers_loader(
            lambda _identity: {"kid": jwt_key_id(current_app.config["JWT_SECRET_KEY"])})
        # The library's own decoding (the fallback below) chooses the key the same way.
        self.decode_key_loader(lambda header, _claims: verify_key(header))

    def _decode_jwt_from_config(self, encoded_token: str, csrf_value: str | None = None,
                                allow_expired: bool = False) -> dict:
        # Mirrors JWTManager._decode_jwt_from_config (flask-jwt-extended 4.7) minus the two
        # unverified parses; tests/test_jwt_decoding.py holds both paths to the same answers.
        try:
            header = json.loads(base64url_decode(encoded_token.split(".", 1)[0]))
            return _decode_jwt(
                algorithms=config.decode_algorithms, audience=config.decode_audience,
                csrf_value=csrf_value, encoded_token=encoded_token,
                identity_claim_key=config.identity_claim_key, issuer=config.decode_issuer,
                leeway=config.leeway, secret=verify_key(header),
                verify_aud=config.decode_audience is not None, verify_sub=config.verify_sub,
                allow_expired=allow_expired)
        except Exception:  # noqa: BLE001 - re-decoded below, which raises the library's error
            pass
        return super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)
