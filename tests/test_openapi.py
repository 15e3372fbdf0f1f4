from __future__ import annotations

from openapi_spec_validator import validate

HTTP_METHODS = {"get", "put", "post", "delete", "patch"}


def test_openapi_document_is_valid_openapi_3(client):
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200
    spec = resp.get_json()
    validate(spec)
    assert spec["openapi"].startswith("3.")


def test_every_operation_documents_errors_as_problems(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    problem = spec["components"]["schemas"]["Problem"]["properties"]
    assert set(problem) >= {"type", "title", "status", "detail", "errors"}
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if method in HTTP_METHODS:
                assert "default" in op["responses"], (method, path)


def test_protected_operations_declare_bearer_auth_and_idempotency_is_documented(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    me = spec["paths"]["/api/v1/me"]["get"]
    assert me["security"] == [{"bearerAuth": []}]
    assert "401" in me["responses"]
    login = spec["paths"]["/api/v1/auth/login"]["post"]
    assert "security" not in login


def test_pagination_convention_is_in_the_document(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    op = spec["paths"]["/api/v1/admin/users"]["get"]
    names = {p["name"] for p in op["parameters"]}
    assert {"page", "per_page"} <= names
    page_schema = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    name = page_schema.rsplit("/", 1)[-1]
    assert set(spec["components"]["schemas"][name]["properties"]) == {
        "items", "page", "per_page", "total", "pages"}


def test_interactive_docs_page_is_served(client):
    resp = client.get("/api/v1/docs")
    assert resp.status_code == 200
    assert b"swagger-ui" in resp.data


def test_exact_decimals_are_documented_as_the_strings_they_are(api):
    """Grams travel as strings ("0.000": exact, no float rounding); the document says so."""
    spec = api.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    me = api.caller()
    account = api.get("/api/v1/account", me).get_json()
    assert isinstance(account["lifetime_reduction_g"], str)
    assert spec["Account"]["properties"]["lifetime_reduction_g"]["type"] == "string"
    assert spec["RecordResult"]["properties"]["reduction_g"] == {
        "type": "string", "format": "decimal", "nullable": True}
