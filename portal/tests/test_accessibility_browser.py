"""Keyboard and screen-reader basics on the main pages, in Chromium at desktop and phone widths.

A skip link is the first thing Tab reaches; the focus ring is visible on the dark navigation bar;
the decision reason box and the key rotation grace select have names; unchecked checkboxes are
visible; axe-core finds nothing serious or critical.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from portal.tests.a11y import axe_violations, contrast, screenshot
from tenants.tests.factories import PASSWORD

pytestmark = pytest.mark.browser

NAVBAR = "rgb(33, 37, 41)"  # Bootstrap's bg-dark
WHITE = "rgb(255, 255, 255)"


@pytest.fixture
def world(acme, globex, alice, charlie):
    from subscriptions.models import SubscriptionStatus
    from subscriptions.tests.factories import (
        ApplicationFactory,
        SubscriptionFactory,
        make_catalog,
        make_key,
        membership,
    )

    catalog = make_catalog(acme)
    shop = ApplicationFactory(tenant=globex, name="Shop backend", created_by=charlie)
    SubscriptionFactory(application=shop, plan=catalog.free, version=catalog.v1, status=SubscriptionStatus.ACTIVE)
    make_key(membership(charlie, globex), shop)
    pending = SubscriptionFactory(
        application=ApplicationFactory(tenant=globex, name="Warehouse", created_by=charlie),
        plan=catalog.gold,
        version=catalog.v1,
        status=SubscriptionStatus.PENDING,
        requested_by=charlie,
        awaiting_since=timezone.now(),
        use_case="Sync orders",
    )
    return {"shop": shop, "pending": pending}


def _sign_in(page, base, email):
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_load_state("networkidle")


def _check_keyboard_start(page) -> list[str]:
    """Tab from the top: the skip link first, then a navigation link with a ring one can see."""
    problems = []
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.keyboard.press("Tab")
    first = page.evaluate("[document.activeElement.textContent.trim(), document.activeElement.getAttribute('href')]")
    if first != ["Skip to content", "#main"]:
        problems.append(f"{page.url}: first focus is {first}")
    if page.evaluate("document.activeElement.getBoundingClientRect().width") < 50:
        problems.append(f"{page.url}: the focused skip link is not visible")
    page.keyboard.press("Tab")
    ring = page.evaluate(
        "(() => { const e = document.activeElement, s = getComputedStyle(e);"
        " return [e.closest('nav') !== null, s.outlineStyle, parseFloat(s.outlineWidth), s.outlineColor]; })()"
    )
    in_nav, style, width, color = ring
    if not in_nav or style == "none" or width < 2 or contrast(color, NAVBAR) < 3:
        problems.append(f"{page.url}: focus ring on the navigation bar is {ring}")
    return problems


@pytest.mark.parametrize("width", [1366, 390])
@pytest.mark.django_db(transaction=True)
def test_main_pages_are_usable_by_keyboard_and_screen_reader(live_server, browser, world, width):
    base = live_server.url
    problems: list[str] = []
    context = browser.new_context(viewport={"width": width, "height": 844 if width < 500 else 900})
    page = context.new_page()

    page.goto(f"{base}/accounts/login/")
    problems += _check_keyboard_start(page)
    border = page.locator("input[type=checkbox]").first.evaluate("e => getComputedStyle(e).borderTopColor")
    assert contrast(border, WHITE) >= 3, border  # an unchecked checkbox is visible
    problems += axe_violations(page)
    # The skip link moves the keyboard to the page's content.
    page.keyboard.press("Shift+Tab")  # back from the navigation bar to the skip link
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    _sign_in(page, base, "alice@acme.example")
    pending = world["pending"]
    for path in [
        "/t/acme/",
        "/t/acme/approvals/",
        f"/t/acme/subscriptions/{pending.pk}/",
        "/catalog/",
        "/t/acme/members/",
    ]:
        page.goto(base + path)
        page.wait_for_load_state("networkidle")
        screenshot(page, f"a11y/{path.strip('/').replace('/', '-')}-{width}")
        problems += _check_keyboard_start(page)
        problems += axe_violations(page)
    page.goto(f"{base}/t/acme/approvals/")
    assert page.get_by_label("Reason for the decision").count() == 1
    page.goto(f"{base}/t/acme/subscriptions/{pending.pk}/")
    assert page.get_by_label("Reason for rejecting").count() == 1
    box = page.locator("input[type=checkbox]")
    if box.count():
        assert contrast(box.first.evaluate("e => getComputedStyle(e).borderTopColor"), WHITE) >= 3

    context.clear_cookies()
    _sign_in(page, base, "charlie@globex.example")
    page.goto(f"{base}/t/globex/apps/{world['shop'].pk}/")
    page.wait_for_load_state("networkidle")
    screenshot(page, f"a11y/application-{width}")
    assert page.get_by_label("working after rotating for").count() == 1  # one labelled grace select per key row
    assert page.locator("select[id=id_grace_hours]").count() == 0  # no id repeated on every key row
    problems += _check_keyboard_start(page)
    problems += axe_violations(page)

    assert problems == []
