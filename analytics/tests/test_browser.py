"""The analytics pages in a real browser: charts drawn under the strict CSP, usable at 1366 and 390 px."""

from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from analytics.tests.factories import rollup
from subscriptions.models import SubscriptionStatus
from subscriptions.tests.factories import ApplicationFactory, SubscriptionFactory, make_catalog
from tenants.tests.factories import PASSWORD

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [1366, 390])
def test_dashboards_draw_their_charts(transactional_db, live_server, browser, acme, globex, alice, width):
    catalog = make_catalog(acme)
    app = ApplicationFactory(tenant=globex, name="Shop")
    SubscriptionFactory(application=app, plan=catalog.free, version=catalog.v1, status=SubscriptionStatus.ACTIVE)
    minute = timezone.now().replace(second=0, microsecond=0)
    for ago in range(0, 60, 7):
        rollup(
            "minute",
            minute - timedelta(minutes=ago),
            calls=10 + ago,
            latency_ms=5 + ago,
            endpoint="GET /orders/{id}",
            provider_tenant_id=acme.pk,
            api_id=catalog.api.pk,
            consumer_tenant_id=globex.pk,
            application_id=app.pk,
        )
    page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", alice.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    for url in ["/t/acme/analytics/apis/orders/?range=1h", "/t/acme/analytics/", "/t/acme/analytics/calls/"]:
        page.goto(live_server.url + url)
        page.wait_for_load_state("networkidle")
        page.screenshot(path=f"var/analytics-{width}-{url.split('/')[4] or 'overview'}.png", full_page=True)
        overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
        wide = page.evaluate(
            "[...document.querySelectorAll('body *')]"
            ".filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)"
            ".slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + e.id)"
        )
        assert overflow <= 1, (url, overflow, wide)
    page.goto(f"{live_server.url}/t/acme/analytics/apis/orders/?range=1h")
    page.wait_for_load_state("networkidle")
    drawn = page.evaluate("[...document.querySelectorAll('canvas[data-chart]')].map(c => !!window.Chart.getChart(c))")
    assert drawn == [True, True]
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors
    # Inside Playwright's event loop the ORM gets its own connection; close it.
    connections.close_all()
