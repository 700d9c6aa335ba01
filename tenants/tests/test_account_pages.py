"""allauth's pages and e-mails speak like the rest of the portal (its name, sentence case, Bootstrap)."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from portal.templatetags.portal_ui import sentence_case
from tenants.tests.factories import PASSWORD


@pytest.mark.parametrize(
    ("title", "sentence"),
    [
        ("Sign In", "Sign in"),
        ("  Two-Factor Authentication\n", "Two-factor authentication"),
        ("Current email:", "Current email"),
        ("Activate TOTP", "Activate TOTP"),
        ("Re-send Verification", "Re-send verification"),
        ('<a href="/accounts/signup/">Sign Up</a> Now', '<a href="/accounts/signup/">Sign up</a> now'),
        ("Welcome to API Portal Settings", "Welcome to API Portal settings"),  # the site's name stays
        ("Password (again)", "Password (again)"),
    ],
)
def test_sentence_case(title, sentence):
    assert sentence_case(title) == sentence


@pytest.mark.django_db
def test_account_e_mails_name_the_platform_not_the_request_host(
    client, settings, alice, django_capture_on_commit_callbacks
):
    settings.SITE_NAME = "Acme Developer Hub"
    settings.SITE_URL = "https://developers.acme.example"
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("account_signup"), {"email": "dana@example.com", "password1": PASSWORD, "password2": PASSWORD}
        )
        client.post(reverse("account_reset_password"), {"email": alice.email})
    assert len(mail.outbox) == 2
    for message in mail.outbox:
        assert message.body.startswith("Hello from Acme Developer Hub!"), message.body
        assert "Thank you for using Acme Developer Hub!\ndevelopers.acme.example" in message.body
    assert "register an account on developers.acme.example" in mail.outbox[0].body


@pytest.mark.django_db
def test_sign_in_page_is_bootstrap_and_sentence_case(client):
    html = client.get(reverse("account_login")).content.decode()
    assert "<title>Sign in · API Portal</title>" in html
    assert '<h1 class="h3 mb-3">Sign in</h1>' in html
    assert 'placeholder="Email address" maxlength="320" class="form-control" required id="id_login"' in html
    assert 'class="form-check-input"' in html and "Remember me</label>" in html
    assert ">Sign in</button>" in html and 'class="btn btn-primary"' in html
    assert "Sign In" not in html and "Remember Me" not in html


@pytest.mark.django_db
def test_errors_are_shown_at_their_field_and_announced(client):
    html = client.post(
        reverse("account_signup"), {"email": "dana@example.com", "password1": PASSWORD, "password2": "other"}
    ).content.decode()
    assert 'aria-invalid="true"' in html and 'aria-describedby="id_password2_error"' in html
    assert 'class="invalid-feedback d-block" id="id_password2_error"' in html
    html = client.post(reverse("account_login"), {"login": "nobody@example.com", "password": "nope"}).content.decode()
    assert '<div class="alert alert-danger" role="alert">' in html


@pytest.mark.django_db
def test_account_pages_of_a_signed_in_user(client, alice):
    client.force_login(alice)
    pages = {
        "account_email": "Email address",
        "account_change_password": "Change password",
        "mfa_index": "Two-factor authentication",
    }
    for name, heading in pages.items():
        html = client.get(reverse(name)).content.decode()
        assert f'<h1 class="h3 mb-3">{heading}</h1>' in html, name
        assert f"<title>{heading} · API Portal</title>" in html, name
    html = client.get(reverse("mfa_index")).content.decode()
    assert '<section class="card mb-3">' in html and '<h2 class="h5 card-title">Authenticator app</h2>' in html
