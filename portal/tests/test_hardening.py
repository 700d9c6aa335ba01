"""Hostile requests get a 4xx in the one error shape under /api/ (never a 500, never HTML)."""

from __future__ import annotations

import json

import pytest
from django.db import IntegrityError, transaction
from django.test import Client, RequestFactory, override_settings

from core.api.errors import integrity_conflict
from core.api.parsers import MAX_JSON_DEPTH, json_depth
from portal.views import csrf_failure
from tenants.models import Tenant

pytestmark = pytest.mark.django_db

TOKENS = "/api/v1/tenants/acme/tokens/"
WEBHOOKS = "/api/v1/tenants/acme/webhooks/"
READS = ["/api/v1/tenants/", "/api/v1/tenants/acme/members/", TOKENS, "/api/v1/catalog/apis/", "/api/v1/nowhere/"]


@pytest.fixture
def as_alice(api, alice):
    api.force_authenticate(alice)
    return api


def _assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    error = json.loads(response.content)["error"]
    assert set(error) == {"code", "message", "fields"}
    if code:
        assert error["code"] == code, error
    return error


@pytest.mark.parametrize("url", READS)
@pytest.mark.parametrize("query", ["q=%00", "q=a%00b", "q=%ED%A0%80", "q=%C0", "search=%00&page=1"])
def test_nul_and_lone_surrogates_in_query_strings_are_400(as_alice, url, query):
    _assert_error(as_alice.get(f"{url}?{query}"), 400, "invalid_characters")


@pytest.mark.parametrize(
    "path", ["/api/v1/tenants/acme%00/", "/api/v1/tenants/acme/tokens/1%00/", "/api/v1/%ED%A0%80/"]
)
def test_nul_and_invalid_utf8_in_paths_are_400(as_alice, path):
    _assert_error(as_alice.get(path), 400, "invalid_characters")


@pytest.mark.parametrize(
    "body",
    [
        '{"name": "a\\u0000b"}',
        '{"name": "\\ud800"}',
        '{"name": "ok", "x": ["\\udfff"]}',
        '{"\\u0000": "key"}',
        "[" * 5000 + "]" * 5000,
        '{"a":' * 3000 + "1" + "}" * 3000,
        '{"name": NaN}',
    ],
)
@pytest.mark.parametrize("url", [TOKENS, WEBHOOKS, "/api/v1/tenants/", "/api/v1/invitations/accept/"])
def test_hostile_json_bodies_are_400(as_alice, url, body):
    _assert_error(as_alice.post(url, body, content_type="application/json"), 400)


def test_json_depth_ignores_brackets_in_strings():
    assert json_depth(b'{"a": "[[[[[[", "b": [1, [2]]}') == 3
    assert json_depth(b'"\\"[["') == 0
    assert json_depth(b"[" * (MAX_JSON_DEPTH + 1)) == MAX_JSON_DEPTH + 1


def test_form_bodies_with_nul_are_400(as_alice):
    _assert_error(as_alice.post(TOKENS, "name=a%00b", content_type="application/x-www-form-urlencoded"), 400)


@override_settings(MAX_JSON_BODY_BYTES=1000)
def test_oversize_json_body_is_413(as_alice):
    body = json.dumps({"name": "x" * 2000})
    _assert_error(as_alice.post(TOKENS, body, content_type="application/json"), 413, "too_large")


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_oversize_form_body_is_413_in_the_error_shape(as_alice):
    body = "name=" + "x" * 2000
    _assert_error(as_alice.post(TOKENS, body, content_type="application/x-www-form-urlencoded"), 413, "too_large")


def test_too_long_url_is_414_and_too_large_headers_431(as_alice):
    _assert_error(as_alice.get("/api/v1/tenants/?q=" + "x" * 5000), 414, "uri_too_long")
    _assert_error(as_alice.get("/api/v1/tenants/", HTTP_X_JUNK="y" * 17_000), 431, "headers_too_large")


def test_csrf_failure_under_api_is_json(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    # Django's own CSRF check (DRF views run theirs): its failure view answers in the error shape.
    request = RequestFactory().post("/api/v1/anything/")
    _assert_error(csrf_failure(request, "CSRF cookie not set."), 403, "csrf_failed")
    # The /api/ catch-all is a 404 for a token client, not a CSRF failure.
    _assert_error(client.post("/api/v1/no-such-thing/", {"a": 1}), 404, "not_found")


def test_unknown_api_paths_are_json_404(as_alice):
    _assert_error(as_alice.get("/api/nowhere"), 404, "not_found")
    _assert_error(as_alice.get("/api/v1/tenants/acme/nowhere/"), 404)


def test_web_pages_get_a_plain_400_not_json(client, alice):
    client.force_login(alice)
    response = client.get("/t/acme/?q=%00")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


def test_unique_violation_maps_to_409_naming_the_field(acme):
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        Tenant.objects.create(name="Again", slug="acme")
    conflict = integrity_conflict(caught.value)
    assert conflict.status_code == 409
    assert conflict.fields == {"slug": [conflict.message]}


def test_nested_field_errors_are_flat_dotted_keys(as_alice):
    hook = {"url": "https://hooks.example.com/a", "events": ["subscription.approved", "no.such.event"]}
    error = _assert_error(as_alice.post(WEBHOOKS, hook, format="json"), 400, "invalid")
    assert list(error["fields"]) == ["events.1"]
    assert all(isinstance(m, str) for m in error["fields"]["events.1"])


@pytest.mark.parametrize("debug", [False, True])
def test_oversize_json_body_is_413_even_with_debug_on(as_alice, settings, debug):
    settings.DEBUG = debug  # ./run's DEBUG must not turn it into Django's technical page
    body = '{"name": "' + "a" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10) + '"}'
    _assert_error(as_alice.post(TOKENS, body, content_type="application/json"), 413, "too_large")
