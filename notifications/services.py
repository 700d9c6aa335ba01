"""Every write about notifications and webhooks; other apps publish events through here."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.crypto import random_base62
from core.errors import Conflict, InvalidInput
from core.validators import clean_text
from notifications.models import WEBHOOK_EVENTS, DeliveryStatus, Notification, Webhook, WebhookDelivery
from tenants.models import Membership, Tenant, User
from tenants.permissions import require
from tenants.roles import Perm

SIGNATURE_HEADER = "X-Portal-Signature"
EVENT_HEADER = "X-Portal-Event"
DELIVERY_HEADER = "X-Portal-Delivery"
MAX_WEBHOOKS_PER_TENANT = 20
RESPONSE_BODY_KEEP = 1000


# --- In-app notifications and e-mail ------------------------------------------------


def notify_users(
    *,
    tenant: Tenant,
    users: Iterable[User],
    kind: str,
    title: str,
    body: str = "",
    url: str = "",
    email: bool = True,
) -> list[Notification]:
    """Add an in-app notice for each user and, on commit, e-mail them the same text."""
    recipients = list({u.pk: u for u in users if u is not None and u.is_active}.values())
    if not recipients:
        return []
    notices = Notification.objects.bulk_create(
        [Notification(tenant=tenant, user=u, kind=kind, title=title[:200], body=body, url=url) for u in recipients]
    )
    if email:
        from tenants.tasks import send_email_task

        subject = f"[{settings.SITE_NAME}] {title}"
        link = f"\n\n{settings.SITE_URL}{url}" if url else ""
        text = f"{body}{link}\n\n— {settings.SITE_NAME}\n"
        addresses = [u.email for u in recipients]
        # One message per recipient: addresses of other organisations must not leak via To:.
        for address in addresses:
            transaction.on_commit(lambda a=address: send_email_task.delay(subject, text, [a]))
    return notices


def notification_mark_read(*, actor: Membership, ids: list[int] | None = None) -> int:
    """Mark the actor's notifications read (all of them when ``ids`` is None); returns how many."""
    qs = Notification.objects.for_member(actor.tenant, actor.user).unread()
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    return qs.update(read_at=timezone.now())


# --- Webhooks: configuration ---------------------------------------------------------


def _validate_url(url: str) -> str:
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise InvalidInput("Enter an http:// or https:// URL.", field="url")
    if parts.username or parts.password:
        raise InvalidInput("Put credentials in the secret, not in the URL.", field="url")
    if len(url) > 500:
        raise InvalidInput("At most 500 characters.", field="url")
    return url


def _validate_events(events: Iterable[str]) -> list[str]:
    events = sorted({e.strip() for e in events if e and e.strip()})
    if not events:
        raise InvalidInput("Choose at least one event.", field="events")
    unknown = [e for e in events if e not in WEBHOOK_EVENTS]
    if unknown:
        raise InvalidInput(f"Unknown event(s): {', '.join(unknown)}.", field="events")
    return events


@transaction.atomic
def webhook_create(
    *, actor: Membership, url: str, events: Iterable[str], secret: str = "", description: str = ""
) -> Webhook:
    """Register an endpoint; a secret is generated unless the caller brings one."""
    require(actor, Perm.TENANT_EDIT)
    url = _validate_url(url)
    events = _validate_events(events)
    secret = (secret or "").strip() or f"whsec_{random_base62(32)}"
    if len(secret) < 16:
        raise InvalidInput("Use a secret of at least 16 characters (or leave it empty).", field="secret")
    if len(secret) > 100:
        raise InvalidInput("At most 100 characters.", field="secret")
    description = clean_text(description, field="description", max_length=200)
    # Lock the tenant row first: concurrent creations would all count below the limit.
    Tenant.objects.select_for_update().filter(pk=actor.tenant_id).values_list("pk", flat=True).first()
    if Webhook.objects.for_tenant(actor.tenant).count() >= MAX_WEBHOOKS_PER_TENANT:
        raise Conflict(f"At most {MAX_WEBHOOKS_PER_TENANT} webhooks per organisation.", code="webhook_limit")
    return Webhook.objects.create(
        tenant=actor.tenant,
        url=url,
        events=events,
        secret=secret,
        description=description,
        created_by=actor.user,
    )


@transaction.atomic
def webhook_update(
    *,
    actor: Membership,
    webhook: Webhook,
    url: str | None = None,
    events: Iterable[str] | None = None,
    description: str | None = None,
    is_active: bool | None = None,
) -> Webhook:
    require(actor, Perm.TENANT_EDIT)
    webhook = Webhook.objects.for_tenant(actor.tenant).select_for_update().get(pk=webhook.pk)
    if url is not None:
        webhook.url = _validate_url(url)
    if events is not None:
        webhook.events = _validate_events(events)
    if description is not None:
        webhook.description = clean_text(description, field="description", max_length=200)
    if is_active is not None:
        webhook.is_active = is_active
    webhook.save()
    return webhook


@transaction.atomic
def webhook_delete(*, actor: Membership, webhook: Webhook) -> None:
    require(actor, Perm.TENANT_EDIT)
    Webhook.objects.for_tenant(actor.tenant).filter(pk=webhook.pk).delete()


def _event_body(event: str, data: dict[str, Any], delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": str(delivery.delivery_id),
        "event": event,
        "created_at": delivery.created_at.isoformat(),
        "tenant": delivery.tenant.slug,
        "data": data,
    }


def _queue(delivery: WebhookDelivery) -> None:
    from notifications.tasks import deliver_webhook_task

    transaction.on_commit(lambda: deliver_webhook_task.delay(delivery.pk))


@transaction.atomic
def webhook_send_test(*, actor: Membership, webhook: Webhook) -> WebhookDelivery:
    """Queue a ``webhook.test`` event to one endpoint (even if it is paused)."""
    require(actor, Perm.TENANT_EDIT)
    delivery = WebhookDelivery(tenant=actor.tenant, webhook=webhook, event="webhook.test", payload={})
    delivery.payload = _event_body("webhook.test", {"message": "Test event from the portal."}, delivery)
    delivery.save()
    _queue(delivery)
    return delivery


def webhook_event_emit(*, tenant: Tenant, event: str, data: dict[str, Any]) -> list[WebhookDelivery]:
    """Record a delivery for every active webhook of ``tenant`` that wants ``event``; send on commit."""
    hooks = [h for h in Webhook.objects.for_tenant(tenant).filter(is_active=True) if h.wants(event)]
    data = json.loads(json.dumps(data, cls=DjangoJSONEncoder))
    deliveries = []
    for hook in hooks:
        delivery = WebhookDelivery(tenant=tenant, webhook=hook, event=event, payload={})
        delivery.payload = _event_body(event, data, delivery)
        delivery.save()
        _queue(delivery)
        deliveries.append(delivery)
    return deliveries


# --- Webhooks: delivery --------------------------------------------------------------


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value: ``t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect could point at another host (or the internal network): record it, never follow.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _private_target(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False  # unresolvable: the request itself will fail and be logged
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if address.is_private or address.is_loopback or address.is_link_local or address.is_reserved:
            return True
    return False


def retry_delay(attempt: int) -> int:
    """Seconds to wait after failed attempt ``attempt`` (1-based): exponential backoff."""
    return settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** (attempt - 1)


def webhook_delivery_attempt(delivery_id: int) -> WebhookDelivery | None:
    """Try to send one delivery once and record the outcome.

    Returns the delivery (its ``status`` stays ``pending`` while another attempt is due),
    or None when there is nothing to do (unknown, finished, not due yet or being sent by
    another worker): idempotent, so a Celery retry and the sweep may race harmlessly.
    """
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.unscoped()
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("webhook", "tenant")
            .filter(pk=delivery_id, status=DeliveryStatus.PENDING)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=timezone.now()))
            .first()
        )
        if delivery is None:
            return None
        webhook = delivery.webhook
        body = json.dumps(delivery.payload, separators=(",", ":")).encode()
        timestamp = int(time.time())
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked to be http(s)
            webhook.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": f"{settings.SITE_NAME} webhooks",
                EVENT_HEADER: delivery.event,
                DELIVERY_HEADER: str(delivery.delivery_id),
                SIGNATURE_HEADER: sign(webhook.secret, timestamp, body),
            },
        )
        started = time.monotonic()
        code: int | None = None
        text = ""
        error = ""
        if urlsplit(webhook.url).scheme not in {"http", "https"}:
            error = "Only http and https URLs are allowed."
        elif not settings.WEBHOOK_ALLOW_PRIVATE_TARGETS and _private_target(webhook.url):
            error = "The URL resolves to a private or loopback address; refused."
        else:
            try:
                with _OPENER.open(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:
                    code = response.status
                    text = response.read(RESPONSE_BODY_KEEP).decode(errors="replace")
            except urllib.error.HTTPError as exc:
                code = exc.code
                text = exc.read(RESPONSE_BODY_KEEP).decode(errors="replace") if exc.fp else ""
            except (OSError, ValueError) as exc:  # timeouts, refused connections, bad URLs
                error = str(getattr(exc, "reason", exc))[:300] or exc.__class__.__name__
        now = timezone.now()
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.duration_ms = int((time.monotonic() - started) * 1000)
        delivery.response_code = code
        delivery.response_body = text
        delivery.error = error
        if code is not None and 200 <= code < 300:
            delivery.status = DeliveryStatus.SUCCEEDED
            delivery.next_attempt_at = None
        elif delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
            delivery.status = DeliveryStatus.FAILED
            delivery.next_attempt_at = None
        else:
            delivery.next_attempt_at = now + timedelta(seconds=retry_delay(delivery.attempts))
        if code is not None and 300 <= code < 400 and not error:
            delivery.error = "Redirects are not followed; point the webhook at the final URL."
        delivery.save()
        return delivery


def webhook_deliveries_due() -> list[int]:
    """Pending deliveries whose next attempt is due: the sweep re-queues them."""
    return list(
        WebhookDelivery.objects.unscoped()
        .filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:500]
    )
