"""Settings read from the environment, checked once at start-up.

A bad value raises ConfigError naming the variable, so a misconfigured deployment
fails before it serves a single request instead of failing on the first one.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import time
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from limits import parse as parse_limit
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

JWT_SECRET_FILE = "jwt_secret.key"
CONSOLE_SECRET_FILE = "console_secret.key"
JWT_RETIRED_FILE = "jwt_retired.keys"
LIMIT_KEY_SECRET_FILE = "limit_key_secret.key"
MIN_JWT_SECRET_LENGTH = 32
SUPPORTED_BACKENDS = ("sqlite", "postgresql")
RATELIMIT_SCHEMES = ("memory://", "redis://", "rediss://", "redis+unix://")


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names it."""


def database_url(raw: str | None, instance_path: str) -> str:
    """Normalise DATABASE_URL; PostgreSQL always goes through psycopg 3."""
    if not raw:
        return f"sqlite:///{Path(instance_path) / 'carbon_points.db'}"
    try:
        url: URL = make_url(raw)
    except ArgumentError as exc:
        raise ConfigError(f"DATABASE_URL is not a database URL: {exc}") from None
    backend = url.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise ConfigError(
            f"DATABASE_URL uses {backend!r}; supported: {', '.join(SUPPORTED_BACKENDS)}"
        )
    if backend == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return url.render_as_string(hide_password=False)


def jwt_secret(raw: str | None, instance_path: str) -> str:
    """Use JWT_SECRET_KEY, or a key generated once into the instance folder."""
    return instance_secret(raw, instance_path, JWT_SECRET_FILE, "JWT_SECRET_KEY")


def console_secret(raw: str | None, instance_path: str) -> str:
    """The key that signs the console's session cookie: CONSOLE_SECRET_KEY, or one
    generated once into the instance folder (a key of its own, so rotating the JWT key
    does not sign everybody out of the console, nor the reverse)."""
    return instance_secret(raw, instance_path, CONSOLE_SECRET_FILE, "CONSOLE_SECRET_KEY")


def instance_secret(raw: str | None, instance_path: str, filename: str, variable: str) -> str:
    """The secret set in `variable`, or one generated once into the instance folder."""
    if raw:
        if len(raw) < MIN_JWT_SECRET_LENGTH:
            raise ConfigError(f"{variable} must be at least {MIN_JWT_SECRET_LENGTH} characters")
        return raw
    path = Path(instance_path) / filename
    if not path.exists():
        # Written whole to a private file, then linked into place: a worker starting at the
        # same moment sees either no key file or the complete key, and the first link wins.
        tmp = path.with_name(f".{filename}.{os.getpid()}")
        _write_new_key(tmp)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    key = path.read_text().strip()
    if len(key) < MIN_JWT_SECRET_LENGTH:
        raise ConfigError(f"{path} holds a key shorter than {MIN_JWT_SECRET_LENGTH} characters")
    return key


def _write_new_key(path: Path) -> str:
    """A fresh signing key in a file only its owner can read."""
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def jwt_previous_secrets(raw: str | None, instance_path: str, grace: timedelta) -> list[str]:
    """Retired signing keys, still accepted until the tokens they signed have expired.

    From JWT_PREVIOUS_SECRET_KEYS (comma-separated), and from the instance folder's
    record of keys retired by `flask auth rotate-jwt-key`, each kept for `grace`.
    """
    keys = [k.strip() for k in (raw or "").split(",") if k.strip()]
    if any(len(k) < MIN_JWT_SECRET_LENGTH for k in keys):
        raise ConfigError(f"JWT_PREVIOUS_SECRET_KEYS: every key must be at least "
                          f"{MIN_JWT_SECRET_LENGTH} characters")
    path = Path(instance_path) / JWT_RETIRED_FILE
    if path.exists():
        for line in path.read_text().splitlines():
            retired_at, _, key = line.partition(" ")
            if key and float(retired_at) + grace.total_seconds() > time.time():
                keys.append(key)
    return keys


def jwt_key_id(key: str) -> str:
    """Names a signing key in the token header without revealing it."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def rotate_instance_jwt_secret(instance_path: str) -> str:
    """Replace the instance folder's signing key; the old one is recorded as retired."""
    path = Path(instance_path) / JWT_SECRET_FILE
    old = path.read_text().strip() if path.exists() else None
    tmp = path.with_suffix(".new")
    new = _write_new_key(tmp)
    if old:
        retired = Path(instance_path) / JWT_RETIRED_FILE
        fd = os.open(retired, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as fh:
            fh.write(f"{time.time():.0f} {old}\n")
    os.replace(tmp, path)
    return jwt_key_id(new)


def timezone(raw: str | None) -> ZoneInfo:
    name = raw or "Asia/Shanghai"
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"TIMEZONE {name!r} is not an IANA time zone") from None


def ratelimit_storage(raw: str | None) -> str:
    uri = raw or "memory://"
    if not uri.startswith(RATELIMIT_SCHEMES):
        raise ConfigError(f"RATELIMIT_STORAGE_URI must start with one of {RATELIMIT_SCHEMES}")
    return uri


def rate_limit(env: dict[str, str], name: str, default: str) -> str:
    """A limit such as "5 per 5 minutes", checked now rather than on the first request."""
    value = env.get(name) or default
    try:
        parse_limit(value)
    except ValueError:
        raise ConfigError(f"{name} must read like '5 per 5 minutes', got {value!r}") from None
    return value


BUILTIN_METHODOLOGIES = "green_travel,clean_plate,recycling,paperless"
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def methodology_allowlist(raw: str | None) -> str | frozenset[str]:
    """Which methodology entry points may be imported: names, or * for every one."""
    value = (raw or BUILTIN_METHODOLOGIES).strip()
    if value == "*":
        return "*"
    names = frozenset(n.strip() for n in value.split(",") if n.strip())
    bad = sorted(n for n in names if not _CODE.match(n))
    if bad or not names:
        raise ConfigError(f"METHODOLOGIES must be * or comma-separated codes; bad: {bad}")
    return names


def positive_int(env: dict[str, str], name: str, default: int, *, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def load(instance_path: str, env: dict[str, str] | None = None) -> dict:
    """Build the Flask config mapping from environment variables."""
    env = dict(os.environ if env is None else env)
    log_level = env.get("LOG_LEVEL", "INFO").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"LOG_LEVEL {log_level!r} is not one of DEBUG, INFO, WARNING, ERROR")
    db_url = database_url(env.get("DATABASE_URL"), instance_path)
    refresh_lifetime = timedelta(seconds=positive_int(env, "JWT_REFRESH_TOKEN_SECONDS",
                                                      30 * 24 * 3600))
    signing_key = jwt_secret(env.get("JWT_SECRET_KEY"), instance_path)
    verify_keys = [signing_key, *jwt_previous_secrets(env.get("JWT_PREVIOUS_SECRET_KEYS"),
                                                      instance_path, refresh_lifetime)]
    return {
        "SQLALCHEMY_DATABASE_URI": db_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(db_url, env),
        "JWT_SECRET_KEY": signing_key,
        "JWT_VERIFY_KEYS": {jwt_key_id(key): key for key in verify_keys},
        "JWT_ACCESS_TOKEN_EXPIRES": timedelta(
            seconds=positive_int(env, "JWT_ACCESS_TOKEN_SECONDS", 900)
        ),
        "JWT_REFRESH_TOKEN_EXPIRES": refresh_lifetime,
        "TIMEZONE": timezone(env.get("TIMEZONE")),
        "RATELIMIT_STORAGE_URI": ratelimit_storage(env.get("RATELIMIT_STORAGE_URI")),
        # Redis down must not turn requests into 500s: the limits kept there fall back to
        # each worker's memory until it answers again (/readyz says "degraded"). Failed
        # logins are counted in the database instead (app/auth/throttle.py).
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_SWALLOW_ERRORS": True,
        # A Redis that stops answering (rather than refusing) must not hold every limited
        # request for the kernel's TCP timeout.
        "RATELIMIT_STORAGE_OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        "RATELIMIT_KEY_PREFIX": env.get("RATELIMIT_KEY_PREFIX", ""),
        # Limit keys are a keyed hash of what they count (an account, an address), so the
        # limiter's storage holds no identifier in clear.
        "LIMIT_KEY_SECRET": instance_secret(env.get("LIMIT_KEY_SECRET"), instance_path,
                                            LIMIT_KEY_SECRET_FILE, "LIMIT_KEY_SECRET"),
        "LOGIN_LIMIT_PER_ACCOUNT": rate_limit(env, "LOGIN_LIMIT_PER_ACCOUNT", "5 per 5 minutes"),
        "LOGIN_LIMIT_PER_ADDRESS": rate_limit(env, "LOGIN_LIMIT_PER_ADDRESS",
                                              "30 per 5 minutes"),
        "VERIFY_FAILURE_LIMIT": env.get("VERIFY_FAILURE_LIMIT", "10 per 15 minutes"),
        # An export reads the account's whole history and scans the staff sections; a
        # client looping on it would load the database for nothing new.
        "EXPORT_LIMIT": env.get("EXPORT_LIMIT", "5 per hour"),
        "PARTNER_LINK_FAILURE_LIMIT": env.get("PARTNER_LINK_FAILURE_LIMIT", "30 per 10 minutes"),
        "LOG_LEVEL": log_level,
        "PROXY_FIX_HOPS": positive_int(env, "PROXY_FIX_HOPS", 0, minimum=0),
        "IDEMPOTENCY_KEY_TTL_HOURS": positive_int(env, "IDEMPOTENCY_KEY_TTL_HOURS", 48),
        "POINTS_VALIDITY_DAYS": positive_int(env, "POINTS_VALIDITY_DAYS", 365),
        "PARTNER_KEY_OVERLAP_HOURS": positive_int(env, "PARTNER_KEY_OVERLAP_HOURS", 72),
        "METHODOLOGIES": methodology_allowlist(env.get("METHODOLOGIES")),
        "DAILY_CAP_G": positive_int(env, "DAILY_CAP_G", 5000),
        "CLOCK_SKEW": timedelta(seconds=positive_int(env, "CLOCK_SKEW_SECONDS", 300)),
        # Beijing credits transit two days late and lets it be claimed for 7 days after
        # (../shared/reference/carbon-inclusion.md); without a limit, a year of invented
        # trips could each be credited under that day's own caps.
        "CLAIM_WINDOW": timedelta(days=positive_int(env, "CLAIM_WINDOW_DAYS", 9)),
        "REDEMPTION_TTL_DAYS": positive_int(env, "REDEMPTION_TTL_DAYS", 7),
        # Flask answers a longer body 413 before reading it. A batch of 1,000 records is well
        # under 1 MiB; without a bound any caller could make a worker hold gigabytes (the
        # partner signature is checked over the whole body, signed or not).
        "MAX_CONTENT_LENGTH": positive_int(env, "MAX_REQUEST_BYTES", 8 * 1024 * 1024),
        **console_settings(instance_path, env),
    }


COOKIE_SECURE_CHOICES = ("auto", "1", "0")


def console_settings(instance_path: str, env: dict[str, str]) -> dict:
    """The console's signed session cookie: its key, name, flags and lifetimes."""
    secure = env.get("CONSOLE_COOKIE_SECURE", "auto").strip().lower() or "auto"
    if secure not in COOKIE_SECURE_CHOICES:
        raise ConfigError(f"CONSOLE_COOKIE_SECURE must be one of {COOKIE_SECURE_CHOICES}")
    lifetime = timedelta(hours=positive_int(env, "CONSOLE_SESSION_HOURS", 12))
    return {
        "SECRET_KEY": console_secret(env.get("CONSOLE_SECRET_KEY"), instance_path),
        "SESSION_COOKIE_NAME": "carbon_console",
        # Only the console reads the cookie; the API never sees it, so it cannot be
        # used to call the API from another site.
        "SESSION_COOKIE_PATH": "/console",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "CONSOLE_COOKIE_SECURE": secure,
        "PERMANENT_SESSION_LIFETIME": lifetime,
        "CONSOLE_IDLE_TIMEOUT": timedelta(minutes=positive_int(env, "CONSOLE_IDLE_MINUTES", 30)),
    }


def engine_options(db_url: str, env: dict[str, str]) -> dict:
    # hide_parameters: a database error's message otherwise carries the statement's
    # values (emails, password hashes, partner secrets) into the logs.
    if db_url.startswith("sqlite"):
        return {"hide_parameters": True,
                "connect_args": {"timeout": positive_int(env, "SQLITE_BUSY_TIMEOUT_S", 15)}}
    # No ping per checkout (a round trip per unit of work): a connection that died with the
    # server fails its next statement, the pool discards every connection of that age, the
    # request gets a 503 problem and the next one reconnects.
    return {
        "hide_parameters": True,
        "pool_size": positive_int(env, "DB_POOL_SIZE", 5),
        "max_overflow": positive_int(env, "DB_MAX_OVERFLOW", 10, minimum=0),
    }
