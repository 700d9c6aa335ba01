"""No open proxy: the console's request is validated before anything is sent (console.relay.parse)."""

import pytest
from django.test import override_settings

from apis.models import ApiVersion, Endpoint
from console import relay
from console.tests.world import SPEC
from core.errors import InvalidInput, PayloadTooLarge

VERSION = ApiVersion(spec=SPEC, base_path="/acme/orders/v1")
ENDPOINTS = [
    Endpoint(method="GET", path="/rates"),
    Endpoint(method="POST", path="/orders"),
    Endpoint(method="GET", path="/orders/{id}"),
    Endpoint(method="DELETE", path="/orders/{id}"),
]


def parse(**data):
    return relay.parse({"method": "GET", "path": "/rates", **data}, VERSION, ENDPOINTS)


def refused(**data) -> str:
    with pytest.raises(InvalidInput) as caught:
        parse(**data)
    return caught.value.message


def test_a_documented_request_is_accepted_as_given():
    out = parse(path="/orders/7", query=[["expand", "a b"], ["x", "é"]], headers=[["Accept", "application/json"]])
    assert out.endpoint.path == "/orders/{id}"
    assert out.target == "/orders/7?expand=a%20b&x=%C3%A9"
    assert out.headers == {"Accept": "application/json"}
    assert out.body == b""  # GET: no body, whatever was typed
    posted = parse(method="post", path="/orders", body='{"city": "Utrecht"}')
    assert (posted.method, posted.body) == ("POST", b'{"city": "Utrecht"}')


@pytest.mark.parametrize(
    "path",
    [
        "http://evil.example/rates",
        "//evil.example/rates",
        "https:/evil.example",
        "/orders/..",
        "/orders/%2e%2E",
        "/orders/7/../../admin",
        "/orders/a%2Fb",
        "/orders/a%5cb",
        "/orders/%0d%0aHost:%20evil",
        "/orders/7?x=1",
        "/orders/7#x",
        "/orders/a b",
        "/orders/%zz",
        "/orders//7",
        "rates",
        "",
        "\\\\evil.example\\rates",
        "/orders/{id}",
    ],
)
def test_paths_outside_the_document_or_with_tricks_are_refused(path):
    assert refused(path=path)


def test_an_undocumented_path_or_method_is_refused_with_the_reason():
    assert refused(path="/admin") == "GET /admin is not an endpoint of this version's OpenAPI document."
    assert "is not an endpoint" in refused(method="PUT", path="/orders/7")
    assert refused(method="TRACE").startswith("The method must be one of")


@pytest.mark.parametrize(
    "name",
    [
        "Host",
        "host",
        "Authorization",
        "Cookie",
        "X-API-Key",
        "Content-Length",
        "Transfer-Encoding",
        "X-Forwarded-For",
        "X-Forwarded-Host",
        "Forwarded",
        "Connection",
        "Proxy-Authorization",
    ],
)
def test_headers_that_steer_routing_or_credentials_are_refused(name):
    assert "does not send" in refused(headers=[[name, "evil.example"]])


def test_only_common_and_documented_headers_pass_and_values_cannot_split_lines():
    assert parse(headers=[["X-Trace", "abc"]]).headers == {"X-Trace": "abc"}  # declared by /rates
    assert "neither" in refused(headers=[["X-Admin", "1"]])
    assert "line break" in refused(headers=[["Accept", "text/plain\r\nHost: evil.example"]])
    assert "line break" in refused(headers=[["Accept", "a\nb"]])
    assert "not a header name" in refused(headers=[["Bad Name", "x"]])
    assert "not a header name" in refused(headers=[["X-Trace\r\nHost", "x"]])
    assert "Latin-1" in refused(headers=[["Accept", "☃"]])
    assert "pair" in refused(headers=[["Accept"]])
    assert "pair" in refused(query=[["a", 1]])


@override_settings(CONSOLE_MAX_REQUEST_BYTES=1024)
def test_a_huge_body_is_refused_with_413():
    with pytest.raises(PayloadTooLarge) as caught:
        parse(method="POST", path="/orders", body="x" * 1025)
    assert caught.value.status_code == 413 and "1 KB" in caught.value.message


@override_settings(GATEWAY_URL="http://gateway.example:8080")
def test_the_gateway_url_is_built_from_settings_only():
    assert (
        relay.upstream_url(
            ApiVersion(
                upstreams=[{"url": "https://a.example/", "weight": 1}, {"url": "https://b.example", "weight": 5}]
            )
        )
        == "https://b.example"
    )
    with pytest.raises(InvalidInput):
        relay.upstream_url(ApiVersion(upstreams=[]))
