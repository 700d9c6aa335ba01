import re
from datetime import timedelta

from django.core import mail
from django.utils import timezone

from tenants.models import Invitation, Membership
from tenants.tests.factories import UserFactory


def test_invitation_email_and_acceptance(client, invite):
    link = invite()
    message = mail.outbox[-1]
    assert message.to == ["dora@example.com"]
    assert "Acme Logistics" in message.subject
    assert "alice@acme.example" in message.body
    # only a hash of the token is stored
    token = link.strip("/").split("/")[-1]
    assert not Invitation.objects.unscoped().filter(token_hash=token).exists()

    dora = UserFactory(email="dora@example.com")
    client.force_login(dora)
    page = client.get(link).content.decode()
    assert "Join Acme Logistics" in page and "Developer" in page
    response = client.post(link, {"decision": "accept"})
    assert response["Location"] == "/t/acme/"
    assert Membership.objects.for_user(dora).get().role == "developer"

    # The link cannot be used twice.
    response = client.post(link, {"decision": "accept"})
    assert response.status_code == 410
    assert "already been used" in response.content.decode()


def test_anonymous_visitor_is_asked_to_sign_up_with_the_invited_address(client, invite):
    link = invite()
    body = client.get(link).content.decode()
    assert "dora@example.com" in body and "/accounts/signup/?next=" in body


def test_wrong_account_cannot_accept(client, invite):
    link = invite()
    client.force_login(UserFactory(email="eve@example.com"))
    response = client.post(link, {"decision": "accept"})
    assert response.status_code == 403
    assert "for dora@example.com" in response.content.decode()
    assert Membership.objects.for_user(Membership.objects.unscoped().first().user).count() == 1


def test_expired_invitation_gets_a_clear_page(client, invite):
    link = invite()
    Invitation.objects.unscoped().update(expires_at=timezone.now() - timedelta(minutes=1))
    client.force_login(UserFactory(email="dora@example.com"))
    response = client.get(link)
    assert response.status_code == 410
    assert "expired" in response.content.decode()
    assert client.post(link, {"decision": "accept"}).status_code == 410


def test_unknown_token_is_a_clear_404(client, db):
    response = client.get("/invitations/not-a-real-token/")
    assert response.status_code == 404
    assert "not valid" in response.content.decode()


def test_resend_replaces_the_link_and_revoke_withdraws_it(client, alice, invite, django_capture_on_commit_callbacks):
    old_link = invite()
    invitation = Invitation.objects.unscoped().get()
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/t/acme/invitations/{invitation.pk}/resend/")
    new_link = re.search(r"http://\S+(/invitations/\S+/)", mail.outbox[-1].body).group(1)
    assert new_link != old_link
    invitation.refresh_from_db()
    assert invitation.sent_count == 2

    dora = UserFactory(email="dora@example.com")
    client.force_login(dora)
    assert client.get(old_link).status_code == 404

    client.force_login(alice)
    client.post(f"/t/acme/invitations/{invitation.pk}/revoke/")
    client.force_login(dora)
    response = client.post(new_link, {"decision": "accept"})
    assert response.status_code == 410 and "withdrawn" in response.content.decode()


def test_decline(client, invite):
    link = invite()
    client.force_login(UserFactory(email="dora@example.com"))
    client.post(link, {"decision": "decline"})
    assert Invitation.objects.unscoped().get().status == "revoked"


def test_inviting_an_existing_member_or_twice_is_refused(client, alice, bob, invite):
    invite()
    client.force_login(alice)
    response = client.post("/t/acme/invitations/", {"email": "bob@acme.example", "role": "viewer"})
    assert response.status_code == 409 and "already a member" in response.content.decode()
    response = client.post("/t/acme/invitations/", {"email": "dora@example.com", "role": "viewer"})
    assert response.status_code == 409 and "resend it instead" in response.content.decode()
    response = client.post("/t/acme/invitations/", {"email": "not-an-email", "role": "viewer"})
    assert response.status_code == 400 and "valid email" in response.content.decode()


def test_reinviting_after_expiry_works(client, alice, invite):
    invite()
    Invitation.objects.unscoped().update(expires_at=timezone.now() - timedelta(days=1))
    invite()
    assert [i.status for i in Invitation.objects.unscoped().order_by("created_at")] == ["revoked", "pending"]


def test_developers_cannot_invite_and_strangers_see_404(client, bob, charlie):
    client.force_login(bob)
    response = client.post("/t/acme/invitations/", {"email": "x@example.com", "role": "viewer"})
    assert response.status_code == 403
    client.force_login(charlie)
    assert client.post("/t/acme/invitations/", {"email": "x@example.com", "role": "viewer"}).status_code == 404
    assert not Invitation.objects.unscoped().exists()


def test_it_checks_ownership_of_invitations(client, alice, charlie):
    from tenants import services
    from tenants.selectors import membership_for

    invitation, _ = services.invitation_create(
        actor=membership_for(charlie, "globex"), email="x@example.com", role="viewer"
    )
    client.force_login(alice)
    # Alice manages Acme, but Globex's invitation is not reachable through Acme's URLs.
    assert client.post(f"/t/acme/invitations/{invitation.pk}/revoke/").status_code == 404
    assert client.post(f"/t/globex/invitations/{invitation.pk}/revoke/").status_code == 404
    invitation.refresh_from_db()
    assert invitation.status == "pending"


def test_admin_cannot_invite_an_owner(client, acme):
    from tenants.tests.factories import MembershipFactory

    admin = MembershipFactory(tenant=acme, role="admin").user
    client.force_login(admin)
    response = client.post("/t/acme/invitations/", {"email": "boss@example.com", "role": "owner"})
    assert response.status_code == 403
    assert "does not allow you to manage owners" in response.content.decode()


def test_htmx_invite_returns_the_panel_fragment(client, alice, django_capture_on_commit_callbacks):
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/t/acme/invitations/", {"email": "h@example.com", "role": "viewer"}, HTTP_HX_REQUEST="true", follow=True
        )
    body = response.content.decode()
    assert response.redirect_chain == [("/t/acme/members/", 302)]  # POST/redirect/GET, htmx follows it
    assert response.status_code == 200
    assert "<html" not in body and 'id="members-panel"' in body and "h@example.com" in body
