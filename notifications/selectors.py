"""Reads about notifications and webhooks."""

from __future__ import annotations

from django.db.models import QuerySet

from core.errors import NotFound
from core.filters import is_id
from notifications.models import Notification, Webhook, WebhookDelivery
from tenants.models import Tenant, User


def member_notifications(tenant: Tenant, user: User) -> QuerySet[Notification]:
    return Notification.objects.for_member(tenant, user).order_by("-created_at", "-id")


def unread_count(tenant: Tenant, user: User) -> int:
    """Cheap: a COUNT on the (tenant, user, read_at) index."""
    return Notification.objects.for_member(tenant, user).unread().count()


def tenant_webhooks(tenant: Tenant) -> QuerySet[Webhook]:
    return Webhook.objects.for_tenant(tenant).order_by("created_at", "id")


def webhook_for(tenant: Tenant, pk: int | str) -> Webhook:
    webhook = Webhook.objects.for_tenant(tenant).filter(pk=pk).first() if is_id(pk) else None
    if webhook is None:
        raise NotFound("No such webhook.")
    return webhook


def webhook_deliveries(webhook: Webhook) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.for_tenant(webhook.tenant_id).filter(webhook=webhook).order_by("-created_at", "-id")
