"""Liveness and readiness probes, outside /api/v1 and its auth."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory
from flask import Blueprint, current_app, jsonify
from sqlalchemy import inspect, text
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db, limiter
from app.http.problems import problem_response

blp = Blueprint("ops", __name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def migration_heads() -> set[str]:
    heads = current_app.extensions.setdefault("carbon_points_heads", None)
    if heads is None:
        heads = set(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads())
        current_app.extensions["carbon_points_heads"] = heads
    return heads


@blp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@blp.get("/readyz")
def readyz():
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            current = set()
            if inspect(conn).has_table("alembic_version"):
                current = set(conn.scalars(text("SELECT version_num FROM alembic_version")))
    except SQLAlchemyError as exc:
        current_app.logger.warning("readiness: database unreachable: %s", exc.__class__.__name__)
        return _not_ready("The database is unreachable.")
    expected = migration_heads()
    if current != expected:
        return _not_ready(f"Database schema is at {sorted(current) or 'nothing'}, "
                          f"code expects {sorted(expected)}: run `flask db upgrade`.")
    limiter_state = _limiter_state()
    if limiter_state != "ok":
        current_app.logger.warning("readiness: rate-limit storage unreachable: the limits it "
                                   "keeps count per worker until it answers")
    return jsonify(status="ready" if limiter_state == "ok" else "degraded",
                   database=db.engine.dialect.name, schema=sorted(current),
                   limiter=limiter_state)


def _limiter_state() -> str:
    """"ok", or "degraded" when the configured Redis does not answer: the limits kept
    there (redemption and link codes, exports) then count in each worker's memory, so each
    allows its number once per worker. Failed logins are counted in the database and hold
    exactly either way. Degraded is still ready (200): taking every worker out of service
    for it would turn a weaker limit into an outage."""
    if current_app.config["RATELIMIT_STORAGE_URI"].startswith("memory://"):
        return "ok"
    try:
        return "ok" if limiter.storage.check() else "degraded"
    except Exception:  # noqa: BLE001 - any storage error means it is not answering
        return "degraded"


def _not_ready(detail: str):
    return problem_response(503, "Service Unavailable", detail, slug="not-ready",
                            headers={"Retry-After": "5"})
