"""Sign-up → e-mail verification → onboarding → invite → accept, in a real browser."""

import re

import pytest
from django.core import mail

pytestmark = pytest.mark.browser

PASSWORD = "a-Long-passw0rd!"


def _last_link(pattern):
    return re.search(pattern, mail.outbox[-1].body).group(0)


def _sign_up(page, base, email):
    page.goto(f"{base}/accounts/signup/")
    page.fill("input[name=email]", email)
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_url(re.compile(r".*/accounts/confirm-email/$"))
    link = _last_link(r"http://\S+/accounts/confirm-email/\S+/")
    page.goto(link)
    page.click("form button[type=submit]")


@pytest.mark.django_db(transaction=True)
def test_sign_up_onboard_invite_and_accept(live_server, browser, settings):
    base = live_server.url
    settings.SITE_URL = base  # e-mailed links point at the site's public URL
    owner = browser.new_context().new_page()
    _sign_up(owner, base, "founder@example.com")
    owner.wait_for_url(f"{base}/onboarding/")
    owner.fill("input[name=name]", "Founders Inc")
    owner.fill("input[name=slug]", "founders")
    owner.click("text=Create organisation")
    owner.wait_for_url(f"{base}/t/founders/")
    assert owner.locator("h1").inner_text() == "Founders Inc"

    owner.click("#org-menu")
    owner.click("text=Members")
    owner.fill("#members-panel input[name=email]", "teammate@example.com")
    owner.select_option("#members-panel select[name=role]", "admin")
    owner.click("text=Send invitation")
    owner.locator("#invitation-table").get_by_text("teammate@example.com").wait_for()
    invite_link = _last_link(r"http://\S+/invitations/\S+/")

    # A second person, in another browser session, signs up with the invited address.
    mate = browser.new_context().new_page()
    _sign_up(mate, base, "teammate@example.com")
    mate.wait_for_url(f"{base}/onboarding/")
    assert "Founders Inc" in mate.locator("#pending-invitations").inner_text()
    mate.goto(invite_link)
    mate.click("text=Accept invitation")
    mate.wait_for_url(f"{base}/t/founders/")
    assert "your role: Admin" in mate.content()

    owner.reload()
    assert "teammate@example.com" in owner.locator("#member-table").inner_text()
