"""Fixtures: a migrated database per run, a clean one per test, no global app context.

SQLite (default): the migrated file is copied for each test. PostgreSQL (when
TEST_DATABASE_URL names a server): a database is created for the run, migrated once,
truncated after each test and dropped at the end.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app import create_app
from app.extensions import db
from app.methodology import service as methodology
from app.uow import unit_of_work
from tests.helpers import Api

# On PostgreSQL, every statement the app issues on a user-owned table must name its user.
pytest_plugins = ["tests.routing_guard"]

TEST_JWT_SECRET = "test-secret-" + "x" * 40


def _pg_admin_conninfo(url: str) -> str:
    u = make_url(url).set(drivername="postgresql")
    return u.render_as_string(hide_password=False)


@contextmanager
def scratch_database(server: str | None, folder) -> Iterator[str]:
    """A new, empty database of the run's kind (a file in `folder` on SQLite, a database
    on the PostgreSQL `server`), dropped afterwards."""
    if not server:
        yield f"sqlite:///{folder / f'scratch_{uuid.uuid4().hex[:10]}.db'}"
        return
    name = f"carbon_test_{uuid.uuid4().hex[:10]}"
    admin = _pg_admin_conninfo(server)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database(tmp_path_factory) -> Iterator[dict]:
    server = os.environ.get("TEST_DATABASE_URL")
    with scratch_database(server, tmp_path_factory.mktemp("db")) as url:
        _migrate(url, tmp_path_factory.mktemp("instance"))
        if server:
            yield {"kind": "postgresql", "url": url, "server": server}
        else:
            yield {"kind": "sqlite", "template": make_url(url).database, "server": None}


def _migrate(url: str, instance) -> None:
    app = create_app(_env(url), instance_path=str(instance))
    with app.app_context():
        upgrade()
        db.engine.dispose()


def _env(url: str, **extra: str) -> dict[str, str]:
    return {"DATABASE_URL": url, "JWT_SECRET_KEY": TEST_JWT_SECRET, **extra}


@pytest.fixture
def db_url(database, tmp_path) -> Iterator[str]:
    if database["kind"] == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(database["template"], path)
        yield f"sqlite:///{path}"
        return
    yield database["url"]
    _truncate_all(database["url"])


def _truncate_all(url: str) -> None:
    with psycopg.connect(_pg_admin_conninfo(url), autocommit=True) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version'")]
        if tables:
            conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables)
                         + " RESTART IDENTITY CASCADE")


@pytest.fixture
def app_env(db_url) -> dict[str, str]:
    """Settings for create_app; tests may add to it before the app is built."""
    return _env(db_url)


@pytest.fixture
def app(app_env, tmp_path) -> Iterator[Flask]:
    application = create_app(app_env, instance_path=str(tmp_path / "instance"), TESTING=True)
    sync_methodologies(application)
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def api(app, client) -> Api:
    return Api(app, client)


@pytest.fixture
def is_postgres(database) -> bool:
    return database["kind"] == "postgresql"


def sync_methodologies(app: Flask) -> None:
    """What `flask methodologies sync` does after each deployment's migration: the
    discovered releases' default versions recorded (pending when new)."""
    with app.app_context():
        with unit_of_work():
            methodology.sync_discovered()
        db.session.remove()


def run_sql(app: Flask, sql: str, **params) -> list:
    """Run raw SQL in its own committed unit of work; rows if it returns any."""
    with app.app_context():
        result = db.session.execute(text(sql), params)
        rows = result.all() if result.returns_rows else []
        db.session.commit()
        return rows
