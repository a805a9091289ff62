"""The OpenAPI document: every API route and only those, generated from the schemas that
validate requests, and nothing loaded from outside the service."""

from __future__ import annotations

import json
import re

from referrals.schemas import MemberFactsSchema, SpendEventSchema

METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def _document(client) -> dict:  # noqa: ANN001
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.is_json
    return response.json


def _routes(app) -> set[tuple[str, str]]:  # noqa: ANN001
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.rule == "/api/v1/openapi.json":
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        routes |= {(path, method.lower()) for method in rule.methods & METHODS}
    return routes


def test_the_document_describes_every_api_route_and_nothing_else(app, client) -> None:
    document = _document(client)
    documented = {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method in {m.lower() for m in METHODS}
    }
    assert documented == _routes(app)
    assert documented >= {
        ("/api/v1/spend-events", "post"),
        ("/api/v1/rewards", "get"),
        ("/api/v1/rewards/{reward_id}/fulfil", "post"),
        ("/api/v1/members/{external_id}", "put"),
        ("/api/v1/me/stats", "get"),
        ("/api/v1/me/referrals", "get"),
        ("/api/v1/me/rewards", "get"),
        ("/api/v1/fees/quote", "get"),
    }
    assert document["openapi"].startswith("3.")
    assert document["info"]["version"] == "v1"


def test_every_operation_names_its_security_and_scope(client) -> None:
    document = _document(client)
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
    }
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in {m.lower() for m in METHODS}:
                continue  # path-level "parameters"
            assert operation["security"] == [{"bearerAuth": []}], (path, method)
            assert operation["x-scope"] in {
                "events:write",
                "rewards:read",
                "rewards:write",
                "members:write",
                "me:read",
                "fees:read",
            }
            assert {"401", "403"} <= set(operation["responses"]), (path, method)


def _properties(schema_class) -> tuple[set[str], set[str]]:  # noqa: ANN001
    fields = schema_class().fields
    return set(fields), {name for name, field in fields.items() if field.required}


def test_request_bodies_come_from_the_validating_schemas(client) -> None:
    document = _document(client)
    schemas = document["components"]["schemas"]
    for name, schema_class in (
        ("SpendEvent", SpendEventSchema),
        ("MemberFacts", MemberFactsSchema),
    ):
        names, required = _properties(schema_class)
        assert set(schemas[name]["properties"]) == names
        assert set(schemas[name].get("required", [])) == required
    body = document["paths"]["/api/v1/spend-events"]["post"]["requestBody"]
    one_of = body["content"]["application/json"]["schema"]["oneOf"]
    assert one_of[0] == {"$ref": "#/components/schemas/SpendEvent"}
    assert one_of[1]["items"] == {"$ref": "#/components/schemas/SpendEvent"}
    assert one_of[1]["maxItems"] == 1000
    members = document["paths"]["/api/v1/members/{external_id}"]["put"]["requestBody"]
    assert members["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/MemberFacts"
    }
    assert schemas["SpendEvent"]["properties"]["amount_cents"]["type"] == "integer"
    assert schemas["SpendEvent"]["properties"]["kind"]["enum"] == ["payment", "refund"]


def test_every_reference_resolves(client) -> None:
    document = _document(client)
    text = json.dumps(document)
    for ref in set(re.findall(r'"\$ref": "#/components/(\w+)/(\w+)"', text)):
        assert ref[1] in document["components"][ref[0]], ref


def test_no_documentation_ui_loads_anything_from_elsewhere(app, client) -> None:
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    assert not any(word in rule for rule in rules for word in ("swagger", "redoc", "rapidoc"))
    assert "cdn" not in json.dumps(_document(client)).lower()
