from __future__ import annotations

from collections.abc import Callable

from flask import current_app, request
from flask_jwt_extended import get_jwt
from flask_smorest import Blueprint

from app.auth import service
from app.auth.guard import current_user, login_required
from app.auth.schemas import LoginSchema, TokenPairSchema
from app.extensions import limiter
from app.http.problems import error_responses
from app.users import service as users
from app.users.schemas import RegisterSchema, UserSchema, normalize_email, normalize_mobile

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Sign-up and tokens")


def _login_account_key() -> str:
    # The API sends JSON, the console's sign-in form a form: one account, one budget.
    data = request.get_json(silent=True) if request.is_json else request.form
    identifier = str(data.get("identifier", "")) if isinstance(data, dict) else ""
    identifier = identifier.strip()
    try:
        norm = normalize_email(identifier) if "@" in identifier else normalize_mobile(identifier)
    except Exception:
        norm = identifier
    return "login:" + norm[:254]


def _failed(response) -> bool:
    return response.status_code in (401, 403)


@blp.route("/register", methods=["POST"])
@blp.arguments(RegisterSchema)
@blp.response(201, UserSchema)
@error_responses({409: "The email address or mobile number is already registered"})
def register(data: dict):
    """Create a citizen account with an email address or a mobile number."""
    return users.register(**data)


def login_limits(view: Callable) -> Callable:
    """Failed sign-ins per client address and per account. Shared by name, so the API's
    login and the console's sign-in form draw on the same budget."""
    view = limiter.shared_limit(lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"],
                                scope="login-account", key_func=_login_account_key,
                                deduct_when=_failed)(view)
    return limiter.shared_limit(lambda: current_app.config["LOGIN_LIMIT_PER_ADDRESS"],
                                scope="login-address", deduct_when=_failed)(view)


@blp.route("/login", methods=["POST"])
@login_limits
@blp.arguments(LoginSchema)
@blp.response(200, TokenPairSchema)
@error_responses({401: "Wrong login or password (never says which)",
                  403: "The account is disabled",
                  429: "Too many failed attempts for this account or address"})
def login(data: dict):
    """Exchange a login and password for an access and a refresh token."""
    return service.issue_tokens(service.authenticate(data["identifier"], data["password"]))


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
