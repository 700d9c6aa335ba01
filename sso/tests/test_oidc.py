"""Sign-in through a real OpenID Connect code flow with PKCE against the fake IdP on loopback."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from allauth.socialaccount.models import SocialAccount

from sso import services
from sso.models import GroupRoleMapping, IdentityProvider
from sso.tests.conftest import idp_url, verify_domain
from tenants.models import Membership, User
from tenants.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def start(client, idp, email="dora@acme.example"):
    response = client.post("/sso/start/", {"email": email})
    url = idp_url(response)
    assert url.startswith(idp.url + "/authorize?")
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def sign_in(client, idp, email="dora@acme.example", **issue):
    query = start(client, idp, email)
    code = idp.issue_code(query, **issue)
    return client.get(urlsplit(query["redirect_uri"]).path, {"code": code, "state": query["state"]})


def signed_in_email(client):
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id).email if user_id else None


def test_the_start_redirects_to_the_idp_with_pkce_and_a_login_hint(client, oidc, idp):
    query = start(client, idp)
    assert query["client_id"] == idp.client_id
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) >= 43
    assert query["login_hint"] == "dora@acme.example"
    assert query["redirect_uri"] == "http://testserver/accounts/oidc/acme/login/callback/"
    assert set(query["scope"].split()) == {"openid", "profile", "email"}


def test_a_new_user_signs_in_and_joins_with_the_default_role(client, oidc, idp):
    idp.claims = {"sub": "u-dora", "email": "dora@acme.example", "email_verified": True, "name": "Dora Explorer"}
    response = sign_in(client, idp)
    assert response.status_code == 302, response.content.decode()
    assert signed_in_email(client) == "dora@acme.example"
    dora = User.objects.get(email="dora@acme.example")
    assert dora.name == "Dora Explorer"
    assert not dora.has_usable_password()
    assert Membership.objects.for_tenant(oidc.tenant).get(user=dora).role == "viewer"
    # the token request proved possession of the PKCE verifier and sent the client secret
    assert idp.token_requests[-1]["code_verifier"]
    # a second sign-in finds the same account through its social account
    client.logout()
    assert sign_in(client, idp).status_code == 302
    assert User.objects.filter(email="dora@acme.example").count() == 1
    assert SocialAccount.objects.get(user=dora).provider == "acme"


def test_groups_give_the_role_and_follow_changes_at_each_sign_in(client, oidc, idp):
    GroupRoleMapping.objects.create(tenant=oidc.tenant, provider=oidc, group="platform-admins", role="admin")
    GroupRoleMapping.objects.create(tenant=oidc.tenant, provider=oidc, group="devs", role="developer")
    idp.claims = {
        "sub": "u-2",
        "email": "erin@acme.example",
        "email_verified": True,
        "groups": ["devs", "platform-admins"],
    }
    assert sign_in(client, idp, "erin@acme.example").status_code == 302
    erin = User.objects.get(email="erin@acme.example")
    assert Membership.objects.for_tenant(oidc.tenant).get(user=erin).role == "admin"
    client.logout()
    idp.claims = {**idp.claims, "groups": ["devs"]}
    assert sign_in(client, idp, "erin@acme.example").status_code == 302
    assert Membership.objects.for_tenant(oidc.tenant).get(user=erin).role == "developer"
    client.logout()
    idp.claims = {**idp.claims, "groups": []}
    assert sign_in(client, idp, "erin@acme.example").status_code == 302
    assert Membership.objects.for_tenant(oidc.tenant).get(user=erin).role == "viewer"


def test_an_existing_account_in_a_verified_domain_is_connected_and_the_last_owner_stays_owner(client, oidc, idp, alice):
    GroupRoleMapping.objects.create(tenant=oidc.tenant, provider=oidc, group="devs", role="developer")
    idp.claims = {"sub": "u-alice", "email": "alice@acme.example", "email_verified": True, "groups": ["devs"]}
    assert sign_in(client, idp, "alice@acme.example").status_code == 302
    assert signed_in_email(client) == "alice@acme.example"
    assert SocialAccount.objects.get(provider="acme").user == alice
    assert Membership.objects.for_tenant(oidc.tenant).get(user=alice).role == "owner"
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)  # a verified address: the password is kept (break-glass)


@pytest.mark.parametrize(
    ("knob", "value"),
    [("bad_signature", True), ("audience", "someone-else"), ("expired", True)],
    ids=["bad signature", "wrong audience", "expired token"],
)
def test_a_bad_id_token_is_refused_and_creates_nobody(client, oidc, idp, knob, value):
    setattr(idp, knob, value)
    response = sign_in(client, idp)
    assert response.status_code == 401
    assert "Single sign-on failed" in response.content.decode()
    assert signed_in_email(client) is None
    assert not User.objects.filter(email="dora@acme.example").exists()


def test_a_code_bound_to_another_pkce_challenge_is_refused(client, oidc, idp):
    response = sign_in(client, idp, code_challenge="A" * 43)
    assert response.status_code == 401
    assert "Single sign-on failed" in response.content.decode()
    assert signed_in_email(client) is None
    assert not User.objects.filter(email="dora@acme.example").exists()


def test_an_idp_cannot_sign_into_an_address_outside_its_verified_domains(client, oidc, idp, alice, charlie, globex):
    """Globex's IdP claims alice@acme.example: refused, Alice's account untouched."""
    IdentityProvider.objects.for_tenant(oidc.tenant).update(tenant=globex, key="globex")
    verify_domain(globex, "globex.example")
    idp.claims = {"sub": "evil", "email": "alice@acme.example", "email_verified": True}
    query = start(client, idp, "charlie@globex.example")
    response = client.get(
        urlsplit(query["redirect_uri"]).path, {"code": idp.issue_code(query), "state": query["state"]}
    )
    assert response.status_code == 403
    assert "has not verified the domain acme.example" in response.content.decode()
    assert signed_in_email(client) is None
    assert not SocialAccount.objects.exists()


def test_an_address_without_sso_is_told_to_use_the_password(client, oidc):
    response = client.post("/sso/start/", {"email": "someone@elsewhere.example"})
    assert response.status_code == 400
    assert "No organisation signs in addresses at elsewhere.example" in response.content.decode()


def test_a_disabled_provider_routes_nobody_and_its_callback_is_gone(client, oidc, idp):
    query = start(client, idp)
    IdentityProvider.objects.for_tenant(oidc.tenant).update(enabled=False)
    assert client.post("/sso/start/", {"email": "dora@acme.example"}).status_code == 400
    response = client.get(
        urlsplit(query["redirect_uri"]).path, {"code": idp.issue_code(query), "state": query["state"]}
    )
    assert response.status_code == 404
    assert not User.objects.filter(email="dora@acme.example").exists()


def test_the_client_secret_is_encrypted_at_rest_and_masked(oidc, idp):
    row = IdentityProvider.objects.for_tenant(oidc.tenant).get()
    assert idp.client_secret not in row.client_secret_encrypted
    assert row.client_secret_encrypted.startswith("v1.")
    assert row.client_secret_hint.endswith(idp.client_secret[-4:]) and idp.client_secret not in row.client_secret_hint
    assert services.client_secret(row) == idp.client_secret
