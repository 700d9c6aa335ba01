import re

import pytest
from django.core import mail
from django.urls import reverse

from tenants.models import Membership, Tenant
from tenants.tests.factories import PASSWORD, UserFactory


def _confirm_link(message):
    return re.search(r"http://\S+/accounts/confirm-email/\S+/", message.body).group(0)


@pytest.mark.django_db
def test_sign_up_verify_and_create_first_organisation(client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("account_signup"),
            {"email": "dana@example.com", "password1": PASSWORD, "password2": PASSWORD},
        )
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["dana@example.com"]

    # Unverified users cannot sign in yet.
    client.logout()
    response = client.post(reverse("account_login"), {"login": "dana@example.com", "password": PASSWORD})
    assert response["Location"] == reverse("account_email_verification_sent")

    link = _confirm_link(mail.outbox[-1])
    response = client.post(link[link.index("/accounts/") :])
    assert response.status_code == 302

    # After verification the user lands on onboarding, because they have no organisation.
    response = client.get(reverse("home"))
    assert response["Location"] == reverse("onboarding")
    response = client.post(reverse("onboarding"), {"name": "Dana's Data", "slug": "dana"})
    assert response["Location"] == reverse("tenants:dashboard", args=["dana"])
    assert Membership.objects.for_tenant(Tenant.objects.get(slug="dana")).get().role == "owner"
    response = client.get(reverse("tenants:dashboard", args=["dana"]))
    assert "Dana&#x27;s Data" in response.content.decode()
    assert client.get(reverse("home"))["Location"] == "/t/dana/"


@pytest.mark.parametrize(
    ("slug", "message"),
    [
        ("Bad Slug!", "lowercase letters"),
        ("-dash", "lowercase letters"),
        ("admin", "reserved"),
        ("", "This field is required"),
    ],
)
def test_onboarding_rejects_bad_slugs_with_a_field_message(client, db, slug, message):
    client.force_login(UserFactory())
    response = client.post(reverse("onboarding"), {"name": "X", "slug": slug})
    assert response.status_code == 400  # an invalid form always answers 400 (core.web.submit_form)
    assert message in response.content.decode()
    assert not Tenant.objects.exists()


def test_onboarding_rejects_a_taken_slug(client, charlie):
    client.force_login(UserFactory())
    response = client.post(reverse("onboarding"), {"name": "Copycat", "slug": "globex"})
    assert "already taken" in response.content.decode()
    assert Tenant.objects.count() == 1


def test_onboarding_lists_pending_invitations(client, alice):
    from tenants import services
    from tenants.selectors import membership_for

    services.invitation_create(actor=membership_for(alice, "acme"), email="newbie@example.com", role="viewer")
    client.force_login(UserFactory(email="newbie@example.com"))
    body = client.get(reverse("onboarding")).content.decode()
    assert "Acme Logistics" in body and "Viewer" in body


def test_home_sends_members_to_their_organisation(client, alice):
    client.force_login(alice)
    assert client.get("/")["Location"] == "/t/acme/"


def test_landing_page_for_visitors(client, db):
    body = client.get("/").content.decode()
    assert "Create an account" in body


def test_tenant_switcher_lists_every_membership(client, alice, globex):
    from tenants.tests.factories import MembershipFactory

    MembershipFactory(tenant=globex, user=alice, role="viewer")
    client.force_login(alice)
    body = client.get("/t/acme/").content.decode()
    assert 'href="/t/globex/"' in body and 'href="/t/acme/"' in body
    # switching is just following the link: the tenant is explicit in the URL
    assert "your role: Viewer" in client.get("/t/globex/").content.decode()
    assert "your role: Owner" in client.get("/t/acme/").content.decode()


def test_unknown_tenant_slug_is_404(client, alice):
    client.force_login(alice)
    assert client.get("/t/nope/").status_code == 404


def test_tenant_pages_need_login(client, alice):
    response = client.get("/t/acme/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
