"""SSO required: password sign-in, reset and sign-up refused for the domain; owners keep a way in."""

from __future__ import annotations

import pytest

from sso.models import IdentityProvider
from tenants.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def required(oidc):
    IdentityProvider.objects.for_tenant(oidc.tenant).update(sso_required=True)
    return oidc


def test_password_sign_in_is_refused_for_members_of_a_required_domain(client, required, bob):
    response = client.post("/accounts/login/", {"login": bob.email, "password": PASSWORD})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Acme Logistics requires single sign-on for addresses at acme.example" in page
    assert "/sso/start/?email=bob%40acme.example" in page
    assert "_auth_user_id" not in client.session


def test_the_owner_keeps_the_password_as_break_glass(client, required, alice):
    response = client.post("/accounts/login/", {"login": alice.email, "password": PASSWORD})
    assert response.status_code == 302


def test_without_the_requirement_the_password_still_works(client, oidc, bob):
    assert client.post("/accounts/login/", {"login": bob.email, "password": PASSWORD}).status_code == 302


def test_password_reset_and_sign_up_are_refused_too(client, required, bob):
    response = client.post("/accounts/password/reset/", {"email": bob.email})
    assert response.status_code == 200
    assert "resetting the password is not possible" in response.content.decode()
    response = client.post(
        "/accounts/signup/",
        {"email": "newbie@acme.example", "password1": "a-Long-passw0rd!", "password2": "a-Long-passw0rd!"},
    )
    assert "signing up is not possible" in response.content.decode()


def test_the_login_page_offers_single_sign_on(client):
    page = client.get("/accounts/login/").content.decode()
    assert 'action="/sso/start/"' in page and "Sign in with single sign-on" in page
