"""The navigation in a real browser: one line at 1366 px, a working collapsed menu at 390 px."""

import pytest
from django.db import connections

from tenants.tests.factories import PASSWORD, MembershipFactory, UserFactory

pytestmark = pytest.mark.browser

# A long organisation name and address, a staff member with every menu: the widest bar there is.
LONG_NAME = "Acme Intercontinental Logistics and Warehousing Holdings"
LONG_EMAIL = "alexandra.montgomery-fitzgerald@acme-intercontinental.example"


def _login(page, base, email):
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def _nav_rows(page):
    """Distinct vertical positions of the bar's top-level items (1 = one line)."""
    return page.evaluate(
        """() => new Set([...document.querySelectorAll('#nav > .navbar-nav > .nav-item')]
              .map(li => Math.round(li.getBoundingClientRect().top))).size"""
    )


@pytest.fixture
def busy_user(transactional_db, acme, globex, charlie):
    """Staff, owner of a long-named provider with a request waiting and an unread notification."""
    from subscriptions import services
    from subscriptions.tests.factories import ApplicationFactory, make_catalog, membership

    acme.name = LONG_NAME
    acme.save()
    user = UserFactory(email=LONG_EMAIL, is_staff=True)
    MembershipFactory(tenant=acme, user=user, role="owner")
    catalog = make_catalog(acme)
    app = ApplicationFactory(tenant=globex)
    services.subscription_request(actor=membership(charlie, globex), application=app, plan=catalog.gold, use_case="x")
    return user


def test_one_line_at_1366_and_the_current_section_is_visible(live_server, browser, busy_user):
    page = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    _login(page, live_server.url, busy_user.email)
    for path in ("/t/acme/apis/", "/catalog/", "/platform/"):
        page.goto(f"{live_server.url}{path}")
        assert _nav_rows(page) == 1, path
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
        assert page.locator(".navbar-toggler").is_hidden()
    page.goto(f"{live_server.url}/t/acme/apis/")
    assert page.locator("#nav-approvals .badge").inner_text() == "1"
    assert page.locator("#nav-notifications .badge").is_visible()
    current = page.locator('#nav [aria-current="page"]')
    assert current.count() == 1 and current.inner_text() == "APIs"
    # The mark is visible: the current link differs from its neighbours (a bar under it).
    marked = current.evaluate("el => getComputedStyle(el).boxShadow")
    plain = page.locator("#nav-catalog").evaluate("el => getComputedStyle(el).boxShadow")
    assert marked != plain and marked != "none"
    # On the catalog the organisation's links are still there.
    page.goto(f"{live_server.url}/catalog/")
    assert page.locator("#nav-applications").get_attribute("href") == "/t/acme/apps/"
    connections.close_all()


def test_collapsed_menu_at_390(live_server, browser, busy_user):
    page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    _login(page, live_server.url, busy_user.email)
    page.goto(f"{live_server.url}/t/acme/")
    toggler = page.locator(".navbar-toggler")
    assert toggler.is_visible() and toggler.get_attribute("aria-expanded") == "false"
    assert page.locator("#nav-apis").is_hidden()
    toggler.click()
    page.locator("#nav-apis").wait_for(state="visible")
    assert toggler.get_attribute("aria-expanded") == "true"
    # The open menu fits the screen (page bodies are checked by the page-wide browser tests).
    overflow = page.evaluate("""() => [...document.querySelectorAll('.portal-nav *')]
        .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1)
        .map(el => el.tagName + '#' + el.id + '.' + el.className)""")
    assert overflow == []
    page.locator("#nav-apis").click()
    page.wait_for_url(f"{live_server.url}/t/acme/apis/")
    # No script error, CSP refusal nor missing resource (the favicon included).
    assert errors == []
    connections.close_all()
