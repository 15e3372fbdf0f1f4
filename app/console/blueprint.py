"""The console's blueprint: page rendering, the menu, CSRF, security headers, error pages.

Every console page is a view on `blp` that renders through `render()`, is guarded by
`console_login_required(...)` and, when it changes something, is a POST that passes the
CSRF check below and calls the same service function as the JSON API (see docs/console.md).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import (
    Blueprint,
    Response,
    g,
    has_request_context,
    make_response,
    render_template,
    request,
    url_for,
)
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from app.console.i18n import LANGUAGES, MESSAGES, language, t
from app.console.session import csrf_token, csrf_valid, load_user
from app.http.problems import ApiError
from app.uow import DATABASE_UNAVAILABLE

log = logging.getLogger(__name__)

blp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
                static_folder="static")

VENDOR = {
    "htmx": "vendor/htmx-2.0.11/htmx.min.js",
    "echarts": "vendor/echarts-6.1.0/echarts.min.js",
}

# The left menu: per role, groups of (label key, endpoint). A new page adds its entry to
# its group here; a group with no page yet shows its heading only.
MENUS: dict[str, list[tuple[str, list[tuple[str, str]]]]] = {
    "admin": [
        ("menu.overview", [("home.title", "console.admin_home")]),
        ("menu.methodologies", []),
        ("menu.review", []),
        ("menu.partners", []),
        ("menu.merchants", []),
        ("menu.citizens", []),
        ("menu.audit", []),
    ],
    "merchant": [
        ("menu.shop", [("menu.verify", "console.merchant_verify"),
                       ("menu.redemptions", "console.merchant_redemptions"),
                       ("menu.rewards", "console.merchant_rewards"),
                       ("menu.settlement", "console.merchant_settlement_own")]),
    ],
}
# Methodologies, the review queue, the audit log and ledger health (admin_methodologies.py,
# admin_review.py, admin_audit.py): added to their groups.
_ADMIN_GROUPS = dict(MENUS["admin"])
_ADMIN_GROUPS["menu.methodologies"].append(("methodologies.title", "console.admin_methodologies"))
_ADMIN_GROUPS["menu.review"].append(("review.title", "console.admin_review"))
_ADMIN_GROUPS["menu.audit"].extend([("audit.title", "console.admin_audit"),
                                    ("ledger.title", "console.admin_ledger")])

# Partners, merchants and rewards, citizens (admin_partners.py, admin_merchants.py,
# admin_citizens.py): added to their groups.
_PEOPLE_GROUPS = dict(MENUS["admin"])
_PEOPLE_GROUPS["menu.partners"].append(("partners.title", "console.admin_partners"))
_PEOPLE_GROUPS["menu.merchants"].extend([("merchants.title", "console.admin_merchants"),
                                         ("revisions.title", "console.admin_revisions"),
                                         ("settlement.title_all", "console.admin_settlement")])
_PEOPLE_GROUPS["menu.citizens"].append(("citizens.title", "console.admin_citizens"))

# No inline script or style anywhere, no eval: htmx's config comes from a meta tag,
# charts draw on canvas with rich-text tooltips (ECharts' HTML tooltips write styles).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; media-src 'self' blob:; object-src 'none'; "
       "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")

STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")


def console_role(user: Any) -> str | None:
    """The role whose menu a user sees: admin before merchant staff."""
    if user is None:
        return None
    return next((r for r in ("admin", "merchant") if user.has_role(r)), None)


def render(template: str, title: str, status: int = 200, **context: Any) -> tuple[str, int]:
    """A console page (or, for an htmx request, the template's fragment as it is)."""
    return render_template(template, title=title, **context), status


@blp.app_template_global("vendor")
def _vendor(name: str) -> str:
    return url_for("console.static", filename=VENDOR[name])


# Globals rather than context values, so imported macros (_forms.html) see them too.
blp.add_app_template_global(t, "t")
blp.add_app_template_global(csrf_token, "csrf_token")
blp.add_app_template_global(MESSAGES.__contains__, "has_message")


def is_console_path() -> bool:
    """Whether this request's path is the console's, routed to a page or not (an unknown
    page, a wrong method or a bad id never reaches the blueprint's own hooks)."""
    prefix = blp.url_prefix or ""
    return request.path == prefix or request.path.startswith(prefix + "/")


# App-wide, for the error pages of /console paths no console route matched.
@blp.app_context_processor
def _shell() -> dict[str, Any]:
    if not has_request_context() or not is_console_path():
        return {}
    user = load_user()
    role = console_role(user)
    return {"lang": language(), "languages": LANGUAGES, "user": user, "role": role,
            "menu": MENUS.get(role, [])}


@blp.before_request
def _check_csrf() -> Any:
    if request.method in STATE_CHANGING and not csrf_valid():
        return error_page(403, t("error.csrf"))
    return None


# App-wide: every response under /console, including the 404 of a page that does not
# exist, the 405 of a wrong method and a failed commit's page. The API's are untouched.
@blp.after_app_request
def _security_headers(response: Response) -> Response:
    if not is_console_path():
        return response
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Permissions-Policy"] = "camera=(self), microphone=(), geolocation=()"
    if request.endpoint != "console.static":
        # Pages hold personal data and a CSRF token: not kept by the browser or proxies,
        # and Back after sign-out does not show them again.
        response.headers["Cache-Control"] = "no-store"
    return response


def error_page(status: int, message: str | None = None, detail: str | None = None
               ) -> tuple[str, int]:
    key = f"error.{status}"
    message = message or (t(key) if key in MESSAGES else t("error.title"))
    template = "console/_error.html" if request.headers.get("HX-Request") else "console/error.html"
    return render(template, t("error.title"), status, code=status, message=message,
                  detail=detail)


@blp.errorhandler(HTTPException)
def _http_error(err: HTTPException) -> Any:
    if err.code == 429 and request.endpoint == "console.login_submit":
        from app.console.auth_views import login_form

        return login_form(error=t("login.limited"), status=429)
    if err.code == 429 and request.endpoint == "console.merchant_verify_submit":
        from app.console.merchant_views import verify_page

        return verify_page(error=t("error.429"), status=429)  # the form stays usable
    response = make_response(error_page(err.code or 500))
    valid_methods = getattr(err, "valid_methods", None)
    if err.code == 405 and valid_methods:
        response.headers["Allow"] = ", ".join(valid_methods)
    return response


def app_http_error(err: HTTPException) -> Any:
    """404 and 405 app-wide: a /console path no console route matched gets the console's
    page; any other path the API's problem, as before."""
    if is_console_path():
        return _http_error(err)
    from app.extensions import api

    return api.handle_http_exception(err)


def commit_failure_page(status: int) -> Response | None:
    """A console page's work could not be committed (409, 503): the console's page in
    place of the API's problem (app.uow.commit_request); None elsewhere."""
    if not is_console_path():
        return None
    if status == 503:
        g.console_user = None  # the page asks nothing more of a database that is down
    try:
        response = make_response(error_page(status))
    except Exception:  # noqa: BLE001  (the problem is still an answer)
        log.exception("console error page failed after a failed commit")
        return None
    if status == 503:
        response.headers["Retry-After"] = "2"
    return _security_headers(response)


@blp.errorhandler(ApiError)
def _api_error(err: ApiError) -> Any:
    return error_page(err.status, detail=err.detail)


@blp.errorhandler(IntegrityError)
def _conflict(err: IntegrityError) -> Any:
    # A concurrent writer won a race the service could not see coming: nothing was saved.
    log.warning("constraint violated in the console", exc_info=err)
    return error_page(409)


def _db_unavailable(err: Exception) -> Any:
    log.error("database error in the console", exc_info=err)
    return error_page(503)


for _error in DATABASE_UNAVAILABLE:
    blp.register_error_handler(_error, _db_unavailable)


@blp.errorhandler(Exception)
def _unexpected(err: Exception) -> Any:
    log.error("unhandled error in the console", exc_info=err)
    g.pop("console_user", None)
    return error_page(500)
