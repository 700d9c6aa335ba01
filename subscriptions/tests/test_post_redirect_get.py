"""POST/redirect/GET everywhere, also where a secret is shown once: a reload never creates a second key.

The secret rides to the redirected page in the session, is shown there once with
``Cache-Control: no-store``, and is gone from the session after that read.
"""

import re

import pytest

from gateways.models import GatewayNode
from notifications.models import Webhook
from subscriptions.models import ApiKey
from subscriptions.services import key_create
from subscriptions.tests.factories import membership
from tenants.models import PersonalAccessToken
from tenants.tests.factories import UserFactory

SECRET = re.compile(r'id="(?:key|token|secret)-value">([^<]+)<')


def _post_then_show_once(client, url, data, page):
    posted = client.post(url, data)
    assert posted.status_code == 302 and posted["Location"] == page
    shown = client.get(page)
    assert "no-store" in shown["Cache-Control"]
    secret = SECRET.search(shown.content.decode()).group(1)
    assert secret not in str(dict(client.session))  # gone from the session once shown
    again = client.get(page)  # a reload (or the back button) shows the page without it
    assert secret not in again.content.decode()
    return secret


def test_new_and_rotated_api_key(client, active_sub, shop, charlie):
    client.force_login(charlie)
    page = f"/t/globex/apps/{shop.pk}/"
    secret = _post_then_show_once(client, f"/t/globex/apps/{shop.pk}/keys/", {"name": "prod"}, page)
    key = ApiKey.objects.for_tenant(shop.tenant).get()
    assert secret.startswith(f"apk_{key.key_id}_")
    rotated = _post_then_show_once(client, f"/t/globex/apps/{shop.pk}/keys/{key.pk}/rotate/", {"grace_hours": 0}, page)
    assert rotated != secret and ApiKey.objects.for_tenant(shop.tenant).count() == 2


def test_personal_access_token(client, charlie):
    client.force_login(charlie)
    secret = _post_then_show_once(client, "/t/globex/tokens/", {"name": "ci", "scope": "read"}, "/t/globex/tokens/")
    assert secret.startswith("pat_") and PersonalAccessToken.objects.unscoped().count() == 1


def test_webhook_secret(client, globex, charlie):
    client.force_login(charlie)
    data = {"url": "http://127.0.0.1:9/hook", "events": ["key.*"], "secret": ""}
    secret = _post_then_show_once(client, "/t/globex/webhooks/", data, "/t/globex/webhooks/")
    assert secret == Webhook.objects.for_tenant(globex).get().secret


@pytest.mark.django_db
def test_gateway_node_token(client):
    client.force_login(UserFactory(is_staff=True))
    secret = _post_then_show_once(client, "/platform/nodes/", {"name": "edge-1"}, "/platform/nodes/")
    node = GatewayNode.objects.get()
    assert secret.startswith(f"gwn_{node.key_id}_")
    rotated = _post_then_show_once(client, f"/platform/nodes/{node.pk}/rotate/", {}, "/platform/nodes/")
    assert rotated != secret


def test_the_secret_is_only_shown_on_the_page_it_was_meant_for(client, active_sub, shop, charlie):
    client.force_login(charlie)
    client.post(f"/t/globex/apps/{shop.pk}/keys/", {"name": "prod"})
    assert 'id="token-value"' not in client.get("/t/globex/tokens/").content.decode()
    assert 'id="key-value"' in client.get(f"/t/globex/apps/{shop.pk}/").content.decode()


def test_a_secret_left_waiting_too_long_is_dropped(client, active_sub, shop, charlie, monkeypatch):
    import core.http

    client.force_login(charlie)
    client.post(f"/t/globex/apps/{shop.pk}/keys/", {"name": "prod"})
    monkeypatch.setattr(core.http, "REVEAL_MAX_AGE_SECONDS", -1)
    assert 'id="key-value"' not in client.get(f"/t/globex/apps/{shop.pk}/").content.decode()


def test_revoke_message_names_the_key_unambiguously(client, active_sub, shop, charlie):
    key, _ = key_create(actor=membership(charlie, shop.tenant), application=shop, name="production")
    client.force_login(charlie)
    page = client.post(f"/t/globex/apps/{shop.pk}/keys/{key.pk}/revoke/", follow=True).content.decode()
    assert f"Key “production” (apk_{key.key_id}_…) revoked" in page
