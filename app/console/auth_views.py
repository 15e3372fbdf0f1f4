"""Sign-in, sign-out, the language switch and the start page that sends each role home."""

from __future__ import annotations

from typing import Any

from flask import redirect, request, session, url_for

from app.auth import service as auth
from app.auth import throttle
from app.console.blueprint import blp, console_role, error_page, render
from app.console.i18n import LANGUAGES, t
from app.console.session import load_user, sign_in, sign_out
from app.http.problems import ApiError

LOGIN_ERRORS = {"invalid-credentials": "login.invalid", "account-disabled": "login.disabled"}


def _safe_next(target: str | None) -> str | None:
    """Only a path inside the console: never another site (//evil.example, https://…)."""
    if target and target.startswith("/console") and "//" not in target and "\\" not in target:
        return target
    return None


def _home_of(user: Any) -> str:
    role = console_role(user)
    if role == "admin":
        return url_for("console.admin_home")
    if role == "merchant":
        return url_for("console.merchant_verify")
    return url_for("console.no_console")


@blp.route("/")
def index():
    user = load_user()
    if user is None:
        return redirect(url_for("console.login"))
    return redirect(_home_of(user))


def login_form(*, error: str | None = None, errors: dict[str, str] | None = None,
               status: int = 200, identifier: str = "") -> Any:
    notice = None
    if request.args.get("expired"):
        notice = t("login.expired")
    elif request.args.get("signed_out"):
        notice = t("login.signed_out")
    return render("console/login.html", t("login.title"), status, error=error,
                  errors=errors or {}, notice=notice, identifier=identifier,
                  next=_safe_next(request.values.get("next")))


@blp.route("/login", methods=["GET"])
def login():
    if load_user() is not None:
        return redirect(_home_of(load_user()))
    return login_form()


@blp.route("/login", methods=["POST"])
def login_submit():
    """The API's authenticate(), under the API's failed-login counters (one budget for both)."""
    identifier = request.form.get("identifier", "").strip()
    password = request.form.get("password", "")
    errors = {name: t("login.required") for name, value in
              (("identifier", identifier), ("password", password)) if not value}
    if errors:
        return login_form(errors=errors, status=422, identifier=identifier)
    try:
        attempt = throttle.begin_login(identifier, request.remote_addr)
    except ApiError as err:  # the account's or the address's budget is spent
        body, status = login_form(error=t("login.limited"), status=429, identifier=identifier)
        return body, status, err.headers
    try:
        user = auth.authenticate(identifier, password)
    except ApiError as err:
        if err.status not in (401, 403):
            throttle.give_back(attempt)
        return login_form(error=t(LOGIN_ERRORS.get(err.slug, "login.invalid")),
                          status=err.status, identifier=identifier)
    except Exception:
        throttle.give_back(attempt)
        raise
    throttle.give_back(attempt)
    sign_in(user)
    return redirect(_safe_next(request.form.get("next")) or _home_of(user))


@blp.route("/logout", methods=["POST"])
def logout():
    sign_out()
    return redirect(url_for("console.login", signed_out="1"))


@blp.route("/language", methods=["POST"])
def set_language():
    chosen = request.form.get("lang")
    if chosen not in LANGUAGES:
        return error_page(400)
    session["lang"] = chosen
    return redirect(_safe_next(request.form.get("next")) or url_for("console.index"))


@blp.route("/no-access")
def no_console():
    """A signed-in citizen: the console has nothing for them."""
    if load_user() is None:
        return redirect(url_for("console.login"))
    return error_page(403)
