"""Per-endpoint code snippets (curl / Python / JavaScript) and the providers' draft docs preview."""

from __future__ import annotations

import ast
import json
import re
import shlex
from html import unescape

import pytest

from apis import services, snippets
from apis.models import ApiVersion, Endpoint, Visibility
from apis.tests.factories import orders_spec
from subscriptions.models import SubscriptionStatus
from subscriptions.tests.factories import ApplicationFactory, SubscriptionFactory, make_key
from tenants.models import Membership

pytestmark = pytest.mark.django_db


def _version(spec: dict, base_path: str = "/shop/v1") -> ApiVersion:
    return ApiVersion(label="v1", base_path=base_path, spec=spec)


def _call(python: str) -> dict:
    """The keyword arguments of the snippet's ``requests.request(...)`` call, evaluated."""
    tree = ast.parse(python)
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "request")
    kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg in {"headers", "json"}}
    return {"method": ast.literal_eval(call.args[0]), "url": ast.literal_eval(call.args[1]), **kwargs}


def _curl(curl: str) -> list[str]:
    lines = [line for line in curl.splitlines() if not line.startswith("#")]
    return shlex.split("\n".join(lines).replace("\\\n", " "))


def _js_body(javascript: str):
    match = re.search(r"body: JSON\.stringify\((.*)\),\n\}\);", javascript, re.S)
    return json.loads(match.group(1)) if match else None


def _body_spec(request_body: dict, components: dict | None = None, path: str = "/things") -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "T", "version": "1"},
        "paths": {path: {"post": {"requestBody": request_body, "responses": {"200": {"description": "ok"}}}}},
        "components": components or {},
    }


def test_the_example_body_comes_from_the_document_in_all_three_languages():
    spec = json.loads(json.dumps(__import__("yaml").safe_load(orders_spec())))
    code = snippets.endpoint_snippets(_version(spec), Endpoint(method="POST", path="/orders"))
    example = spec["paths"]["/orders"]["post"]["requestBody"]["content"]["application/json"]["example"]
    args = _curl(code["curl"])
    assert args[:4] == ["curl", "-X", "POST", "http://localhost:8080/shop/v1/orders"]
    assert "Content-Type: application/json" in args and "X-API-Key: YOUR_API_KEY" in args
    assert json.loads(args[args.index("--data-binary") + 1]) == example
    python = _call(code["python"])
    assert python["method"] == "POST" and python["json"] == example
    assert _js_body(code["javascript"]) == example


def test_path_parameters_and_required_query_parameters_are_placeholders():
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "T", "version": "1"},
        "paths": {
            "/orders/{order_id}/lines/{line}": {
                "parameters": [{"$ref": "#/components/parameters/Tenant"}],
                "get": {
                    "parameters": [
                        {"name": "expand", "in": "query", "required": True, "schema": {"type": "string"}},
                        {"name": "page", "in": "query", "schema": {"type": "integer"}},
                    ],
                    "responses": {"200": {"description": "ok"}},
                },
            }
        },
        "components": {"parameters": {"Tenant": {"name": "site", "in": "query", "required": True}}},
    }
    code = snippets.endpoint_snippets(_version(spec), Endpoint(method="GET", path="/orders/{order_id}/lines/{line}"))
    url = "http://localhost:8080/shop/v1/orders/<order_id>/lines/<line>?site=<site>&expand=<expand>"
    assert _call(code["python"])["url"] == url
    assert _curl(code["curl"])[3] == url
    assert f"fetch({json.dumps(url)}" in code["javascript"]
    assert "--data-binary" not in code["curl"] and "json=" not in code["python"]


def test_schema_examples_resolve_refs_all_of_one_of_and_stop_on_cycles():
    components = {
        "schemas": {
            "Node": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "id": {"type": "string", "format": "uuid", "readOnly": True},
                    "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
                },
            },
            "Base": {"type": "object", "properties": {"kind": {"enum": ["parcel", "letter"]}}},
            "Full": {
                "allOf": [
                    {"$ref": "#/components/schemas/Base"},
                    {"type": "object", "properties": {"when": {"type": "string", "format": "date-time"}}},
                ]
            },
            "Either": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
        }
    }
    body = {
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "tree": {"$ref": "#/components/schemas/Node"},
                        "full": {"$ref": "#/components/schemas/Full"},
                        "either": {"$ref": "#/components/schemas/Either"},
                        "missing": {"$ref": "#/components/schemas/Nope"},
                        "flag": {"type": ["boolean", "null"]},
                    },
                }
            }
        }
    }
    spec = _body_spec(body, components)
    value = _call(snippets.endpoint_snippets(_version(spec), Endpoint(method="POST", path="/things"))["python"])["json"]
    assert value["tree"] == {"name": "string", "children": []}  # the cycle stops at its first repeat
    assert value["full"] == {"kind": "parcel", "when": "2025-01-31T12:00:00Z"}
    assert value["either"] == 0 and value["missing"] is None and value["flag"] is True


def test_named_examples_are_used_through_their_ref():
    body = {"content": {"application/json": {"examples": {"first": {"$ref": "#/components/examples/Order"}}}}}
    spec = _body_spec(body, {"examples": {"Order": {"value": {"reference": "PO-1"}}}})
    code = snippets.endpoint_snippets(_version(spec), Endpoint(method="POST", path="/things"))
    assert _js_body(code["javascript"]) == {"reference": "PO-1"}


def test_a_huge_or_deep_schema_gives_a_bounded_body():
    wide = {"type": "object", "properties": {f"p{i}": {"$ref": "#/components/schemas/Wide"} for i in range(30)}}
    spec = _body_spec({"content": {"application/json": {"schema": wide}}}, {"schemas": {"Wide": wide}})
    code = snippets.endpoint_snippets(_version(spec), Endpoint(method="POST", path="/things"))
    assert len(code["curl"]) < snippets.MAX_BODY_CHARS * 2
    assert isinstance(_call(code["python"])["json"], dict)


HOSTILE = "'; rm -rf ~ #\"</code><script>alert(1)</script>\n`$(id)`\u2028"


def test_hostile_document_content_stays_inside_each_snippet():
    path = "/x/{id}'\"<b>"
    body = {"content": {"application/json": {"example": {HOSTILE: HOSTILE, "n": [HOSTILE]}}}}
    spec = _body_spec(body, path=path)
    code = snippets.endpoint_snippets(_version(spec), Endpoint(method="POST", path=path))
    expected = {HOSTILE: HOSTILE, "n": [HOSTILE]}
    args = _curl(code["curl"])
    assert len(args) == 10 and json.loads(args[-1]) == expected
    assert args[3] == "http://localhost:8080/shop/v1/x/<id>'\"<b>"
    assert _call(code["python"])["json"] == expected
    assert _js_body(code["javascript"]) == expected
    assert "\u2028" not in code["javascript"]  # a line terminator inside a JS string literal


@pytest.fixture
def shop_api(alice_m):
    api = services.api_create(actor=alice_m, name="Orders", slug="orders", visibility=Visibility.PUBLIC)
    version = services.version_create(
        actor=alice_m,
        api=api,
        label="v1",
        base_path="/orders/v1",
        upstreams=["https://up.example"],
        openapi_document=orders_spec(),
    )
    services.version_publish(actor=alice_m, version=version)
    return api


def test_the_catalog_page_escapes_snippets(client, alice_m):
    spec = _body_spec({"content": {"application/json": {"example": {"x": HOSTILE}}}})
    spec["info"]["title"] = "Evil"
    api = services.api_create(actor=alice_m, name="Evil", slug="evil", visibility=Visibility.PUBLIC)
    version = services.version_create(
        actor=alice_m,
        api=api,
        label="v1",
        base_path="/evil/v1",
        upstreams=["https://up.example"],
        openapi_document=spec,
    )
    services.version_publish(actor=alice_m, version=version)
    html = client.get("/catalog/acme/evil/").content.decode()
    assert "<script>alert(1)" not in html
    assert "&lt;/code&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html
    pre = re.search(r'<code id="code-curl">(.*?)</code>', html, re.S).group(1)
    assert json.loads(_curl(unescape(pre))[-1]) == {"x": HOSTILE}


def test_signed_in_consumer_sees_its_application_and_key_id_never_a_secret(client, shop_api, globex, charlie):
    anonymous = client.get("/catalog/acme/orders/").content.decode()
    assert "X-API-Key: YOUR_API_KEY" in anonymous
    ApplicationFactory(tenant=globex, name="Another app")
    shop = ApplicationFactory(tenant=globex, name="Shop <backend>")
    plan = services.plan_create(
        actor=Membership.objects.for_tenant(shop_api.tenant).get(role="owner"), api=shop_api, name="Free"
    )
    SubscriptionFactory(application=shop, plan=plan, version=shop_api.versions.get(), status=SubscriptionStatus.ACTIVE)
    key, secret = make_key(Membership.objects.for_tenant(globex).get(user=charlie), shop)
    client.force_login(charlie)
    html = client.get("/catalog/acme/orders/").content.decode()
    assert f"X-API-Key: apk_{key.key_id}_YOUR_KEY_SECRET" in html
    assert "your application <strong>Shop &lt;backend&gt;</strong>" in html
    document = client.get("/catalog/acme/orders/v1/openapi.json?samples=1").content.decode()
    assert f"apk_{key.key_id}_YOUR_KEY_SECRET" in document and "Shop <backend>" in document
    secret_part = secret.rsplit("_", 1)[-1]
    assert secret not in html and secret_part not in html and secret_part not in document


def test_the_served_document_carries_samples_for_every_operation_only_when_asked(client, shop_api):
    plain = client.get("/catalog/acme/orders/v1/openapi.json").json()
    assert "x-codeSamples" not in json.dumps(plain)
    served = client.get("/catalog/acme/orders/v1/openapi.json?samples=1").json()
    operations = [
        op for item in served["paths"].values() for m, op in item.items() if m in {"get", "post", "patch", "delete"}
    ]
    assert len(operations) == 7
    for operation in operations:
        samples = operation["x-codeSamples"]
        assert [(s["lang"], s["label"]) for s in samples] == [
            ("Shell", "curl"),
            ("Python", "Python"),
            ("JavaScript", "JavaScript"),
        ]
    post = served["paths"]["/orders"]["post"]["x-codeSamples"][0]["source"]
    assert "PO-2024-0042" in post and "curl -X POST 'http://localhost:8080/orders/v1/orders'" in post
    # The stored document is untouched.
    assert "x-codeSamples" not in json.dumps(shop_api.versions.get().spec)


def test_samples_stop_at_the_size_budget(monkeypatch, shop_api):
    version = shop_api.versions.get()
    endpoints = list(Endpoint.objects.for_tenant(version.tenant).filter(version=version))
    monkeypatch.setattr(snippets, "MAX_SAMPLE_CHARS", 100)
    served = snippets.with_code_samples(version.spec, version, endpoints)
    with_samples = [
        op
        for item in served["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and "x-codeSamples" in op
    ]
    assert len(with_samples) == 1  # the first one already passes the budget: no more are added


# --- Preview docs of a draft version ------------------------------------------------------


@pytest.fixture
def draft(alice_m, shop_api):
    return services.version_create(
        actor=alice_m,
        api=shop_api,
        label="v2",
        base_path="/orders/v2",
        upstreams=["https://up.example"],
        openapi_document=orders_spec(),
    )


def test_members_preview_a_draft_version_marked_as_draft(client, alice, vera, draft):
    for user in (alice, vera):
        client.force_login(user)
        page = client.get("/t/acme/apis/orders/versions/v2/")
        assert 'href="/t/acme/apis/orders/versions/v2/preview/"' in page.content.decode()
        response = client.get("/t/acme/apis/orders/versions/v2/preview/")
        html = response.content.decode()
        assert response.status_code == 200
        assert 'id="draft-banner"' in html and "Draft preview." in html
        assert 'data-spec-url="/t/acme/apis/orders/versions/v2/preview/openapi.json?samples=1"' in html
        assert "curl -X GET &#x27;http://localhost:8080/orders/v2/orders&#x27;" in html
        assert "script-src 'self'" in response["Content-Security-Policy"]
        document = client.get("/t/acme/apis/orders/versions/v2/preview/openapi.json?samples=1").json()
        assert document["servers"][0]["url"] == "http://localhost:8080/orders/v2"
        assert "x-codeSamples" in document["paths"]["/orders"]["post"]


def test_consumers_and_strangers_cannot_preview(client, charlie, draft):
    client.force_login(charlie)
    for url in (
        "/t/acme/apis/orders/versions/v2/preview/",
        "/t/acme/apis/orders/versions/v2/preview/openapi.json",
        "/catalog/acme/orders/?version=v2",
        "/catalog/acme/orders/v2/openapi.json",
    ):
        assert client.get(url).status_code == 404, url
    client.logout()
    response = client.get("/t/acme/apis/orders/versions/v2/preview/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert client.get("/catalog/acme/orders/v2/openapi.json").status_code == 404


def test_a_non_json_body_is_a_file_placeholder_with_its_content_type():
    spec = _body_spec({"content": {"text/csv\n'; x": {"schema": {"type": "string"}}}})
    code = snippets.endpoint_snippets(_version(spec), Endpoint(method="POST", path="/things"))
    args = _curl(code["curl"])
    assert args[-2:] == ["--data-binary", "@request-body"]
    assert "Content-Type: text/csv'; x" in args
    assert _call(code["python"])["headers"]["Content-Type"] == "text/csv'; x"
    assert "data=open('request-body', 'rb')" in code["python"] and "body: requestBody" in code["javascript"]
