"""A 204 answer has no body and names no media type."""

from __future__ import annotations

from tests.helpers import PASSWORD

# Every operation documented with a 204; a new one must be exercised below.
NO_CONTENT = {
    ("post", "/api/v1/auth/logout"),
    ("delete", "/api/v1/me"),
    ("delete", "/api/v1/admin/merchants/{merchant_id}/staff/{user_id}"),
}


def _assert_no_content(resp) -> None:
    assert resp.status_code == 204, resp.get_json()
    assert "Content-Type" not in resp.headers
    assert resp.headers.get("Content-Length") in (None, "0")
    assert resp.data == b""


def test_every_204_operation_is_listed_here(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    documented = {(method, path) for path, ops in spec["paths"].items()
                  for method, op in ops.items()
                  if method != "parameters" and "204" in op.get("responses", {})}
    assert documented == NO_CONTENT


def test_logout_answers_204_without_a_type(api):
    _assert_no_content(api.post("/api/v1/auth/logout", api.caller()))


def test_erasure_answers_204_without_a_type(api):
    citizen = api.caller()
    _assert_no_content(api.delete("/api/v1/me", citizen, json={"password": PASSWORD}))


def test_removing_staff_answers_204_without_a_type(api):
    admin = api.caller("admin")
    merchant = api.post("/api/v1/admin/merchants", admin,
                        json={"name": "Tea House", "contact": "t@example.com"})
    assert merchant.status_code == 201, merchant.get_json()
    merchant_id = merchant.get_json()["id"]
    person = api.caller()
    assert api.put(f"/api/v1/admin/merchants/{merchant_id}/staff/{person.id}",
                   admin).status_code in (200, 201)
    _assert_no_content(api.delete(f"/api/v1/admin/merchants/{merchant_id}/staff/{person.id}",
                                  admin))
