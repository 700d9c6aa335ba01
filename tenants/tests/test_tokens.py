import re
from datetime import timedelta

from django.utils import timezone

from tenants.models import PersonalAccessToken
from tenants.tests.factories import MembershipFactory


def _create_in_ui(client, user, name="CI", scope="write"):
    client.force_login(user)
    posted = client.post("/t/acme/tokens/", {"name": name, "scope": scope})
    assert posted.status_code == 302 and posted["Location"] == "/t/acme/tokens/"  # POST/redirect/GET
    shown = client.get("/t/acme/tokens/")
    assert "no-store" in shown["Cache-Control"]
    body = shown.content.decode()
    return re.search(r'id="token-value">(pat_[A-Za-z0-9]+_[A-Za-z0-9]+)<', body).group(1)


def test_token_is_shown_once_and_hashed_at_rest(client, alice):
    token = _create_in_ui(client, alice)
    stored = PersonalAccessToken.objects.for_tenant(alice.memberships.get().tenant).get()
    secret = token.split("_")[2]
    assert len(secret) >= 22  # >= 128 bits of base62
    assert token not in str(stored.__dict__) and secret not in stored.token_hash
    # the list page never shows it again
    body = client.get("/t/acme/tokens/").content.decode()
    assert secret not in body and f"pat_{stored.key_id}_…" in body


def test_token_calls_the_api_as_its_user_in_its_tenant(client, api, alice, charlie):
    token = _create_in_ui(client, alice)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = api.get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json()["email"] == "alice@acme.example"
    assert [m["tenant"] for m in response.json()["memberships"]] == ["acme"]
    assert api.get("/api/v1/tenants/acme/members/").status_code == 200
    # bound to one tenant: another tenant's URLs are 404, even one the user belongs to
    MembershipFactory(tenant=charlie.memberships.get().tenant, user=alice, role="admin")
    assert api.get("/api/v1/tenants/globex/").status_code == 404
    assert api.get("/api/v1/tenants/globex/members/").status_code == 404
    assert [t["slug"] for t in api.get("/api/v1/tenants/").json()["results"]] == ["acme"]
    stored = PersonalAccessToken.objects.unscoped().get()
    assert stored.last_used_at is not None


def test_revoked_expired_and_malformed_tokens_get_401(client, api, alice):
    token = _create_in_ui(client, alice)
    stored = PersonalAccessToken.objects.unscoped().get()
    client.post(f"/t/acme/tokens/{stored.pk}/revoke/")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = api.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Invalid, expired or revoked token."

    token2 = _create_in_ui(client, alice, "short-lived")
    PersonalAccessToken.objects.unscoped().filter(name="short-lived").update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token2}")
    assert api.get("/api/v1/me/").status_code == 401
    for bad in ["pat_x", "garbage", token2[:-1] + ("A" if token2[-1] != "A" else "B")]:
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {bad}")
        assert api.get("/api/v1/me/").status_code == 401


def test_token_stops_working_when_its_user_leaves(client, api, acme, bob):
    token = _create_in_ui(client, bob)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/api/v1/me/").status_code == 200
    bob.memberships.get().delete()
    assert api.get("/api/v1/me/").status_code == 401


def test_token_acts_with_the_users_role(client, api, vera, alice):
    token = _create_in_ui(client, vera)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = api.post("/api/v1/tenants/acme/invitations/", {"email": "x@example.com"}, format="json")
    assert response.status_code == 403
    assert "Viewer" in response.json()["error"]["message"]


def test_token_form_errors(client, alice):
    client.force_login(alice)
    response = client.post("/t/acme/tokens/", {"name": ""})
    assert response.status_code == 400 and "This field is required" in response.content.decode()
    response = client.post("/t/acme/tokens/", {"name": "old", "expires_at": "2001-01-01T00:00"})
    assert response.status_code == 400 and "must be in the future" in response.content.decode()
    assert not PersonalAccessToken.objects.unscoped().exists()


def test_token_limit(client, alice, settings):
    settings.MAX_TOKENS_PER_USER = 2
    _create_in_ui(client, alice, "a")
    _create_in_ui(client, alice, "b")
    response = client.post("/t/acme/tokens/", {"name": "c"})
    assert response.status_code == 409 and "Revoke one first" in response.content.decode()


def test_admins_see_and_revoke_everyones_tokens_developers_only_their_own(client, acme, alice, bob):
    _create_in_ui(client, bob, "bob's")
    _create_in_ui(client, alice, "alice's")
    bobs = PersonalAccessToken.objects.for_tenant(acme).get(user=bob)
    alices = PersonalAccessToken.objects.for_tenant(acme).get(user=alice)
    client.force_login(bob)
    assert "alice&#x27;s" not in client.get("/t/acme/tokens/").content.decode()
    client.post(f"/t/acme/tokens/{alices.pk}/revoke/")
    alices.refresh_from_db()
    assert alices.revoked_at is None
    client.force_login(alice)
    assert "bob&#x27;s" in client.get("/t/acme/tokens/").content.decode()
    client.post(f"/t/acme/tokens/{bobs.pk}/revoke/")
    bobs.refresh_from_db()
    assert bobs.revoked_at is not None


def test_it_checks_ownership_of_tokens(client, acme, alice, charlie):
    _create_in_ui(client, alice)
    token = PersonalAccessToken.objects.for_tenant(acme).get()
    client.force_login(charlie)
    assert client.get("/t/acme/tokens/").status_code == 404
    assert client.post(f"/t/acme/tokens/{token.pk}/revoke/").status_code == 404
    assert client.post(f"/t/globex/tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
