"""Who may call which API with which key: applications, subscriptions, their trail, API keys.

A subscription is seen by two tenants: the consumer (through its application) and the
provider of the API. Both FKs are stored, so each side is scoped without a join and the
provider's approval queue is one indexed query.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from apis.models import Api, ApiVersion, Plan
from core.crypto import hash_secret
from core.validators import validate_single_line
from tenants.models import Tenant
from tenants.scoping import TenantScopedManager, TenantScopedQuerySet


class Application(models.Model):
    """A consumer's client program; it holds subscriptions and API keys."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="applications", help_text="Consumer.")
    name = models.CharField(max_length=100, validators=[validate_single_line])
    description = models.TextField(max_length=5000, blank=True)
    contact_email = models.EmailField(blank=True, help_text="Who to contact about this application.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantScopedManager()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="application_name_unique_per_tenant")]

    def __str__(self) -> str:
        return self.name


class SubscriptionStatus(models.TextChoices):
    PENDING = "pending", "Pending approval"
    ACTIVE = "active", "Active"
    REJECTED = "rejected", "Rejected"
    SUSPENDED = "suspended", "Suspended"
    CANCELLED = "cancelled", "Cancelled"


#: States that hold the "one subscription per application per API" slot.
LIVE_STATUSES = (SubscriptionStatus.PENDING, SubscriptionStatus.ACTIVE, SubscriptionStatus.SUSPENDED)
#: Approved subscriptions (a suspended one was approved and may resume): a key may be limited to their APIs.
APPROVED_STATUSES = (SubscriptionStatus.ACTIVE, SubscriptionStatus.SUSPENDED)


class TwoSidedQuerySet(TenantScopedQuerySet):
    """Scopes for rows both the consumer and the provider tenant may read."""

    tenant_field = "consumer_tenant"

    def for_consumer(self, tenant: Tenant) -> Any:
        return self.filter(consumer_tenant=tenant)._scoped("consumer")

    def for_provider(self, tenant: Tenant) -> Any:
        return self.filter(provider_tenant=tenant)._scoped("provider")

    def for_party(self, tenant: Tenant) -> Any:
        """Rows the tenant takes part in, on either side."""
        return self.filter(Q(consumer_tenant=tenant) | Q(provider_tenant=tenant))._scoped("party")


class SubscriptionQuerySet(TwoSidedQuerySet):
    def live(self) -> SubscriptionQuerySet:
        return self.filter(status__in=LIVE_STATUSES)

    def awaiting_decision(self) -> SubscriptionQuerySet:
        """New requests and plan-change requests nobody has decided yet."""
        return self.filter(awaiting_since__isnull=False)


class Subscription(models.Model):
    """An application's right to call one API (version) under one plan.

    ``requested_plan`` holds an undecided plan change: the subscription stays on ``plan``
    until the provider decides. ``awaiting_since`` is set while *any* request (new
    subscription or plan change) waits for a decision, so the queue needs no OR query.

    A subscription is never deleted, whatever its status: it ends (rejected, cancelled) and
    stays, with its trail, readable by both tenants. Every FK it holds is PROTECT, so its
    application, API, version, plan and both tenants cannot be deleted under it.
    """

    # PROTECT everywhere: a subscription belongs to two tenants and is never deleted, so
    # nothing it points at may be deleted under it (docs/decisions.md).
    consumer_tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    provider_tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    application = models.ForeignKey(Application, on_delete=models.PROTECT, related_name="subscriptions")
    api = models.ForeignKey(Api, on_delete=models.PROTECT, related_name="+")
    version = models.ForeignKey(ApiVersion, on_delete=models.PROTECT, related_name="+")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=SubscriptionStatus.choices, default=SubscriptionStatus.PENDING)
    use_case = models.TextField(
        max_length=5000, blank=True, help_text="Why the consumer wants access; shown to the provider."
    )
    reason = models.TextField(
        max_length=2000, blank=True, help_text="Reason of the last rejection, suspension or cancellation."
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A pending plan change must not lose its target: PROTECT until it is decided.
    requested_plan = models.ForeignKey(Plan, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    plan_change_note = models.TextField(max_length=5000, blank=True)
    plan_change_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    awaiting_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ended_at = models.DateTimeField(null=True, blank=True)
    deprecation_notified_at = models.DateTimeField(null=True, blank=True)

    objects = TenantScopedManager.from_queryset(SubscriptionQuerySet)()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["application", "api"],
                condition=Q(status__in=LIVE_STATUSES),
                name="subscription_one_live_per_app_api",
            ),
            models.CheckConstraint(condition=Q(status__in=SubscriptionStatus.values), name="subscription_status_valid"),
        ]
        indexes = [
            models.Index(fields=["provider_tenant", "awaiting_since"], name="subscription_queue_idx"),
            models.Index(fields=["application", "api", "status"], name="subscription_app_api_idx"),
            # The orders of the lists: each side's subscriptions, newest first (web pages and REST
            # cursor pages); what a consumer holds of one provider (the provider's view of a
            # request); the staff queue.
            models.Index(fields=["consumer_tenant", "-created_at", "-id"], name="subscription_consumer_idx"),
            models.Index(fields=["provider_tenant", "-created_at", "-id"], name="subscription_provider_new_idx"),
            models.Index(
                fields=["provider_tenant", "consumer_tenant", "-created_at", "-id"], name="subscription_pair_idx"
            ),
            models.Index(
                fields=["awaiting_since", "id"],
                condition=Q(awaiting_since__isnull=False),
                name="subscription_waiting_idx",
            ),
            # The queue's filter menus (what waits, per provider): read from the index alone.
            models.Index(
                fields=["provider_tenant", "api", "plan", "requested_plan"],
                condition=Q(awaiting_since__isnull=False),
                name="subscription_waiting_menu_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.application} → {self.api} ({self.plan.name})"

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    @property
    def request_kind(self) -> str | None:
        """What waits for a decision: ``"subscription"``, ``"plan_change"`` or None."""
        if self.awaiting_since is None:
            return None
        return "subscription" if self.status == SubscriptionStatus.PENDING else "plan_change"


class SubscriptionEvent(models.Model):
    """The audit trail of one subscription, readable by both sides (and exportable as CSV).

    apis.AuditEvent belongs to the provider only; subscription history must also be shown
    to the consumer, so it carries both tenant FKs (see docs/decisions.md).
    """

    # The trail is kept for ever: nothing it points at can be deleted (PROTECT).
    consumer_tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    provider_tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="events")
    # The plan the subscription was on after this event: every plan a subscription ever held
    # stays referenced after a plan change, so "had subscriptions" protects it too.
    plan = models.ForeignKey(Plan, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_email = models.EmailField(blank=True, help_text="Snapshot; empty for the system.")
    action = models.CharField(max_length=40, help_text="e.g. subscription.approved")
    from_state = models.CharField(max_length=32, blank=True)
    to_state = models.CharField(max_length=32, blank=True)
    note = models.TextField(max_length=2000, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantScopedManager.from_queryset(TwoSidedQuerySet)()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.actor_email or 'system'} {self.action}"


class KeyStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"


class KeyPurpose(models.TextChoices):
    STANDARD = "standard", "Standard"
    #: Minted by the try-it console for minutes, revoked after use; its calls are console traffic.
    CONSOLE = "console", "Console"


#: Most CIDR ranges one key may list.
MAX_KEY_CIDRS = 50
#: The highest per-key rate limit (calls a minute); a plan's own limit is usually far lower.
MAX_KEY_RATE_PER_MINUTE = 100_000_000


class ApiKeyQuerySet(TenantScopedQuerySet):
    def live(self) -> ApiKeyQuerySet:
        """Neither revoked nor expired (a rotated key counts until its grace ends)."""
        return self.filter(revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now())
        )


class ApiKey(models.Model):
    """A credential of an application: ``<prefix>_<key id>_<secret>``.

    Only ``key_id`` (unique, the lookup) and a SHA-256 of the secret are stored; the
    plaintext is returned once by the service that creates it.
    """

    PREFIX = "apk"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", help_text="Consumer.")
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="keys")
    name = models.CharField(max_length=100, validators=[validate_single_line])
    key_id = models.CharField(max_length=24, unique=True)
    key_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    rotated_at = models.DateTimeField(null=True, blank=True)
    replaced_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    purpose = models.CharField(max_length=16, choices=KeyPurpose.choices, default=KeyPurpose.STANDARD)
    # Restrictions (enforced by the gateway node from the config snapshot). Empty = no restriction.
    allowed_cidrs = ArrayField(
        models.CharField(max_length=49),
        default=list,
        blank=True,
        help_text="Client IP ranges (CIDR) this key may be used from; empty = anywhere.",
    )
    allowed_apis = models.ManyToManyField(
        Api,
        blank=True,
        related_name="+",
        help_text="APIs (among the application's subscriptions) this key may call; none = all of them.",
    )
    rate_limit_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_KEY_RATE_PER_MINUTE)],
        help_text="Calls per minute for this key, below the plan's; empty = the plan's.",
    )

    objects = TenantScopedManager.from_queryset(ApiKeyQuerySet)()

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at", "-id"]
        constraints = [
            # "Key production revoked" must name one key: a name belongs to one current key of the
            # application (case-insensitively). A revoked key, or one rotated away (its successor
            # takes the name), holds no name; an expired key gives its name up when it is reused
            # (see subscriptions.services.keys).
            models.UniqueConstraint(
                Lower("name"),
                "application",
                condition=Q(revoked_at__isnull=True, rotated_at__isnull=True),
                name="apikey_name_unique_per_application",
            )
        ]
        indexes = [
            models.Index(fields=["application", "-created_at", "-id"], name="apikey_application_recent_idx"),
            # The tenant's key list, newest first, and its cursor pages (core.api.pagination).
            models.Index(fields=["tenant", "-created_at", "-id"], name="apikey_tenant_new_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_id})"

    def set_secret(self, key_id: str, secret: str) -> None:
        self.key_id = key_id
        self.key_hash = hash_secret(secret)

    @property
    def masked(self) -> str:
        return f"{self.PREFIX}_{self.key_id}_…"

    @property
    def status(self) -> KeyStatus:
        if self.revoked_at:
            return KeyStatus.REVOKED
        if self.expires_at and self.expires_at <= timezone.now():
            return KeyStatus.EXPIRED
        return KeyStatus.ACTIVE
