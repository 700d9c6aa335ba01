"""The API key table at 1366 and 390 px: every action can be clicked at its centre, nothing slides
under the "New key" card, the grace select shows its choice, and the page never scrolls sideways."""

from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections

from subscriptions.services import key_create, key_rotate
from subscriptions.tests.factories import membership
from tenants.tests.factories import PASSWORD

pytestmark = pytest.mark.browser

SHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"


@pytest.mark.parametrize("width,height", [(1366, 900), (390, 844)])
def test_key_actions_are_clickable_at_both_widths(
    transactional_db, live_server, browser, active_sub, shop, charlie, width, height
):
    actor = membership(charlie, shop.tenant)
    for name in ("production with a rather long name", "staging"):
        key_create(actor=actor, application=shop, name=name)
    old, _ = key_create(actor=actor, application=shop, name="ci")
    key_rotate(actor=actor, key=old)

    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", charlie.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    page.goto(f"{live_server.url}/t/globex/apps/{shop.pk}/")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"application-keys-{width}.png"), full_page=True)

    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    buttons = page.locator("#key-table button, #key-table select")
    assert buttons.count() >= 7  # 3 rotate forms (select + button) + 4 revoke buttons
    for i in range(buttons.count()):
        control = buttons.nth(i)
        control.scroll_into_view_if_needed()
        box = control.bounding_box()
        centre = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        hit = page.evaluate(
            "([x, y, el]) => { const h = document.elementFromPoint(x, y); return !!h && el.contains(h); }",
            [*centre, control.element_handle()],
        )
        assert hit, f"{control.inner_text() or 'select'} #{i} is covered at {width} px"
    for select in page.locator("#key-table select").all():
        assert select.bounding_box()["width"] >= 150  # the choice is readable, not a bare chevron
    # The "New key" card does not overlap the table.
    table = page.locator("#key-table").bounding_box()
    card = page.locator("#new-key-card").bounding_box()
    assert card["y"] >= table["y"] + table["height"] or card["x"] >= table["x"] + table["width"]
    connections.close_all()
