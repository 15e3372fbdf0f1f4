"""Logs never carry passwords or secrets, and carry email and mobile numbers masked."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.logs import JsonFormatter, mask_personal, mask_request_id
from app.users.models import User
from tests.helpers import PASSWORD


@pytest.fixture
def log_lines():
    """Every log record of the app, formatted as production formats it."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(JsonFormatter().format(record))

    handler = Keep(level=logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lines
    finally:
        root.removeHandler(handler)


def test_masking():
    assert mask_personal("login by alice.w@example.com failed") == (
        "login by a***@example.com failed")
    assert mask_personal("mobile 13812345678 and +86 139 no") == "mobile 138****5678 and +86 139 no"
    assert mask_personal("+8613812345678") == "+86138****5678"
    # Longer digit runs (ids, amounts) are not phone numbers.
    assert mask_personal("id 138123456789") == "id 138123456789"


def test_failed_login_and_registration_leave_no_secret_or_address(client, log_lines):
    client.post("/api/v1/auth/register", json={
        "email": "wang.fang@example.com", "password": PASSWORD, "display_name": "Wang"})
    client.post("/api/v1/auth/login", json={"identifier": "wang.fang@example.com",
                                            "password": "Wrong-password-123"})
    client.post("/api/v1/auth/login", json={"identifier": "13812345678",
                                            "password": "Wrong-password-456"})
    text = "\n".join(log_lines)
    assert log_lines
    for secret in (PASSWORD, "Wrong-password-123", "Wrong-password-456", "wang.fang@",
                   "13812345678"):
        assert secret not in text


def test_database_errors_do_not_carry_statement_values(app, log_lines):
    with app.app_context():
        row = {"email": "li.lei@example.com", "password_hash": "$argon2id$secret-hash",
               "display_name": "Li", "token_epoch": 0}
        db.session.execute(insert(User).values(**row))
        with pytest.raises(IntegrityError) as caught:
            db.session.execute(insert(User).values(**row))
        db.session.rollback()
        logging.getLogger("app").error("database error", exc_info=caught.value)
    text = "\n".join(log_lines)
    assert "$argon2id$secret-hash" not in text + str(caught.value)  # parameters hidden
    # PostgreSQL names the duplicate key's value in its message: masked in the log line.
    assert "li.lei@example.com" not in text


def test_international_numbers_and_request_ids_are_masked(client, log_lines):
    assert mask_personal("+447911123456") == "+44********56"
    assert mask_personal("call +44 7911 123456") == "call +44********56"
    assert mask_personal("/users/%2B14155550123") != "/users/%2B14155550123"
    client.get("/healthz", headers={"X-Request-ID": "trace-13812345678"})
    text = "\n".join(log_lines)
    assert "13812345678" not in text and "trace-138****5678" in text
    assert mask_request_id("trace-447911123456") == "trace-44********56"


def test_a_real_server_at_debug_logs_no_identifier(db_url, tmp_path):
    """gunicorn (2 workers, LOG_LEVEL=DEBUG): its own lines and the app's, all of them."""
    from tests.conftest import TEST_JWT_SECRET
    from tests.live_server import call, live_server

    email, mainland, international = "log.person@example.com", "13812345678", "+447911123456"
    env = {"DATABASE_URL": db_url, "JWT_SECRET_KEY": TEST_JWT_SECRET, "LOG_LEVEL": "DEBUG"}
    with live_server(env, tmp_path, workers=2) as server:
        for body in ({"email": email}, {"mobile": mainland}, {"mobile": international}):
            status, _, answer = call(server, "POST", "/api/v1/auth/register",
                                     {**body, "password": PASSWORD})
            assert status == 201, answer
        for login in (email, mainland, international):
            assert call(server, "POST", "/api/v1/auth/login",
                        {"identifier": login, "password": PASSWORD})[0] == 200
            assert call(server, "POST", "/api/v1/auth/login",
                        {"identifier": login, "password": "Wrong-password-1"})[0] == 401
            assert call(server, "GET", f"/api/v1/no-such/{login}?who={login}")[0] == 404
        for request_id in (f"trace-{email}", f"trace-{mainland}", "trace-447911123456"):
            status, headers, _ = call(server, "GET", "/healthz",
                                      headers={"X-Request-ID": request_id})
            assert status == 200
        text = server.log_text()
    assert "GET /api/v1/no-such/" in text  # gunicorn's own debug line for each request
    for identifier in (email, "log.person", mainland, international, "447911123456",
                       "7911123456", PASSWORD):
        assert identifier not in text, identifier
