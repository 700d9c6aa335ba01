"""What the console prefills, from the OpenAPI document's examples or built from schemas."""

from apis.models import ApiVersion, Endpoint
from console import examples
from console.tests.world import SPEC


def form(method: str, path: str, document: dict | None = None) -> dict:
    return examples.endpoint_form(document or SPEC, Endpoint(method=method, path=path))


def test_a_parameter_takes_its_example_then_its_schema_default():
    params = {p["name"]: p for p in form("GET", "/rates")["params"]}
    assert params["city"] == {
        "name": "city",
        "in": "query",
        "required": False,
        "example": "Utrecht",
        "description": "",
    }
    assert params["X-Trace"]["in"] == "header" and params["X-Trace"]["example"] == "console-test"


def test_path_parameters_of_the_path_item_are_inherited_and_required():
    params = form("GET", "/orders/{id}")["params"]
    assert params == [{"name": "id", "in": "path", "required": True, "example": "7", "description": ""}]


def test_a_body_is_built_from_the_schema_when_there_is_no_example():
    built = form("POST", "/orders")
    assert built["content_type"] == "application/json"
    assert built["body"] == '{\n  "city": "Utrecht",\n  "parcels": 0,\n  "express": true\n}'
    assert form("GET", "/rates")["body"] == ""


def test_examples_maps_and_refs_are_followed():
    document = {
        "openapi": "3.0.3",
        "info": {"title": "x", "version": "1"},
        "components": {
            "parameters": {"Limit": {"name": "limit", "in": "query", "schema": {"type": "integer", "default": 20}}},
            "examples": {"Red": {"value": "red"}},
        },
        "paths": {
            "/things/{colour}": {
                "get": {
                    "parameters": [
                        {"$ref": "#/components/parameters/Limit"},
                        {"name": "colour", "in": "path", "examples": {"r": {"$ref": "#/components/examples/Red"}}},
                        {"name": "tags", "in": "query", "example": ["a", "b"]},
                        {"name": "flag", "in": "query", "schema": {"type": "boolean"}},
                        {"name": "session", "in": "cookie"},
                    ]
                }
            }
        },
    }
    params = {p["name"]: p["example"] for p in form("GET", "/things/{colour}", document)["params"]}
    assert params == {"limit": "20", "colour": "red", "tags": "a,b", "flag": "true"}  # cookies are not offered


def test_an_undeclared_path_parameter_still_gets_a_field_and_hostile_documents_are_bounded():
    document = {"paths": {"/x/{id}": {"get": {"parameters": [{"$ref": "#/nowhere"}, "junk", {"in": "query"}]}}}}
    built = form("GET", "/x/{id}", document)
    assert built["params"] == [{"name": "id", "in": "path", "required": True, "example": "", "description": ""}]
    cyclic = {"components": {"schemas": {"A": {"$ref": "#/components/schemas/A"}}}}
    assert examples.parameter_example(cyclic, {"schema": {"$ref": "#/components/schemas/A"}}) == ""
    assert len(examples.as_text("x" * 5000)) == examples.MAX_VALUE_CHARS


def test_console_endpoints_lists_every_endpoint_in_order_and_declared_headers_are_found():
    version = ApiVersion(spec=SPEC)
    endpoints = [Endpoint(method="GET", path="/rates"), Endpoint(method="POST", path="/orders")]
    assert [e["id"] for e in examples.console_endpoints(version, endpoints)] == ["GET /rates", "POST /orders"]
    assert examples.declared_headers(version, endpoints[0]) == {"x-trace"}
