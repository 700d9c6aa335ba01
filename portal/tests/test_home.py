"""The home page features a few public, published APIs beside the calls to action."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apis.models import Visibility
from subscriptions.tests.factories import make_catalog
from tenants.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


def test_home_features_public_published_apis_with_provider_summary_and_link(client, acme, globex):
    orders = make_catalog(acme).api
    orders.summary = "Ship <parcels> fast"
    orders.save()
    make_catalog(globex, slug="secret", visibility=Visibility.PRIVATE)
    make_catalog(globex, slug="staff", visibility=Visibility.INTERNAL)
    html = client.get("/").content.decode()
    assert 'href="/catalog/acme/orders/">Orders API</a>' in html
    assert "by Acme Logistics" in html
    assert "Ship &lt;parcels&gt; fast" in html
    assert "Secret API" not in html and "Staff API" not in html
    # The calls to action are still there.
    assert 'href="/accounts/signup/"' in html and 'href="/accounts/login/"' in html


def test_an_api_without_a_published_version_is_not_featured(client, acme):
    catalog = make_catalog(acme)
    catalog.v1.status = "retired"
    catalog.v1.save()
    html = client.get("/").content.decode()
    assert "Orders API" not in html
    assert "No public API has been published yet" in html


def test_home_query_count_does_not_grow_and_shows_a_few(client):
    provider = TenantFactory(slug="bulk")
    for i in range(3):
        make_catalog(provider, slug=f"a{i}")

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/").status_code == 200
        return len(ctx.captured_queries)

    small = queries()
    for i in range(3, 15):
        make_catalog(provider, slug=f"a{i}")
    assert queries() == small
    assert client.get("/").content.decode().count("catalog-card") == 6
