"""REST management API: /api/v1/tenants/{slug}/apis/… (CRUD, spec upload, lifecycle, plans)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import override_settings
from django.utils import timezone

from apis import services
from apis.tests.factories import minimal_spec, orders_spec, weather_spec
from tenants.models import PersonalAccessToken
from tenants.tests.factories import MembershipFactory

BASE = "/api/v1/tenants/acme/apis/"
V1 = BASE + "orders/versions/v1/"


@pytest.fixture
def as_alice(api, alice):
    api.force_authenticate(alice)
    return api


def test_register_api_version_plans_and_publish(as_alice):
    response = as_alice.post(
        BASE,
        {"name": "Weather", "slug": "weather", "tags": ["weather"], "visibility": "internal"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["catalog_url"] == "/catalog/acme/weather/"
    response = as_alice.post(
        BASE + "weather/versions/",
        {
            "label": "2024-06-01",
            "base_path": "/weather/2024-06-01",
            "upstreams": [{"url": "https://weather.internal.acme.example", "weight": 2}],
            "openapi": weather_spec(),
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["has_openapi"], body["endpoint_count"]) == ("draft", True, 7)
    endpoints = as_alice.get(BASE + "weather/versions/2024-06-01/endpoints/").json()["results"]
    assert {(e["method"], e["path"]) for e in endpoints} >= {("GET", "/forecast/hourly"), ("GET", "/alerts/{alert_id}")}
    free = as_alice.post(
        BASE + "weather/plans/", {"name": "Free", "rate_limit_per_second": 2, "quota_per_day": 500}, format="json"
    )
    pro = as_alice.post(
        BASE + "weather/plans/",
        {"name": "Pro", "rate_limit_per_minute": 6000, "quota_per_month": 1_000_000, "approval_required": True},
        format="json",
    )
    assert (free.status_code, pro.status_code) == (201, 201)
    assert pro.json()["approval_required"] is True
    published = as_alice.post(BASE + "weather/versions/2024-06-01/publish/", {"note": "Hello"}, format="json")
    assert published.status_code == 200
    assert published.json()["status"] == "published"
    history = as_alice.get(BASE + "weather/versions/2024-06-01/history/").json()["results"]
    assert history[0]["action"] == "version.published"
    assert history[0]["actor"] == "alice@acme.example"
    events = as_alice.get(BASE + "weather/events/").json()
    assert len(events["results"]) >= 5 and events["next"] is None


@pytest.fixture
def orders_v1(alice_m, orders, orders_v1):
    return orders_v1


def test_duplicate_slug_is_400_naming_the_field(as_alice, orders):
    response = as_alice.post(BASE, {"name": "Orders", "slug": "orders"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["slug"] == ["You already have an API with the slug “orders”."]


def test_duplicate_base_path_is_400(as_alice, orders, orders_v1):
    response = as_alice.post(BASE + "orders/versions/", {"label": "v2", "base_path": "/orders/v1"}, format="json")
    assert response.status_code == 400
    assert "“/orders/v1” is already in use" in response.json()["error"]["fields"]["base_path"][0]


def test_upstream_must_be_http_url(as_alice, orders):
    response = as_alice.post(
        BASE + "orders/versions/",
        {"label": "v2", "base_path": "/orders/v2", "upstreams": [{"url": "file:///etc/passwd"}]},
        format="json",
    )
    assert response.status_code == 400
    assert "not an absolute http(s) URL" in response.json()["error"]["fields"]["upstreams"][0]


def test_spec_upload_as_yaml_body(as_alice, orders, orders_v1):
    response = as_alice.put(V1 + "openapi/", orders_spec().encode(), content_type="application/yaml")
    assert response.status_code == 200, response.json()
    assert response.json()["openapi_version"] == "3.1.0"
    assert as_alice.get(V1 + "openapi/").json()["info"]["title"] == "Acme Orders API"


def test_spec_upload_as_json_body_and_multipart(as_alice, orders, orders_v1):
    response = as_alice.put(V1 + "openapi/", json.dumps(minimal_spec("/a", "/b")), content_type="application/json")
    assert response.json()["endpoint_count"] == 2
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("weather.json", json.dumps(weather_spec()).encode(), "application/json")
    response = as_alice.put(V1 + "openapi/", {"file": upload}, format="multipart")
    assert response.status_code == 200, response.json()
    assert response.json()["endpoint_count"] == 7


def test_invalid_spec_is_400_naming_the_path(as_alice, orders, orders_v1):
    spec = minimal_spec("/orders/{id}")
    response = as_alice.put(V1 + "openapi/", json.dumps(spec), content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_openapi"
    assert "/orders/{id}" in error["message"]
    spec = minimal_spec("/x")
    spec["paths"]["/x"]["get"]["responses"] = {"200": {"content": {}}}
    response = as_alice.put(V1 + "openapi/", json.dumps(spec), content_type="application/json")
    assert "paths › /x › get › responses › 200" in response.json()["error"]["fields"]["openapi"][0]


@override_settings(OPENAPI_MAX_BYTES=2 * 1024 * 1024)
def test_oversize_spec_is_413(as_alice, orders, orders_v1):
    big = json.dumps(minimal_spec("/a")) + " " * (2 * 1024 * 1024)
    response = as_alice.put(V1 + "openapi/", big, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert "limit is 2.0 MB" in response.json()["error"]["message"]


def test_lifecycle_endpoints_and_nonsense_transitions(as_alice, orders, orders_v1):
    assert as_alice.post(V1 + "retire/", {}, format="json").status_code == 409
    assert as_alice.post(V1 + "publish/", {}, format="json").status_code == 200
    again = as_alice.post(V1 + "publish/", {}, format="json")
    assert again.status_code == 409
    assert again.json()["error"]["message"] == "Version v1 is already published."
    missing = as_alice.post(V1 + "deprecate/", {}, format="json")
    assert missing.status_code == 400
    assert "sunset_date" in missing.json()["error"]["fields"]
    sunset = (timezone.now().date() + dt.timedelta(days=30)).isoformat()
    deprecated = as_alice.post(V1 + "deprecate/", {"sunset_date": sunset}, format="json")
    assert deprecated.json()["status"] == "deprecated"
    assert deprecated.json()["sunset_date"] == sunset
    assert as_alice.post(V1 + "retire/", {"note": "bye"}, format="json").json()["status"] == "retired"
    assert as_alice.post(V1 + "retire/", {}, format="json").status_code == 409
    assert as_alice.patch(V1, {"read_timeout_ms": 10}, format="json").status_code == 409


def test_publish_without_upstream_is_409(as_alice, orders):
    as_alice.post(
        BASE + "orders/versions/",
        {"label": "v3", "base_path": "/orders/v3", "openapi": json.dumps(minimal_spec("/a"))},
        format="json",
    )
    response = as_alice.post(BASE + "orders/versions/v3/publish/", {}, format="json")
    assert response.status_code == 409
    assert "upstream" in response.json()["error"]["message"]


def test_crud_update_and_delete(as_alice, orders, orders_v1, free_plan):
    assert as_alice.patch(BASE + "orders/", {"summary": "New"}, format="json").json()["summary"] == "New"
    plan_url = f"{BASE}orders/plans/{free_plan.pk}/"
    assert as_alice.patch(plan_url, {"quota_per_day": 5000}, format="json").json()["quota_per_day"] == 5000
    assert as_alice.post(plan_url + "archive/", {}, format="json").json()["status"] == "archived"
    assert as_alice.post(plan_url + "archive/", {}, format="json").status_code == 409
    assert as_alice.delete(plan_url).status_code == 204
    assert as_alice.patch(V1, {"base_path": "/orders/first"}, format="json").json()["base_path"] == "/orders/first"
    assert as_alice.delete(V1).status_code == 204
    assert as_alice.delete(BASE + "orders/").status_code == 204
    assert as_alice.get(BASE + "orders/").status_code == 404


def test_list_filters_and_search(as_alice, alice_m, orders, orders_v1, free_plan):
    services.api_create(actor=alice_m, name="Weather", slug="weather", tags=["forecast"], summary="Rain radar")
    names = lambda r: [a["slug"] for a in r.json()["results"]]  # noqa: E731
    assert names(as_alice.get(BASE)) == ["orders", "weather"]
    assert names(as_alice.get(BASE, {"visibility": "public"})) == ["orders"]
    assert names(as_alice.get(BASE, {"tag": "forecast"})) == ["weather"]
    assert names(as_alice.get(BASE, {"q": "radar"})) == ["weather"]
    assert names(as_alice.get(BASE, {"q": "shipping"})) == ["orders"]
    versions = as_alice.get(BASE + "orders/versions/", {"status": "published"}).json()
    assert versions["count"] == 0
    assert as_alice.get(BASE + "orders/plans/", {"status": "active"}).json()["count"] == 1


WRITES = [
    ("post", BASE, {"name": "X", "slug": "x"}),
    ("patch", BASE + "orders/", {"name": "Y"}),
    ("delete", BASE + "orders/", None),
    ("post", BASE + "orders/versions/", {"label": "v2", "base_path": "/o/v2"}),
    ("patch", V1, {"read_timeout_ms": 5}),
    ("delete", V1, None),
    ("put", V1 + "openapi/", minimal_spec("/a")),
    ("post", V1 + "publish/", {}),
    ("post", V1 + "deprecate/", {"sunset_date": "2099-01-01"}),
    ("post", V1 + "retire/", {}),
    ("post", BASE + "orders/plans/", {"name": "P"}),
    ("patch", BASE + "orders/plans/{plan}/", {"name": "Q"}),
    ("delete", BASE + "orders/plans/{plan}/", None),
    ("post", BASE + "orders/plans/{plan}/archive/", {}),
    ("post", BASE + "orders/plans/{plan}/restore/", {}),
]
READS = [
    BASE,
    BASE + "orders/",
    BASE + "orders/events/",
    BASE + "orders/versions/",
    V1,
    V1 + "openapi/",
    V1 + "endpoints/",
    V1 + "history/",
    BASE + "orders/plans/",
    BASE + "orders/plans/{plan}/",
]


@pytest.mark.parametrize(("method", "url", "data"), WRITES)
def test_viewer_gets_403_on_writes(api, vera, orders, orders_v1, free_plan, method, url, data):
    api.force_authenticate(vera)
    response = getattr(api, method)(url.format(plan=free_plan.pk), data, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


@pytest.mark.parametrize("url", READS)
def test_viewer_can_read(api, vera, orders, orders_v1, free_plan, url):
    api.force_authenticate(vera)
    assert api.get(url.format(plan=free_plan.pk)).status_code == 200


@pytest.mark.parametrize(("method", "url", "data"), [("get", url, None) for url in READS] + WRITES)
def test_it_checks_ownership(api, charlie, orders, orders_v1, free_plan, method, url, data):
    api.force_authenticate(charlie)
    response = getattr(api, method)(url.format(plan=free_plan.pk), data, format="json")
    assert response.status_code == 404


def test_anonymous_gets_401(api, orders):
    assert api.get(BASE).status_code in (401, 403)
    assert api.post(BASE, {"name": "X", "slug": "x"}, format="json").status_code in (401, 403)


def test_objects_of_another_tenant_are_404_even_for_members(api, alice, charlie, globex, orders, free_plan):
    from apis.tests.conftest import membership

    other = services.api_create(actor=membership(charlie, globex), name="Shop", slug="shop")
    other_plan = services.plan_create(actor=membership(charlie, globex), api=other, name="Gold")
    api.force_authenticate(alice)
    assert api.get(f"{BASE}shop/").status_code == 404
    assert api.get(f"{BASE}orders/plans/{other_plan.pk}/").status_code == 404


def test_token_of_another_tenant_sees_404(api, alice, globex, orders):
    """Alice is in both tenants, but a token bound to Globex cannot reach Acme's APIs."""
    from tenants import services as tenant_services

    globex_membership = MembershipFactory(tenant=globex, user=alice, role="owner")
    _token, plaintext = tenant_services.token_create(actor=globex_membership, name="ci")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert api.get(BASE).status_code == 404
    assert api.get("/api/v1/tenants/globex/apis/").status_code == 200
    assert PersonalAccessToken.objects.for_tenant(globex).count() == 1


def test_anonymous_catalog_reads_are_rate_limited(api, monkeypatch, db):
    from django.core.cache import cache

    from apis.api.views import CatalogAnonThrottle

    monkeypatch.setattr(CatalogAnonThrottle, "THROTTLE_RATES", {"catalog_anon": "2/min"})
    cache.delete("throttle_catalog_anon_127.0.0.1")  # the counter from an earlier run of this test
    assert api.get("/api/v1/catalog/").status_code == 200
    assert api.get("/api/v1/catalog/").status_code == 200
    response = api.get("/api/v1/catalog/")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert int(response["Retry-After"]) > 0
