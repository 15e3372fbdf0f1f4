"""Small SQL helpers that must behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db


def execute(stmt, params=None):
    """Core execution on the session's connection: same transaction, no ORM overhead.

    For hot paths (the ledger, redemption) where the ORM's per-statement work costs more
    than the round trip it wraps.
    """
    return db.session.connection().execute(stmt, params)


def scalar(stmt, params=None):
    return execute(stmt, params).scalar()


def on_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def dialect_insert(table):
    """An INSERT of this database's dialect, for its ON CONFLICT clauses."""
    return (postgresql if on_postgresql() else sqlite).insert(table)


def insert_ignoring_conflicts(model: type, rows: list[dict[str, Any]]) -> None:
    """INSERT … ON CONFLICT DO NOTHING: a concurrent creator of the same row wins quietly.

    Used instead of a SAVEPOINT, which pysqlite's implicit transactions make unreliable.
    """
    db.session.execute(dialect_insert(model).on_conflict_do_nothing(), rows)
