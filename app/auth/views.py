from __future__ import annotations

from flask import after_this_request, request
from flask_jwt_extended import get_jwt
from flask_smorest import Blueprint

from app.auth import service, throttle
from app.auth.guard import current_user, login_required
from app.auth.schemas import LoginSchema, TokenPairSchema
from app.http.problems import ApiError, error_responses
from app.users import service as users
from app.users.schemas import REGISTER_BODY_DOC, RegisterSchema, UserSchema

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Sign-up and tokens")


@blp.route("/register", methods=["POST"])
@blp.arguments(RegisterSchema)
@blp.doc(requestBody=REGISTER_BODY_DOC)
@blp.response(201, UserSchema)
@error_responses({409: "The email address or mobile number is already registered"})
def register(data: dict):
    """Create a citizen account with an email address or a mobile number."""
    return users.register(**data)


@blp.route("/login", methods=["POST"])
@blp.arguments(LoginSchema)
@blp.response(200, TokenPairSchema)
@error_responses({401: "Wrong login or password (never says which)",
                  403: "The account is disabled",
                  429: "Too many failed attempts for this account or address"})
def login(data: dict):
    """Exchange a login and password for an access and a refresh token."""
    attempt = throttle.begin_login(data["identifier"], request.remote_addr)
    after_this_request(lambda response: _limit_headers(response, attempt))
    try:
        user = service.authenticate(data["identifier"], data["password"])
    except ApiError as err:
        if err.status not in (401, 403):
            throttle.give_back(attempt)
        raise
    except Exception:
        throttle.give_back(attempt)
        raise
    throttle.give_back(attempt)
    return service.issue_tokens(user)


def _limit_headers(response, attempt: throttle.LoginAttempt):
    """The account's failed-login budget, as the other limits report theirs."""
    response.headers["X-RateLimit-Limit"] = str(attempt.limit)
    response.headers["X-RateLimit-Remaining"] = str(max(0, attempt.remaining))
    if attempt.reset_at is not None:
        response.headers["X-RateLimit-Reset"] = str(int(attempt.reset_at.timestamp()))
    return response


@blp.route("/refresh", methods=["POST"])
@login_required(refresh=True)
@blp.response(200, TokenPairSchema)
def refresh():
    """Rotate a refresh token: a new pair, the presented refresh token is revoked."""
    service.revoke(get_jwt())
    return service.issue_tokens(current_user())


@blp.route("/logout", methods=["POST"])
@login_required(any_token=True)
@blp.response(204)
def logout():
    """Revoke the presented token and its refresh token (send either)."""
    service.revoke(get_jwt())
