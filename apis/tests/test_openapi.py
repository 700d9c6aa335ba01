"""Uploading OpenAPI documents: JSON and YAML, validation that names the path, size limit, no fetching."""

from __future__ import annotations

import json
import re

import pytest
from django.test import override_settings

from apis import openapi
from apis.openapi import SpecInvalid
from apis.tests.factories import minimal_spec, orders_spec, weather_spec
from core.errors import InvalidInput, PayloadTooLarge


def test_demo_documents_are_valid_and_multi_endpoint():
    orders, version = openapi.load(orders_spec())
    assert version == "3.1.0"
    assert len(openapi.operations(orders)) == 7
    weather, version = openapi.load(json.dumps(weather_spec()).encode())
    assert version == "3.0.3"
    ops = openapi.operations(weather)
    assert len(ops) == 7
    assert any(op.deprecated for op in ops)


def test_yaml_response_codes_and_dates_become_json():
    document, _ = openapi.load(
        "openapi: 3.0.3\ninfo: {title: t, version: 2024-06-01}\npaths:\n  /a:\n    get:\n      responses:\n"
        "        200: {description: ok}\n"
    )
    assert document["info"]["version"] == "2024-06-01"
    assert "200" in document["paths"]["/a"]["get"]["responses"]


def test_error_names_the_offending_path():
    spec = minimal_spec("/orders")
    del spec["paths"]["/orders"]["get"]["responses"]
    with pytest.raises(SpecInvalid) as error:
        openapi.load(spec)
    assert "paths › /orders › get" in error.value.message
    # jsonschema quotes the name with ' and jsonschema-rs (when installed) with ": either is fine.
    assert re.search(r"['\"]responses['\"] is a required property", error.value.message)
    assert error.value.fields == {"openapi": error.value.problems}


def test_syntax_errors_say_where():
    with pytest.raises(SpecInvalid, match=r"not valid JSON.*line 1"):
        openapi.load('{"openapi": ')
    with pytest.raises(SpecInvalid, match=r"not valid YAML.*line [0-9]+, column"):
        openapi.load("openapi: 3.0.0\ninfo: {title: x\n  version: [1\npaths: {}\n")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"swagger": "2.0", "info": {}}, "Swagger 2.0 is not supported"),
        ({"info": {}}, "`openapi` version field is missing"),
        ({"openapi": "4.0.0"}, "not supported"),
        ("[1, 2]", "top level must be an object"),
        ("", "empty"),
    ],
)
def test_unsupported_documents(document, message):
    with pytest.raises(InvalidInput, match=message):
        openapi.load(document)


def test_external_refs_are_refused_before_anything_is_fetched():
    spec = minimal_spec("/a")
    spec["paths"]["/a"]["get"]["responses"]["200"] = {"$ref": "http://169.254.169.254/latest/meta-data#/x"}
    with pytest.raises(SpecInvalid, match="external \\$ref"):
        openapi.load(spec)
    spec["paths"]["/a"]["get"]["responses"]["200"] = {"$ref": "/etc/passwd"}
    with pytest.raises(SpecInvalid, match="paths › /a › get › responses › 200"):
        openapi.load(spec)


def test_yaml_aliases_are_refused():
    bomb = 'openapi: 3.0.0\na: &a ["x","x"]\nb: &b [*a,*a]\ninfo: {title: t, version: "1"}\npaths: {}\n'
    with pytest.raises(SpecInvalid, match="aliases"):
        openapi.load(bomb)


@override_settings(OPENAPI_MAX_BYTES=1000)
def test_oversize_is_refused():
    spec = minimal_spec(*[f"/path-{i}" for i in range(50)])
    with pytest.raises(PayloadTooLarge, match="too large") as error:
        openapi.load(json.dumps(spec))
    assert error.value.code == "too_large" and error.value.status_code == 413
    with pytest.raises(PayloadTooLarge, match="too large"):
        openapi.load(spec)


def test_for_gateway_points_servers_at_the_gateway():
    served = openapi.for_gateway(minimal_spec("/a"), "http://localhost:8080/a/v1")
    assert served["servers"] == [{"url": "http://localhost:8080/a/v1", "description": "API gateway"}]
