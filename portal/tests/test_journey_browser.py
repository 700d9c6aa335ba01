"""The whole journey in a real browser, then a real call through a real gateway node.

Sign up → create a tenant → register an API with an OpenAPI document and a plan that needs
approval → publish the version; a second person signs up, creates a tenant and an application
and asks for the plan; the first approves it on the approval dashboard; the second creates a
key (shown once) → a call through ``python -m gateway_node`` with that key reaches the upstream
→ after the node's log batch landed and the rollup ran, the call shows on the consumer's usage
dashboard.

Everything a person does goes through the pages. Staff register the node on /platform/nodes/
(the staff account itself is made directly: staff are not self-service). The only thing the
test does behind the pages is what the Celery beat does: run the rollup task.

Screenshots of the key page and the dashboards at 1366 and 390 px go to var/screenshots/.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.db import connections

from analytics.tasks import rollup_task
from gateway_node.tests.upstreams import wait_for
from gateways.snapshot import current_version
from portal.tests.journey_support import (
    NodeProcess,
    add_approval_plan,
    approve_selected,
    assert_key_not_shown_again,
    create_application,
    create_key,
    http_get,
    open_in_catalog,
    register_api,
    register_node,
    request_access,
    shipment,
    shipments_upstream,
)
from tenants.tests.factories import PASSWORD as STAFF_PASSWORD
from tenants.tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(django_settings.BASE_DIR) / "var" / "screenshots"
PASSWORD = "journey-Passw0rd-long!"
WIDTHS = {1366: 900, 390: 844}

OPENAPI_YAML = b"""\
openapi: 3.0.3
info:
  title: Shipments
  version: "1.0"
paths:
  /shipments/{id}:
    get:
      operationId: getShipment
      summary: Track a shipment
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
      responses:
        "200": {description: Where the shipment is}
  /shipments:
    post:
      operationId: createShipment
      summary: Book a shipment
      responses:
        "201": {description: Booked}
"""


class Person:
    """One person in their own browser context, with the console errors their pages logged."""

    def __init__(self, browser: Any, base: str, email: str) -> None:
        self.base, self.email = base, email
        self.context = browser.new_context(viewport={"width": 1366, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(10_000)
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"{m.text} {m.location}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught {e}"))

    def submit(self, button: str) -> None:
        """Click a submit button and wait for the page its POST leads to."""
        with self.page.expect_navigation():
            self.page.click(button)
        self.page.wait_for_load_state()

    def click_link(self, selector: str) -> None:
        with self.page.expect_navigation():
            self.page.click(selector)
        self.page.wait_for_load_state()

    def flash(self) -> str:
        """The text of the page's messages (success / error banners)."""
        return " ".join(self.page.locator(".alert").all_inner_texts())

    def sign_up(self) -> None:
        """Sign-up form, the verification e-mail's link, confirm: signed in on onboarding."""
        page = self.page
        page.goto(f"{self.base}/")
        self.click_link("nav >> text=Sign up")
        page.fill("input[name=email]", self.email)
        page.fill("input[name=password1]", PASSWORD)
        page.fill("input[name=password2]", PASSWORD)
        self.submit("form button[type=submit]")
        assert page.url.endswith("/accounts/confirm-email/"), page.url
        mails = [m for m in mail.outbox if self.email in m.to]
        assert len(mails) == 1, [m.to for m in mail.outbox]
        link = re.search(r"http://\S+/accounts/confirm-email/\S+/", str(mails[0].body))
        assert link, mails[0].body
        page.goto(link.group(0))
        self.submit("main form button[type=submit]")
        assert page.url == f"{self.base}/onboarding/", page.url

    def sign_in(self, password: str) -> None:
        page = self.page
        page.goto(f"{self.base}/accounts/login/")
        page.fill("input[name=login]", self.email)
        page.fill("input[name=password]", password)
        self.submit("main form button[type=submit]")
        assert "/accounts/login/" not in page.url, f"{self.email} could not sign in"

    def onboard(self, name: str, slug: str) -> None:
        self.page.fill("input[name=name]", name)
        self.page.fill("input[name=slug]", slug)
        self.submit("button:text-is('Create organisation')")
        assert self.page.url == f"{self.base}/t/{slug}/", self.page.url

    def shoot(self, name: str) -> None:
        """Screenshots at 1366 and 390 px of what the page shows now (no reload: a key is shown once).

        Also fails when the page scrolls sideways at either width, as a person would notice.
        """
        SHOTS.mkdir(parents=True, exist_ok=True)
        for width, height in WIDTHS.items():
            self.page.set_viewport_size({"width": width, "height": height})
            self.page.screenshot(path=str(SHOTS / f"journey-{name}-{width}.png"), full_page=True)
            overflow = self.page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{name} scrolls sideways by {overflow} px at {width} px"
        self.page.set_viewport_size({"width": 1366, "height": 900})


def test_sign_up_to_a_call_through_the_node_on_the_dashboard(live_server, browser, settings, tmp_path):
    base = live_server.url
    settings.SITE_URL = base  # e-mailed links point at the site's public URL

    started = time.monotonic()
    with shipments_upstream() as upstream:
        node: NodeProcess | None = None
        try:
            # --- Staff register the gateway node; it starts while the people below do their part.
            staff = Person(browser, base, "ops@platform.example")
            UserFactory(email=staff.email, is_staff=True)
            staff.sign_in(STAFF_PASSWORD)
            node = register_node(staff, "journey-edge", tmp_path / "node")

            # --- The provider: sign up, create a tenant, register the API, its version, its plan.
            paula = Person(browser, base, "paula@parcels.example")
            paula.sign_up()
            paula.onboard("Parcel Works", "parcels")
            register_api(paula, "parcels", "Shipments", "shipments", "Track parcels in transit.")

            paula.click_link("a:text-is('New version')")
            paula.page.fill("input[name=label]", "v1")
            paula.page.fill("input[name=base_path]", "/shipments/v1")
            paula.page.fill("textarea[name=upstreams]", upstream.url)
            paula.page.set_input_files(
                "input[name=openapi_file]",
                {"name": "shipments.yaml", "mimeType": "application/yaml", "buffer": OPENAPI_YAML},
            )
            paula.submit("button:text-is('Create draft')")
            assert paula.page.url == f"{base}/t/parcels/apis/shipments/versions/v1/", paula.flash()
            endpoints = paula.page.locator("main table.table-sm").inner_text()
            assert "/shipments/{id}" in endpoints and "Track a shipment" in endpoints, endpoints
            paula.submit("button:has-text('Publish')")
            assert paula.page.locator("#version-status").inner_text() == "Published", paula.flash()

            paula.click_link("nav[aria-label=breadcrumb] >> text=Shipments")
            add_approval_plan(paula, "Partner", quota_per_day="1000")

            # --- The consumer: sign up, create a tenant and an application, ask for the plan.
            carl = Person(browser, base, "carl@cargo.example")
            carl.sign_up()
            carl.onboard("Cargo Corp", "cargo")
            create_application(carl, "Dispatch app")
            open_in_catalog(carl, "parcels", "Shipments")
            request_access(carl, "Dispatch app", "Tracking our outbound parcels.")
            assert "/t/cargo/subscriptions/" in carl.page.url, carl.page.url

            # --- The provider approves it on the approval dashboard.
            paula.page.reload()
            assert paula.page.locator("#nav-approvals .badge").inner_text() == "1"
            paula.click_link("#nav-approvals")
            row = paula.page.locator("#queue-table tbody tr", has_text="Cargo Corp")
            assert "Partner" in row.inner_text() and "Tracking our outbound parcels." in row.inner_text()
            row.locator("input[name=ids]").check()
            approve_selected(paula)
            subjects = [m.subject for m in mail.outbox if carl.email in m.to]
            assert "Shipments: your subscription was approved" in subjects[-1], subjects

            # --- The consumer creates a key and copies it from the page (shown once).
            key = create_key(carl, "Dispatch app")
            assert "active" in carl.page.locator("main table").first.inner_text().lower()  # the subscription
            carl.shoot("key")
            application_url = carl.page.url
            assert_key_not_shown_again(carl)
            assert carl.page.locator("#key-table tr[data-key-id]").count() == 1
            ui_seconds = time.monotonic() - started

            # --- A call through the node with that key.
            node.wait_config(current_version())
            status, headers, body = http_get(f"{node.url}/shipments/v1/shipments/SH-42?fields=all", {"X-API-Key": key})
            assert status == 200, (status, body, node.output())
            assert json.loads(body) == shipment("/shipments/SH-42")
            [forwarded] = upstream.requests
            assert forwarded.target == "/shipments/SH-42?fields=all"
            assert "x-api-key" not in forwarded.headers  # the credential stays at the gateway
            assert forwarded.headers["x-request-id"] == headers["x-request-id"]
            application_id = application_url.rstrip("/").rsplit("/", 1)[-1]
            assert forwarded.headers["x-consumer-application-id"] == application_id
            # Without a key the node refuses, and the upstream never hears of it.
            status, _, body = http_get(f"{node.url}/shipments/v1/shipments/SH-43")
            assert status == 401 and json.loads(body)["error"]["code"] == "missing_key", body
            assert len(upstream.requests) == 1

            # --- The node's batch lands: staff see both calls on /platform/nodes/.
            def node_calls() -> bool:
                staff.page.reload()
                cell = staff.page.locator("tr[data-node=journey-edge] td.calls").inner_text().strip()
                return cell == "2"

            wait_for(node_calls, timeout=10, interval=0.3, what="the node's two calls on /platform/nodes/")

            # The Celery beat's rollup run, then the dashboards.
            assert rollup_task.delay().get()["ran"]
            carl.page.click("#org-menu")  # a Bootstrap dropdown: opens in place
            carl.click_link("#nav-analytics")
            summary = carl.page.locator("#consumer-summary")
            row = summary.locator("tr", has_text="Dispatch app")
            assert row.count() == 1, summary.inner_text()
            assert row.locator("td").nth(1).inner_text() == "1", summary.inner_text()
            carl.shoot("analytics")
            carl.click_link("#consumer-summary >> text=Dispatch app")
            assert carl.page.locator("[data-total=calls]").inner_text() == "1"
            assert carl.page.locator("[data-total=refused]").inner_text() == "0"
            day = carl.page.locator("#quota td[data-quota=day]").inner_text()
            assert day.startswith("1 / 1,000"), day

            # The node matched the call to the OpenAPI operation: the endpoint template shows.
            endpoint = carl.page.locator("#trends tr", has_text="GET /shipments/{id}")
            assert endpoint.locator("td").nth(1).inner_text() == "0 → 1", carl.page.locator("#trends").inner_text()
            carl.shoot("dashboard")

            # The provider sees both calls to the API, the refused one included.
            paula.page.click("#org-menu")
            paula.click_link("#nav-analytics")
            provider = paula.page.locator("#provider-summary")
            row = provider.locator("tr", has_text="Shipments")
            assert row.count() == 1 and row.locator("td").nth(1).inner_text() == "2", provider.inner_text()
            assert "1 refused" in provider.inner_text(), provider.inner_text()

            for person in (staff, paula, carl):
                assert person.errors == [], (person.email, person.errors)
            # SIGTERM: the node drains and stops cleanly.
            code = node.stop()
            assert code == 0, (code, node.output())
        finally:
            if node is not None:
                node.stop()
            # Left open, the connection this test body opened outlives pytest-django's teardown (the
            # run ends with "database ... is being accessed by other users" and the test database is
            # not dropped): Django keeps connections per contextvars context, and the body's is not
            # the one the teardown runs in once Playwright's sync API is about. Closed where visible.
            connections.close_all()
    print(f"journey: UI part {ui_seconds:.1f} s, total {time.monotonic() - started:.1f} s")
