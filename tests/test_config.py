from __future__ import annotations

import pytest
from sqlalchemy import text

from app import create_app
from app.config import ConfigError, load
from app.extensions import db


def test_defaults_sqlite_in_instance_with_wal_busy_timeout_and_foreign_keys(tmp_path):
    inst = tmp_path / "inst"
    app = create_app({}, instance_path=str(inst))
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{inst / 'carbon_points.db'}"
    assert str(app.config["TIMEZONE"]) == "Asia/Shanghai"
    assert app.config["RATELIMIT_STORAGE_URI"] == "memory://"
    with app.app_context():
        with db.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
        db.engine.dispose()


def test_jwt_secret_is_generated_once_into_instance_folder(tmp_path):
    first = load(str(tmp_path), {})["JWT_SECRET_KEY"]
    second = load(str(tmp_path), {})["JWT_SECRET_KEY"]
    assert first == second and len(first) >= 32
    key_file = tmp_path / "jwt_secret.key"
    assert key_file.read_text() == first
    assert key_file.stat().st_mode & 0o077 == 0


def test_console_secret_is_its_own_and_generated_once_into_instance_folder(tmp_path):
    first = load(str(tmp_path), {})
    second = load(str(tmp_path), {})
    assert first["SECRET_KEY"] == second["SECRET_KEY"] != first["JWT_SECRET_KEY"]
    key_file = tmp_path / "console_secret.key"
    assert key_file.read_text() == first["SECRET_KEY"]
    assert key_file.stat().st_mode & 0o077 == 0
    given = load(str(tmp_path), {"CONSOLE_SECRET_KEY": "c" * 40, "CONSOLE_IDLE_MINUTES": "5",
                                 "CONSOLE_SESSION_HOURS": "2", "CONSOLE_COOKIE_SECURE": "1"})
    assert given["SECRET_KEY"] == "c" * 40
    assert given["CONSOLE_IDLE_TIMEOUT"].total_seconds() == 300
    assert given["PERMANENT_SESSION_LIFETIME"].total_seconds() == 7200
    assert given["CONSOLE_COOKIE_SECURE"] == "1"


def test_postgres_url_uses_psycopg3(tmp_path):
    cfg = load(str(tmp_path), {"DATABASE_URL": "postgresql://u:p@db:5432/carbon",
                               "JWT_SECRET_KEY": "k" * 40})
    assert cfg["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@db:5432/carbon"


@pytest.mark.parametrize("name,value", [
    ("DATABASE_URL", "mysql://root@localhost/x"),
    ("DATABASE_URL", "not a url"),
    ("JWT_SECRET_KEY", "short"),
    ("TIMEZONE", "Mars/Olympus"),
    ("RATELIMIT_STORAGE_URI", "memcached://localhost"),
    ("JWT_ACCESS_TOKEN_SECONDS", "ten"),
    ("JWT_ACCESS_TOKEN_SECONDS", "-5"),
    ("LOG_LEVEL", "LOUD"),
    ("PROXY_FIX_HOPS", "-1"),
    ("CONSOLE_SECRET_KEY", "short"),
    ("CONSOLE_IDLE_MINUTES", "0"),
    ("CONSOLE_SESSION_HOURS", "half a day"),
    ("CONSOLE_COOKIE_SECURE", "sometimes"),
])
def test_bad_setting_fails_at_start_naming_it(tmp_path, name, value):
    env = {"JWT_SECRET_KEY": "k" * 40, name: value}
    with pytest.raises(ConfigError, match=name):
        create_app(env, instance_path=str(tmp_path))


def test_redis_rate_limit_storage_is_accepted(tmp_path):
    cfg = load(str(tmp_path), {"RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0",
                               "JWT_SECRET_KEY": "k" * 40})
    assert cfg["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/0"


def test_pool_overflow_may_be_zero(tmp_path):
    cfg = load(str(tmp_path), {"DATABASE_URL": "postgresql://u@h/db", "DB_MAX_OVERFLOW": "0",
                               "JWT_SECRET_KEY": "k" * 40})
    assert cfg["SQLALCHEMY_ENGINE_OPTIONS"]["max_overflow"] == 0


def test_a_truncated_generated_key_is_refused(tmp_path):
    (tmp_path / "jwt_secret.key").write_text("short")
    with pytest.raises(ConfigError, match="shorter"):
        load(str(tmp_path), {})
