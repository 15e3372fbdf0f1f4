"""`login_required`: the one way a view asks for an authenticated caller (and roles).

Every JWT failure is answered in the problem format; the user behind a token is
checked on each request (its roles, whether it is disabled, whether the token was
revoked), so disabling an account or revoking a role works at once.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g
from flask_jwt_extended import JWTManager, get_current_user, verify_jwt_in_request
from flask_smorest import Blueprint
from sqlalchemy.orm import make_transient_to_detached

from app.auth import service
from app.auth.service import Caller
from app.extensions import db
from app.http.problems import ApiError, error_responses, problem_response
from app.users.models import User

BEARER = {"bearerAuth": []}


def login_required(*roles: str, refresh: bool = False, any_token: bool = False) -> Callable:
    """Require a valid token; with roles, the caller must hold at least one of them."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            verify_jwt_in_request(refresh=refresh, verify_type=not any_token)
            if roles and not caller().has_role(*roles):
                raise ApiError(403, f"This needs the role: {' or '.join(roles)}.",
                               slug="forbidden")
            return view(*args, **kwargs)

        responses = {401: "Missing, invalid, expired or revoked token"}
        if roles:
            responses[403] = f"Needs role: {', '.join(roles)}"
        return Blueprint.doc(security=[BEARER])(error_responses(responses)(wrapper))

    return decorator


def caller() -> Caller:
    """Who the request's token speaks for: id and roles, read by the token check itself."""
    return get_current_user()


def current_user() -> User:
    """The caller's account as the users domain's entity. Only its id is known without a
    statement: the rest of its attributes load on first access, so a view that reads
    `.id` alone (or asks `caller()`) costs the request no statement."""
    user = g.get("caller_entity")
    if user is None:
        user = g.caller_entity = _entity(caller().id)
    return user


def _entity(user_id: int) -> User:
    known = db.session.identity_map.get(db.session.identity_key(User, user_id))
    if known is not None:
        return known
    user = User(id=user_id)
    make_transient_to_detached(user)  # the other attributes are expired: they load on access
    db.session.add(user)
    return user


def _unauthorized(detail: str, slug: str = "unauthorized"):
    return problem_response(401, "Unauthorized", detail, slug=slug,
                            headers={"WWW-Authenticate": 'Bearer realm="api"'})


def init_jwt(jwt: JWTManager) -> None:
    # Signing keys (which key signs, which verifies) are app.auth.jwt_manager's.
    @jwt.token_in_blocklist_loader
    def _refused(_header: dict, claims: dict) -> bool:
        g.token_caller = service.token_caller(claims)
        return g.token_caller is None

    @jwt.user_lookup_loader
    def _lookup(_header: dict, claims: dict) -> Caller | None:
        return g.get("token_caller") or service.token_caller(claims)

    jwt.unauthorized_loader(lambda reason: _unauthorized(reason, "missing-token"))
    jwt.invalid_token_loader(lambda reason: _unauthorized(f"Invalid token: {reason}",
                                                          "invalid-token"))
    jwt.expired_token_loader(lambda _h, _c: _unauthorized("The token has expired.",
                                                          "expired-token"))
    jwt.revoked_token_loader(lambda _h, _c: _unauthorized(
        "The token was revoked or its account is no longer active.", "revoked-token"))
    jwt.user_lookup_error_loader(lambda _h, _c: _unauthorized(
        "The token's account is no longer active.", "revoked-token"))
    jwt.needs_fresh_token_loader(lambda _h, _c: _unauthorized("A fresh token is required."))
    jwt.token_verification_failed_loader(lambda _h, _c: _unauthorized(
        "The token failed verification.", "invalid-token"))
