"""Every write about notifications and webhooks; other apps publish events through here."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from core import outbound, outbox
from core.crypto import random_base62
from core.errors import Conflict, InvalidInput
from core.outbound import OutboundError, OutboundRefused
from core.validators import clean_text
from notifications.models import WEBHOOK_EVENTS, DeliveryStatus, Notification, Webhook, WebhookDelivery
from tenants.models import Membership, Tenant, User
from tenants.ownership import get_owned
from tenants.permissions import require
from tenants.roles import Perm

SIGNATURE_HEADER = "X-Portal-Signature"
EVENT_HEADER = "X-Portal-Event"
DELIVERY_HEADER = "X-Portal-Delivery"
MAX_WEBHOOKS_PER_TENANT = 20
#: Bytes of a receiver's answer that are read and kept (the rest is never read).
RESPONSE_BODY_KEEP = 4096
DELIVER_TASK = "notifications.tasks.deliver_webhook_task"


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
        subject = f"[{settings.SITE_NAME}] {title}"
        link = f"\n\n{settings.SITE_URL}{url}" if url else ""
        text = f"{body}{link}\n\n— {settings.SITE_NAME}\n"
        # One outbox row per recipient, in this transaction: addresses of other organisations
        # must not leak via To:, and one mail that cannot be sent never holds back the others.
        outbox.enqueue_many(
            outbox.EMAIL, [outbox.email_payload(subject=subject, body=text, to=u.email) for u in recipients]
        )
    return notices


def notifications_resolve(*, tenant: Tenant, kinds: Iterable[str], url: str, outcome: str) -> int:
    """Close the notices that asked ``tenant``'s members to decide something (about the page ``url``).

    Every copy (one per admin) shows ``outcome`` and is marked read: whoever decided, nobody is
    left with an unread "X requests access" for a request that is no longer waiting.
    """
    return (
        Notification.objects.for_tenant(tenant)
        .filter(url=url, kind__in=list(kinds), outcome="")
        .update(outcome=outcome[:200], read_at=Coalesce(F("read_at"), Value(timezone.now())))
    )


def notification_mark_read(*, actor: Membership, ids: list[int] | None = None) -> int:
    """Mark the actor's notifications read (all of them when ``ids`` is None); returns how many."""
    qs = Notification.objects.for_member(actor.tenant, actor.user).unread()
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    return qs.update(read_at=timezone.now())


# --- Webhooks: configuration ---------------------------------------------------------


def _validate_url(url: str) -> str:
    """The outbound policy's save-time check (scheme, credentials, length, refused addresses)."""
    url = (url or "").strip()
    try:
        outbound.check_url(url)
    except OutboundRefused as exc:
        raise InvalidInput(f"This URL is refused: {exc.reason}.", field="url") from None
    return url


def _validate_events(events: Iterable[str]) -> list[str]:
    events = sorted({e.strip() for e in events if e and e.strip()})
    if not events:
        raise InvalidInput("Choose at least one event.", field="events")
    unknown = [e for e in events if e not in WEBHOOK_EVENTS]
    if unknown:
        raise InvalidInput(f"Unknown event{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}.", field="events")
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
    webhook = get_owned(actor, webhook, lock=True)
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
    webhook = get_owned(actor, webhook)
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
    # The delivery row is the outbox entry; after commit, ask a worker to send it now
    # (best-effort: when the broker is down the sweep sends it). By name: no tasks import here.
    transaction.on_commit(lambda: outbox.kick(DELIVER_TASK, delivery.pk))


@transaction.atomic
def webhook_send_test(*, actor: Membership, webhook: Webhook) -> WebhookDelivery:
    """Queue a ``webhook.test`` event to one endpoint (even if it is paused)."""
    require(actor, Perm.TENANT_EDIT)
    webhook = get_owned(actor, webhook)
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


def retry_delay(attempt: int) -> int:
    """Seconds to wait after failed attempt ``attempt`` (1-based): exponential backoff."""
    return settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** (attempt - 1)


def _claim_lease() -> timedelta:
    """How long a claimed delivery stays invisible to other workers and the sweep.

    Longer than any attempt can take (resolve + connect + the bounded read); if the worker
    dies mid-flight, the delivery becomes due again when the lease ends.
    """
    return timedelta(seconds=settings.WEBHOOK_LEASE_SECONDS)


def _delivery_claim(delivery_id: int) -> WebhookDelivery | None:
    """Short transaction: take a due delivery, count the attempt and lease it to this worker."""
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
        now = timezone.now()
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.next_attempt_at = now + _claim_lease()
        delivery.save(update_fields=["attempts", "last_attempt_at", "next_attempt_at"])
        return delivery


@dataclass
class _Outcome:
    code: int | None = None
    text: str = ""
    error: str = ""
    duration_ms: int = 0


def _delivery_send(delivery: WebhookDelivery) -> _Outcome:
    """The HTTP call, outside any transaction: no row lock is held while a receiver answers."""
    webhook = delivery.webhook
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"{settings.SITE_NAME} webhooks",
        EVENT_HEADER: delivery.event,
        DELIVERY_HEADER: str(delivery.delivery_id),
        SIGNATURE_HEADER: sign(webhook.secret, int(time.time()), body),
    }
    started = time.monotonic()
    outcome = _Outcome()
    try:
        result = outbound.post(
            webhook.url,
            body,
            headers,
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
            max_response_bytes=RESPONSE_BODY_KEEP,
        )
    except OutboundRefused as exc:
        outcome.error = f"Refused by the outbound policy: {exc.reason}."[:300]
    except OutboundError as exc:
        outcome.error = (str(exc) or exc.__class__.__name__)[:300]
    else:
        outcome.code = result.status
        outcome.text = result.text.replace("\x00", "\ufffd")  # PostgreSQL text cannot hold NUL
        if 300 <= result.status < 400:
            outcome.error = "Redirects are not followed; point the webhook at the final URL."
    outcome.duration_ms = int((time.monotonic() - started) * 1000)
    return outcome


def _delivery_record(delivery: WebhookDelivery, outcome: _Outcome) -> WebhookDelivery | None:
    """Short transaction: store the outcome unless another worker took the delivery over meanwhile."""
    fields: dict[str, Any] = {
        "duration_ms": outcome.duration_ms,
        "response_code": outcome.code,
        "response_body": outcome.text,
        "error": outcome.error,
    }
    if outcome.code is not None and 200 <= outcome.code < 300:
        fields.update(status=DeliveryStatus.SUCCEEDED, next_attempt_at=None)
    elif delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        fields.update(status=DeliveryStatus.FAILED, next_attempt_at=None)
    else:
        fields.update(
            next_attempt_at=(delivery.last_attempt_at or timezone.now())
            + timedelta(seconds=retry_delay(delivery.attempts))
        )
    with transaction.atomic():
        # Our lease is ours while ``attempts`` is unchanged and the row is still pending.
        updated = (
            WebhookDelivery.objects.unscoped()
            .filter(pk=delivery.pk, status=DeliveryStatus.PENDING, attempts=delivery.attempts)
            .update(**fields)
        )
    if not updated:
        return None
    for name, value in fields.items():
        setattr(delivery, name, value)
    return delivery


def webhook_delivery_attempt(delivery_id: int) -> WebhookDelivery | None:
    """Try to send one delivery once and record the outcome.

    Claim (short transaction) → send (no transaction, no lock) → record (short transaction).
    Returns the delivery (its ``status`` stays ``pending`` while another attempt is due),
    or None when there is nothing to do (unknown, finished, not due yet or being sent by
    another worker): idempotent, so a Celery retry and the sweep may race harmlessly.
    """
    delivery = _delivery_claim(delivery_id)
    if delivery is None:
        return None
    return _delivery_record(delivery, _delivery_send(delivery))


def webhook_deliveries_due() -> list[int]:
    """Pending deliveries that are due, never-attempted ones included (their kick may have been lost)."""
    return list(
        WebhookDelivery.objects.unscoped()
        .filter(status=DeliveryStatus.PENDING)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=timezone.now()))
        .order_by(F("next_attempt_at").asc(nulls_first=True), "pk")
        .values_list("pk", flat=True)[:500]
    )
