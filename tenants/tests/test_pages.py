"""Every page renders for the people who may see it, and is 404 for strangers."""

import pytest

TENANT_PAGES = ["/t/acme/", "/t/acme/members/", "/t/acme/settings/", "/t/acme/tokens/"]
TENANT_POSTS = [
    "/t/acme/invitations/",
    "/t/acme/members/1/role/",
    "/t/acme/members/1/remove/",
    "/t/acme/invitations/1/resend/",
    "/t/acme/invitations/1/revoke/",
    "/t/acme/delete/",
    "/t/acme/tokens/1/revoke/",
]


@pytest.mark.parametrize("url", TENANT_PAGES)
def test_members_of_every_role_see_tenant_pages(client, alice, bob, vera, url):
    for user in (alice, bob, vera):
        client.force_login(user)
        assert client.get(url).status_code == 200


@pytest.mark.parametrize("url", TENANT_PAGES + TENANT_POSTS)
def test_it_checks_ownership(client, alice, charlie, url):
    client.force_login(charlie)
    assert client.post(url, {"name": "x", "role": "viewer"}).status_code == 404
    assert client.get(url).status_code in (404, 405) if url in TENANT_POSTS else client.get(url).status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "/accounts/login/",
        "/accounts/signup/",
        "/accounts/password/reset/",
    ],
)
def test_account_pages_for_visitors(client, db, url):
    response = client.get(url)
    assert response.status_code == 200
    assert "vendor/bootstrap/bootstrap.min.css" in response.content.decode()


@pytest.mark.parametrize(
    "url",
    ["/accounts/email/", "/accounts/password/change/", "/accounts/2fa/", "/onboarding/"],
)
def test_account_pages_for_members(client, alice, url):
    client.force_login(alice)
    response = client.get(url)
    assert response.status_code == 200, url


def test_totp_two_factor_can_be_enabled_and_is_then_required(client, alice):
    import time

    from allauth.mfa.models import Authenticator
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

    from tenants.tests.factories import PASSWORD

    def code(secret):
        return format_hotp_value(hotp_value(secret, int(time.time()) // 30))

    client.post("/accounts/login/", {"login": alice.email, "password": PASSWORD})
    # enabling 2FA asks for the password again
    assert client.get("/accounts/2fa/totp/activate/")["Location"].startswith("/accounts/reauthenticate/")
    client.post("/accounts/reauthenticate/", {"password": PASSWORD})
    page = client.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200
    secret = page.context["form"].secret
    response = client.post("/accounts/2fa/totp/activate/", {"code": "000000"})
    assert "Incorrect code" in response.content.decode()
    client.post("/accounts/2fa/totp/activate/", {"code": code(secret)})
    assert Authenticator.objects.filter(user=alice, type="totp").exists()

    client.logout()
    response = client.post("/accounts/login/", {"login": alice.email, "password": PASSWORD})
    assert response["Location"] == "/accounts/2fa/authenticate/"
    assert client.get("/t/acme/").status_code == 302  # not signed in yet
    client.post("/accounts/2fa/authenticate/", {"code": code(secret)})
    assert client.get("/t/acme/").status_code == 200


def test_healthz(client, db):
    answer = client.get("/healthz").json()
    assert answer["status"] == "ok"
    assert answer["database"] == "ok"
