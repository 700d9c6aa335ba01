"""Limits and counts read the same on every page: "10,000,000 / month", "unlimited", "60 / min"."""

from apis.models import Plan


def test_subscription_and_plan_pages_write_limits_one_way(client, pending_sub, catalog, alice, charlie):
    Plan.objects.for_tenant(catalog.gold.tenant).filter(pk=catalog.gold.pk).update(
        rate_limit_per_minute=None, quota_per_month=10_000_000
    )
    client.force_login(charlie)
    page = client.get(f"/t/globex/subscriptions/{pending_sub.pk}/").content.decode()
    assert "50 / s" in page and "10,000,000 / month" in page and "unlimited" in page
    assert "∞" not in page and "10000000" not in page
    catalog_page = client.get(f"/catalog/acme/{catalog.api.slug}/").content.decode()
    assert "10,000,000 / month" in catalog_page and "∞" not in catalog_page
