import html
import re

import pytest
from django.utils import timezone

from sso import services
from sso.models import VerifiedDomain
from sso.tests.fake_idp import FakeIdP
from tenants.models import Membership


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch):
    # requests (allauth's client) would route loopback calls through a configured proxy.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def idp():
    with FakeIdP() as fake:
        yield fake


def verify_domain(tenant, domain):
    return VerifiedDomain.objects.create(tenant=tenant, domain=domain, token="t" * 32, verified_at=timezone.now())


@pytest.fixture
def oidc(acme, alice, idp):
    """Acme's OpenID Connect provider (the fake IdP), enabled, with acme.example verified."""
    actor = Membership.objects.for_tenant(acme).get(user=alice)
    verify_domain(acme, "acme.example")
    return services.provider_save(
        actor=actor,
        data=services.ProviderInput(
            kind="oidc",
            name="Acme login",
            server_url=idp.url,
            client_id=idp.client_id,
            client_secret=idp.client_secret,
            enabled=True,
        ),
    )


@pytest.fixture
def alice_membership(acme, alice):
    return Membership.objects.for_tenant(acme).get(user=alice)


def idp_url(response) -> str:
    """The IdP URL of the "Continue to …" page that /sso/start/ answers (a page, not a 302: CSP)."""
    assert response.status_code == 200, response.content.decode()
    found = re.search(
        r'id="sso-continue-link" href="([^"]+)"|href="([^"]+)" id="sso-continue-link"', response.content.decode()
    )
    assert found, response.content.decode()
    return html.unescape(found.group(1) or found.group(2))
