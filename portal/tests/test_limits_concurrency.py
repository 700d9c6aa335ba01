"""Per-tenant limits hold when many requests create at the same moment (real threads, real rows)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connections
from django.test import override_settings

from core.errors import Conflict
from notifications import services as notification_services
from notifications.models import Webhook
from subscriptions.models import ApiKey
from subscriptions.services import key_create
from subscriptions.tests.conftest import active_sub, catalog, charlie_m, shop
from tenants.models import Membership, PersonalAccessToken
from tenants.services import token_create

__all__ = ["active_sub", "catalog", "charlie_m", "shop"]

THREADS = 8
LIMIT = 3
pytestmark = pytest.mark.django_db(transaction=True)


def _race(create: Callable[[int], object]) -> list[str]:
    """Run ``create(i)`` in THREADS threads released together; return what each ended with."""
    barrier = threading.Barrier(THREADS)
    outcomes: list[str] = []

    def worker(i: int) -> None:
        try:
            barrier.wait()
            create(i)
            outcomes.append("created")
        except Conflict:
            outcomes.append("refused")
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            outcomes.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return outcomes


@override_settings(MAX_TOKENS_PER_USER=LIMIT)
def test_token_limit_holds_under_concurrent_creation(alice, acme):
    actor = Membership.objects.for_tenant(acme).get(user=alice)
    outcomes = _race(lambda i: token_create(actor=actor, name=f"t{i}"))
    assert sorted(outcomes) == ["created"] * LIMIT + ["refused"] * (THREADS - LIMIT)
    assert PersonalAccessToken.objects.for_tenant(acme).count() == LIMIT


def test_webhook_limit_holds_under_concurrent_creation(alice, acme, monkeypatch):
    monkeypatch.setattr(notification_services, "MAX_WEBHOOKS_PER_TENANT", LIMIT)
    actor = Membership.objects.for_tenant(acme).get(user=alice)
    outcomes = _race(
        lambda i: notification_services.webhook_create(
            actor=actor, url=f"https://hooks.example.com/{i}", events=["subscription.approved"]
        )
    )
    assert sorted(outcomes) == ["created"] * LIMIT + ["refused"] * (THREADS - LIMIT)
    assert Webhook.objects.for_tenant(acme).count() == LIMIT


@override_settings(MAX_KEYS_PER_APPLICATION=LIMIT)
def test_key_limit_holds_under_concurrent_creation(charlie_m, shop, active_sub):
    outcomes = _race(lambda i: key_create(actor=charlie_m, application=shop, name=f"k{i}"))
    assert sorted(outcomes) == ["created"] * LIMIT + ["refused"] * (THREADS - LIMIT)
    assert ApiKey.objects.for_tenant(shop.tenant).filter(application=shop).count() == LIMIT
