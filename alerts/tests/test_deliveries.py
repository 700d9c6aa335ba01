"""What a firing and a resolving rule send: in-app notices to owners and admins, e-mail when the
rule asks, and signed ``alert.fired`` / ``alert.resolved`` webhook deliveries."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core import mail

from alerts.evaluation import evaluate
from alerts.models import AlertRule, Metric
from alerts.tests.conftest import Shop, rollup
from core.models import OutboxMessage
from gateways.models import GatewayNode
from notifications import services as notification_services
from notifications.models import Notification, WebhookDelivery
from notifications.tasks import deliver_webhook_task
from notifications.tests.test_webhooks import Receiver, _check_signature
from tenants.tests.factories import MembershipFactory, UserFactory

M = dt.timedelta(minutes=1)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_fired_and_resolved_reach_admins_mail_and_webhooks(
    shop: Shop, acme, bob, receiver, django_capture_on_commit_callbacks
) -> None:
    MembershipFactory(tenant=acme, user=UserFactory(email="ada@acme.example"), role="admin")
    hook = notification_services.webhook_create(actor=shop.alice, url=receiver.url, events=["alert.*"], secret="s" * 24)
    shop.calls(shop.t0 - 5 * M, 10, status=500, spread=5)
    shop.calls(shop.t0 + 10 * M, 30, spread=5)
    rollup()
    rule = AlertRule.objects.create(
        tenant=acme, scope="api", api=shop.api, metric=Metric.ERROR_RATE, threshold=50, window_minutes=5,
        min_calls=5, email=True, name="Orders failing",
    )  # fmt: skip

    with django_capture_on_commit_callbacks(execute=True):
        evaluate(now=shop.t0)
    notices = Notification.objects.for_tenant(acme).filter(kind="alert.fired")
    assert sorted(n.user.email for n in notices) == ["ada@acme.example", "alice@acme.example"]  # not Bob (developer)
    notice = notices.first()
    assert notice.title == "Alert fired: Orders failing"
    assert notice.url == f"/t/acme/alerts/rules/{rule.pk}/"
    # E-mails are outbox rows written with the notices, sent after commit (one per recipient).
    assert OutboxMessage.objects.filter(kind="email").count() == 2
    assert sorted(m.to[0] for m in mail.outbox) == ["ada@acme.example", "alice@acme.example"]
    assert all(m.subject.endswith("Alert fired: Orders failing") for m in mail.outbox)

    with django_capture_on_commit_callbacks(execute=True):
        evaluate(now=shop.t0 + 15 * M)
    assert Notification.objects.for_tenant(acme).filter(kind="alert.resolved").count() == 2

    deliveries = list(WebhookDelivery.objects.for_tenant(acme).order_by("pk"))
    assert [d.event for d in deliveries] == ["alert.fired", "alert.resolved"]
    for delivery in deliveries:  # sent by the kick on commit; again by hand is a no-op
        deliver_webhook_task(delivery.pk)
    assert [json.loads(r["body"])["event"] for r in receiver.requests] == ["alert.fired", "alert.resolved"]
    for request in receiver.requests:
        _check_signature(request, hook.secret)
    fired = json.loads(receiver.requests[0]["body"])["data"]
    assert fired["rule"] == {"id": rule.pk, "name": "Orders failing", "condition": "error rate ≥ 50 % over 5 min"}
    assert fired["scope"] == {"type": "api", "id": shop.api.pk, "slug": "orders", "name": "Orders API"}
    assert (fired["metric"], fired["unit"], fired["threshold"], fired["window_minutes"]) == ("error_rate", "%", 50.0, 5)
    assert (fired["state"], fired["value"], fired["resolved_at"]) == ("firing", 100.0, None)
    assert fired["url"].endswith(f"/t/acme/alerts/rules/{rule.pk}/")
    resolved = json.loads(receiver.requests[1]["body"])["data"]
    assert (resolved["state"], resolved["value"], resolved["fired_value"]) == ("resolved", 0.0, 100.0)
    assert resolved["resolved_at"] is not None


def test_the_consumer_side_is_told_too(shop: Shop, globex, django_capture_on_commit_callbacks) -> None:
    shop.calls(shop.t0 - 5 * M, 12, status=429, error="rate_limited", spread=5)
    rollup()
    AlertRule.objects.create(
        tenant=globex, scope="application", application=shop.app, metric=Metric.REFUSED_CALLS, threshold=10
    )
    with django_capture_on_commit_callbacks(execute=True):
        evaluate(now=shop.t0)
    notice = Notification.objects.for_tenant(globex).get()
    assert (notice.user.email, notice.kind) == ("charlie@globex.example", "alert.fired")
    assert notice.body.startswith("Shop: 12 calls (of 12 calls)")
    assert not OutboxMessage.objects.filter(kind="email").exists()  # the rule did not ask for e-mail


def test_platform_rules_mail_staff(db, django_capture_on_commit_callbacks) -> None:
    UserFactory(email="ops@platform.example", is_staff=True)
    UserFactory(email="someone@example.com")
    now = dt.datetime.now(dt.UTC)
    GatewayNode.objects.create(name="edge-1", key_id="k1", token_hash="0", last_seen_at=now - dt.timedelta(hours=1))
    AlertRule.objects.create(scope="platform", metric=Metric.NODE_SILENT, threshold=120, email=True)
    with django_capture_on_commit_callbacks(execute=True):
        evaluate(now=now)
    assert [m.to for m in mail.outbox] == [["ops@platform.example"]]
    assert "edge-1" in mail.outbox[0].body and "/platform/alerts/" in mail.outbox[0].body
    assert not Notification.objects.unscoped().exists()
