"""Every error is application/problem+json, including framework-raised ones."""

from __future__ import annotations

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
