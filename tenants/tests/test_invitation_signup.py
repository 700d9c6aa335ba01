"""Signing up from an invitation: the address is pre-filled, the invitee ends up signed in on the
invitation page, and every link (invitation, confirmation) uses the site's one host."""

import re
from html import unescape

import pytest
from django.core import mail

from tenants.models import Membership

PASSWORD = "a-Long-passw0rd!"


@pytest.fixture
def on_localhost(settings):
    settings.SITE_URL = "http://localhost:8000"


def _signup(client, email, next_url, **extra):
    return client.post(
        f"/accounts/signup/?next={next_url}",
        {"email": email, "password1": PASSWORD, "password2": PASSWORD, "next": next_url},
        **extra,
    )


def test_the_invited_address_is_prefilled_and_needs_no_second_verification(client, invite, acme, on_localhost):
    link = invite(email="dora@example.com")
    page = client.get(link).content.decode()
    signup_url = unescape(re.search(r'href="(/accounts/signup/\?[^"]+)" id="invitation-signup"', page).group(1))
    assert "email=dora%40example.com" in signup_url and "next=%2Finvitations%2F" in signup_url
    form = client.get(signup_url).content.decode()
    assert re.search(r'<input[^>]*name="email"[^>]*value="dora@example.com"', form)

    answer = _signup(client, "dora@example.com", link)
    assert answer.status_code == 302 and answer["Location"] == link  # signed in, back on the invitation
    accept = client.get(link).content.decode()
    assert "Accept invitation" in accept
    client.post(link, {"decision": "accept"})
    assert Membership.objects.for_tenant(acme).filter(user__email="dora@example.com").exists()


def test_signing_up_with_another_address_keeps_the_invited_one_verified(client, invite, on_localhost):
    link = invite(email="dora@example.com")
    client.get(link)
    answer = _signup(client, "dora.private@example.com", link)
    # allauth adds the invited address (vouched for by the link) as a verified one: signed in at once.
    assert answer.status_code == 302 and answer["Location"] == link
    assert "Accept invitation" in client.get(link).content.decode()


def test_a_confirmation_link_uses_the_site_host_and_brings_the_invitee_back_signed_in(
    client, invite, on_localhost, django_capture_on_commit_callbacks
):
    link = invite(email="dora@example.com")  # the sign-up link followed without opening the invitation first
    with django_capture_on_commit_callbacks(execute=True):
        answer = _signup(client, "dora@example.com", link, HTTP_HOST="127.0.0.1:8000")
    assert answer.status_code == 302 and "confirm-email" in answer["Location"]
    body = mail.outbox[-1].body
    confirm = re.search(r"https?://\S+/accounts/confirm-email/\S+/", body).group(0)
    assert confirm.startswith("http://localhost:8000/")  # not the host the request came to
    assert not re.search(r"https?://127\.0\.0\.1", body)  # no link to the other host
    path = confirm.removeprefix("http://localhost:8000")
    done = client.post(path, HTTP_HOST="localhost:8000")
    # Still signed in after confirming, and on the invitation page to accept it.
    assert done.status_code == 302 and done["Location"] == link
    assert "Accept invitation" in client.get(link, HTTP_HOST="localhost:8000").content.decode()


def test_an_expired_invitation_does_not_vouch_for_the_address(client, invite, on_localhost):
    from django.utils import timezone

    from tenants.models import Invitation

    link = invite(email="dora@example.com")
    Invitation.objects.unscoped().update(expires_at=timezone.now())
    client.get(link)
    answer = _signup(client, "dora@example.com", link)
    assert "confirm-email" in answer["Location"]  # the usual verification applies
