"""Every response that shows a secret once (key, token, webhook secret, invitation link) is not cached."""

from tenants.models import Membership
from tenants.services import invitation_create

BASE = "/api/v1/tenants"


def _no_store(response) -> bool:
    return "no-store" in response.get("Cache-Control", "")


def test_api_keys_web_and_rest(client, api, active_sub, shop, charlie):
    client.force_login(charlie)
    created = client.post(f"/t/globex/apps/{shop.pk}/keys/", {"name": "web"}, follow=True)
    assert created.redirect_chain and 'id="key-value"' in created.content.decode() and _no_store(created)
    key_id = shop.keys.first().pk
    rotated = client.post(f"/t/globex/apps/{shop.pk}/keys/{key_id}/rotate/", {"grace_hours": 1}, follow=True)
    assert rotated.redirect_chain and 'id="key-value"' in rotated.content.decode() and _no_store(rotated)
    api.force_authenticate(charlie)
    rest = api.post(f"{BASE}/globex/keys/", {"application": shop.pk, "name": "rest"}, format="json")
    assert rest.status_code == 201 and rest.json()["key"] and _no_store(rest)
    rest_rotated = api.post(f"{BASE}/globex/keys/{rest.json()['id']}/rotate/", {"grace_hours": 0}, format="json")
    assert rest_rotated.status_code == 201 and _no_store(rest_rotated)
    # an ordinary read is cacheable as before
    assert not _no_store(api.get(f"{BASE}/globex/keys/"))


def test_personal_access_tokens_web_and_rest(client, api, charlie):
    client.force_login(charlie)
    page = client.post("/t/globex/tokens/", {"name": "ci", "scope": "read"}, follow=True)
    assert 'id="token-value"' in page.content.decode() and _no_store(page)
    api.force_authenticate(charlie)
    rest = api.post(f"{BASE}/globex/tokens/", {"name": "ci2"}, format="json")
    assert rest.status_code == 201 and rest.json()["token"] and _no_store(rest)


def test_webhook_secret_web_and_rest(client, api, charlie):
    client.force_login(charlie)
    page = client.post(
        "/t/globex/webhooks/", {"url": "http://127.0.0.1:9/hook", "events": ["key.*"], "secret": ""}, follow=True
    )
    assert "will not be shown again" in page.content.decode() and _no_store(page)
    api.force_authenticate(charlie)
    rest = api.post(f"{BASE}/globex/webhooks/", {"url": "http://127.0.0.1:9/h2", "events": ["key.*"]}, format="json")
    assert rest.status_code == 201 and rest.json()["secret"] and _no_store(rest)


def test_invitation_page_is_not_cached(client, globex, charlie):
    actor = Membership.objects.for_tenant(globex).get(user=charlie)
    _invitation, token = invitation_create(actor=actor, email="new@example.com", role="developer")
    assert _no_store(client.get(f"/invitations/{token}/"))


def test_account_pages_with_totp_secrets_and_recovery_codes_are_not_cached(client, charlie):
    client.force_login(charlie)
    totp = client.get("/accounts/2fa/totp/activate/")
    assert totp.status_code in {200, 302} and _no_store(totp)
    assert _no_store(client.get("/accounts/2fa/"))
    assert _no_store(client.get("/accounts/login/"))


def test_pending_email_change_page_has_no_inline_style(client, charlie):
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=charlie, email="new-charlie@example.com", verified=False, primary=False)
    client.force_login(charlie)
    page = client.get("/accounts/email/")
    html = page.content.decode()
    assert page.status_code == 200 and "new-charlie@example.com" in html
    assert "style=" not in html  # the strict CSP (style-src 'self') would block it
