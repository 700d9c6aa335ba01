"""In Chromium: an SSO address on the sign-in page → the (fake) IdP's page → back, signed in, on the dashboard."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

from portal.tests.a11y import axe_violations, overflows, screenshot
from sso import services
from sso.tests.conftest import verify_domain
from tenants.models import Membership

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
def test_sso_sign_in_lands_on_the_dashboard(live_server, browser, settings, acme, alice, idp):
    settings.SITE_URL = live_server.url
    verify_domain(acme, "acme.example")
    services.provider_save(
        actor=Membership.objects.for_tenant(acme).get(user=alice),
        data=services.ProviderInput(
            kind="oidc",
            name="Acme login",
            server_url=idp.url,
            client_id=idp.client_id,
            client_secret=idp.client_secret,
            default_role="developer",
            enabled=True,
        ),
    )
    page = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{live_server.url}/accounts/login/")
    assert not overflows(page)
    assert axe_violations(page) == []
    page.fill("#id_sso_email", "dora@acme.example")
    page.click("#sso-submit")
    page.wait_for_url(re.compile(re.escape(idp.url) + r"/authorize\?.*"))
    assert "login_hint=dora%40acme.example" in page.url
    page.click("#idp-sign-in")
    page.wait_for_url(f"{live_server.url}/t/acme/")
    screenshot(page, "sso/signed-in-390")
    assert "Acme Logistics" in page.content()
    dora = get_user_model().objects.get(email="dora@acme.example")
    assert Membership.objects.for_tenant(acme).get(user=dora).role == "developer"
