"""Liveness and readiness probes, outside /api/v1 and its auth."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory
from flask import Blueprint, current_app, jsonify
from sqlalchemy import inspect, text
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
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
    return jsonify(status="ready", database=db.engine.dialect.name, schema=sorted(current))


def _not_ready(detail: str):
    return problem_response(503, "Service Unavailable", detail, slug="not-ready",
                            headers={"Retry-After": "5"})
