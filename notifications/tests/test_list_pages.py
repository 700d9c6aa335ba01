"""Notifications, webhooks and deliveries at two data sizes: same number of queries, paginated."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from core.tests.queries import assert_flat_queries
from notifications.models import Notification, Webhook, WebhookDelivery

pytestmark = pytest.mark.django_db


def _notices(tenant, user, n):
    # Already read: opening the list marks unread notices read with one UPDATE, which the first
    # visit would spend and the second not (tested in test_notifications.py).
    now = timezone.now()
    Notification.objects.bulk_create(
        [
            Notification(tenant=tenant, user=user, kind="test", title=f"Notice {i}", url="/x/", read_at=now)
            for i in range(n)
        ]
    )


def _webhooks(tenant, n):
    return Webhook.objects.bulk_create(
        [Webhook(tenant=tenant, url=f"https://hooks.example/{i}", secret="s", events=["*"]) for i in range(n)]
    )


def _deliveries(webhook, n):
    WebhookDelivery.objects.bulk_create(
        [WebhookDelivery(tenant_id=webhook.tenant_id, webhook=webhook, event="test.ping", payload={}) for _ in range(n)]
    )


def test_notification_list(client, alice, acme):
    _notices(acme, alice, 3)
    client.force_login(alice)
    url = reverse("notifications:list", args=[acme.slug])
    _, page = assert_flat_queries(client, url, lambda: _notices(acme, alice, 27))
    assert "1–30 of 30" in page.content.decode()


def test_notification_list_page_two(client, alice, acme):
    _notices(acme, alice, 130)
    client.force_login(alice)
    html = client.get(reverse("notifications:list", args=[acme.slug]) + "?page=3").content.decode()
    assert "101–130 of 130" in html


def test_webhooks_page(client, alice, acme):
    _webhooks(acme, 3)
    client.force_login(alice)
    url = reverse("notifications:webhooks", args=[acme.slug])
    _, page = assert_flat_queries(client, url, lambda: _webhooks(acme, 27))
    assert page.content.decode().count("https://hooks.example/") == 30


def test_delivery_log_offers_more_instead_of_a_count(client, alice, acme):
    (webhook,) = _webhooks(acme, 1)
    _deliveries(webhook, 3)
    client.force_login(alice)
    url = reverse("notifications:webhook", args=[acme.slug, webhook.pk])
    _, page = assert_flat_queries(client, url, lambda: _deliveries(webhook, 27))
    assert page.content.decode().count("test.ping") == 30
    _deliveries(webhook, 40)
    html = client.get(url).content.decode()
    assert "More" in html and "of 70" not in html
    assert client.get(url + "?page=2").content.decode().count("test.ping") == 20
