"""The catalog, pages and REST: who sees what (visibility matrix), search, docs, snippets, XSS."""

from __future__ import annotations

import pytest
from django.test import Client

from apis import services
from apis.models import Visibility
from apis.tests.conftest import membership
from apis.tests.factories import minimal_spec, orders_spec

VIEWERS = ["anonymous", "charlie", "alice", "bob", "vera"]
#: Who may see an API of each visibility: members of Acme see everything, strangers what is shared.
SEES = {
    Visibility.PUBLIC: {"anonymous", "charlie", "alice", "bob", "vera"},
    Visibility.INTERNAL: {"charlie", "alice", "bob", "vera"},
    Visibility.PRIVATE: {"alice", "bob", "vera"},
}


def _publish(actor, name: str, visibility: str, *, publish: bool = True, spec=None, **extra):
    api = services.api_create(actor=actor, name=name, slug=name.lower(), visibility=visibility, **extra)
    version = services.version_create(
        actor=actor,
        api=api,
        label="v1",
        base_path=f"/{api.slug}/v1",
        upstreams=["https://up.example"],
        openapi_document=spec or minimal_spec("/items", "/items/{id}".replace("{id}", "one")),
    )
    if publish:
        services.version_publish(actor=actor, version=version)
    return api


@pytest.fixture
def matrix(alice_m, bob, vera, charlie):
    """One published API of each visibility, plus a public draft-only API."""
    apis = {v: _publish(alice_m, f"Api{v.capitalize()}", v) for v in Visibility.values}
    _publish(alice_m, "Drafty", Visibility.PUBLIC, publish=False)
    return apis


@pytest.fixture
def users(alice, bob, vera, charlie):
    return {"alice": alice, "bob": bob, "vera": vera, "charlie": charlie}


def _client(users, who: str) -> Client:
    client = Client()
    if who != "anonymous":
        client.force_login(users[who])
    return client


@pytest.mark.parametrize("who", VIEWERS)
def test_visibility_matrix_on_pages(matrix, users, who):
    client = _client(users, who)
    listing = client.get("/catalog/").content.decode()
    for visibility, api in matrix.items():
        visible = who in SEES[visibility]
        assert (api.name in listing) is visible, (who, visibility)
        detail = client.get(f"/catalog/acme/{api.slug}/")
        assert detail.status_code == (200 if visible else 404), (who, visibility)
        spec = client.get(f"/catalog/acme/{api.slug}/v1/openapi.json")
        assert spec.status_code == (200 if visible else 404), (who, visibility)
    # A draft-only API stays with its provider.
    assert ("Drafty" in listing) is (who in {"alice", "bob", "vera"})


@pytest.mark.parametrize("who", VIEWERS)
def test_visibility_matrix_on_rest(api, matrix, users, who):
    if who != "anonymous":
        api.force_authenticate(users[who])
    listed = {a["slug"] for a in api.get("/api/v1/catalog/").json()["results"]}
    for visibility, item in matrix.items():
        visible = who in SEES[visibility]
        assert (item.slug in listed) is visible, (who, visibility)
        detail = api.get(f"/api/v1/catalog/acme/{item.slug}/")
        assert detail.status_code == (200 if visible else 404), (who, visibility)
        spec = api.get(f"/api/v1/catalog/acme/{item.slug}/versions/v1/openapi/")
        assert spec.status_code == (200 if visible else 404), (who, visibility)
    assert ("drafty" in listed) is (who in {"alice", "bob", "vera"})


def test_draft_versions_and_hidden_plans_stay_with_the_provider(api, alice_m, charlie, alice):
    item = _publish(alice_m, "Mixed", Visibility.PUBLIC)
    services.version_create(actor=alice_m, api=item, label="v2", base_path="/mixed/v2")
    services.plan_create(actor=alice_m, api=item, name="Open")
    services.plan_create(actor=alice_m, api=item, name="Secret deal", is_public=False)
    archived = services.plan_create(actor=alice_m, api=item, name="Old")
    services.plan_archive(actor=alice_m, plan=archived)
    api.force_authenticate(charlie)
    body = api.get("/api/v1/catalog/acme/mixed/").json()
    assert [v["label"] for v in body["versions"]] == ["v1"]
    assert [p["name"] for p in body["plans"]] == ["Open"]
    assert api.get("/api/v1/catalog/acme/mixed/versions/v2/openapi/").status_code == 404
    page = _client({"charlie": charlie}, "charlie").get("/catalog/acme/mixed/").content.decode()
    assert "Secret deal" not in page and "Old" not in page
    api.force_authenticate(alice)
    body = api.get("/api/v1/catalog/acme/mixed/").json()
    assert {v["label"] for v in body["versions"]} == {"v1", "v2"}
    assert {p["name"] for p in body["plans"]} == {"Open", "Secret deal"}


def test_done_when_scenario(client, alice_m, charlie):
    """Provider registers an API with a real spec, two plans, publishes v1; a stranger reads it all."""
    orders = services.api_create(
        actor=alice_m,
        name="Orders",
        slug="orders",
        summary="Create and track shipping orders.",
        description="## Getting started\n\nAsk for a key, then call `GET /orders`.",
        tags=["logistics"],
        visibility=Visibility.INTERNAL,
    )
    v1 = services.version_create(
        actor=alice_m,
        api=orders,
        label="v1",
        base_path="/orders/v1",
        upstreams=["https://orders.internal.acme.example"],
        openapi_document=orders_spec(),
    )
    services.plan_create(actor=alice_m, api=orders, name="Free", rate_limit_per_second=5, quota_per_day=1000)
    services.plan_create(
        actor=alice_m,
        api=orders,
        name="Business",
        rate_limit_per_second=50,
        quota_per_month=5_000_000,
        approval_required=True,
        price_label="€249 / month",
    )
    services.version_publish(actor=alice_m, version=v1)

    client.force_login(charlie)
    listing = client.get("/catalog/", {"q": "shipping"})
    assert "Orders" in listing.content.decode()
    page = client.get("/catalog/acme/orders/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "<h2>Getting started</h2>" in html
    assert "approval needed" in html and "automatic" in html
    assert "5,000,000" in html and "€249 / month" in html
    # Reference docs: Redoc from the vendored bundle, fed by a JSON URL (not inlined).
    assert "/static/vendor/redoc/redoc.standalone.js" in html
    assert 'data-spec-url="/catalog/acme/orders/v1/openapi.json?samples=1"' in html
    assert "Acme Orders API" not in html  # the spec's title only arrives through the JSON URL
    csp = page["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "img-src 'self' data:;" in csp  # no CDN, no inline script
    assert "<script>" not in html.replace("<script src=", "")  # every script is a static file
    spec = client.get("/catalog/acme/orders/v1/openapi.json").json()
    assert spec["servers"] == [{"url": "http://localhost:8080/orders/v1", "description": "API gateway"}]
    assert len(spec["paths"]) == 5
    # Copy-paste snippets through the gateway, with a key placeholder.
    assert "curl -X GET &#x27;http://localhost:8080/orders/v1/orders&#x27;" in html
    assert "X-API-Key: YOUR_API_KEY" in html
    assert "import requests" in html and "await fetch(" in html

    client.logout()
    assert client.get("/catalog/acme/orders/").status_code == 404  # internal: not for anonymous visitors
    services.api_update(actor=alice_m, api=orders, visibility=Visibility.PUBLIC)
    assert client.get("/catalog/acme/orders/").status_code == 200


def test_deprecated_version_shows_sunset_date(client, alice_m):
    import datetime as dt

    from django.utils import timezone

    item = _publish(alice_m, "Old", Visibility.PUBLIC)
    version = item.versions.get(label="v1")
    sunset = timezone.now().date() + dt.timedelta(days=60)
    services.version_deprecate(actor=alice_m, version=version, sunset_date=sunset)
    html = client.get("/catalog/acme/old/").content.decode()
    assert "Deprecated" in html
    assert f"sunset {sunset:%Y-%m-%d}" in html
    assert f"will be retired on {sunset:%Y-%m-%d}" in html


def test_markdown_cannot_inject_script(client, alice_m):
    evil = (
        "Hello <script>alert('x')</script> <img src=x onerror=alert(1)> "
        '[click](javascript:alert(2)) <a href="https://ok.example" onclick="alert(3)">ok</a>'
    )
    _publish(alice_m, "Evil", Visibility.PUBLIC, description=evil, summary="<b>bold</b>")
    html = client.get("/catalog/acme/evil/").content.decode()
    # Raw HTML in Markdown is shown as text (escaped), never as a tag.
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html
    assert "<img src=x" not in html and '<a href="https://ok.example"' not in html
    assert 'href="javascript:' not in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html  # the summary is plain text
    body = client.get("/api/v1/catalog/acme/evil/").json()
    assert "<script" not in body["description_html"] and "<img" not in body["description_html"]


def test_spec_is_not_inlined_and_strings_are_json_escaped(client, alice_m):
    spec = minimal_spec("/a")
    spec["info"]["title"] = "</script><script>alert(1)</script>"
    _publish(alice_m, "Tricky", Visibility.PUBLIC, spec=spec)
    html = client.get("/catalog/acme/tricky/").content.decode()
    assert "alert(1)" not in html
    response = client.get("/catalog/acme/tricky/v1/openapi.json")
    assert response["Content-Type"] == "application/json"
    assert response.json()["info"]["title"] == "</script><script>alert(1)</script>"


def test_search_filter_and_sort(api, alice_m, charlie, globex):
    _publish(alice_m, "Weather", Visibility.PUBLIC, tags=["forecast"], summary="Rain radar and alerts")
    _publish(alice_m, "Orders", Visibility.PUBLIC, tags=["logistics"], description="Parcels delivered daily")
    _publish(membership(charlie, globex), "Shop", Visibility.PUBLIC, tags=["retail"], summary="Sell forecast hats")
    slugs = lambda **params: [a["slug"] for a in api.get("/api/v1/catalog/", params).json()["results"]]  # noqa: E731
    assert slugs() == ["orders", "shop", "weather"]
    assert slugs(q="parcel") == ["orders"]  # stemmed full-text match in the description
    assert slugs(q="forecast") == ["weather", "shop"]  # tag (weight A) ranks above summary (B)
    assert slugs(tag="forecast") == ["weather"]
    assert slugs(provider="globex") == ["shop"]
    assert slugs(sort="provider") == ["orders", "weather", "shop"]
    client = Client()
    page = client.get("/catalog/", {"q": "radar"}, HTTP_HX_REQUEST="true")
    html = page.content.decode()
    assert "Weather" in html and "Orders" not in html
    assert "<html" not in html  # HTMX gets the results fragment only


def test_catalog_links_for_the_nav(client, alice):
    client.force_login(alice)
    html = client.get("/t/acme/apis/").content.decode()
    assert 'href="/catalog/"' in html
    assert 'href="/t/acme/apis/"' in html
