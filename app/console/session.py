"""Console sign-in: a signed cookie session checked against the database on every request.

The session is a token in all but transport: it holds the user id, a random id (`jti`),
the user's token epoch (`ep`), when the user signed in and when they were last seen.
Each request passes it through the same check as a JWT (`auth.service.token_user`): a
disabled account, a changed password (which bumps the epoch) or a logged-out session
(its jti on the blocklist) is refused at once. Idle and absolute lifetimes are the
console's own (CONSOLE_IDLE_MINUTES, CONSOLE_SESSION_HOURS).
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort, current_app, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface

from app.auth import service as auth
from app.users.models import User

SESSION_KEYS = ("uid", "jti", "ep", "auth", "seen")


class ConsoleSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, marked Secure when the request came over TLS (or always,
    or never, as CONSOLE_COOKIE_SECURE says)."""

    def get_cookie_secure(self, app) -> bool:
        setting = app.config.get("CONSOLE_COOKIE_SECURE", "auto")
        if setting == "auto":
            return bool(request) and request.is_secure
        return setting == "1"


def _claims() -> dict[str, Any] | None:
    if not all(k in session for k in SESSION_KEYS):
        return None
    lifetime = current_app.config["PERMANENT_SESSION_LIFETIME"].total_seconds()
    return {"sub": session["uid"], "jti": session["jti"], "ep": session["ep"],
            "type": "console", "exp": session["auth"] + lifetime}


def sign_in(user: User) -> None:
    """A new session for `user`: the old one's contents (and CSRF token) are dropped, so
    an id planted before sign-in is worth nothing after it."""
    lang = session.get("lang")
    session.clear()
    now = int(time.time())
    session.update(uid=user.id, jti=str(uuid.uuid4()), ep=user.token_epoch, auth=now, seen=now)
    if lang:
        session["lang"] = lang
    session.permanent = True


def sign_out() -> None:
    """End this session for good: its id goes on the token blocklist, so a copy of the
    cookie kept elsewhere stops working too."""
    claims = _claims()
    if claims is not None:
        auth.revoke(claims)
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


def load_user() -> User | None:
    """The live user this request's session speaks for (None when there is none, or it
    ended); cached on `g`. Ended sessions are emptied."""
    if "console_user" in g:
        return g.console_user
    g.console_user = None
    claims = _claims()
    if claims is None:
        return None
    now = time.time()
    idle = current_app.config["CONSOLE_IDLE_TIMEOUT"].total_seconds()
    user = None
    if now - session["seen"] <= idle and now <= claims["exp"]:
        user = auth.token_user(claims)
    if user is None:
        for key in SESSION_KEYS:
            session.pop(key, None)
        g.console_session_ended = True
        return None
    session["seen"] = int(now)
    g.console_user = user
    return user


def current_user() -> User:
    user = load_user()
    assert user is not None, "only behind @console_login_required"
    return user


def console_login_required(*roles: str) -> Callable:
    """Signed in (else to the sign-in page) and, with roles, holding one of them (else
    the 403 page). Roles come from the database on every request, as in the API."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = load_user()
            if user is None:
                expired = "1" if g.get("console_session_ended") else None
                # Back to the page after signing in; a form's POST is not replayed.
                back = request.full_path.rstrip("?") if request.method == "GET" else None
                return redirect(url_for("console.login", next=back, expired=expired))
            if roles and not user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        wrapper.console_roles = roles  # read by the route listing in tests and docs
        return wrapper

    return decorator


def csrf_token() -> str:
    """This session's synchronizer token, made on first use."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def csrf_valid() -> bool:
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRFToken") or ""
    expected = session.get("csrf")
    return bool(expected) and secrets.compare_digest(sent.encode(), expected.encode())
