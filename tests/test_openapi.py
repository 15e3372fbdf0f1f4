from __future__ import annotations

import re

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


# -- as a client generator reads it --------------------------------------------------------

def _operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in HTTP_METHODS:
                yield path, method, op


def _response_schemas(spec: dict) -> set[str]:
    """The component schemas a successful JSON response can hold (nested ones too)."""
    schemas = spec["components"]["schemas"]
    found: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[-1]
                if name not in found:
                    found.add(name)
                    walk(schemas[name])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for _path, _method, op in _operations(spec):
        for status, response in op["responses"].items():
            if status.startswith("2"):
                walk(response.get("content", {}).get("application/json", {}))
    return found


def test_the_title_is_a_package_name_and_the_chinese_name_is_in_the_description(client):
    info = client.get("/api/v1/openapi.json").get_json()["info"]
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9 ._-]*", info["title"]), info["title"]
    assert "碳普惠" in info["description"]


def test_every_operation_has_a_unique_camel_case_operation_id(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    ids = [op.get("operationId") for _path, _method, op in _operations(spec)]
    assert all(ids) and len(ids) == len(set(ids)), ids
    assert all(re.fullmatch(r"[a-z][a-zA-Z]*", i) for i in ids), ids
    paths = spec["paths"]
    assert paths["/api/v1/rewards/{reward_id}/redemptions"]["post"]["operationId"] == \
        "redeemReward"
    assert paths["/api/v1/merchant/redemptions/verify"]["post"]["operationId"] == \
        "verifyRedemption"
    assert paths["/api/v1/rewards"]["get"]["operationId"] == "listRewards"


def test_response_schemas_require_every_field_and_type_every_value(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    responses = _response_schemas(spec)
    assert {"Behaviour", "Redemption", "Account", "User", "Reward", "Verification",
            "MerchantRedemption", "Parameter", "Settlement"} <= responses
    for name in responses:
        schema = schemas[name]
        if "properties" in schema:
            optional = {"partner_id"} if name == "StatsRow" else set()  # group_by=partner
            assert set(schema.get("required", [])) == set(schema["properties"]) - optional, \
                name
        for field, prop in schema.get("properties", {}).items():
            assert {"type", "$ref", "allOf", "anyOf"} & set(prop), (name, field, prop)
    for name in ("Redemption", "Verification", "MerchantRedemption"):
        assert schemas[name]["properties"]["code"]["type"] == "string"
    assert [s["type"] for s in schemas["Parameter"]["properties"]["value"]["anyOf"]] == [
        "number", "string", "boolean", "array"]
    assert "anyOf" in schemas["ParameterChange"]["properties"]["value"]


def test_status_fields_are_enums_and_nullable_ones_refer_to_one_type(client):
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    for name in ("Behaviour", "Redemption", "MerchantRedemption", "Verification", "Revision",
                 "Version", "Merchant", "Partner", "MyLink", "PartnerLink", "RecordResult"):
        assert schemas[name]["properties"]["status"]["enum"], name
    assert schemas["Redemption"]["properties"]["status"]["enum"] == [
        "reserved", "fulfilled", "cancelled", "expired"]
    # "this type, or null": one enum class and one model for a generator, no empty model
    assert schemas["Reward"]["properties"]["limit_period"] == {
        "allOf": [{"$ref": "#/components/schemas/LimitPeriod"}], "nullable": True}
    assert schemas["LimitPeriod"] == {"type": "string", "enum": ["day", "week", "month"]}
    pending = schemas["ManagedReward"]["properties"]["pending"]
    assert pending["allOf"] == [{"$ref": "#/components/schemas/Revision"}]
    assert pending["nullable"] is True and "anyOf" not in pending


def test_register_says_email_or_mobile(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    body = spec["paths"]["/api/v1/auth/register"]["post"]["requestBody"]
    choices = body["content"]["application/json"]["schema"]["anyOf"]
    required = [set(spec["components"]["schemas"][c["$ref"].rsplit("/", 1)[-1]]["required"])
                for c in choices]
    assert required == [{"email", "password"}, {"mobile", "password"}]


def test_csv_reports_have_operations_answering_only_csv(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    for path in ("/api/v1/merchant/settlement", "/api/v1/admin/merchants/settlement",
                 "/api/v1/admin/stats/reductions"):
        as_json = spec["paths"][path]["get"]
        # JSON comes first (a generated client parses it), and no `format` asks for CSV
        assert next(iter(as_json["responses"]["200"]["content"])) == "application/json"
        assert "format" not in {p["name"] for p in as_json.get("parameters", [])}
        as_csv = spec["paths"][path + ".csv"]["get"]
        assert set(as_csv["responses"]["200"]["content"]) == {"text/csv"}
        assert as_csv["operationId"] == as_json["operationId"] + "Csv"


def test_csv_operations_answer_csv(api):
    admin = api.caller("admin")
    for path in ("/api/v1/admin/merchants/settlement.csv", "/api/v1/admin/stats/reductions.csv"):
        resp = api.get(path, admin)
        assert resp.status_code == 200 and resp.mimetype == "text/csv", path
        assert resp.data.startswith("\ufeff".encode())
    assert api.get("/api/v1/admin/stats/reductions?format=xml", admin).status_code == 422


def test_errors_are_listed_where_they_happen_with_their_headers(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    problem = {"schema": {"$ref": "#/components/schemas/Problem"}}
    for path, method, op in _operations(spec):
        responses = op["responses"]
        where = (method, path)
        if "{" in path:
            assert "404" in responses, where
        if "requestBody" in op:
            assert {"400", "422"} <= set(responses), where
        if op.get("security") == [{"bearerAuth": []}]:
            assert "401" in responses, where
        params = {p["name"] for p in op.get("parameters", [])}
        success = [r for status, r in responses.items() if status.startswith("2")]
        if "Idempotency-Key" in params:
            assert {"400", "409", "422"} <= set(responses), where
            assert all("Idempotent-Replayed" in r["headers"] for r in success), where
        if "429" in responses:
            assert {"Retry-After", "X-RateLimit-Remaining"} <= set(
                responses["429"]["headers"]), where
        for status, response in responses.items():
            if "$ref" in response:
                continue
            assert "X-Request-ID" in response["headers"], (where, status)
            if status.startswith("4"):
                assert response["content"] == {"application/problem+json": problem}
    for name in ("DEFAULT_ERROR", "UNPROCESSABLE_ENTITY"):
        assert "X-Request-ID" in spec["components"]["responses"][name]["headers"]
    login = spec["paths"]["/api/v1/auth/login"]["post"]["responses"]
    assert {"400", "401", "403", "422", "429"} <= set(login)
    verify = spec["paths"]["/api/v1/merchant/redemptions/verify"]["post"]["responses"]
    assert {"401", "403", "404", "409", "410", "429"} <= set(verify)
    # the rate-limited operations (each @limiter.limit in the views)
    for path, method in (("/api/v1/auth/login", "post"), ("/api/v1/me/export", "get"),
                         ("/api/v1/merchant/redemptions/verify", "post"),
                         ("/api/v1/partner/links", "post")):
        responses = spec["paths"][path][method]["responses"]
        assert "X-RateLimit-Remaining" in next(r["headers"] for status, r in
                                               responses.items() if status.startswith("2"))


def test_partner_operations_require_the_three_signed_headers(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    schemes = spec["components"]["securitySchemes"]
    names = {scheme: schemes[scheme]["name"] for scheme in
             ("partnerKey", "partnerTimestamp", "partnerHmac")}
    assert names == {"partnerKey": "X-Partner-Key", "partnerTimestamp": "X-Timestamp",
                     "partnerHmac": "X-Signature"}
    assert all(schemes[s]["type"] == "apiKey" and schemes[s]["in"] == "header" for s in names)
    op = spec["paths"]["/api/v1/partner/behaviours"]["post"]
    assert op["security"] == [dict.fromkeys(names, [])]
