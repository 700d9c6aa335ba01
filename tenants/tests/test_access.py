"""Token scopes, token revocation rank, fresh sign-in for destructive operations, trusted proxies."""

import itertools
import random

import pytest

from core.net import client_ip
from tenants import services
from tenants.models import Membership, PersonalAccessToken, Tenant
from tenants.tests.factories import MembershipFactory, sign_in

BASE = "/api/v1/tenants"


def _token(user, tenant, scope):
    membership = Membership.objects.for_tenant(tenant).get(user=user)
    _stored, plaintext = services.token_create(actor=membership, name=f"{scope}-token", scope=scope)
    return plaintext


# --- Scopes --------------------------------------------------------------------------


def test_read_token_reads_and_is_refused_every_write(api, acme, alice):
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {_token(alice, acme, 'read')}")
    assert api.get(f"{BASE}/acme/members/").status_code == 200
    for response in (
        api.post(f"{BASE}/acme/invitations/", {"email": "x@example.com"}, format="json"),
        api.patch(f"{BASE}/acme/", {"name": "Renamed"}, format="json"),
        api.delete(f"{BASE}/acme/"),
    ):
        assert response.status_code == 403
        error = response.json()["error"]
        assert error["code"] == "token_read_only" and "read-only" in error["message"]
    assert Tenant.objects.get(slug="acme").name == "Acme Logistics"


def test_scope_is_chosen_on_create_and_shown(api, client, acme, alice):
    api.force_authenticate(alice)
    created = api.post(f"{BASE}/acme/tokens/", {"name": "ro", "scope": "read"}, format="json").json()
    assert created["scope"] == "read"
    assert api.post(f"{BASE}/acme/tokens/", {"name": "rw"}, format="json").json()["scope"] == "write"
    bad = api.post(f"{BASE}/acme/tokens/", {"name": "x", "scope": "admin"}, format="json")
    assert bad.status_code == 400 and "scope" in bad.json()["error"]["fields"]
    # the page proposes read-only, and shows each token's scope
    client.force_login(alice)
    page = client.get("/t/acme/tokens/").content.decode()
    assert '<option value="read" selected>' in page
    client.post("/t/acme/tokens/", {"name": "from-page"})
    assert PersonalAccessToken.objects.for_tenant(acme).get(name="from-page").scope == "read"


# --- Revoking another member's token follows the removal rank rules ----------------------


def test_admin_cannot_revoke_an_owners_token_but_owner_can_revoke_an_admins(api, client, acme, alice, bob):
    admin = MembershipFactory(tenant=acme, role="admin").user
    owner_token = PersonalAccessToken.objects.for_tenant(acme).get(pk=_pk(alice, acme))
    admin_token = PersonalAccessToken.objects.for_tenant(acme).get(pk=_pk(admin, acme))
    dev_token = PersonalAccessToken.objects.for_tenant(acme).get(pk=_pk(bob, acme))
    api.force_authenticate(admin)
    refused = api.post(f"{BASE}/acme/tokens/{owner_token.pk}/revoke/")
    assert refused.status_code == 403 and "owners" in refused.json()["error"]["message"]
    client.force_login(admin)
    client.post(f"/t/acme/tokens/{owner_token.pk}/revoke/")
    owner_token.refresh_from_db()
    assert owner_token.revoked_at is None
    assert api.post(f"{BASE}/acme/tokens/{dev_token.pk}/revoke/").json()["status"] == "revoked"
    api.force_authenticate(alice)
    assert api.post(f"{BASE}/acme/tokens/{admin_token.pk}/revoke/").json()["status"] == "revoked"


def _pk(user, tenant):
    membership = Membership.objects.for_tenant(tenant).get(user=user)
    return services.token_create(actor=membership, name="t")[0].pk


# --- Destructive operations need a write token or a recent sign-in ----------------------


def test_stale_session_cannot_delete_or_change_owners_over_rest(api, acme, alice, bob, settings):
    bob_m = Membership.objects.for_tenant(acme).get(user=bob)
    api.force_authenticate(alice)  # a session with no recorded sign-in: as old as it gets
    for response in (
        api.delete(f"{BASE}/acme/"),
        api.patch(f"{BASE}/acme/members/{bob_m.pk}/", {"role": "owner"}, format="json"),
    ):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "reauthentication_required"
    # an ordinary change still works
    assert api.patch(f"{BASE}/acme/members/{bob_m.pk}/", {"role": "admin"}, format="json").status_code == 200
    sign_in(api, alice)
    settings.REAUTHENTICATION_WINDOW_SECONDS = 0  # the sign-in is now too old
    assert api.delete(f"{BASE}/acme/").json()["error"]["code"] == "reauthentication_required"
    settings.REAUTHENTICATION_WINDOW_SECONDS = 900
    assert api.patch(f"{BASE}/acme/members/{bob_m.pk}/", {"role": "owner"}, format="json").status_code == 200
    assert api.delete(f"{BASE}/acme/").status_code == 204


def test_owner_with_write_token_may_delete_read_token_may_not(api, acme, alice):
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {_token(alice, acme, 'read')}")
    assert api.delete(f"{BASE}/acme/").status_code == 403
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {_token(alice, acme, 'write')}")
    assert api.delete(f"{BASE}/acme/").status_code == 204
    assert not Tenant.objects.filter(slug="acme").exists()


def test_web_sends_a_stale_owner_to_confirm_the_password_then_lets_them(client, acme, alice, bob):
    Membership.objects.for_tenant(acme).filter(user=bob).update(role="owner")
    bob_m = Membership.objects.for_tenant(acme).get(user=bob)
    client.force_login(alice)
    response = client.post(f"/t/acme/members/{bob_m.pk}/remove/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/reauthenticate/?next=%2Ft%2Facme%2Fmembers%2F"
    assert Membership.objects.for_tenant(acme).filter(user=bob).exists()
    # allauth's real "confirm your password" page
    from tenants.tests.factories import PASSWORD

    confirmed = client.post(response["Location"], {"password": PASSWORD})
    assert confirmed.status_code == 302 and confirmed["Location"] == "/t/acme/members/"
    client.post(f"/t/acme/members/{bob_m.pk}/remove/")
    assert not Membership.objects.for_tenant(acme).filter(user=bob).exists()


def test_admins_still_get_the_rank_message_not_a_password_prompt(client, acme, alice):
    admin = MembershipFactory(tenant=acme, role="admin").user
    client.force_login(admin)
    owner = Membership.objects.for_tenant(acme).get(user=alice)
    body = client.post(f"/t/acme/members/{owner.pk}/remove/", follow=True).content.decode()
    assert "does not allow you to manage owners" in body


# --- One trusted-proxy setting for REST throttles and sign-in rate limits -----------------

_octets = itertools.count(random.randrange(1, 200) * 256)


def _ip() -> str:
    """A fresh address per call, so counters left in Redis by an earlier run do not matter."""
    n = next(_octets)
    return f"198.18.{n // 256 % 256}.{n % 256}"


def test_client_ip_rule():
    meta = {"REMOTE_ADDR": "10.0.0.9", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 203.0.113.7"}
    assert client_ip(meta, 0) == "10.0.0.9"
    assert client_ip(meta, 1) == "203.0.113.7"
    assert client_ip(meta, 2) == "6.6.6.6"
    assert client_ip(meta, 5) == "6.6.6.6"
    assert client_ip({"REMOTE_ADDR": "10.0.0.9", "HTTP_X_FORWARDED_FOR": "<script>"}, 1) == "10.0.0.9"


@pytest.fixture
def limited(settings, monkeypatch):
    from apis.api.views import CatalogAnonThrottle

    monkeypatch.setattr(CatalogAnonThrottle, "THROTTLE_RATES", {"catalog_anon": "2/min"})
    settings.ACCOUNT_RATE_LIMITS = {"login": "2/m/ip"}
    return settings


def _login(client, remote, forwarded=None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client.post("/accounts/login/", {"login": "nobody@example.com", "password": "x"}, **extra).status_code


def _catalog(api, remote, forwarded=None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return api.get("/api/v1/catalog/", **extra).status_code


@pytest.mark.parametrize("call", [_login, _catalog])
def test_without_proxies_a_forged_forwarded_for_changes_nothing(limited, client, api, db, call):
    limited.TRUSTED_PROXY_COUNT = 0
    actor = client if call is _login else api
    attacker = _ip()
    statuses = [call(actor, attacker, forwarded=_ip()) for _ in range(3)]
    assert statuses[:2] != [429, 429] and statuses[2] == 429


@pytest.mark.parametrize("call", [_login, _catalog])
def test_behind_one_proxy_clients_are_limited_separately(limited, client, api, db, call):
    limited.TRUSTED_PROXY_COUNT = 1
    actor = client if call is _login else api
    proxy, first, second = _ip(), _ip(), _ip()
    assert [call(actor, proxy, forwarded=first) for _ in range(3)][2] == 429
    # another client behind the same proxy is not locked out ...
    assert call(actor, proxy, forwarded=second) != 429
    # ... and a client cannot escape by prepending a forged address
    assert call(actor, proxy, forwarded=f"{_ip()}, {first}") == 429
