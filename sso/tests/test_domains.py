"""Domain verification by DNS TXT record (a DNS server on loopback) and by e-mail."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from core.errors import Conflict
from sso import services
from sso.models import VerifiedDomain
from sso.tests.conftest import verify_domain
from sso.tests.fake_dns import FakeDNS

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake_dns(settings):
    with FakeDNS() as server:
        settings.SSO_DNS_NAMESERVERS = [server.address]
        yield server


def test_the_txt_record_verifies_the_domain(client, alice, acme, fake_dns):
    client.force_login(alice)
    response = client.post("/t/acme/settings/sso/domains/", {"domain": "Acme.Example"})
    assert response.status_code == 302
    domain = VerifiedDomain.objects.for_tenant(acme).get()
    assert domain.domain == "acme.example" and not domain.is_verified
    page = client.get("/t/acme/settings/sso/").content.decode()
    assert f'_apiportal-verify.acme.example</code> TXT <code class="text-break">apiportal-verify={domain.token}' in page

    # Not published yet: refused with the reason, and the reason is kept on the page.
    response = client.post(f"/t/acme/settings/sso/domains/{domain.pk}/verify/")
    assert response.status_code == 409
    assert "does not exist in DNS" in response.content.decode()

    fake_dns.records["_apiportal-verify.acme.example"] = ["v=spf1 -all", f"apiportal-verify={domain.token}"]
    response = client.post(f"/t/acme/settings/sso/domains/{domain.pk}/verify/")
    assert response.status_code == 302
    domain.refresh_from_db()
    assert domain.is_verified and domain.method == "dns"


def test_a_wrong_token_does_not_verify(alice_membership, acme, fake_dns):
    domain = services.domain_add(actor=alice_membership, domain="acme.example")
    fake_dns.records["_apiportal-verify.acme.example"] = ["apiportal-verify=someone-elses-token"]
    with pytest.raises(Conflict, match="No TXT record"):
        services.domain_verify_dns(actor=alice_membership, domain=domain)
    domain.refresh_from_db()
    assert not domain.is_verified


def test_the_verification_email_link_verifies_the_domain(client, alice, acme, django_capture_on_commit_callbacks):
    client.force_login(alice)
    client.post("/t/acme/settings/sso/domains/", {"domain": "acme.example"})
    domain = VerifiedDomain.objects.for_tenant(acme).get()
    # Only role mailboxes or members' addresses at the domain
    response = client.post(
        f"/t/acme/settings/sso/domains/{domain.pk}/email/", {f"d{domain.pk}-address": "x@evil.example"}
    )
    assert response.status_code == 400
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/t/acme/settings/sso/domains/{domain.pk}/email/", {f"d{domain.pk}-address": "postmaster@acme.example"}
        )
    assert response.status_code == 302
    message = mail.outbox[-1]
    assert message.to == ["postmaster@acme.example"]
    path = re.search(r"http://\S+(/sso/verify-domain/\S+/)", message.body).group(1)
    client.logout()
    # Opening the link (a mail scanner) changes nothing; confirming does.
    assert "Confirm the domain" in client.get(path).content.decode()
    domain.refresh_from_db()
    assert not domain.is_verified
    response = client.post(path)
    assert "acme.example is verified for Acme Logistics" in response.content.decode()
    domain.refresh_from_db()
    assert domain.is_verified and domain.method == "email"
    # A tampered link is a 404
    assert client.post(path[:-3] + "xx/").status_code == 404


def test_a_domain_is_verified_by_one_organisation_only(alice_membership, acme, globex, charlie):
    from tenants.models import Membership

    verify_domain(globex, "shared.example")
    with pytest.raises(Conflict, match="already verified by another organisation"):
        services.domain_add(actor=alice_membership, domain="shared.example")
    charlie_membership = Membership.objects.for_tenant(globex).get(user=charlie)
    assert services.domain_add(actor=charlie_membership, domain="other.example").domain == "other.example"


def test_public_mail_domains_and_junk_are_refused(client, alice):
    client.force_login(alice)
    for value, message in [("gmail.com", "public mail service"), ("not a domain", "Enter a domain name")]:
        response = client.post("/t/acme/settings/sso/domains/", {"domain": value})
        assert response.status_code == 400
        assert message in response.content.decode()
