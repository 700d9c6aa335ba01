"""The analytics pages and REST endpoints, as a provider, a consumer, staff and a stranger."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from analytics.tests.factories import call, rollup
from subscriptions.models import SubscriptionStatus
from subscriptions.tests.factories import ApplicationFactory, SubscriptionFactory, make_catalog, make_key, membership


@pytest.fixture
def traffic(acme, globex, alice, charlie):
    """Globex's application calls Acme's Orders API: 40 calls (4 failing, 2 refused) half an hour ago."""
    catalog = make_catalog(acme)
    app = ApplicationFactory(tenant=globex, name="Shop")
    SubscriptionFactory(application=app, plan=catalog.free, version=catalog.v1, status=SubscriptionStatus.ACTIVE)
    key, _ = make_key(membership(charlie, globex), app)
    now = timezone.now()
    dims = {
        "provider_tenant_id": acme.pk,
        "api_id": catalog.api.pk,
        "api_version_id": catalog.v1.pk,
        "consumer_tenant_id": globex.pk,
        "application_id": app.pk,
        "api_key_id": key.pk,
        "plan_id": catalog.free.pk,
    }
    # Minute rows; the factory adds them to their hour and day as the rollup would.
    # Half an hour ago, well inside the "1h" window: exactly an hour ago, its first minute, the
    # calls fell out of it whenever the clock reached the next minute before the request.
    # Never before today's UTC midnight either: the quota bar counts today's calls only.
    minute = now.replace(second=0, microsecond=0)
    bucket = max(minute - timedelta(minutes=30), minute.replace(hour=0, minute=0))
    rollup("minute", bucket, calls=34, endpoint="GET /orders/{id}", **dims)
    rollup("minute", bucket, calls=4, status=500, latency_ms=800, endpoint="GET /orders/{id}", **dims)
    rollup("minute", bucket, calls=2, status=429, error="rate_limited", endpoint="GET /orders", **dims)
    ids = [
        call(now - timedelta(minutes=m), path=f"/acme/orders/v1/orders/{m}", **{**dims, "key_id": key.key_id})
        for m in range(1, 6)
    ]
    return {"catalog": catalog, "app": app, "key": key, "ids": ids, "dims": dims}


def test_provider_api_page(client, alice, traffic):
    client.force_login(alice)
    api_page = client.get("/t/acme/apis/orders/")
    assert b"/t/acme/analytics/apis/orders/" in api_page.content
    for query in ["", "?range=1h", "?range=7d", "?range=30d", "?version=v1"]:
        response = client.get(f"/t/acme/analytics/apis/orders/{query}")
        assert response.status_code == 200, query
        body = response.content.decode()
        assert 'data-total="calls">40<' in body, query
        assert 'id="series-data" type="application/json"' in body
        assert "rate_limited" in body and "GET /orders/{id}" in body and "Globex Retail · Shop" in body
        assert "empty-state" not in body


def test_consumer_app_page_shows_quota(client, charlie, traffic):
    client.force_login(charlie)
    app = traffic["app"]
    assert f"/t/globex/analytics/apps/{app.pk}/".encode() in client.get(f"/t/globex/apps/{app.pk}/").content
    response = client.get(f"/t/globex/analytics/apps/{app.pk}/?range=24h&key={traffic['key'].pk}")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-total="calls">40<' in body
    # Quota: the free plan allows 1,000 calls a day; today's 38 served calls count (the 2 refused do not)
    assert "38 / 1,000" in body  # numbers are written one way (core.formatting)


def test_overview_and_empty_state(client, alice, charlie, traffic):
    client.force_login(alice)
    body = client.get("/t/acme/analytics/").content.decode()
    assert "40 calls" in body and 'href="/t/acme/analytics/apis/orders/"' in body
    client.force_login(charlie)
    body = client.get("/t/globex/analytics/apis/does-not-exist/")
    assert body.status_code == 404
    body = client.get("/t/globex/analytics/").content.decode()
    assert "40 calls" in body  # Globex's application made them


def test_empty_state_says_how_to_get_data_in(client, alice):
    make_catalog(alice.memberships.first().tenant)
    client.force_login(alice)
    body = client.get("/t/acme/analytics/apis/orders/").content.decode()
    assert 'id="empty-state"' in body and "gateway_send_samples" in body and "/gateway/v1/logs" in body


def test_stranger_gets_404_for_foreign_ids(client, api, charlie, traffic):
    client.force_login(charlie)
    assert client.get("/t/acme/analytics/").status_code == 404
    assert client.get("/t/globex/analytics/apis/orders/").status_code == 404
    api.force_authenticate(charlie)
    catalog = traffic["catalog"]
    # Globex is not Orders' provider: its provider side cannot name the API or version
    for query in [f"api={catalog.api.pk}", f"version={catalog.v1.pk}"]:
        response = api.get(f"/api/v1/tenants/globex/analytics/timeseries/?side=provider&{query}")
        assert response.status_code == 404, query
        assert response.json()["error"]["code"] in {"api_not_found", "version_not_found"}
        assert client.get(f"/t/globex/analytics/calls/?side=provider&{query}").status_code == 404


def test_call_explorer_pages_and_detail(client, alice, charlie, traffic):
    client.force_login(alice)
    response = client.get("/t/acme/analytics/calls/?page_size=2")
    body = response.content.decode()
    assert response.status_code == 200 and body.count('href="/t/acme/analytics/calls/') >= 2
    assert 'id="next-page"' in body
    newest = traffic["ids"][0]
    assert str(newest) in body
    detail = client.get(f"/t/acme/analytics/calls/{newest}/?side=provider")
    assert detail.status_code == 200 and b"/acme/orders/v1/orders/1" in detail.content
    # the consumer sees its own call too; a stranger's tenant does not
    client.force_login(charlie)
    assert client.get(f"/t/globex/analytics/calls/{newest}/?side=consumer").status_code == 200
    assert client.get(f"/t/globex/analytics/calls/{newest}/?side=provider").status_code == 404
    bad = client.get("/t/acme/analytics/calls/")
    assert bad.status_code == 404


def test_calls_csv_is_streamed_scoped_and_bounded(client, alice, charlie, traffic, settings):
    client.force_login(alice)
    response = client.get("/t/acme/analytics/calls.csv?side=provider&status=200")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["request_id"] for row in rows] == [str(i) for i in traffic["ids"]]
    settings.ANALYTICS_EXPORT_MAX_ROWS = 2
    response = client.get("/t/acme/analytics/calls.csv")
    assert len(list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))) == 3
    assert client.get("/t/acme/analytics/calls.csv?from=2020-01-01T00:00:00Z").status_code == 400
    client.force_login(charlie)  # Acme's provider side: nothing of Globex's
    response = client.get("/t/globex/analytics/calls.csv?side=provider")
    assert len(list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))) == 1


def test_timeseries_csv(client, alice, traffic):
    client.force_login(alice)
    response = client.get(f"/t/acme/analytics/timeseries.csv?range=24h&api={traffic['catalog'].api.pk}")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert sum(int(row["calls"]) for row in rows) == 40 and len(rows) == 97


def test_platform_page_is_for_staff(client, alice, traffic):
    client.force_login(alice)
    assert client.get("/platform/analytics/").status_code == 302  # to the admin login
    alice.is_staff = True
    alice.save()
    body = client.get("/platform/analytics/?range=7d").content.decode()
    assert 'data-total="calls">40<' in body and 'data-top="nodes"' in body


def test_platform_trends_compare_apis_and_link_to_each_api(client, alice, traffic):
    alice.is_staff = True
    alice.save()
    client.force_login(alice)
    api = traffic["catalog"].api
    body = client.get("/platform/analytics/?range=24h").content.decode()
    trends = body[body.index('id="trend-changes"') :]
    assert '<th scope="col">API</th>' in trends
    assert f'href="/platform/analytics/?api={api.pk}&amp;range=24h">Orders API</a>' in trends
    one = client.get(f"/platform/analytics/?api={api.pk}&range=24h").content.decode()
    assert "Traffic to Orders API" in one and 'data-total="calls">40<' in one
    trends = one[one.index('id="trend-changes"') :]
    assert '<th scope="col">Endpoint</th>' in trends and "Orders API · " in trends
    assert f'name="api" value="{api.pk}"' in one  # a range switch keeps the API
    for bad in ("999999", "abc", "-1"):
        assert client.get(f"/platform/analytics/?api={bad}").status_code == 404


def test_rest_endpoints(api, alice, charlie, traffic):
    api.force_authenticate(alice)
    base = "/api/v1/tenants/acme/analytics"
    series = api.get(f"{base}/timeseries/?range=24h").json()
    assert series["totals"]["calls"] == 40 and series["window"]["level"] == "minute"
    assert series["totals"]["errors_5xx"] == 4 and series["totals"]["p95_ms"] == 1000
    top = api.get(f"{base}/top/?by=errors").json()
    assert [(i["label"], i["calls"]) for i in top["items"]] == [("rate_limited", 2)]
    trends = api.get(f"{base}/trends/?range=24h").json()
    assert trends["current"]["calls"] == 40 and trends["current"]["previous_calls"] == 0
    page = api.get(f"{base}/calls/?page_size=3").json()
    assert len(page["results"]) == 3 and page["next_cursor"]
    rest = api.get(f"{base}/calls/?page_size=3&cursor={page['next_cursor']}").json()
    assert len(rest["results"]) == 2 and rest["next_cursor"] is None
    detail = api.get(f"{base}/calls/{traffic['ids'][0]}/").json()
    assert detail["api_name"] == "Orders API"
    # consumer side: Acme's applications made no calls
    assert api.get(f"{base}/timeseries/?side=consumer").json()["totals"]["calls"] == 0
    for query, field in [("range=2w", "range"), ("by=nope", "by"), ("cursor=xx", "cursor"), ("status=99", "status")]:
        url = f"{base}/top/?{query}" if field == "by" else f"{base}/calls/?{query}"
        if field == "range":
            url = f"{base}/timeseries/?{query}"
        response = api.get(url)
        assert response.status_code == 400, query
        assert field in response.json()["error"]["fields"], query
    api.force_authenticate(charlie)
    assert api.get(f"{base}/timeseries/").status_code == 404
    assert api.get(f"/api/v1/tenants/globex/analytics/calls/{traffic['ids'][0]}/?side=provider").status_code == 404
    consumer = api.get("/api/v1/tenants/globex/analytics/timeseries/?side=consumer").json()
    assert consumer["totals"]["calls"] == 40


def test_bad_range_on_a_page_is_explained_not_a_500(client, alice, traffic):
    client.force_login(alice)
    for query in ["range=custom", "range=2w", "range=custom&from=2026-01-02T00:00Z&to=2026-01-01T00:00Z"]:
        response = client.get(f"/t/acme/analytics/apis/orders/?{query}")
        assert response.status_code == 200, query
        assert b"alert-warning" in response.content, query
    response = client.get("/t/acme/analytics/apis/orders/?range=custom&from=2026-01-01T00:00Z&to=2026-01-03T00:00Z")
    assert b"hour rollups, one point per 1 h" in response.content


def test_an_organisation_without_apis_sees_its_own_applications_calls_by_default(client, charlie, traffic):
    # Globex publishes no API: "calls to our APIs" would always be empty.
    client.force_login(charlie)
    body = client.get("/t/globex/analytics/calls/").content.decode()
    assert str(traffic["ids"][0]) in body
    assert '<option value="consumer" selected>' in body
