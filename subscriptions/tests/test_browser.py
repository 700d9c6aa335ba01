"""Request → approve → create key, in a real browser (Debian's chromium through Playwright)."""

import pytest
from django.db import connections

from subscriptions.models import SubscriptionStatus
from subscriptions.tests.factories import ApplicationFactory, make_catalog
from tenants.tests.factories import PASSWORD

pytestmark = pytest.mark.browser


def _login(page, live_server, email):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def test_request_approve_create_key(transactional_db, live_server, browser, acme, globex, alice, charlie):
    catalog = make_catalog(acme)
    ApplicationFactory(tenant=globex, name="Shop backend")

    consumer = browser.new_context().new_page()
    _login(consumer, live_server, charlie.email)
    consumer.goto(f"{live_server.url}/t/globex/apps/subscribe/?plan={catalog.gold.pk}")
    consumer.fill("textarea[name=use_case]", "Sync orders into the shop")
    consumer.click("text=Request access")
    consumer.wait_for_selector("text=Request sent")
    assert consumer.locator("[data-status=pending]").count() == 1

    provider = browser.new_context().new_page()
    _login(provider, live_server, alice.email)
    provider.goto(f"{live_server.url}/t/acme/approvals/")
    assert provider.locator("#nav-approvals .badge").inner_text() == "1"
    row = provider.locator("#queue-table tbody tr")
    assert "Sync orders into the shop" in row.inner_text()
    row.locator("input[name=ids]").check()
    provider.click("text=Approve selected")
    provider.wait_for_selector("text=Approved 1 request.")

    subscription = globex.applications.get().subscriptions.get()
    assert subscription.status == SubscriptionStatus.ACTIVE

    consumer.goto(f"{live_server.url}/t/globex/apps/{subscription.application_id}/")
    consumer.fill("input[name=name]", "production")
    consumer.click("text=Create key")
    key = consumer.locator("#key-value").inner_text()
    assert key.startswith("apk_")
    consumer.goto(f"{live_server.url}/t/globex/apps/{subscription.application_id}/")
    assert consumer.locator("#key-value").count() == 0  # shown once
    assert consumer.locator("#key-table").inner_text().count("active") == 1
    assert key not in consumer.content()

    from subscriptions.services import key_verify

    assert key_verify(presented_key=key, base_path=catalog.v1.base_path).allowed
    # Inside Playwright's event loop the ORM gets its own connection; close it, or dropping the
    # test database at the end of the session finds it still in use.
    connections.close_all()
