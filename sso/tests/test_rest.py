"""The REST management endpoints of single sign-on: what the owner's page does, for automation.

Alice owns Acme, Bob develops and Vera views there (both 403), Charlie owns Globex (404). The
client secret must never appear in any answer: every response body is searched for it.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core import mail

from sso import services
from sso.models import GroupRoleMapping, IdentityProvider, VerifiedDomain
from sso.tests import test_saml
from sso.tests.conftest import verify_domain
from sso.tests.fake_dns import FakeDNS
from tenants.models import Membership
from tenants.services import token_create

pytestmark = pytest.mark.django_db

SSO = "/api/v1/tenants/acme/sso"
SECRET = "portal-secret-123456"  # the fake IdP's client secret
idp_keys = test_saml.idp_keys  # the SAML tests' key pair fixture, for a provider from pasted metadata


@pytest.fixture
def fake_dns(settings):
    with FakeDNS() as server:
        settings.SSO_DNS_NAMESERVERS = [server.address]
        yield server


@pytest.fixture
def owner(api, alice):
    """Alice's REST client, recording every answer so a test can search them all for the secret."""
    api.force_authenticate(alice)
    seen: list[bytes] = []
    request = api.generic

    def recording(*args: Any, **kwargs: Any) -> Any:
        response = request(*args, **kwargs)
        seen.append(response.content)
        return response

    api.generic = recording
    api.seen = seen
    yield api
    assert seen, "the recording client saw no answer"
    assert not any(SECRET.encode() in body for body in seen), "the client secret was in an answer"


def _provider_body(idp, **overrides: Any) -> dict[str, Any]:
    return {
        "kind": "oidc",
        "name": "Acme login",
        "server_url": idp.url + "/",
        "client_id": idp.client_id,
        "client_secret": idp.client_secret,
        "default_role": "developer",
        "enabled": True,
        **overrides,
    }


def _error(response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert set(error) == {"code", "message", "fields"}
    return error


def test_it_checks_ownership(api, alice, bob, vera, charlie, globex, oidc):
    """Every endpoint: a stranger gets 404 (also for Acme's ids under his own slug), members who are not owners 403."""
    actor = Membership.objects.for_tenant(oidc.tenant).get(user=alice)
    domain = VerifiedDomain.objects.for_tenant(oidc.tenant).get()
    mapping = services.mapping_add(actor=actor, group="admins", role="admin")
    calls = [
        ("get", "/"),
        ("get", "/provider/"),
        ("put", "/provider/"),
        ("delete", "/provider/"),
        ("post", "/discover/"),
        ("get", "/domains/"),
        ("post", "/domains/"),
        ("get", f"/domains/{domain.pk}/"),
        ("delete", f"/domains/{domain.pk}/"),
        ("post", f"/domains/{domain.pk}/verify/"),
        ("post", f"/domains/{domain.pk}/send-email/"),
        ("get", "/group-mappings/"),
        ("post", "/group-mappings/"),
        ("get", f"/group-mappings/{mapping.pk}/"),
        ("delete", f"/group-mappings/{mapping.pk}/"),
    ]
    for user, status in ((charlie, 404), (bob, 403), (vera, 403)):
        api.force_authenticate(user)
        for method, path in calls:
            response = getattr(api, method)(SSO + path, {}, format="json")
            assert response.status_code == status, (user.email, method, path, response.content)
    # Acme's ids under Charlie's own organisation: 404 too, before the body is read.
    api.force_authenticate(charlie)
    for method, path in calls:
        if str(domain.pk) in path or str(mapping.pk) in path:
            response = getattr(api, method)("/api/v1/tenants/globex/sso" + path, {}, format="json")
            assert response.status_code == 404, (method, path, response.content)
    # Nothing changed.
    assert IdentityProvider.objects.for_tenant(oidc.tenant).exists()
    assert VerifiedDomain.objects.for_tenant(oidc.tenant).filter(pk=domain.pk).exists()
    assert GroupRoleMapping.objects.for_tenant(oidc.tenant).filter(pk=mapping.pk).exists()


def test_put_creates_then_replaces_the_provider_and_the_secret_is_write_only(owner, acme, idp):
    assert owner.get(SSO + "/provider/").status_code == 404
    response = owner.put(SSO + "/provider/", _provider_body(idp), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["server_url"] == idp.url and body["enabled"] and body["default_role"] == "developer"
    assert body["client_secret_hint"] and "client_secret" not in body
    provider = IdentityProvider.objects.for_tenant(acme).get()
    assert services.client_secret(provider) == SECRET

    # Replaced without a secret: the current one stays; the other fields take their defaults.
    response = owner.put(SSO + "/provider/", _provider_body(idp, client_secret=None), format="json")
    assert response.status_code == 400  # null is not a secret
    body = _provider_body(idp, name="Acme SSO")
    del body["client_secret"], body["default_role"]
    response = owner.put(SSO + "/provider/", body, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["name"] == "Acme SSO" and response.json()["default_role"] == "viewer"
    provider.refresh_from_db()
    assert services.client_secret(provider) == SECRET

    # A new secret replaces it; GET and the overview show the masked hint only.
    owner.put(SSO + "/provider/", _provider_body(idp, client_secret="another-secret-98765"), format="json")
    provider.refresh_from_db()
    assert services.client_secret(provider) == "another-secret-98765"
    got = owner.get(SSO + "/provider/")
    assert got.status_code == 200 and got.json()["client_secret_hint"] == provider.client_secret_hint
    assert b"another-secret-98765" not in got.content
    assert b"another-secret-98765" not in owner.get(SSO + "/").content
    assert got["Content-Type"] == "application/json"


def test_a_saml_provider_from_pasted_metadata(owner, acme, idp_keys):
    body = {
        "kind": "saml",
        "name": "Acme SAML",
        "metadata_xml": test_saml.metadata(idp_keys[1]),
        "group_claim": "memberOf",
    }
    response = owner.put(SSO + "/provider/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["idp_entity_id"] == test_saml.IDP_ENTITY and response.json()["group_claim"] == "memberOf"
    error = _error(owner.put(SSO + "/provider/", {"kind": "saml", "name": "x"}, format="json"), 400)
    assert "metadata" in error["fields"]["metadata_xml"][0]


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"server_url": "not a url"}, "server_url", "valid URL"),
        ({"server_url": "http://169.254.169.254/latest"}, "server_url", "link-local"),
        ({"default_role": "emperor"}, "default_role", "not a valid choice"),
        ({"kind": "ldap"}, "kind", "not a valid choice"),
        ({"name": ""}, "name", "blank"),
        ({"scopes": "profile email"}, "scopes", "must include openid"),
        ({"client_id": ""}, "client_id", "client id is required"),
        ({"enabled": False, "sso_required": True}, "sso_required", "Enable the provider"),
    ],
)
def test_bad_provider_input_is_400_with_the_field(owner, acme, idp, overrides, field, message):
    error = _error(owner.put(SSO + "/provider/", _provider_body(idp, **overrides), format="json"), 400)
    assert message in " ".join(error["fields"][field]), error
    assert not IdentityProvider.objects.for_tenant(acme).exists()


def test_the_first_save_needs_a_secret(owner, idp):
    body = _provider_body(idp)
    del body["client_secret"]
    error = _error(owner.put(SSO + "/provider/", body, format="json"), 400)
    assert error["fields"] == {"client_secret": ["The client secret is required."]}


def test_delete_removes_the_provider_and_its_mappings(owner, acme, oidc):
    owner.post(SSO + "/group-mappings/", {"group": "admins", "role": "admin"}, format="json")
    assert owner.delete(SSO + "/provider/").status_code == 204
    assert not IdentityProvider.objects.for_tenant(acme).exists()
    assert not GroupRoleMapping.objects.for_tenant(acme).exists()
    assert _error(owner.get(SSO + "/provider/"), 404)["message"] == "This organisation has no identity provider."
    assert owner.delete(SSO + "/provider/").status_code == 404


def test_discover_answers_the_endpoints_or_says_why_not(owner, idp):
    response = owner.post(SSO + "/discover/", {"issuer": idp.url}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "issuer": idp.url,
        "authorization_endpoint": f"{idp.url}/authorize",
        "token_endpoint": f"{idp.url}/token",
        "jwks_uri": f"{idp.url}/jwks",
        "userinfo_endpoint": f"{idp.url}/userinfo",
    }
    error = _error(owner.post(SSO + "/discover/", {"issuer": "http://169.254.169.254/"}, format="json"), 400)
    assert "link-local" in error["fields"]["issuer"][0] and "cannot be used" in error["message"]
    error = _error(owner.post(SSO + "/discover/", {"issuer": "http://127.0.0.1:1/"}, format="json"), 400)
    assert "Could not fetch" in error["fields"]["issuer"][0]
    assert "issuer" in _error(owner.post(SSO + "/discover/", {"issuer": "nope"}, format="json"), 400)["fields"]
    assert "issuer" in _error(owner.post(SSO + "/discover/", {}, format="json"), 400)["fields"]


def test_domains_are_claimed_listed_and_verified_by_dns(owner, acme, fake_dns):
    response = owner.post(SSO + "/domains/", {"domain": "Acme.Example"}, format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    domain = VerifiedDomain.objects.for_tenant(acme).get()
    assert created["domain"] == "acme.example" and not created["verified"]
    assert created["txt_name"] == "_apiportal-verify.acme.example"
    assert created["txt_value"] == f"apiportal-verify={domain.token}"

    listed = owner.get(SSO + "/domains/").json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == domain.pk
    detail = owner.get(SSO + f"/domains/{domain.pk}/").json()
    assert detail["txt_value"] == created["txt_value"]
    assert "postmaster@acme.example" in detail["email_recipients"]
    assert "alice@acme.example" in detail["email_recipients"]

    error = _error(owner.post(SSO + f"/domains/{domain.pk}/verify/"), 409)
    assert error["code"] == "not_verified" and "does not exist in DNS" in error["message"]
    assert owner.get(SSO + f"/domains/{domain.pk}/").json()["last_error"]
    fake_dns.records["_apiportal-verify.acme.example"] = [created["txt_value"]]
    response = owner.post(SSO + f"/domains/{domain.pk}/verify/")
    assert response.status_code == 200, response.content
    assert response.json()["verified"] and response.json()["method"] == "dns"

    assert owner.delete(SSO + f"/domains/{domain.pk}/").status_code == 204
    assert owner.get(SSO + f"/domains/{domain.pk}/").status_code == 404


@pytest.mark.parametrize(
    ("domain", "status", "message"),
    [
        ("gmail.com", 400, "public mail service"),
        ("not a domain", 400, "Enter a domain name"),
        ("https://acme.example/", 400, "Enter a domain name"),
        ("", 400, "blank"),
        ("acme.example", 409, "already on the list"),
    ],
)
def test_bad_domains_are_refused_with_the_field(owner, acme, alice, domain, status, message):
    services.domain_add(actor=Membership.objects.for_tenant(acme).get(user=alice), domain="acme.example")
    error = _error(owner.post(SSO + "/domains/", {"domain": domain}, format="json"), status)
    assert message in error["fields"]["domain"][0], error


def test_a_domain_verified_elsewhere_cannot_be_claimed(owner, globex):
    verify_domain(globex, "globex.example")
    error = _error(owner.post(SSO + "/domains/", {"domain": "globex.example"}, format="json"), 409)
    assert "another organisation" in error["message"]


def test_the_verification_email_goes_to_an_address_at_the_domain(owner, acme, django_capture_on_commit_callbacks):
    domain_id = owner.post(SSO + "/domains/", {"domain": "acme.example"}, format="json").json()["id"]
    url = SSO + f"/domains/{domain_id}/send-email/"
    error = _error(owner.post(url, {"address": "x@evil.example"}, format="json"), 400)
    assert "Choose an address at acme.example" in error["fields"]["address"][0]
    assert "address" in _error(owner.post(url, {"address": "not-an-address"}, format="json"), 400)["fields"]
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post(url, {"address": "Postmaster@acme.example"}, format="json")
    assert response.status_code == 202, response.content
    assert response.json() == {"sent_to": "postmaster@acme.example"}
    assert mail.outbox[-1].to == ["postmaster@acme.example"]
    assert re.search(r"/sso/verify-domain/\S+/", mail.outbox[-1].body)


def test_group_mappings_need_a_provider_and_a_known_role(owner, acme, idp):
    error = _error(owner.post(SSO + "/group-mappings/", {"group": "admins", "role": "admin"}, format="json"), 409)
    assert error["code"] == "no_provider"
    owner.put(SSO + "/provider/", _provider_body(idp, enabled=False), format="json")

    response = owner.post(SSO + "/group-mappings/", {"group": " admins ", "role": "admin"}, format="json")
    assert response.status_code == 201, response.content
    mapping = response.json()
    assert mapping["group"] == "admins" and mapping["role"] == "admin"
    error = _error(owner.post(SSO + "/group-mappings/", {"group": "admins", "role": "viewer"}, format="json"), 409)
    assert "already mapped" in error["fields"]["group"][0]
    error = _error(owner.post(SSO + "/group-mappings/", {"group": "ops", "role": "emperor"}, format="json"), 400)
    assert "role" in error["fields"]
    assert "group" in _error(owner.post(SSO + "/group-mappings/", {"role": "admin"}, format="json"), 400)["fields"]

    listed = owner.get(SSO + "/group-mappings/").json()
    assert [m["group"] for m in listed["results"]] == ["admins"]
    assert owner.get(SSO + f"/group-mappings/{mapping['id']}/").json() == mapping
    assert owner.delete(SSO + f"/group-mappings/{mapping['id']}/").status_code == 204
    assert not GroupRoleMapping.objects.for_tenant(acme).exists()
    assert owner.delete(SSO + f"/group-mappings/{mapping['id']}/").status_code == 404


def test_a_personal_access_token_automates_the_setup(api, acme, alice, idp):
    owner = Membership.objects.for_tenant(acme).get(user=alice)
    _, token = token_create(actor=owner, name="terraform")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    response = api.put(SSO + "/provider/", _provider_body(idp, enabled=False), format="json", **auth)
    assert response.status_code == 201, response.content
    assert api.post(SSO + "/domains/", {"domain": "acme.example"}, format="json", **auth).status_code == 201
    response = api.post(SSO + "/group-mappings/", {"group": "ops", "role": "admin"}, format="json", **auth)
    assert response.status_code == 201
    overview = api.get(SSO + "/", **auth)
    assert overview.status_code == 200 and SECRET.encode() not in overview.content
    assert [m["group"] for m in overview.json()["group_mappings"]] == ["ops"]
    # A read-only token may look but not change anything.
    _, read_only = token_create(actor=owner, name="audit", scope="read")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {read_only}"}
    assert api.get(SSO + "/provider/", **auth).status_code == 200
    assert api.delete(SSO + "/provider/", **auth).status_code == 403
