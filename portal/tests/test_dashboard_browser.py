"""Dashboards, home page, per-endpoint snippets and the draft preview in a real browser at 1366 and 390 px."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connections
from django.utils import timezone

from analytics.tests.factories import rollup
from apis import services
from apis.models import Visibility
from apis.tests.factories import orders_spec
from subscriptions.models import SubscriptionStatus
from subscriptions.tests.factories import ApplicationFactory, SubscriptionFactory, make_key, membership
from tenants.tests.factories import PASSWORD, MembershipFactory, TenantFactory

pytestmark = pytest.mark.browser
SHOTS = Path("var/screenshots")

#: An example that would run script if a snippet were rendered as HTML.
HOSTILE = '</code><img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>\'"'


def _world(acme, globex, alice, charlie):
    owner = membership(alice, acme)
    api = services.api_create(
        actor=owner, name="Orders", slug="orders", summary="Create and track orders.", visibility=Visibility.PUBLIC
    )
    v1 = services.version_create(
        actor=owner,
        api=api,
        label="v1",
        base_path="/orders/v1",
        upstreams=["https://up.example"],
        openapi_document=orders_spec(),
    )
    services.version_publish(actor=owner, version=v1)
    hostile = {
        "openapi": "3.1.0",
        "info": {"title": "Hostile", "version": "2"},
        "paths": {
            "/evil": {
                "post": {
                    "summary": "Evil example",
                    "requestBody": {"content": {"application/json": {"example": {"x": HOSTILE}}}},
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
    }
    services.version_create(
        actor=owner,
        api=api,
        label="v2",
        base_path="/orders/v2",
        upstreams=["https://up.example"],
        openapi_document=hostile,
    )
    plan = services.plan_create(actor=owner, api=api, name="Free", quota_per_day=1000, quota_per_month=20000)
    shop = ApplicationFactory(tenant=globex, name="Shop backend")
    SubscriptionFactory(application=shop, plan=plan, version=v1, status=SubscriptionStatus.ACTIVE)
    other = ApplicationFactory(tenant=TenantFactory(slug="initech", name="Initech"))
    SubscriptionFactory(
        application=other, plan=plan, version=v1, status=SubscriptionStatus.PENDING, awaiting_since=timezone.now()
    )
    make_key(membership(charlie, globex), shop)
    minute = timezone.now().replace(second=0, microsecond=0)
    # Both rows are today's (UTC) even in the first minutes after midnight; in the very first
    # minute they share the bucket, as two status codes.
    earlier = max(minute - timedelta(minutes=3), minute.replace(hour=0, minute=0))
    for bucket, status in ((minute, 200), (earlier, 201 if earlier == minute else 200)):
        rollup(
            "minute",
            bucket,
            calls=40,
            status=status,
            provider_tenant_id=acme.pk,
            api_id=api.pk,
            consumer_tenant_id=globex.pk,
            application_id=shop.pk,
        )
    MembershipFactory(tenant=TenantFactory(slug="fresh", name="Fresh Start"), user=charlie, role="owner")


def _sign_in(page, base, user):
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def _check(page, base, url, name, width):
    response = page.goto(base + url)
    assert response.status == 200, url
    page.wait_for_load_state("networkidle")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    overflow = page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
    wide = page.evaluate(
        "[...document.querySelectorAll('body *')]"
        ".filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)"
        ".slice(0, 5).map(e => e.tagName + '.' + e.className + '#' + e.id)"
    )
    assert overflow <= 1, (url, width, overflow, wide)


@pytest.mark.parametrize("width", [1366, 390])
def test_dashboards_home_reference_and_preview(
    transactional_db, live_server, browser, acme, globex, alice, charlie, width
):
    _world(acme, globex, alice, charlie)
    base = live_server.url
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    foreign: list[str] = []
    missing: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    page.on("request", lambda r: foreign.append(r.url) if not r.url.startswith((base, "data:", "blob:")) else None)

    _check(page, base, "/", "home", width)
    assert "Orders" in page.locator("#featured-apis").inner_text()

    _sign_in(page, base, alice)
    _check(page, base, "/t/acme/", "dashboard-provider", width)
    assert page.locator('[data-figure="calls-today"]').inner_text() == "80"
    assert page.locator('[data-figure="waiting"]').inner_text() == "1"
    _check(page, base, "/t/acme/apis/orders/versions/v2/preview/", "preview-draft", width)
    assert "Draft preview." in page.locator("#draft-banner").inner_text()
    # Redoc renders the operation and its samples; the hostile example stays text.
    page.locator("#redoc-container h2", has_text="Evil example").first.wait_for()
    page.locator("#redoc-container [role=tab]", has_text="JavaScript").first.wait_for(state="attached")
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#redoc-container img[src=x]").count() == 0
    assert page.locator("#code-curl").inner_text().count("window.__pwned=1") == 1
    context.clear_cookies()

    _sign_in(page, base, charlie)
    _check(page, base, "/t/globex/", "dashboard-consumer", width)
    assert page.locator('[data-figure="live-keys"]').inner_text() == "1"
    assert "Today: 80 of 1,000" in page.locator("#panel-consumer-quota").inner_text()
    _check(page, base, "/t/fresh/", "dashboard-new", width)
    assert page.locator("#getting-started [data-track]").count() == 2
    _check(page, base, "/catalog/acme/orders/", "catalog-reference", width)
    assert "Shop backend" in page.locator("#snippets").inner_text()
    page.locator("#redoc-container [role=tab]", has_text="curl").first.wait_for(state="attached")
    page.locator("#snippets").screenshot(path=str(SHOTS / f"catalog-snippets-{width}.png"))
    page.locator("#redoc-container [role=tab]", has_text="Python").nth(1).click()  # POST /orders
    page.screenshot(path=str(SHOTS / f"catalog-endpoint-samples-{width}.png"))
    samples = json.dumps(page.evaluate("fetch('/catalog/acme/orders/v1/openapi.json?samples=1').then(r => r.json())"))
    assert "Shop backend" in samples and "YOUR_KEY_SECRET" in samples

    assert errors == []
    assert missing == []
    assert foreign == []
    # Inside Playwright's event loop the ORM gets its own connection; close it.
    connections.close_all()
