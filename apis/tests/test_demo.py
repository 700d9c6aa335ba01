"""The demo data of ./run includes a realistic catalog, and seeding twice changes nothing."""

from __future__ import annotations

import io

from django.core.management import call_command

from apis.models import Api, ApiVersion, AuditEvent, Endpoint, Plan


def test_seed_demo_creates_the_catalog_idempotently(db, client):
    call_command("seed_demo", stdout=io.StringIO())
    counts = [m.objects.unscoped().count() for m in (Api, ApiVersion, Plan, Endpoint, AuditEvent)]
    call_command("seed_demo", stdout=io.StringIO())
    assert [m.objects.unscoped().count() for m in (Api, ApiVersion, Plan, Endpoint, AuditEvent)] == counts
    # Orders, Weather, and the AI demo: Acme AI (models) and Summarise (a prompt API).
    assert counts[:3] == [4, 5, 7]
    statuses = {
        (api, label): status
        for api, label, status in ApiVersion.objects.unscoped().values_list("api__slug", "label", "status")
    }
    assert statuses == {
        ("orders", "v1"): "published",
        ("weather", "2023-01-01"): "deprecated",
        ("weather", "2024-06-01"): "published",
        ("acme-ai", "v1"): "published",
        ("summarise", "v1"): "published",
    }
    # Anonymous visitors see the public Orders API with its docs, not the internal Weather API.
    assert client.get("/catalog/acme/orders/").status_code == 200
    assert client.get("/catalog/acme/orders/v1/openapi.json").json()["info"]["title"] == "Acme Orders API"
    assert client.get("/catalog/acme/weather/").status_code == 404


def test_catalog_plan_table_links_to_subscribe_for_each_organisation(client, db):
    """The catalog's plan table is where consumers start a subscription."""
    from tenants.tests.factories import MembershipFactory, TenantFactory, UserFactory

    call_command("seed_demo", stdout=io.StringIO())
    consumer = UserFactory(email="shopper@example.com")
    MembershipFactory(tenant=TenantFactory(slug="shop", name="Shop"), user=consumer, role="developer")
    url = "/catalog/acme/orders/"
    body = client.get(url).content.decode()
    assert "Sign in to subscribe" in body
    client.force_login(consumer)
    body = client.get(url).content.decode()
    assert "/t/shop/apps/subscribe/?plan=" in body
    MembershipFactory(tenant=TenantFactory(slug="shop2", name="Shop Two"), user=consumer, role="owner")
    body = client.get(url).content.decode()
    assert "Subscribe as" in body and "/t/shop2/apps/subscribe/?plan=" in body
