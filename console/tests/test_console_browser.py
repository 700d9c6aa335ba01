"""The try-it console in a browser: a subscriber sends a real request through a real node from
the catalog page; a provider tries a draft against its upstream from the version page. At 390 px
nothing scrolls sideways. Bounded: each waits seconds, not minutes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connections

from console.tests.world import build
from gateway_node.tests.upstreams import Upstream
from tenants.tests.factories import PASSWORD

SHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(browser: Any, base: str, email: str, width: int) -> Any:
    page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    page.errors = errors
    return page


@pytest.mark.parametrize("width", [1366, 390])
def test_a_subscriber_sends_a_request_from_the_reference_page(
    browser: Any, upstream: Upstream, start_node: Any, live_server: Any, width: int
) -> None:
    world = build(upstream.url)
    start_node()
    page = sign_in(browser, live_server.url, world.charlie.user.email, width)
    page.goto(f"{live_server.url}/catalog/acme/orders/?version=v1")
    page.locator("#try-it").scroll_into_view_if_needed()
    page.wait_for_selector("#console-session:has-text('Console key ready')")
    page.select_option("#console-endpoint", label="GET /orders/{id} — One order")
    assert page.input_value("#console-param-0") == "7"  # prefilled from the document's example
    page.fill("#console-param-0", "42")
    assert page.locator("[data-role=url]").inner_text() == "/orders/42"
    page.click("#console-send")
    page.wait_for_selector("#console-status:has-text('200')")
    body = json.loads(page.locator("#console-response-body").inner_text())
    assert body["method"] == "GET" and body["path"] == "/orders/42"
    assert "ms" in page.locator("#console-time").inner_text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#try-it").screenshot(path=str(SHOTS / f"console-catalog-{width}.png"))
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert not [e for e in page.errors if "Content Security Policy" in e], page.errors
    page.context.close()
    connections.close_all()


def test_a_provider_tries_a_draft_against_its_upstream(browser: Any, upstream: Upstream, live_server: Any) -> None:
    world = build(upstream.url)
    page = sign_in(browser, live_server.url, world.alice.user.email, 390)
    page.goto(f"{live_server.url}/t/acme/apis/orders/versions/v2/")
    page.select_option("#console-endpoint", label="POST /orders — Create an order")
    assert json.loads(page.input_value("#console-body")) == {"city": "Utrecht", "parcels": 0, "express": True}
    page.click("#console-send")
    page.wait_for_selector("#console-status:has-text('200')")
    echoed = json.loads(page.locator("#console-response-body").inner_text())
    assert echoed["path"] == "/orders" and json.loads(echoed["body"])["city"] == "Utrecht"
    assert "via upstream" in page.locator("#console-time").inner_text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#try-it").screenshot(path=str(SHOTS / "console-version-390.png"))
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert not [e for e in page.errors if "Content Security Policy" in e], page.errors
    page.context.close()
    connections.close_all()
