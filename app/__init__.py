"""Application factory."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from flask import Flask, request
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import UnsupportedMediaType
from werkzeug.middleware.proxy_fix import ProxyFix

from app import config, logs
from app.http.problems import ApiError, problem_response, status_title
from app.uow import DATABASE_UNAVAILABLE, conflict_response, unavailable_response

log = logging.getLogger(__name__)

PARTNER_HMAC_DOC = (
    "Data partners sign each request with HMAC-SHA256 and send X-Partner-Key (key id), "
    "X-Timestamp (unix seconds, at most 300 s off the server clock) and X-Signature: the "
    "lowercase hex HMAC-SHA256 of `{timestamp}\\n{METHOD}\\n{path}\\n{sha256_hex(body)}` "
    "under the key's secret (path without the query string, body the raw bytes sent). "
    "Each signature is accepted once."
)

# The title names the package a client generator makes ("carbon-points-api-client"): ASCII
# words only; the Chinese name is in the description.
API_SPEC = {
    "API_TITLE": "Carbon Points API",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/api/v1",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "docs",
    # Served from the console's vendored copy: the docs work offline and on intranets.
    "OPENAPI_SWAGGER_UI_URL": "/console/static/vendor/swagger-ui-dist-5.36.0/",
    "API_SPEC_OPTIONS": {
        "info": {"description": "碳普惠 (carbon inclusion) points: behaviours → reductions "
                                "→ points."},
        # A partner request carries three headers, each an apiKey scheme; an operation
        # requires the three together (app.partners.signing.PARTNER_HMAC).
        "components": {"securitySchemes": {
            "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            "partnerKey": {"type": "apiKey", "in": "header", "name": "X-Partner-Key",
                           "description": "The partner key's id (pk_…)"},
            "partnerTimestamp": {"type": "apiKey", "in": "header", "name": "X-Timestamp",
                                 "description": "Unix seconds when the request was signed"},
            "partnerHmac": {"type": "apiKey", "in": "header", "name": "X-Signature",
                            "description": PARTNER_HMAC_DOC},
        }},
    },
}


def create_app(env: dict[str, str] | None = None, *, instance_path: str | None = None,
               **overrides: object) -> Flask:
    """Build the app. `env` replaces os.environ for settings (tests); overrides win last."""
    app = Flask(__name__, instance_path=instance_path, instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.update(API_SPEC)
    app.config.update(config.load(app.instance_path, env))
    app.config.update(overrides)
    app.json.ensure_ascii = False
    hops = app.config["PROXY_FIX_HOPS"]
    if hops:
        # Behind N trusted proxies, the client address (rate limits, logs) is theirs to say.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    logs.configure(app)
    register_extensions(app)
    register_methodologies(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_request_hooks(app)
    register_commands(app)
    return app


def register_extensions(app: Flask) -> None:
    """Bind database, migrations, JWT, rate limiter and the OpenAPI generator."""
    from app.http.ids import IdConverter, id_param_schema

    app.url_map.converters["int"] = IdConverter
    from app import models  # noqa: F401  (every table known to metadata and Alembic)
    from app.auth.guard import init_jwt
    from app.extensions import api, db, jwt, limiter, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(__file__), "..",
                                                     "migrations"))
    jwt.init_app(app)
    init_jwt(jwt)
    limiter.init_app(app)
    # Every limit is declared on its view (@limiter.limit), whose wrapper checks it when
    # the view runs. The before_request check that init_app adds applies only default,
    # application-wide, blueprint and meta limits: there are none (tests/test_rate_limits.py
    # keeps it so), and it cost about 5 % of the CPU of a GET /api/v1/account.
    app.before_request_funcs[None].remove(limiter._check_request_limit)
    api.init_app(app)
    api.register_converter(IdConverter, id_param_schema)


def register_methodologies(app: Flask) -> None:
    """Import the allowed methodology modules. Recording their versions is a write, done once
    per deployment by `flask methodologies sync` (after `flask db upgrade`), never here:
    building the app opens no database connection."""
    from app.methodology.service import load_registry

    load_registry(app)


def register_blueprints(app: Flask) -> None:
    """Mount every domain's views; documented ones go through the smorest Api."""
    from app.audit.views import admin_blp as audit_admin_blp
    from app.auth.views import blp as auth_blp
    from app.behaviours.views import admin_blp as behaviours_admin_blp
    from app.behaviours.views import blp as behaviours_blp
    from app.console import init_console
    from app.extensions import api
    from app.ledger.views import admin_blp as ledger_admin_blp
    from app.ledger.views import blp as account_blp
    from app.merchants.views import admin_blp as merchants_admin_blp
    from app.merchants.views import staff_blp as merchant_blp
    from app.methodology.views import admin_blp as methodologies_admin_blp
    from app.methodology.views import blp as methodologies_blp
    from app.ops.views import blp as ops_blp
    from app.partners.views import admin_blp as partners_admin_blp
    from app.partners.views import links_blp as partner_links_blp
    from app.partners.views import partner_blp
    from app.privacy.views import blp as privacy_blp
    from app.rewards.views import admin_blp as rewards_admin_blp
    from app.rewards.views import blp as rewards_blp
    from app.rewards.views import merchant_blp as merchant_rewards_blp
    from app.rewards.views import redemptions_blp
    from app.users.views import admin_blp, me_blp

    for blp in (auth_blp, me_blp, privacy_blp, admin_blp, account_blp, ledger_admin_blp,
                methodologies_blp, methodologies_admin_blp, behaviours_blp, behaviours_admin_blp,
                merchants_admin_blp, merchant_blp, rewards_blp, redemptions_blp,
                merchant_rewards_blp, rewards_admin_blp,
                partners_admin_blp, partner_links_blp, partner_blp, audit_admin_blp):
        api.register_blueprint(blp)
    app.register_blueprint(ops_blp)
    init_console(app)


def register_errorhandlers(app: Flask) -> None:
    """Every error leaves as application/problem+json; nothing leaks a stack trace."""

    @app.errorhandler(ApiError)
    def _api_error(err: ApiError):
        return problem_response(err.status, err.title or status_title(err.status), err.detail,
                                slug=err.slug, errors=err.errors, headers=err.headers)

    @app.errorhandler(IntegrityError)
    def _constraint_violated(err: IntegrityError):
        # Services check what they can; a concurrent writer can still win the race.
        log.warning("constraint violated", exc_info=err)
        return conflict_response()

    def _db_unavailable(err: Exception):
        log.error("database error", exc_info=err)
        return unavailable_response()

    for error in DATABASE_UNAVAILABLE:
        app.register_error_handler(error, _db_unavailable)

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        log.error("unhandled error", exc_info=err)
        return problem_response(500, "Internal Server Error",
                                "The server could not complete the request.")


BODY_METHODS = ("POST", "PUT", "PATCH")
# Blueprints whose pages post HTML forms rather than JSON.
FORM_BLUEPRINTS = ("console",)


def _require_json_body() -> None:
    if request.blueprint in FORM_BLUEPRINTS:
        return
    has_body = (request.content_length or 0) > 0 or "chunked" in request.headers.get(
        "Transfer-Encoding", "")
    if request.method in BODY_METHODS and has_body and not request.is_json:
        raise UnsupportedMediaType("Send the request body as application/json.")


def _any_text(value: object, test: Callable[[str], bool]) -> bool:
    """Whether `test` holds for any string in a parsed JSON value (keys included), or in
    a list of query (name, value) pairs."""
    if isinstance(value, str):
        return test(value)
    if isinstance(value, dict):
        return any(_any_text(k, test) or _any_text(v, test) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_any_text(v, test) for v in value)
    return False


def _holds_nul(text: str) -> bool:
    return "\x00" in text


def _refuse_nul_characters() -> None:
    """422 for a NUL character anywhere in the input: PostgreSQL text cannot hold one, and
    no field has a use for it (SQLite would store it, and the two must answer alike)."""
    where = None
    if "\x00" in request.path:
        where = "path"
    elif _any_text(list(request.args.items(multi=True)), _holds_nul):
        where = "query"
    elif (request.blueprint in FORM_BLUEPRINTS
          and _any_text(list(request.form.items(multi=True)), _holds_nul)):
        where = "form"
    elif (request.is_json and b"\\u0000" in request.get_data(cache=True)
          and _any_text(request.get_json(silent=True), _holds_nul)):  # JSON only escapes a NUL
        where = "json"
    if where is not None:
        raise ApiError(422, "Text cannot contain NUL characters.", slug="validation-error",
                       errors={where: ["Contains a NUL character (U+0000)."]})


def _holds_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _refuse_unpaired_surrogates() -> None:
    """422 for half a UTF-16 pair escaped in a JSON body ("\\ud800"): Python's parser keeps
    it in the string, but no UTF-8 text can hold it, so the database driver failed (a 500,
    and a partner batch lost whole to one such record). A whole pair is one character."""
    body = request.get_data(cache=True) if request.is_json else b""
    if ((b"\\ud" in body or b"\\uD" in body)  # raw bytes of one are not UTF-8: a 400
            and _any_text(request.get_json(silent=True), _holds_surrogate)):
        raise ApiError(422, "Text cannot contain unpaired surrogates.", slug="validation-error",
                       errors={"json": ["Contains an unpaired UTF-16 surrogate (U+D800 to "
                                        "U+DFFF)."]})


def register_request_hooks(app: Flask) -> None:
    """415 for non-JSON bodies; the unit of work commits last, claims are released after."""
    from app.http.api import no_content_has_no_type
    from app.http.idempotency import release_local_claims
    from app.http.json_body import refuse_unreadable_json
    from app.uow import commit_request

    app.before_request(_require_json_body)
    app.before_request(refuse_unreadable_json)  # before anything else parses the body
    app.before_request(_refuse_nul_characters)
    app.before_request(_refuse_unpaired_surrogates)
    # after_request hooks run in reverse order: registered last, the commit runs first,
    # so the access log records the status the client really gets.
    app.after_request(no_content_has_no_type)
    app.after_request(commit_request)
    app.teardown_request(release_local_claims)


def register_commands(app: Flask) -> None:
    """CLI: users, seed-demo, scheduler, ledger (db comes from Flask-Migrate)."""
    from app.auth.cli import auth_cli
    from app.demo.cli import seed_demo
    from app.ledger.cli import ledger_cli
    from app.methodology.cli import methodologies_cli
    from app.scheduler.cli import scheduler_cli
    from app.users.cli import users_cli

    app.cli.add_command(users_cli)
    app.cli.add_command(auth_cli)
    app.cli.add_command(seed_demo)
    app.cli.add_command(scheduler_cli)
    app.cli.add_command(ledger_cli)
    app.cli.add_command(methodologies_cli)
