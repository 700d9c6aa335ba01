"""The owner's single sign-on page and the REST overview: who sees what, and the Discover button."""

from __future__ import annotations

import re

import pytest

from sso.models import IdentityProvider

pytestmark = pytest.mark.django_db


def test_it_checks_ownership(client, alice, bob, charlie, acme):
    client.force_login(charlie)
    assert client.get("/t/acme/settings/sso/").status_code == 404  # a stranger
    client.force_login(bob)
    assert client.get("/t/acme/settings/sso/").status_code == 403  # a member who is not an owner
    client.force_login(alice)
    page = client.get("/t/acme/settings/sso/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "http://testserver/accounts/oidc/acme/login/callback/" in text
    assert "http://testserver/accounts/saml/acme/acs/" in text
    assert 'id="nav-sso"' in text


def test_discover_shows_the_issuers_endpoints(client, alice, idp):
    client.force_login(alice)
    response = client.post("/t/acme/settings/sso/discover/", {"kind": "oidc", "name": "x", "server_url": idp.url})
    assert response.status_code == 200
    text = response.content.decode()
    assert f"{idp.url}/authorize" in text and f"{idp.url}/jwks" in text
    response = client.post("/t/acme/settings/sso/discover/", {"server_url": "http://127.0.0.1:1/"})
    assert response.status_code == 400
    assert "Could not fetch" in response.content.decode()


def test_discover_from_the_page_swaps_in_only_the_result_so_typed_fields_stay(client, alice, idp):
    client.force_login(alice)
    htmx = {"HTTP_HX_REQUEST": "true"}
    typed = {"kind": "oidc", "name": "x", "client_secret": "typed-secret-abc", "server_url": idp.url}
    response = client.post("/t/acme/settings/sso/discover/", typed, **htmx)
    text = response.content.decode()
    assert response.status_code == 200 and 'id="discovery-result"' in text and f"{idp.url}/jwks" in text
    assert "<form" not in text and "typed-secret-abc" not in text  # the page's form is left as it is
    refused = client.post("/t/acme/settings/sso/discover/", {**typed, "server_url": "http://169.254.169.254/"}, **htmx)
    assert refused.status_code == 200 and "link-local" in refused.content.decode()
    assert 'id="discovery-error"' in refused.content.decode()
    page = client.get("/t/acme/settings/sso/").content.decode()
    assert 'hx-post="/t/acme/settings/sso/discover/"' in page and 'id="discovery-slot"' in page


def test_the_owner_saves_an_oidc_provider_and_the_secret_is_never_shown(client, alice, idp, acme):
    client.force_login(alice)
    data = {
        "kind": "oidc",
        "name": "Acme login",
        "server_url": idp.url + "/",
        "client_id": idp.client_id,
        "client_secret": idp.client_secret,
        "scopes": "openid profile email",
        "default_role": "developer",
        "group_claim": "groups",
        "enabled": "on",
    }
    assert client.post("/t/acme/settings/sso/", data).status_code == 302
    provider = IdentityProvider.objects.for_tenant(acme).get()
    assert provider.server_url == idp.url and provider.enabled and provider.default_role == "developer"
    page = client.get("/t/acme/settings/sso/").content.decode()
    assert idp.client_secret not in page and provider.client_secret_hint in page
    # The form shows what is saved, so changing one setting does not mean retyping the others.
    assert 'name="name" value="Acme login"' in page and f'value="{idp.url}"' in page
    assert re.search(r'<input type="checkbox" name="enabled"[^>]*checked', page)
    # saving again with a blank secret keeps it
    assert client.post("/t/acme/settings/sso/", {**data, "client_secret": ""}).status_code == 302
    provider.refresh_from_db()
    assert provider.client_secret_encrypted
    # requiring SSO needs the provider enabled
    response = client.post("/t/acme/settings/sso/", {**data, "enabled": "", "sso_required": "on"})
    assert response.status_code == 400
    assert "Enable the provider before requiring single sign-on" in response.content.decode()


def test_group_mappings_are_added_and_removed(client, alice, oidc):
    client.force_login(alice)
    assert client.post("/t/acme/settings/sso/groups/", {"group": "admins", "role": "admin"}).status_code == 302
    response = client.post("/t/acme/settings/sso/groups/", {"group": "admins", "role": "viewer"})
    assert response.status_code == 409
    mapping = oidc.group_mappings.get()
    assert client.post(f"/t/acme/settings/sso/groups/{mapping.pk}/remove/").status_code == 302
    assert not oidc.group_mappings.exists()


def test_rest_overview_has_no_secret(api, alice, bob, charlie, oidc, idp):
    api.force_authenticate(charlie)
    assert api.get("/api/v1/tenants/acme/sso/").status_code == 404
    api.force_authenticate(bob)
    assert api.get("/api/v1/tenants/acme/sso/").status_code == 403
    api.force_authenticate(alice)
    response = api.get("/api/v1/tenants/acme/sso/")
    assert response.status_code == 200
    body = response.json()
    assert body["provider"]["client_id"] == idp.client_id
    assert body["domains"][0]["domain"] == "acme.example" and body["domains"][0]["verified"]
    assert idp.client_secret not in response.content.decode()
    assert "client_secret_encrypted" not in body["provider"]
