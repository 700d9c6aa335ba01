"""In a real browser, the main pages run under the Content-Security-Policy without a single violation."""

import pytest

from tenants.tests.factories import PASSWORD

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
def test_no_csp_violation_on_main_pages(live_server, browser, acme, alice):
    from apis.models import ApiVersion
    from apis.tests.factories import weather_spec
    from subscriptions.tests.factories import make_catalog

    catalog = make_catalog(acme)
    # A document to render: the catalog page then embeds Redoc too.
    ApiVersion.objects.for_tenant(acme).filter(pk=catalog.v1.pk).update(spec=weather_spec())
    base = live_server.url
    page = browser.new_context().new_page()
    violations: list[str] = []
    elsewhere: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(f"{page.url}: {message.text}") if "Content Security Policy" in message.text else None
        ),
    )
    # Not a single request leaves the site (no fonts, no CDN logo); blob: is Redoc's search worker.
    page.on(
        "request",
        lambda request: (
            None if request.url.startswith((base, "blob:", "data:")) else elsewhere.append(f"{page.url}: {request.url}")
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
        "/favicon.ico",
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
        if path == "/catalog/acme/orders/":
            # Redoc is embedded, and nothing of it floats over the page (no footer, no menu button).
            page.locator("#redoc-container h1").first.wait_for()
            assert page.get_by_text("API docs by Redocly").count() == 0
            fixed = (
                "[...document.querySelectorAll('#redoc-container *')]"
                ".filter(e => getComputedStyle(e).position == 'fixed').length"
            )
            assert page.evaluate(fixed) == 0
    # an htmx round trip (the members panel swaps in place) and a Bootstrap dropdown
    page.goto(f"{base}/t/acme/members/")
    page.fill("#members-panel input[name=email]", "teammate@example.com")
    page.click("text=Send invitation")
    page.locator("#invitation-table").get_by_text("teammate@example.com").wait_for()
    page.click("#org-menu")
    page.wait_for_timeout(200)
    assert violations == []
    assert elsewhere == []
