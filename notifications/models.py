"""Telling people and systems that something happened: in-app notices, outbound webhooks.

E-mails are outbox rows (core.outbox), written in the same transaction as the notice.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone

from core.validators import validate_single_line
from tenants.models import Tenant, User
from tenants.scoping import TenantScopedManager, TenantScopedQuerySet


class NotificationQuerySet(TenantScopedQuerySet):
    def for_member(self, tenant: Tenant, user: User) -> NotificationQuerySet:
        """A user's notifications within one tenant (what the bell shows)."""
        return self.filter(tenant=tenant, user=user)._scoped("member")

    def unread(self) -> NotificationQuerySet:
        return self.filter(read_at__isnull=True)


class Notification(models.Model):
    """One in-app notice for one user, in the context of one tenant."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=60, help_text="The event, e.g. subscription.approved")
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=300, blank=True, help_text="Where to look (a path on this site).")
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(
        max_length=200,
        blank=True,
        help_text="For a notice that asks for a decision: what was decided, once it was (e.g. “Approved by …”).",
    )

    objects = TenantScopedManager.from_queryset(NotificationQuerySet)()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "user", "read_at"], name="notification_unread_idx"),
            # notifications_resolve finds the notices about one object (its page) in one tenant.
            models.Index(fields=["tenant", "url"], name="notification_subject_idx"),
            # A member's list, newest first, and its cursor pages (core.api.pagination).
            models.Index(fields=["tenant", "user", "-created_at", "-id"], name="notification_recent_idx"),
        ]

    def __str__(self) -> str:
        return self.title


#: Event patterns a webhook may subscribe to; ``*`` matches one trailing segment family.
WEBHOOK_EVENT_CHOICES = [
    ("subscription.*", "All subscription events"),
    ("key.*", "All API key events"),
    ("alert.*", "All alert events"),
    ("subscription.requested", "subscription.requested"),
    ("subscription.approved", "subscription.approved"),
    ("subscription.rejected", "subscription.rejected"),
    ("subscription.suspended", "subscription.suspended"),
    ("subscription.resumed", "subscription.resumed"),
    ("subscription.cancelled", "subscription.cancelled"),
    ("subscription.plan_change_requested", "subscription.plan_change_requested"),
    ("subscription.plan_changed", "subscription.plan_changed"),
    ("subscription.plan_change_rejected", "subscription.plan_change_rejected"),
    ("subscription.deprecated", "subscription.deprecated"),
    ("subscription.ended", "subscription.ended"),
    ("key.created", "key.created"),
    ("key.rotated", "key.rotated"),
    ("key.revoked", "key.revoked"),
    ("key.restrictions_changed", "key.restrictions_changed"),
    ("alert.fired", "alert.fired"),
    ("alert.resolved", "alert.resolved"),
]
WEBHOOK_EVENTS = frozenset(value for value, _ in WEBHOOK_EVENT_CHOICES)


class Webhook(models.Model):
    """An HTTPS endpoint of a tenant that receives signed JSON events.

    The secret is stored in clear because signing needs it (it is the receiver's key to
    check authenticity, not a credential into this system).
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=100)
    events = ArrayField(models.CharField(max_length=60), default=list)
    description = models.CharField(max_length=200, blank=True, validators=[validate_single_line])
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantScopedManager()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.url

    def wants(self, event: str) -> bool:
        family = event.split(".", 1)[0] + ".*"
        return event in self.events or family in self.events


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One event sent (or being sent) to one webhook, with the outcome of the last attempt."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=60)
    delivery_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    response_body = models.TextField(
        blank=True, help_text="The first 4 KB of the receiver’s answer (the rest is never read)."
    )
    error = models.CharField(max_length=300, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    objects = TenantScopedManager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["webhook", "-created_at"], name="delivery_webhook_recent_idx")]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event} → {self.webhook_id} ({self.status})"
