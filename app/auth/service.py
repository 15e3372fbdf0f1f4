"""Tokens: issue, check and revoke.

An access token carries `rjti`, the jti of the refresh token it came from, so that
revoking a refresh token (logout, rotation) also stops every access token minted
from it. Both carry `ep`, the user's token epoch: a password change bumps it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from flask_jwt_extended import create_access_token, create_refresh_token, decode_token
from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import joinedload

from app.auth.models import RevokedToken
from app.auth.passwords import needs_rehash, verify_password
from app.extensions import db
from app.http.problems import ApiError
from app.sql import on_postgresql
from app.users import service as users
from app.users.models import User

INVALID_LOGIN = "The login or password is wrong."


def authenticate(identifier: str, password: str) -> User:
    user = users.find_by_login(identifier)
    # Always verify, even with no user, so timing does not reveal whether the account exists.
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None:
        raise ApiError(401, INVALID_LOGIN, slug="invalid-credentials")
    if user.disabled:
        raise ApiError(403, "This account is disabled.", slug="account-disabled")
    if needs_rehash(user.password_hash):
        users.rehash_password(user, password)
    return user


def issue_tokens(user: User) -> dict[str, Any]:
    refresh = create_refresh_token(identity=str(user.id),
                                   additional_claims={"ep": user.token_epoch})
    refresh_jti = decode_token(refresh)["jti"]
    access = create_access_token(identity=str(user.id),
                                 additional_claims={"ep": user.token_epoch, "rjti": refresh_jti})
    expires = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]
    return {"access_token": access, "refresh_token": refresh, "token_type": "Bearer",
            "expires_in": int(expires.total_seconds())}


def revoke(claims: dict[str, Any]) -> None:
    """Revoke the presented token and, for an access token, the refresh token behind it."""
    user_id = int(claims["sub"])
    expires_at = datetime.fromtimestamp(claims["exp"], UTC)
    _revoke_jti(claims["jti"], claims["type"], user_id, expires_at)
    if claims.get("rjti"):
        refresh_exp = datetime.now(UTC) + current_app.config["JWT_REFRESH_TOKEN_EXPIRES"]
        _revoke_jti(claims["rjti"], "refresh", user_id, refresh_exp)
    db.session.flush()


def _revoke_jti(jti: str, token_type: str, user_id: int, expires_at: datetime) -> None:
    if db.session.get(RevokedToken, jti) is None:
        db.session.add(RevokedToken(jti=jti, token_type=token_type, user_id=user_id,
                                    expires_at=expires_at))


# Built once: constructing this statement (and its cache key) on every request cost more
# CPU than running it. The access token's jti and the refresh token's (rjti, NULL when
# the token has none) are both checked against the blocklist.
_TOKEN_USER = (
    select(User, select(RevokedToken.jti)
           .where(RevokedToken.jti.in_([bindparam("jti"), bindparam("rjti")]))
           .exists().label("revoked"))
    .where(User.id == bindparam("user_id"))
    .options(joinedload(User.roles)))


def token_user(claims: dict[str, Any]) -> User | None:
    """The live user a token speaks for, or None when it must be refused.

    One query on every authenticated request: the user, their roles and whether either
    of the token's ids is on the blocklist.
    """
    try:
        user_id = int(claims["sub"])
    except (TypeError, ValueError):
        return None
    row = db.session.execute(_TOKEN_USER, {"user_id": user_id, "jti": claims["jti"],
                                           "rjti": claims.get("rjti") or None}
                             ).unique().first()
    if row is None or row.revoked:
        return None
    user = row.User
    if user.disabled or claims.get("ep") != user.token_epoch:
        return None
    return user


@dataclass(frozen=True)
class Caller:
    """Who a token speaks for, as plain values: what the check on every request reads.

    Views that need more of the account load it (app.auth.guard.current_user).
    """

    id: int
    role_names: tuple[str, ...]

    def has_role(self, *names: str) -> bool:
        return any(role in names for role in self.role_names)


# The same check as token_user, as one plain statement built once per database: the
# ORM's entity loading (the user and its roles) and even Core's compilation cache cost
# more than the lookup itself, on every authenticated request. One row per role (one
# with a NULL role for a user without any). A token's rjti is NULL when it has none.
_CALLER_SQL = (
    "SELECT u.token_epoch, u.disabled_at IS NOT NULL, r.role, "
    "EXISTS (SELECT 1 FROM revoked_tokens t WHERE t.jti IN ({jti}, {rjti})) "
    "FROM users u LEFT JOIN user_roles r ON r.user_id = u.id WHERE u.id = {uid} "
    "ORDER BY r.role")
_CALLER = {
    # psycopg's placeholders, and sqlite3's named ones: the driver gets the text as is.
    True: _CALLER_SQL.format(jti="%(jti)s", rjti="%(rjti)s", uid="%(uid)s"),
    False: _CALLER_SQL.format(jti=":jti", rjti=":rjti", uid=":uid"),
}


def token_caller(claims: dict[str, Any]) -> Caller | None:
    """The live user a token speaks for, as a Caller, or None when it must be refused:
    the same rules as token_user (blocklisted jti or rjti, disabled account, older token
    epoch, no such user)."""
    try:
        user_id = int(claims["sub"])
    except (TypeError, ValueError):
        return None
    rows = db.session.connection().exec_driver_sql(
        _CALLER[on_postgresql()],
        {"uid": user_id, "jti": claims["jti"], "rjti": claims.get("rjti") or None}).all()
    if not rows:
        return None
    epoch, disabled, _, revoked = rows[0]
    if revoked or disabled or claims.get("ep") != epoch:
        return None
    return Caller(user_id, tuple(role for _, _, role, _ in rows if role is not None))


def forget_user(user_id: int) -> None:
    """Erasure: drop the account's blocklist rows (its bumped token epoch refuses every
    token it ever had, listed or not)."""
    db.session.execute(delete(RevokedToken).where(RevokedToken.user_id == user_id))


def purge_expired(now: datetime) -> int:
    result = db.session.execute(delete(RevokedToken).where(RevokedToken.expires_at < now))
    return result.rowcount
