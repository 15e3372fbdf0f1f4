"""HMAC-SHA256 request signing for data partners.

A partner signs every request with the secret of one of its keys:

    canonical = f"{timestamp}\\n{METHOD}\\n{path}\\n{sha256_hex(body)}"
    signature = hex(HMAC-SHA256(secret, canonical))

and sends the headers X-Partner-Key (the key id), X-Timestamp (unix seconds) and
X-Signature. `path` is the request path without the query string; `body` the raw bytes
sent (empty: the hash of b""). The server refuses, with 401 and nothing written, a
missing header, an unknown, revoked or expired key, a suspended partner, a wrong
signature, a timestamp more than 5 minutes off, and a signature it has seen before.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import g, request
from flask_smorest import Blueprint
from sqlalchemy import delete

from app.db_types import utcnow
from app.extensions import db
from app.http.problems import ApiError, error_responses
from app.partners.models import PartnerKey, PartnerRequestNonce
from app.sql import dialect_insert

KEY_HEADER = "X-Partner-Key"
TIMESTAMP_HEADER = "X-Timestamp"
SIGNATURE_HEADER = "X-Signature"
MAX_SKEW_SECONDS = 300
NONCE_RETENTION = timedelta(minutes=15)  # > 2 × MAX_SKEW: a purged nonce is stale anyway
PARTNER_HMAC = {"partnerKey": [], "partnerTimestamp": [], "partnerHmac": []}

_TIMESTAMP_RE = re.compile(r"^\d{1,12}$")
_SIGNATURE_RE = re.compile(r"^[0-9a-fA-F]{64}$")


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def canonical(timestamp: int | str, method: str, path: str, body: bytes) -> str:
    return f"{timestamp}\n{method.upper()}\n{path}\n{body_hash(body)}"


def signature(secret: str, timestamp: int | str, method: str, path: str, body: bytes) -> str:
    message = canonical(timestamp, method, path, body).encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, method: str, path: str, body: bytes, timestamp: int,
         key_id: str | None = None) -> dict[str, str]:
    """Client side: the headers for one request (X-Partner-Key too when key_id is given)."""
    headers = {TIMESTAMP_HEADER: str(timestamp),
               SIGNATURE_HEADER: signature(secret, timestamp, method, path, body)}
    if key_id is not None:
        headers[KEY_HEADER] = key_id
    return headers


def _refuse(slug: str, detail: str) -> ApiError:
    return ApiError(401, detail, slug=slug,
                    headers={"WWW-Authenticate": 'PartnerHMAC realm="partner-api"'})


def signed_path() -> str:
    """The path as the partner sent it on the request line, percent escapes and all (what
    its client signs), without the query string. Werkzeug's request.path is decoded: a
    user ref with an escaped character would never match."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if not raw:
        return request.path
    path = raw.split("?", 1)[0]
    return urlsplit(path).path if "://" in path else path


def authenticate() -> PartnerKey:
    """Check the request's signature; record it as seen. Raises a 401 ApiError."""
    key_id = request.headers.get(KEY_HEADER)
    raw_ts = request.headers.get(TIMESTAMP_HEADER)
    given = request.headers.get(SIGNATURE_HEADER)
    if not key_id or not raw_ts or not given:
        raise _refuse("partner-auth-missing", f"Sign the request: send {KEY_HEADER}, "
                      f"{TIMESTAMP_HEADER} and {SIGNATURE_HEADER}.")
    if not _TIMESTAMP_RE.match(raw_ts) or not _SIGNATURE_RE.match(given):
        raise _refuse("partner-auth-invalid", f"{TIMESTAMP_HEADER} must be unix seconds and "
                      f"{SIGNATURE_HEADER} 64 hex digits.")
    key = db.session.get(PartnerKey, key_id) if len(key_id) <= 32 else None
    # An unknown key gets the same refusal, after the same work, as a wrong signature.
    secret = key.secret if key is not None else "\x00unknown"
    expected = signature(secret, raw_ts, request.method, signed_path(),
                         request.get_data(cache=True))
    if not hmac.compare_digest(expected, given.lower()) or key is None:
        raise _refuse("partner-auth-invalid", "The signature does not match.")
    now = utcnow()
    if abs(now.timestamp() - int(raw_ts)) > MAX_SKEW_SECONDS:
        raise _refuse("partner-auth-stale", f"{TIMESTAMP_HEADER} is more than "
                      f"{MAX_SKEW_SECONDS} seconds off the server clock "
                      f"(server time {int(now.timestamp())}).")
    if not key.usable(now):
        raise _refuse("partner-auth-invalid", "This key was revoked or has expired.")
    if not key.partner.active:
        raise _refuse("partner-auth-invalid", "This partner is suspended.")
    if not _first_use(key.partner_id, expected):
        raise _refuse("partner-auth-replayed", "This signed request was already received; "
                      "sign each request afresh.")
    return key


def _first_use(partner_id: int, sig: str) -> bool:
    """Insert the nonce in the request's transaction (a failed request takes it back).

    ON CONFLICT DO NOTHING: on PostgreSQL a concurrent twin waits for the first to commit
    and then sees the conflict, so exactly one of them goes through.
    """
    table = PartnerRequestNonce.__table__
    stmt = (dialect_insert(table).values(partner_id=partner_id, signature=sig, seen_at=utcnow())
            .on_conflict_do_nothing().returning(table.c.partner_id))
    # RETURNING, not rowcount: psycopg reports no rowcount for this statement.
    return db.session.execute(stmt).first() is not None


def partner_required(view: Callable) -> Callable:
    """Require a validly signed partner request; sets g.partner."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g.partner = authenticate().partner
        return view(*args, **kwargs)

    responses = {401: "Missing, invalid, stale or replayed partner signature; unknown, "
                      "revoked or expired key; suspended partner"}
    return Blueprint.doc(security=[PARTNER_HMAC])(error_responses(responses)(wrapper))


def purge_nonces(now: datetime | None = None) -> int:
    cutoff = (now or utcnow()) - NONCE_RETENTION
    return db.session.execute(delete(PartnerRequestNonce).where(
        PartnerRequestNonce.seen_at < cutoff)).rowcount
