"""Every error is application/problem+json, including framework-raised ones."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from tests.helpers import PASSWORD, assert_problem


def test_unknown_path_is_404_problem(client):
    body = assert_problem(client.get("/api/v1/nope"), 404)
    assert body["type"] == "about:blank"
    assert "<html" not in body.get("detail", "").lower()


def test_wrong_method_is_405_problem_with_allow(client):
    resp = client.delete("/api/v1/auth/login")
    assert_problem(resp, 405)
    assert "POST" in resp.headers["Allow"]


def test_non_json_body_is_415(api, app):
    resp = api.post("/api/v1/auth/register", data="email=a@example.com&password=x",
                    content_type="application/x-www-form-urlencoded")
    assert_problem(resp, 415)
    body = f'{{"email":"a@example.com","password":"{PASSWORD}"}}'
    resp = api.post("/api/v1/auth/register", data=body, content_type="text/plain")
    assert_problem(resp, 415)


def test_empty_body_is_a_validation_error(api):
    assert_problem(api.post("/api/v1/auth/register"), 422, "validation-error")


def test_unexpected_exception_is_500_problem_without_trace(app, client):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals /etc/passwd")

    resp = client.get("/boom")
    body = assert_problem(resp, 500)
    text = resp.get_data(as_text=True)
    assert "secret internals" not in text and "Traceback" not in text
    assert body["detail"]


def test_validation_errors_are_by_field(api):
    body = assert_problem(api.post("/api/v1/auth/login", json={"identifier": ""}), 422)
    assert set(body["errors"]) == {"identifier", "password"}
    assert all(isinstance(v, list) for v in body["errors"].values())


def test_query_validation_errors_are_by_field(api):
    admin = api.caller("admin")
    body = assert_problem(api.get("/api/v1/admin/users?per_page=1000&page=0", admin), 422)
    assert set(body["errors"]) == {"per_page", "page"}


@pytest.mark.parametrize("error", [
    OperationalError("SELECT 1", {}, Exception("server closed the connection")),
    InterfaceError("SELECT 1", {}, Exception("connection already closed")),
    PoolTimeout("QueuePool limit of size 5 overflow 10 reached"),
])
def test_database_unavailable_is_503_problem(app, client, error):
    @app.get("/boom-db")
    def boom():
        raise error

    resp = client.get("/boom-db")
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "2"
    assert resp.get_json()["type"].endswith("/problems/database-unavailable")


def test_commit_failure_is_the_same_503_problem(app, client, monkeypatch):
    from app.extensions import db

    @app.post("/commit-fails")
    def commit_fails():
        return {"ok": True}

    def fail() -> None:
        raise OperationalError("COMMIT", {}, Exception("server closed the connection"))

    with app.app_context():
        monkeypatch.setattr(db.session, "commit", fail)
        resp = client.post("/commit-fails", json={})
    assert resp.status_code == 503
    assert resp.get_json()["type"].endswith("/problems/database-unavailable")


def test_rate_limit_storage_down_does_not_break_login(db_url, tmp_path):
    from app import create_app
    from tests.conftest import TEST_JWT_SECRET
    from tests.helpers import Api

    app = create_app({"DATABASE_URL": db_url, "JWT_SECRET_KEY": TEST_JWT_SECRET,
                      "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/0"},
                     instance_path=str(tmp_path / "instance"), TESTING=True)
    api = Api(app, app.test_client())
    api.create_user(email="redis-down@example.com")
    assert api.login("redis-down@example.com").status_code == 200
    assert api.login("redis-down@example.com", "Wrong-password-1").status_code == 401


def test_nul_characters_are_refused_wherever_they_come(api):
    """PostgreSQL text cannot hold U+0000: a 422 on both databases, never a 500."""
    me = api.caller()
    login = api.post("/api/v1/auth/login", data='{"identifier": "a\\u0000b", "password": "x"}',
                     content_type="application/json")
    assert assert_problem(login, 422, "validation-error")["errors"] == {
        "json": ["Contains a NUL character (U+0000)."]}
    nested = api.post("/api/v1/behaviours", me, json={
        "methodology": "green_travel", "occurred_at": "2026-01-01T00:00:00Z",
        "data": {"mode": "bus", "notes": ["ok", {"k\x00": 1}]}},
        headers={"Idempotency-Key": "nul"})
    assert_problem(nested, 422, "validation-error")
    query = api.get("/api/v1/rewards?category=a%00b", me)
    assert assert_problem(query, 422)["errors"] == {"query": ["Contains a NUL character "
                                                              "(U+0000)."]}
    # An escaped backslash followed by "u0000" is six ordinary characters.
    text = api.post("/api/v1/auth/login", data='{"identifier": "a\\\\u0000b", "password": "x"}',
                    content_type="application/json")
    assert text.status_code == 401


@pytest.mark.parametrize("value", [
    "NaN", "Infinity", "-Infinity",  # Python reads them; JSON has no such numbers
    "1e400", "-1" + "0" * 400 + ".5",  # read as infinity
    "9" * 5000,  # more digits than Python converts
    "[" * 100_000 + "]" * 100_000,  # deeper than the stack
    "[" * 101 + "]" * 101,  # deeper than any request needs
])
def test_json_no_later_step_could_handle_is_a_400_and_stores_nothing(api, app, value):
    """Such a value in a free-form field (a behaviour's evidence) was stored on SQLite and a
    500 on PostgreSQL, or a 500 on both."""
    from app.db_types import utcnow
    from tests.conftest import run_sql

    me = api.caller()
    record = json.dumps({"methodology": "paperless", "occurred_at": utcnow().isoformat(),
                         "data": {"kind": "e_receipt", "sheets": 1}})
    body = record[:-1] + f', "evidence": {{"x": {value}}}}}'  # not JSON dumps could write
    resp = api.post("/api/v1/behaviours", me, data=body, content_type="application/json",
                    headers={"Idempotency-Key": "odd-json"})
    assert_problem(resp, 400, "malformed-json")
    assert run_sql(app, "SELECT count(*) FROM behaviours")[0][0] == 0


def test_json_nested_a_few_levels_or_with_brackets_in_strings_is_read(api):
    """The depth bound counts brackets; those inside strings must not trip it."""
    me = api.caller()
    evidence = {"note": "[" * 300 + "{", "deep": [[[[[[{"a": [1.5e300, -2e-300]}]]]]]]}
    resp = api.post("/api/v1/behaviours", me, json={
        "methodology": "teleport", "occurred_at": "2026-01-01T00:00:00Z", "data": {},
        "evidence": evidence}, headers={"Idempotency-Key": "fine-json"})
    assert_problem(resp, 404)  # got past the body's checks to the methodology's


def test_unpaired_surrogates_are_refused_and_pairs_are_read(api, app):
    """JSON may escape half of a UTF-16 pair ("\\ud800"); Python keeps it in the string, but
    no UTF-8 text can hold it: the database drivers failed with a 500."""
    from app.db_types import utcnow
    from tests.conftest import run_sql

    me = api.caller()

    def report(note: str, key: str):
        record = json.dumps({"methodology": "paperless", "occurred_at": utcnow().isoformat(),
                             "data": {"kind": "e_receipt", "sheets": 1}})
        return api.post("/api/v1/behaviours", me, data=record[:-1] + f', "evidence": '
                        f'{{"note": "{note}"}}}}', content_type="application/json",
                        headers={"Idempotency-Key": key})

    for lone in ("\\ud800", "a\\udfff", "\\uDBFF\\u0041"):
        problem = assert_problem(report(lone, lone), 422, "validation-error")
        assert problem["errors"] == {"json": [
            "Contains an unpaired UTF-16 surrogate (U+D800 to U+DFFF)."]}
    assert run_sql(app, "SELECT count(*) FROM behaviours")[0][0] == 0
    assert report("\\ud83c\\udf33", "tree").status_code == 201  # 🌳, a whole pair
