"""In a real browser, the main pages run under the Content-Security-Policy without a single violation."""

import pytest

from tenants.tests.factories import PASSWORD

pytestmark = pytest.mark.browser

#: Redoc's footer always asks its CDN for a logo; the policy blocks that on purpose (the portal
#: calls no third party), so this one report is expected, and nothing else.
EXPECTED = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.mark.django_db(transaction=True)
def test_no_csp_violation_on_main_pages(live_server, browser, acme, alice):
    from subscriptions.tests.factories import make_catalog

    make_catalog(acme)
    base = live_server.url
    page = browser.new_context().new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text and EXPECTED not in message.text
            else None
        ),
    )
    # Reported also when the console message is suppressed.
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation',"
        " e => console.error('Content Security Policy violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
    )
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", alice.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(f"{base}/t/acme/")
    for path in [
        "/",
        "/catalog/",
        "/catalog/acme/orders/",
        "/t/acme/members/",
        "/t/acme/tokens/",
        "/t/acme/settings/",
        "/t/acme/apis/",
        "/t/acme/webhooks/",
        "/api/docs/",
        "/api/redoc/",
    ]:
        page.goto(base + path)
        page.wait_for_load_state("networkidle")
    # an htmx round trip (the members panel swaps in place) and a Bootstrap dropdown
    page.goto(f"{base}/t/acme/members/")
    page.fill("#members-panel input[name=email]", "teammate@example.com")
    page.click("text=Send invitation")
    page.locator("#invitation-table").get_by_text("teammate@example.com").wait_for()
    page.click("#org-menu")
    page.wait_for_timeout(200)
    assert violations == []
