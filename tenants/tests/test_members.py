import pytest

from tenants.models import Membership, Tenant
from tenants.tests.factories import MembershipFactory, sign_in


def _role(user, tenant):
    return Membership.objects.for_tenant(tenant).get(user=user).role


def test_owner_changes_a_role(client, acme, alice, bob):
    client.force_login(alice)
    bob_membership = Membership.objects.for_tenant(acme).get(user=bob)
    response = client.post(f"/t/acme/members/{bob_membership.pk}/role/", {"role": "admin"}, follow=True)
    assert "bob@acme.example is now Admin" in response.content.decode()
    assert _role(bob, acme) == "admin"


def test_last_owner_cannot_be_demoted_or_leave(client, acme, alice):
    client.force_login(alice)
    me = Membership.objects.for_tenant(acme).get(user=alice)
    response = client.post(f"/t/acme/members/{me.pk}/remove/")
    # A refused button is the page again with the refusal's status (core.web.perform), not a redirect.
    assert response.status_code == 409
    assert "You are the last owner" in response.content.decode()
    assert _role(alice, acme) == "owner"
    assert client.post(f"/t/acme/members/{me.pk}/role/", {"role": "emperor"}).status_code == 400


def test_second_owner_lets_the_first_leave(client, acme, alice, bob):
    Membership.objects.for_tenant(acme).filter(user=bob).update(role="owner")
    client.force_login(alice)
    me = Membership.objects.for_tenant(acme).get(user=alice)
    response = client.post(f"/t/acme/members/{me.pk}/remove/")
    assert response["Location"] == "/"
    assert not Membership.objects.for_tenant(acme).filter(user=alice).exists()


def test_members_can_leave(client, acme, bob):
    client.force_login(bob)
    me = Membership.objects.for_tenant(acme).get(user=bob)
    client.post(f"/t/acme/members/{me.pk}/remove/")
    assert not Membership.objects.for_tenant(acme).filter(user=bob).exists()
    assert client.get("/t/acme/").status_code == 404


def test_admin_cannot_touch_owners_or_make_owners(client, acme, alice, bob):
    admin = MembershipFactory(tenant=acme, role="admin").user
    client.force_login(admin)
    owner = Membership.objects.for_tenant(acme).get(user=alice)
    body = client.post(f"/t/acme/members/{owner.pk}/role/", {"role": "viewer"}, follow=True).content.decode()
    assert "does not allow you to manage owners" in body
    client.post(f"/t/acme/members/{owner.pk}/remove/")
    bob_m = Membership.objects.for_tenant(acme).get(user=bob)
    client.post(f"/t/acme/members/{bob_m.pk}/role/", {"role": "owner"})
    assert _role(alice, acme) == "owner"
    assert _role(bob, acme) == "developer"
    # but an admin does manage developers
    client.post(f"/t/acme/members/{bob_m.pk}/remove/")
    assert not Membership.objects.for_tenant(acme).filter(user=bob).exists()


@pytest.mark.parametrize("who", ["bob", "vera"])
def test_lower_roles_cannot_manage_members(client, acme, alice, bob, vera, who):
    user = {"bob": bob, "vera": vera}[who]
    client.force_login(user)
    owner = Membership.objects.for_tenant(acme).get(user=alice)
    assert client.post(f"/t/acme/members/{owner.pk}/role/", {"role": "viewer"}).status_code == 403
    client.post(f"/t/acme/members/{owner.pk}/remove/")
    assert _role(alice, acme) == "owner"
    # they see the list, without management controls
    body = client.get("/t/acme/members/").content.decode()
    assert "alice@acme.example" in body and "Send invitation" not in body


def test_it_checks_ownership_of_members(client, acme, alice, charlie, globex):
    client.force_login(charlie)
    assert client.get("/t/acme/members/").status_code == 404
    owner = Membership.objects.for_tenant(acme).get(user=alice)
    assert client.post(f"/t/acme/members/{owner.pk}/remove/").status_code == 404
    # even through his own tenant's URL, another tenant's membership id is unknown
    assert client.post(f"/t/globex/members/{owner.pk}/remove/").status_code == 404
    assert client.post(f"/t/globex/members/{owner.pk}/role/", {"role": "viewer"}).status_code == 404
    assert _role(alice, acme) == "owner"


def test_bad_role_value_is_refused(client, acme, alice, bob):
    client.force_login(alice)
    bob_m = Membership.objects.for_tenant(acme).get(user=bob)
    body = client.post(f"/t/acme/members/{bob_m.pk}/role/", {"role": "emperor"}, follow=True).content.decode()
    assert "Choose a valid role" in body
    assert _role(bob, acme) == "developer"


def test_settings_rename_and_delete(client, acme, alice, bob):
    client.force_login(bob)
    assert client.post("/t/acme/settings/", {"name": "Hacked"}).status_code == 403
    client.force_login(alice)
    client.post("/t/acme/settings/", {"name": "Acme Freight"})
    acme.refresh_from_db()
    assert acme.name == "Acme Freight"
    sign_in(client, alice)
    response = client.post("/t/acme/delete/", {"confirm_slug": "wrong"})
    assert response.status_code == 400 and "Type the organisation" in response.content.decode()
    client.force_login(bob)
    assert client.post("/t/acme/delete/", {"confirm_slug": "acme"}).status_code == 403
    client.force_login(alice)  # an old session: first asked to confirm the password
    assert client.post("/t/acme/delete/", {"confirm_slug": "acme"})["Location"].startswith("/accounts/reauthenticate/")
    assert Tenant.objects.filter(slug="acme").exists()
    sign_in(client, alice)
    assert client.post("/t/acme/delete/", {"confirm_slug": "acme"})["Location"] == "/"
    assert not Tenant.objects.filter(slug="acme").exists()


def test_settings_empty_name_is_a_field_error(client, acme, alice):
    client.force_login(alice)
    response = client.post("/t/acme/settings/", {"name": ""})
    assert "This field is required" in response.content.decode()


def test_platform_overview_is_for_staff_only(client, alice, charlie):
    client.force_login(alice)
    assert client.get("/platform/").status_code == 302
    from tenants.tests.factories import UserFactory

    staff = UserFactory(is_staff=True)
    client.force_login(staff)
    body = client.get("/platform/").content.decode()
    assert "Acme Logistics" in body and "Globex Retail" in body and "charlie@globex.example" in body
