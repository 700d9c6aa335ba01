"""API pages at two data sizes (same number of queries), their pagination, and the trigram-backed search."""

from __future__ import annotations

import itertools

import pytest
from django.db import connection
from django.urls import reverse

from apis.models import Api, ApiVersion, AuditEvent, Endpoint, Plan, VersionStatus, Visibility
from core.tests.queries import assert_flat_queries

pytestmark = pytest.mark.django_db
_serial = itertools.count()


def _apis(tenant, n, *, published=True, name="Bulk API"):
    """``n`` public APIs, each with a published version (so the catalog lists them) and a plan."""
    apis = Api.objects.bulk_create(
        [
            Api(
                tenant=tenant,
                name=f"{name} {(i := next(_serial)):05d}",
                slug=f"bulk-{i:05d}",
                summary="Bulk",
                tags=[f"tag{i % 4}"],
                visibility=Visibility.PUBLIC,
            )
            for _ in range(n)
        ]
    )
    ApiVersion.objects.bulk_create(
        [
            ApiVersion(
                tenant=tenant,
                api=api,
                label="v1",
                base_path=f"/{api.slug}/v1",
                upstreams=[{"url": "https://upstream.example", "weight": 1}],
                status=VersionStatus.PUBLISHED if published else VersionStatus.DRAFT,
            )
            for api in apis
        ]
    )
    Plan.objects.bulk_create([Plan(tenant=tenant, api=api, name="Free") for api in apis])
    return apis


def test_provider_api_list(client, alice, acme):
    _apis(acme, 3)
    client.force_login(alice)
    url = reverse("apis:list", args=[acme.slug])
    _, page = assert_flat_queries(client, url, lambda: _apis(acme, 27))
    html = page.content.decode()
    assert html.count("Bulk API") == 30
    assert "1 live / 1" in html


def test_provider_api_list_paginates(client, alice, acme):
    _apis(acme, 60)
    client.force_login(alice)
    url = reverse("apis:list", args=[acme.slug])
    assert "1–50 of 60" in client.get(url).content.decode()
    assert client.get(url + "?page=2").content.decode().count("Bulk API") == 10


def test_api_page_versions_plans_and_changelog(client, alice, acme, orders, orders_v1, free_plan):
    def grow(n):
        base = ApiVersion.objects.unscoped().filter(api=orders).count()
        ApiVersion.objects.bulk_create(
            [
                ApiVersion(tenant=acme, api=orders, label=f"x{j}", base_path=f"/orders/x{j}", upstreams=[])
                for j in range(base, base + n)
            ]
        )
        Plan.objects.bulk_create([Plan(tenant=acme, api=orders, name=f"Tier {next(_serial)}") for _ in range(n)])
        AuditEvent.objects.bulk_create(
            [AuditEvent(tenant=acme, api=orders, action="api.noted", target_type="api") for _ in range(n)]
        )

    grow(2)
    client.force_login(alice)
    url = reverse("apis:detail", args=[acme.slug, orders.slug])
    _, page = assert_flat_queries(client, url, lambda: grow(15))
    html = page.content.decode()
    assert html.count("Delete plan Tier") == 17  # no subscription history: every one may be deleted
    assert "1–18 of 18" in html  # versions: v1 and 17 others, one page of 20


def test_version_page_endpoints_and_history(client, alice, acme, orders, orders_v1):
    def grow(n):
        Endpoint.objects.bulk_create(
            [Endpoint(tenant=acme, version=orders_v1, method="GET", path=f"/bulk/{next(_serial)}") for _ in range(n)]
        )
        AuditEvent.objects.bulk_create(
            [
                AuditEvent(tenant=acme, action="version.noted", target_type="apiversion", target_id=orders_v1.pk)
                for _ in range(n)
            ]
        )

    grow(3)
    client.force_login(alice)
    url = reverse("apis:version", args=[acme.slug, orders.slug, "v1"])
    _, page = assert_flat_queries(client, url, lambda: grow(27))
    # In the endpoints table (the try-it console lists them too, in its picker and data block).
    assert page.content.decode().count("<code>/bulk/") == 30


def test_version_page_endpoints_paginate(client, alice, acme, orders, orders_v1):
    Endpoint.objects.bulk_create(
        [Endpoint(tenant=acme, version=orders_v1, method="GET", path=f"/bulk/{i:04d}") for i in range(150)]
    )
    client.force_login(alice)
    url = reverse("apis:version", args=[acme.slug, orders.slug, "v1"])
    total = Endpoint.objects.unscoped().filter(version=orders_v1).count()
    html = client.get(url + "?endpoints_page=2").content.decode()
    assert f"101–{total} of {total}" in html


def test_catalog(client, charlie, acme):
    _apis(acme, 3)
    client.force_login(charlie)
    _, page = assert_flat_queries(client, reverse("apis:catalog"), lambda: _apis(acme, 27))
    assert page.content.decode().count("catalog-card") == 30


def test_catalog_search(client, acme):
    _apis(acme, 3, name="Parcel tracker")
    url = reverse("apis:catalog") + "?q=tracker"
    _, page = assert_flat_queries(client, url, lambda: _apis(acme, 27, name="Parcel tracker"))
    assert page.content.decode().count("catalog-card") == 30


def test_catalog_pages_keep_the_search(client, acme):
    _apis(acme, 70, name="Parcel tracker")
    _apis(acme, 5, name="Weather")
    url = reverse("apis:catalog")
    html = client.get(url + "?q=tracker&sort=name").content.decode()
    assert "1–30 of 70" in html
    assert "?q=tracker&amp;sort=name&amp;page=2" in html
    html = client.get(url + "?q=tracker&sort=name&page=3").content.decode()
    assert html.count("catalog-card") == 10 and "Weather" not in html


@pytest.mark.parametrize(("query", "found"), [("rcel trac", True), ("RCEL", True), ("ul", True), ("zzz", False)])
def test_catalog_search_finds_substrings(client, acme, query, found):
    _apis(acme, 1, name="Parcel tracker")
    _apis(acme, 1, name="Weather")
    html = client.get(reverse("apis:catalog"), {"q": query}).content.decode()
    assert ("Parcel tracker" in html) is found
    if query == "ul":  # two letters: every name or slug with "ul" ("bulk-…"), still correct
        assert html.count("catalog-card") == 2


def test_substring_search_uses_the_trigram_indexes(acme):
    from apis.selectors import search_apis

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        if cursor.fetchone() is None:
            pytest.skip("this PostgreSQL has no pg_trgm (contrib): the migration leaves the indexes out")
    _apis(acme, 5)
    sql, params = search_apis(Api.objects.unscoped(), "ulk A").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "api_name_trgm" in plan and "api_slug_trgm" in plan, plan


def test_catalog_menus_list_the_selected_provider_only_when_visible(client, acme, globex):
    _apis(acme, 2)
    _apis(globex, 1, published=False)  # a draft: Globex is not in the catalog
    html = client.get(reverse("apis:catalog"), {"provider": "globex"}).content.decode()
    assert 'value="acme"' in html and 'value="globex"' not in html


def test_catalog_api_page_reads_no_document_per_version(client, acme, orders, orders_v1):
    def grow(n):
        base = ApiVersion.objects.unscoped().filter(api=orders).count()
        ApiVersion.objects.bulk_create(
            [
                ApiVersion(
                    tenant=acme,
                    api=orders,
                    label=f"r{j}",
                    base_path=f"/orders/r{j}",
                    upstreams=[],
                    status=VersionStatus.RETIRED,
                    spec={"openapi": "3.0.3", "info": {"title": "x" * 1000, "version": "1"}, "paths": {}},
                )
                for j in range(base, base + n)
            ]
        )

    grow(2)
    url = reverse("apis:catalog-detail", args=[acme.slug, orders.slug])
    _, page = assert_flat_queries(client, url, lambda: grow(20))
    html = page.content.decode()
    assert html.count("?version=r") == 22
    assert "redoc-container" in html  # v1 (published, with a document) is shown first


def test_search_as_you_type_skips_the_menus(client, acme):
    from django.test.utils import CaptureQueriesContext

    _apis(acme, 3, name="Parcel tracker")
    url = reverse("apis:catalog") + "?q=parc"
    client.get(url)
    with CaptureQueriesContext(connection) as full:
        client.get(url)
    with CaptureQueriesContext(connection) as fragment:
        html = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert html.count("catalog-card") == 3 and "<select" not in html
    assert len(fragment) < len(full)
