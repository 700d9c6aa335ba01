"""allauth's pages in Chromium at desktop and phone widths: the portal's look, words and accessibility.

Each page is checked for serious or critical axe-core violations, sideways scrolling, console
errors and Title Case headings, and kept as a screenshot under var/screenshots/accounts/.
"""

from __future__ import annotations

import re
import time

import pytest
from django.core import mail

from portal.tests.a11y import axe_violations, overflows, screenshot
from tenants.tests.factories import PASSWORD

pytestmark = pytest.mark.browser

NEW_PASSWORD = "an-0ther-Long-passw0rd"
#: Two capitalised words in a row ("Sign In", "Email Address"): allauth's Title Case.
TITLE_CASE = re.compile(r"\b[A-Z][a-z]+ [A-Z][a-z]+\b")


def _totp(secret: str) -> str:
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value, yield_hotp_counters_from_time

    return format_hotp_value(hotp_value(secret, next(iter(yield_hotp_counters_from_time()))))


class Checker:
    def __init__(self, page, width: int) -> None:
        self.page, self.width, self.problems, self.errors = page, width, [], []
        page.on("console", lambda m: self.errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)

    def __call__(self, name: str) -> None:
        page = self.page
        page.wait_for_load_state("networkidle")
        screenshot(page, f"accounts/{name}-{self.width}")
        self.problems += axe_violations(page)
        if overflows(page):
            self.problems.append(f"{page.url}: scrolls sideways at {self.width} px")
        for text in page.locator("main h1, main h2, main label, main button, main .btn, title").all_inner_texts():
            if TITLE_CASE.search(text):
                self.problems.append(f"{page.url}: Title Case {text!r}")
        title = page.title()
        if TITLE_CASE.search(title.split(" · ")[0]) or not title.endswith(" · API Portal"):
            self.problems.append(f"{page.url}: title {title!r}")


def _last_link(pattern: str) -> str:
    return re.search(pattern, mail.outbox[-1].body).group(0)


@pytest.mark.parametrize("width", [1366, 390])
@pytest.mark.django_db(transaction=True)
def test_account_pages_look_and_read_like_the_portal(live_server, browser, settings, alice, width):
    base = live_server.url
    settings.SITE_URL = base
    page = browser.new_context(viewport={"width": width, "height": 844 if width < 500 else 900}).new_page()
    check = Checker(page, width)
    submit = "main form button[type=submit]"

    # Sign up and confirm the e-mail address.
    page.goto(f"{base}/accounts/signup/")
    check("signup")
    page.fill("input[name=email]", "dana@example.com")
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD + "x")
    page.click(submit)
    assert page.locator("#id_password2[aria-invalid=true]").count() == 1  # the error is tied to its field
    check("signup-error")
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click(submit)
    page.wait_for_url(re.compile(r".*/accounts/confirm-email/$"))
    check("verification-sent")
    assert "Hello from API Portal!" in mail.outbox[-1].body
    page.goto(_last_link(r"http://\S+/accounts/confirm-email/\S+/"))
    check("confirm-email")
    page.click(submit)
    page.wait_for_url(f"{base}/onboarding/")
    page.goto(f"{base}/accounts/logout/")
    check("logout")
    page.click(submit)

    page.goto(f"{base}/accounts/login/")
    check("login")
    page.fill("input[name=login]", alice.email)
    page.fill("input[name=password]", "wrong password")
    page.click(submit)
    assert page.locator("main .alert-danger").count() == 1
    check("login-error")

    # Password reset by e-mail.
    page.goto(f"{base}/accounts/password/reset/")
    check("password-reset")
    page.fill("input[name=email]", alice.email)
    page.click(submit)
    page.wait_for_url(re.compile(r".*/accounts/password/reset/done/$"))
    check("password-reset-done")
    page.goto(_last_link(r"http://\S+/accounts/password/reset/key/\S+/"))
    page.wait_for_url(re.compile(r".*-set-password/$"))
    check("password-reset-from-key")
    page.fill("input[name=password1]", NEW_PASSWORD)
    page.fill("input[name=password2]", NEW_PASSWORD)
    page.click(submit)
    check("password-reset-from-key-done")

    # Signed in: e-mail, password and two-factor pages; TOTP activation and recovery codes.
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", alice.email)
    page.fill("input[name=password]", NEW_PASSWORD)
    page.click(submit)
    page.wait_for_url(f"{base}/t/acme/")
    for path, name in [
        ("/accounts/email/", "email"),
        ("/accounts/2fa/", "mfa"),
        ("/accounts/password/change/", "password"),
    ]:
        page.goto(base + path)
        check(name)
    page.fill("input[name=oldpassword]", NEW_PASSWORD)
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click(submit)
    # The confirmation's close button is Bootstrap's small ×, not a solid square.
    close = page.locator("#messages .alert .btn-close")
    close.wait_for()
    style = close.evaluate("e => [getComputedStyle(e).backgroundColor, getComputedStyle(e).backgroundImage]")
    assert style[0] in ("rgba(0, 0, 0, 0)", "transparent") and style[1].startswith('url("data:image/svg+xml')
    check("password-changed")
    page.goto(f"{base}/accounts/2fa/totp/activate/")
    if "/reauthenticate/" in page.url:  # allauth asks for the password again before changing MFA
        check("reauthenticate")
        page.fill("input[name=password]", PASSWORD)
        page.click(submit)
        page.wait_for_url(f"{base}/accounts/2fa/totp/activate/")
    check("mfa-totp-activate")
    secret = page.input_value("#authenticator_secret")
    for _ in range(3):  # a code computed at the very end of its 30 s window may be refused: try the next
        page.fill("input[name=code]", _totp(secret))
        page.click(submit)
        page.wait_for_load_state("networkidle")
        if "/2fa/totp/activate/" not in page.url:
            break
        time.sleep(2)
    page.goto(f"{base}/accounts/2fa/recovery-codes/")
    check("mfa-recovery-codes")
    code = page.input_value("#recovery_codes").split()[0]
    page.goto(f"{base}/accounts/2fa/")
    check("mfa-active")

    # Sign in with the second factor.
    page.goto(f"{base}/accounts/logout/")
    page.click(submit)
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", alice.email)
    page.fill("input[name=password]", PASSWORD)
    page.click(submit)
    page.wait_for_url(re.compile(r".*/accounts/2fa/authenticate/$"))
    check("mfa-authenticate")
    page.fill("input[name=code]", code)
    page.click(submit)
    page.wait_for_url(f"{base}/t/acme/")

    assert check.problems == []
    assert check.errors == []
