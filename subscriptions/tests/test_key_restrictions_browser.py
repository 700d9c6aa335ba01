"""Key restrictions in a browser at 1366 and 390 px: the new-key form's collapsed section opens
and creates a restricted key, the key page edits restrictions, and nothing scrolls sideways."""

from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections

from subscriptions.models import ApiKey
from tenants.tests.factories import PASSWORD

pytestmark = pytest.mark.browser

SHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"


@pytest.mark.parametrize("width,height", [(1366, 900), (390, 844)])
def test_restrict_a_key_from_the_pages(
    transactional_db, live_server, browser, active_sub, shop, charlie, width, height
):
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    errors: list[str] = []
    # The refused form answers 400 on purpose: the browser logs that status, nothing else may appear.
    page.on(
        "console",
        lambda m: errors.append(m.text) if m.type == "error" and "status of 400" not in m.text else None,
    )
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", charlie.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    page.goto(f"{live_server.url}/t/globex/apps/{shop.pk}/")

    page.fill("#new-key-card input[name=name]", "office")
    assert not page.locator("#id_allowed_cidrs").is_visible()  # collapsed until asked for
    page.click("#new-key-restrictions summary")
    page.fill("#id_allowed_cidrs", "192.0.2.0/24\n2001:db8::/48")
    page.check("#new-key-card input[name=allowed_apis]")
    page.click("#new-key-card button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("#key-value").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert "IP: 2 ranges" in page.locator("#key-table").inner_text()

    page.click("#key-table a:text('office')")
    page.wait_for_load_state()
    page.fill("#id_allowed_cidrs", "10.1.2.3/8")
    page.click("#key-restrictions-form button[type=submit]")
    page.wait_for_load_state()
    assert "has host bits set" in page.locator(".error-summary").inner_text()
    page.fill("#id_allowed_cidrs", "10.0.0.0/8")
    page.fill("#id_rate_limit_per_minute", "40")
    page.click("#key-restrictions-form button[type=submit]")
    page.wait_for_load_state()
    assert "40 calls a minute" in page.locator("#key-restrictions").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"key-restrictions-{width}.png"), full_page=True)
    key = ApiKey.objects.for_tenant(shop.tenant).get(name="office")
    assert (key.allowed_cidrs, key.rate_limit_per_minute) == (["10.0.0.0/8"], 40)
    assert not errors
    connections.close_all()
