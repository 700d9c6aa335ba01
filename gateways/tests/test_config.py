"""GET /gateway/v1/config: the snapshot, its version, ETag / If-None-Match, and what bumps it."""

import json
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apis import services as catalog_services
from apis.models import ApiVersion, Endpoint
from gateways.snapshot import current_version
from subscriptions import services
from subscriptions.tests.factories import ApplicationFactory, make_catalog, membership

URL = "/gateway/v1/config"


@pytest.fixture
def world(acme, alice, globex, charlie):
    """Acme publishes orders v1 (plus a draft v2 and a retired v0); Globex's app subscribes with a key."""
    catalog = make_catalog(acme)
    Endpoint.objects.create(tenant=acme, version=catalog.v1, method="GET", path="/orders/{id}")
    Endpoint.objects.create(tenant=acme, version=catalog.v1, method="POST", path="/orders")
    app = ApplicationFactory(tenant=globex)
    consumer = membership(charlie, globex)
    sub = services.subscription_request(actor=consumer, application=app, plan=catalog.free)
    key, plaintext = services.key_create(actor=consumer, application=app, name="prod")
    return {
        "catalog": catalog,
        "app": app,
        "sub": sub,
        "key": key,
        "plaintext": plaintext,
        "consumer": consumer,
        "provider": membership(alice, acme),
    }


def _get(node_api, **headers):
    response = node_api.get(URL, **headers)
    return response, (json.loads(response.content) if response.status_code == 200 else None)


def test_the_snapshot_has_routes_and_credentials_and_nothing_of_drafts_or_retired(node_api, world):
    catalog, key, app, sub = world["catalog"], world["key"], world["app"], world["sub"]
    response, body = _get(node_api)
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response["ETag"] == f'"{body["version"]}"' and body["version"] == current_version()
    assert body["generated_at"].endswith("Z")
    [route] = body["routes"]
    assert route["api_version_id"] == catalog.v1.pk and route["base_path"] == "/acme/orders/v1"
    assert route["api_id"] == catalog.api.pk and route["provider_tenant_id"] == catalog.api.tenant_id
    assert route["upstreams"] == [{"url": "https://upstream.example", "weight": 1}]
    assert (route["connect_timeout_ms"], route["read_timeout_ms"], route["sunset_date"]) == (5000, 30000, None)
    assert route["endpoints"] == [{"method": "POST", "path": "/orders"}, {"method": "GET", "path": "/orders/{id}"}]
    assert (route["kind"], route["ai"]) == ("rest", None)
    assert body["ai"] == {"providers": {}, "models": {}, "routes": {}}
    text = response.content.decode()
    assert "/acme/orders/v2" not in text and "/acme/orders/v0" not in text

    credential = body["credentials"][key.key_id]
    assert credential["key_hash"] == key.key_hash and world["plaintext"].split("_")[2] not in text
    assert (credential["application_id"], credential["consumer_tenant_id"]) == (app.pk, app.tenant_id)
    assert credential["revoked"] is False and credential["expires_at"] is None and credential["grace_ends_at"] is None
    assert credential["subscriptions"] == [
        {
            "subscription_id": sub.pk,
            "status": "active",
            "api_id": catalog.api.pk,
            "api_version_id": catalog.v1.pk,
            "plan_id": catalog.free.pk,
            "limits": {
                "rate_limit_per_second": 5,
                "rate_limit_per_minute": None,
                "quota_per_day": 1000,
                "quota_per_month": None,
                "token_limit_per_minute": None,
                "token_quota_per_day": None,
                "token_quota_per_month": None,
                "cost_budget_per_day": None,
                "cost_budget_per_month": None,
            },
        }
    ]


def test_if_none_match_gives_304_until_something_changes(node_api, world):
    response, _body = _get(node_api)
    etag = response["ETag"]
    not_modified = node_api.get(URL, HTTP_IF_NONE_MATCH=etag)
    assert not_modified.status_code == 304 and not_modified.content == b"" and not_modified["ETag"] == etag
    assert node_api.get(URL, HTTP_IF_NONE_MATCH=f'W/{etag}, "x"').status_code == 304
    with CaptureQueriesContext(connection) as queries:
        assert node_api.get(URL, HTTP_IF_NONE_MATCH=etag).status_code == 304
    assert len(queries) <= 3  # the node (+ its throttled last-seen stamp) and the version
    services.key_revoke(actor=world["consumer"], key=world["key"])
    changed = node_api.get(URL, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag


def test_building_is_a_handful_of_queries_however_many_keys(node_api, world):
    for n in range(5):
        services.key_create(actor=world["consumer"], application=world["app"], name=f"k{n}")
    with CaptureQueriesContext(connection) as queries:
        response, body = _get(node_api)
    assert len(body["credentials"]) == 6
    # Node auth (+ its last-seen stamp, at most every 10 s), the version, the one snapshot statement.
    assert len(queries) <= 4
    with CaptureQueriesContext(connection) as again:
        assert node_api.get(URL).content == response.content  # cached per version
    assert len(again) <= 3


def _bumps(node_api, change):
    before = current_version()
    _, old = _get(node_api)
    change()
    _, new = _get(node_api)
    assert new["version"] > before == old["version"]
    return new


def test_key_revoked(node_api, world):
    new = _bumps(node_api, lambda: services.key_revoke(actor=world["consumer"], key=world["key"]))
    assert new["credentials"][world["key"].key_id]["revoked"] is True


def test_key_rotated(node_api, world):
    rotated = {}

    def rotate():
        rotated["new"], _ = services.key_rotate(actor=world["consumer"], key=world["key"], grace=timedelta(hours=1))

    new = _bumps(node_api, rotate)
    old = new["credentials"][world["key"].key_id]
    assert old["grace_ends_at"] is not None and old["grace_ends_at"] == old["expires_at"]
    assert rotated["new"].key_id in new["credentials"]


def test_subscription_suspended_then_cancelled(node_api, world):
    key_id = world["key"].key_id
    new = _bumps(
        node_api,
        lambda: services.subscription_suspend(actor=world["provider"], subscription=world["sub"], reason="Abuse"),
    )
    assert new["credentials"][key_id]["subscriptions"][0]["status"] == "suspended"
    world["sub"].refresh_from_db()
    new = _bumps(node_api, lambda: services.subscription_cancel(actor=world["consumer"], subscription=world["sub"]))
    assert new["credentials"][key_id]["subscriptions"] == []


def test_subscription_decided(node_api, world, globex):
    catalog = world["catalog"]
    pending = services.subscription_request(
        actor=world["consumer"],
        application=ApplicationFactory(tenant=globex),
        plan=catalog.gold,
        use_case="Checkout",
    )
    assert pending.status == "pending"
    new = _bumps(node_api, lambda: services.subscription_approve(actor=world["provider"], subscription=pending))
    statuses = {s["subscription_id"]: s["status"] for c in new["credentials"].values() for s in c["subscriptions"]}
    assert statuses.get(pending.pk) in (None, "active")  # that app has no key: nothing to ship for it


def test_plan_edited(node_api, world):
    catalog = world["catalog"]
    new = _bumps(
        node_api,
        lambda: catalog_services.plan_update(actor=world["provider"], plan=catalog.free, rate_limit_per_second=9),
    )
    limits = new["credentials"][world["key"].key_id]["subscriptions"][0]["limits"]
    assert limits["rate_limit_per_second"] == 9


def test_version_published_deprecated_and_retired(node_api, world):
    catalog = world["catalog"]
    ApiVersion.objects.unscoped().filter(pk=catalog.v2_draft.pk).update(
        spec={"openapi": "3.0.3", "info": {"title": "Orders", "version": "2"}, "paths": {}}
    )
    new = _bumps(node_api, lambda: catalog_services.version_publish(actor=world["provider"], version=catalog.v2_draft))
    assert "/acme/orders/v2" in {r["base_path"] for r in new["routes"]}
    sunset = date.today() + timedelta(days=90)
    new = _bumps(
        node_api,
        lambda: catalog_services.version_deprecate(actor=world["provider"], version=catalog.v1, sunset_date=sunset),
    )
    v1 = next(r for r in new["routes"] if r["base_path"] == "/acme/orders/v1")
    assert v1["status"] == "deprecated" and v1["sunset_date"] == sunset.isoformat()
    new = _bumps(node_api, lambda: catalog_services.version_retire(actor=world["provider"], version=catalog.v1))
    assert "/acme/orders/v1" not in {r["base_path"] for r in new["routes"]}
    assert new["credentials"][world["key"].key_id]["subscriptions"] == []  # its subscription covered v1


def test_upstreams_edited(node_api, world):
    catalog = world["catalog"]
    targets = [{"url": "https://a.upstream.example", "weight": 3}, {"url": "https://b.upstream.example", "weight": 1}]
    new = _bumps(
        node_api,
        lambda: catalog_services.version_update(
            actor=world["provider"], version=catalog.v1, upstreams=targets, read_timeout_ms=2000
        ),
    )
    [route] = new["routes"]
    assert route["upstreams"] == targets and route["read_timeout_ms"] == 2000


def test_only_node_tokens_get_the_config(api, alice, staff, node_and_token, world):
    assert api.get(URL).status_code == 401
    api.force_login(staff)  # a staff session is not a node
    response = api.get(URL)
    assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"
    api.logout()
    api.credentials(HTTP_AUTHORIZATION="Bearer gwn_nope_nope")
    assert api.get(URL).status_code == 401
    from gateways import services as node_services

    node_services.node_revoke(actor=staff, node=node_and_token[0])
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {node_and_token[1]}")
    revoked = api.get(URL)
    assert revoked.status_code == 401 and revoked.json()["error"]["code"] == "authentication_failed"


def test_unknown_gateway_urls_are_json_404(node_api):
    response = node_api.get("/gateway/v1/nope")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
