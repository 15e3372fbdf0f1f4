"""Small SQL helpers that must behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db


def insert_ignoring_conflicts(model: type, rows: list[dict[str, Any]]) -> None:
    """INSERT … ON CONFLICT DO NOTHING: a concurrent creator of the same row wins quietly.

    Used instead of a SAVEPOINT, which pysqlite's implicit transactions make unreliable.
    """
    dialect = sqlite if db.session.get_bind().dialect.name == "sqlite" else postgresql
    db.session.execute(dialect.insert(model).on_conflict_do_nothing(), rows)
