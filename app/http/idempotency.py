"""Idempotency-Key for unsafe requests: one decorator, `@idempotent()`.

The key is claimed by inserting a row in the same transaction as the work, so the
claim and the work commit or roll back together: a failed request leaves no trace
and may be retried with the same key. While a request holds a key, a second one with
the same key gets 409 (PostgreSQL: a transaction-scoped advisory lock; SQLite, whose
writers are serialised anyway: a per-process registry). Keys are scoped per caller
(user or partner) and per method + path.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any

from flask import Response, current_app, g, request
from flask_jwt_extended import get_jwt
from flask_smorest import Blueprint
from sqlalchemy import (
    BigInteger,
    ForeignKey,
    String,
    Text,
    UniqueConstraint,
    bindparam,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from app.db_types import BigIntId, UtcDateTime, utcnow
from app.extensions import db
from app.http.problems import ApiError
from app.sql import execute, on_postgresql

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
REPLAYED_HEADER = "Idempotent-Replayed"


class IdempotencyKey(db.Model):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("scope", "endpoint", "key"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    scope: Mapped[str] = mapped_column(String(64))
    endpoint: Mapped[str] = mapped_column(String(255))
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None]
    content_type: Mapped[str | None] = mapped_column(String(100))
    response_body: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)


_HEADER_DOC = {
    "in": "header",
    "name": HEADER,
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
    "description": "Client-chosen unique key; a retry with the same key and body replays "
    "the first response (same key, other body: 422; first still running: 409).",
}

_inflight: set[tuple[str, str, str]] = set()
_inflight_lock = threading.Lock()


def idempotent(required: bool = True) -> Callable:
    """Make a view safe to retry. Apply below login_required (it needs the caller)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key = request.headers.get(HEADER)
            if key is None:
                if required:
                    raise ApiError(400, f"This request needs an {HEADER} header.",
                                   slug="idempotency-key-missing")
                return view(*args, **kwargs)
            if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
                raise ApiError(400, f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable "
                               "characters.", slug="idempotency-key-invalid")
            return _run_once(view, key, args, kwargs)

        doc = dict(_HEADER_DOC, required=required)
        return Blueprint.doc(parameters=[doc])(wrapper)

    return decorator


def _scope() -> tuple[str, int | None]:
    partner = g.get("partner")
    if partner is not None:
        return f"partner:{partner.id}", None
    user_id = int(get_jwt()["sub"])
    return f"user:{user_id}", user_id


def _request_hash() -> str:
    body = request.get_data()
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    return hashlib.sha256(request.method.encode() + b" " + request.path.encode() + b"\n"
                          + canonical).hexdigest()


def _run_once(view: Callable, key: str, args: tuple, kwargs: dict) -> Any:
    scope, user_id = _scope()
    endpoint = f"{request.method} {request.path}"[:255]
    claim = (scope, endpoint, key)
    digest = _request_hash()
    row_id = _claim(claim, digest, user_id)
    if row_id is None:
        existing = db.session.execute(select(_KEYS).where(
            _KEYS.c.scope == scope, _KEYS.c.endpoint == endpoint, _KEYS.c.key == key)).first()
        if existing is None:  # not committed yet: the first request is still running
            raise ApiError(409, "A request with this Idempotency-Key is still being "
                           "processed.", slug="idempotency-key-in-use",
                           headers={"Retry-After": "1"})
        if existing.request_hash != digest:
            raise ApiError(422, "This Idempotency-Key was used with a different request.",
                           slug="idempotency-key-reused")
        return _replay(existing)
    response = current_app.make_response(view(*args, **kwargs))
    if response.status_code < 400:
        execute(_RECORD_RESPONSE, {"row_id": row_id, "status_code": response.status_code,
                                   "content_type": response.content_type,
                                   "response_body": response.get_data(as_text=True)})
    return response


def _replay(row) -> Response:
    resp = Response(row.response_body, status=row.status_code, content_type=row.content_type)
    resp.headers[REPLAYED_HEADER] = "true"
    return resp


_KEYS = IdempotencyKey.__table__
_CLAIM_COLUMNS = ("scope", "endpoint", "key", "request_hash", "user_id", "created_at")
_UNIQUE = ["scope", "endpoint", "key"]

# The hot statements are built once (every unsafe request runs them) and executed on the
# session's connection (app.sql.execute): building them and the ORM's per-statement work
# cost more CPU than the round trips they wrap.
# PostgreSQL: the row is inserted only if the transaction-scoped advisory lock on the
# claim is free (a SELECT of the new values WHERE pg_try_advisory_xact_lock(…)).
_PG_CLAIM = (postgresql.insert(_KEYS).from_select(list(_CLAIM_COLUMNS), select(
    *(bindparam(f"new_{name}", type_=_KEYS.c[name].type).label(name) for name in _CLAIM_COLUMNS)
).where(func.pg_try_advisory_xact_lock(bindparam("lock_id", type_=BigInteger))))
    .on_conflict_do_nothing(index_elements=_UNIQUE).returning(_KEYS.c.id))
_SQLITE_CLAIM = (sqlite.insert(_KEYS).on_conflict_do_nothing(index_elements=_UNIQUE)
                 .returning(_KEYS.c.id))
# SET status_code, content_type, response_body: the columns named by the parameters.
_RECORD_RESPONSE = update(_KEYS).where(_KEYS.c.id == bindparam("row_id"))


def _claim(claim: tuple[str, str, str], digest: str, user_id: int | None) -> int | None:
    """Insert the key's row while holding the in-flight lock, in one statement on
    PostgreSQL; None when the lock is held elsewhere or the key is already used."""
    scope, endpoint, key = claim
    values = {"scope": scope, "endpoint": endpoint, "key": key, "request_hash": digest,
              "user_id": user_id, "created_at": utcnow()}
    if on_postgresql():
        lock_id = int.from_bytes(hashlib.sha256("\x1f".join(claim).encode()).digest()[:8],
                                 "big", signed=True)
        return execute(_PG_CLAIM, {"lock_id": lock_id,
                                   **{f"new_{name}": value for name, value in values.items()}}
                       ).scalar()
    with _inflight_lock:
        if claim in _inflight:
            return None
        _inflight.add(claim)
    g.setdefault("idempotency_claims", []).append(claim)
    return execute(_SQLITE_CLAIM, values).scalar()


def release_local_claims(_exc: BaseException | None = None) -> None:
    """teardown_request hook: the transaction is over, so are its SQLite claims."""
    claims = g.pop("idempotency_claims", [])
    if claims:
        with _inflight_lock:
            _inflight.difference_update(claims)


def forget_user(user_id: int) -> None:
    """Erasure: drop the keys the user claimed, with the responses cached under them."""
    db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.user_id == user_id))


def purge_older_than(cutoff: datetime) -> int:
    return db.session.execute(delete(IdempotencyKey).where(
        IdempotencyKey.created_at < cutoff)).rowcount
