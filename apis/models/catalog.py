"""The provider side of the catalog: APIs, their versions and endpoints, plans, the audit trail.

Every model carries a required ``tenant`` FK (the provider), denormalised onto children so
each one is scoped by the same mechanism (tenants.scoping) without a join.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.contrib.postgres.search import SearchVectorField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower, Upper
from django.utils import timezone

from core import formatting
from core.validators import validate_single_line
from tenants.models import Tenant
from tenants.scoping import TenantScopedManager, TenantScopedQuerySet

#: Gateway timeouts: at least 1 ms, at most 5 minutes (forms and serializers read these validators).
TIMEOUT_MS = [MinValueValidator(1), MaxValueValidator(300_000)]


class Visibility(models.TextChoices):
    PRIVATE = "private", "Private (own organisation)"
    INTERNAL = "internal", "Internal (every signed-in user)"
    PUBLIC = "public", "Public (also anonymous visitors)"


class VersionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    DEPRECATED = "deprecated", "Deprecated"
    RETIRED = "retired", "Retired"


class VersionKind(models.TextChoices):
    """What a version serves: an upstream REST API, or an AI surface the gateway node answers
    itself (model routes behind an OpenAI-compatible API, or a prompt published as an API)."""

    REST = "rest", "REST API (upstream)"
    AI = "ai", "AI models (OpenAI-compatible)"
    PROMPT = "prompt", "Prompt API"


class SpecStatus(models.TextChoices):
    """Where the latest OpenAPI upload of a version stands (the accepted document is ``spec``)."""

    READY = "ready", "Ready"
    PROCESSING = "processing", "Processing"
    FAILED = "failed", "Failed"


#: Versions a gateway routes. Retired versions are no longer routed; drafts not yet.
ROUTED_STATUSES = (VersionStatus.PUBLISHED, VersionStatus.DEPRECATED)
#: Versions consumers see in the catalog (drafts stay with the provider).
LISTED_STATUSES = (VersionStatus.PUBLISHED, VersionStatus.DEPRECATED, VersionStatus.RETIRED)


class PlanStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    ARCHIVED = "archived", "Archived"


class ApiQuerySet(TenantScopedQuerySet):
    def visible_to(self, user: Any, *, tenant_ids: list[int] | None = None) -> ApiQuerySet:
        """What ``user`` (None or anonymous: a visitor) may see in the catalog, across providers.

        Public APIs for everybody, internal ones for anybody signed in, private ones only for
        members of the provider; nothing of a suspended provider outside it. Outside the provider
        an API appears once it has a version consumers can see (published, deprecated or
        retired); its own members also see drafts.
        ``tenant_ids`` narrows "member of" (a personal access token acts in one tenant only).
        """
        signed_in = user is not None and user.is_authenticated
        if signed_in and tenant_ids is None:
            from tenants.models import Membership

            tenant_ids = list(Membership.objects.for_user(user).values_list("tenant_id", flat=True))
        own = Q(tenant_id__in=tenant_ids or [])
        listed = Q(
            pk__in=ApiVersion.objects.unscoped().filter(status__in=LISTED_STATUSES).values("api_id"),
        )
        audience = Q(visibility=Visibility.PUBLIC)
        if signed_in:
            audience |= Q(visibility=Visibility.INTERNAL)
        # A provider suspended by platform staff leaves the catalog; its own members still see it.
        active_provider = Q(tenant__suspended_at__isnull=True)
        return self.filter(own | (audience & listed & active_provider))._scoped("visibility")


class Api(models.Model):
    """An API a provider tenant registers in the catalog; consumers subscribe to its plans."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="apis", help_text="The provider.")
    name = models.CharField(max_length=100, validators=[validate_single_line])
    slug = models.SlugField(max_length=50)
    summary = models.CharField(max_length=200, blank=True, validators=[validate_single_line])
    description = models.TextField(max_length=100_000, blank=True, help_text="Markdown; rendered sanitised.")
    description_html = models.TextField(
        blank=True, editable=False, help_text="``description`` rendered and sanitised when it was saved."
    )
    tags = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    contact_name = models.CharField(max_length=100, blank=True, validators=[validate_single_line])
    contact_email = models.EmailField(blank=True)
    contact_url = models.URLField(blank=True)
    visibility = models.CharField(max_length=16, choices=Visibility.choices, default=Visibility.PRIVATE)
    # Kept up to date by the services (apis.services._refresh_search): a generated column
    # cannot include the tags, because array_to_string() is not IMMUTABLE in PostgreSQL.
    search_vector = SearchVectorField(null=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = TenantScopedManager.from_queryset(ApiQuerySet)()

    class Meta:
        verbose_name = "API"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "slug"], name="api_slug_unique_per_tenant"),
            models.CheckConstraint(condition=Q(visibility__in=Visibility.values), name="api_visibility_valid"),
        ]
        indexes = [
            GinIndex(fields=["search_vector"], name="api_search_gin"),
            GinIndex(fields=["tags"], name="api_tags_gin"),
            # Substring search (``icontains`` compares UPPER(column) LIKE UPPER('%q%')): trigram
            # indexes on exactly that expression, so a search does not read every API.
            GinIndex(OpClass(Upper("name"), name="gin_trgm_ops"), name="api_name_trgm"),
            GinIndex(OpClass(Upper("slug"), name="gin_trgm_ops"), name="api_slug_trgm"),
            # The provider's list (name order) and the catalog's default order.
            models.Index(fields=["tenant", "name"], name="api_tenant_name_idx"),
            models.Index(Lower("name"), "id", name="api_lower_name_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class ApiVersionQuerySet(TenantScopedQuerySet):
    def routed(self) -> ApiVersionQuerySet:
        """Versions gateways route (published or deprecated)."""
        return self.filter(status__in=ROUTED_STATUSES)

    def listed(self) -> ApiVersionQuerySet:
        """Versions consumers may see (everything but drafts)."""
        return self.filter(status__in=LISTED_STATUSES)


class ApiVersion(models.Model):
    """One version of an API: where gateways route it, and its OpenAPI document.

    ``upstreams`` is a list of ``{"url": "https://…", "weight": 1}``; the gateway config
    snapshot ships it as is. ``spec`` is the validated document, normalised to JSON.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    api = models.ForeignKey(Api, on_delete=models.CASCADE, related_name="versions")
    label = models.CharField(max_length=40, validators=[validate_single_line], help_text="e.g. v1 or 2024-06-01")
    base_path = models.CharField(
        max_length=200, unique=True, help_text="Path prefix gateways route on, unique across the platform."
    )
    kind = models.CharField(max_length=16, choices=VersionKind.choices, default=VersionKind.REST, db_default="rest")
    upstreams = models.JSONField(default=list, blank=True)
    connect_timeout_ms = models.PositiveIntegerField(default=5_000, validators=TIMEOUT_MS)
    read_timeout_ms = models.PositiveIntegerField(default=30_000, validators=TIMEOUT_MS)
    status = models.CharField(max_length=16, choices=VersionStatus.choices, default=VersionStatus.DRAFT)
    sunset_date = models.DateField(null=True, blank=True, help_text="Shown to consumers once deprecated.")
    release_notes = models.TextField(max_length=50_000, blank=True, help_text="Markdown; what changed in this version.")
    release_notes_html = models.TextField(
        blank=True, editable=False, help_text="``release_notes`` rendered and sanitised when they were saved."
    )
    spec = models.JSONField(null=True, blank=True, help_text="The OpenAPI 3.0/3.1 document.")
    openapi_version = models.CharField(max_length=16, blank=True)
    spec_updated_at = models.DateTimeField(null=True, blank=True)
    # A large upload waits here while a Celery task validates it; ``spec`` keeps the last
    # accepted document until the task succeeds, so a failed upload never loses data.
    spec_status = models.CharField(max_length=16, choices=SpecStatus.choices, default=SpecStatus.READY)
    spec_error = models.TextField(blank=True, help_text="Why the last background validation failed.")
    spec_pending = models.TextField(blank=True, help_text="The uploaded document awaiting validation.")
    spec_job = models.UUIDField(null=True, blank=True, help_text="Identifies the upload the task must process.")
    spec_submitted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)
    deprecated_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    objects = TenantScopedManager.from_queryset(ApiVersionQuerySet)()

    class Meta:
        verbose_name = "API version"
        ordering = ["api", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["api", "label"], name="apiversion_label_unique_per_api"),
            models.CheckConstraint(condition=Q(status__in=VersionStatus.values), name="apiversion_status_valid"),
            models.CheckConstraint(
                condition=Q(connect_timeout_ms__gt=0) & Q(read_timeout_ms__gt=0), name="apiversion_timeouts_positive"
            ),
            models.CheckConstraint(
                condition=~Q(status=VersionStatus.DEPRECATED) | Q(sunset_date__isnull=False),
                name="apiversion_deprecated_has_sunset",
            ),
            models.CheckConstraint(condition=Q(base_path__startswith="/"), name="apiversion_base_path_absolute"),
            models.CheckConstraint(condition=Q(spec_status__in=SpecStatus.values), name="apiversion_spec_status_valid"),
            models.CheckConstraint(condition=Q(kind__in=VersionKind.values), name="apiversion_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.api} {self.label}"

    @property
    def accepts_subscriptions(self) -> bool:
        """Only published versions take new subscriptions."""
        return self.status == VersionStatus.PUBLISHED

    @property
    def is_routed(self) -> bool:
        return self.status in ROUTED_STATUSES


class Endpoint(models.Model):
    """An operation extracted from a version's OpenAPI document; analytics group calls by it."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey(ApiVersion, on_delete=models.CASCADE, related_name="endpoints")
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500, help_text="Path template relative to the base path, e.g. /orders/{id}")
    operation_id = models.CharField(max_length=200, blank=True)
    summary = models.CharField(max_length=300, blank=True)
    deprecated = models.BooleanField(default=False)

    objects = TenantScopedManager()

    class Meta:
        ordering = ["version", "path", "method"]
        constraints = [
            models.UniqueConstraint(fields=["version", "method", "path"], name="endpoint_unique_per_version"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def template(self) -> str:
        """The key analytics use: ``GET /orders/{id}``."""
        return f"{self.method} {self.path}"


class PlanQuerySet(TenantScopedQuerySet):
    def active(self) -> PlanQuerySet:
        return self.filter(status=PlanStatus.ACTIVE)

    def offered(self) -> PlanQuerySet:
        """Plans consumers can see and request: active and public."""
        return self.filter(status=PlanStatus.ACTIVE, is_public=True)


PLAN_LIMIT_FIELDS = ("rate_limit_per_second", "rate_limit_per_minute", "quota_per_day", "quota_per_month")
#: Limits of AI versions: tokens (input + output, as the provider counts them) and cost in USD.
#: Charged after each answer, enforced on the next request (docs/ai-gateway.md).
PLAN_AI_LIMIT_FIELDS = (
    "token_limit_per_minute",
    "token_quota_per_day",
    "token_quota_per_month",
    "cost_budget_per_day",
    "cost_budget_per_month",
)


def _positive_or_null(field: str) -> Q:
    return Q(**{f"{field}__isnull": True}) | Q(**{f"{field}__gt": 0})


class Plan(models.Model):
    """A usage tier of an API: limits gateways enforce, and whether subscribing needs approval.

    Rate limits and quotas are optional (empty = unlimited); quotas count UTC calendar days
    and months.
    """

    LIMIT_FIELDS = PLAN_LIMIT_FIELDS
    AI_LIMIT_FIELDS = PLAN_AI_LIMIT_FIELDS

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    api = models.ForeignKey(Api, on_delete=models.CASCADE, related_name="plans")
    name = models.CharField(max_length=60, validators=[validate_single_line])
    description = models.TextField(max_length=5000, blank=True)
    rate_limit_per_second = models.PositiveIntegerField(null=True, blank=True)
    rate_limit_per_minute = models.PositiveIntegerField(null=True, blank=True)
    quota_per_day = models.PositiveBigIntegerField(null=True, blank=True)
    quota_per_month = models.PositiveBigIntegerField(null=True, blank=True)
    token_limit_per_minute = models.PositiveBigIntegerField(null=True, blank=True)
    token_quota_per_day = models.PositiveBigIntegerField(null=True, blank=True)
    token_quota_per_month = models.PositiveBigIntegerField(null=True, blank=True)
    cost_budget_per_day = models.DecimalField(
        max_digits=14, decimal_places=4, null=True, blank=True, help_text="USD per UTC day; empty = no budget."
    )
    cost_budget_per_month = models.DecimalField(
        max_digits=14, decimal_places=4, null=True, blank=True, help_text="USD per UTC month; empty = no budget."
    )
    approval_required = models.BooleanField(default=False)
    is_public = models.BooleanField(default=True, help_text="Hidden plans are only granted by the provider.")
    status = models.CharField(max_length=16, choices=PlanStatus.choices, default=PlanStatus.ACTIVE)
    price_label = models.CharField(
        max_length=60,
        blank=True,
        validators=[validate_single_line],
        help_text="Free text, e.g. “Free” or “€49 / month”.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = TenantScopedManager.from_queryset(PlanQuerySet)()

    class Meta:
        ordering = ["api", "created_at"]
        constraints = [
            models.UniqueConstraint(fields=["api", "name"], name="plan_name_unique_per_api"),
            models.CheckConstraint(condition=Q(status__in=PlanStatus.values), name="plan_status_valid"),
            *[
                models.CheckConstraint(condition=_positive_or_null(f), name=f"plan_{f}_positive")
                for f in (*PLAN_LIMIT_FIELDS, *PLAN_AI_LIMIT_FIELDS)
            ],
        ]

    def __str__(self) -> str:
        return f"{self.api} · {self.name}"

    @property
    def is_active(self) -> bool:
        return self.status == PlanStatus.ACTIVE

    @property
    def ai_limits(self) -> list[str]:
        """The AI limits in words, e.g. ``["20,000 tokens / min", "$5 / month"]`` (empty: none)."""
        shown = []
        for field, per in (
            ("token_limit_per_minute", "min"),
            ("token_quota_per_day", "day"),
            ("token_quota_per_month", "month"),
        ):
            if getattr(self, field):
                shown.append(f"{formatting.number(getattr(self, field))} tokens / {per}")
        for field, per in (("cost_budget_per_day", "day"), ("cost_budget_per_month", "month")):
            if getattr(self, field) is not None:
                shown.append(f"${formatting.decimal(getattr(self, field))} / {per}")
        return shown


class AuditEvent(models.Model):
    """Who changed what, when, and why: lifecycle transitions, spec uploads, later approvals.

    The target is referenced by type + id plus a label snapshot, so the trail survives
    deleting the object. ``api`` groups an API's history (changelog) cheaply.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_email = models.EmailField(blank=True, help_text="Snapshot: kept when the user is deleted.")
    action = models.CharField(max_length=40, help_text="e.g. version.published, plan.archived")
    target_type = models.CharField(max_length=40, help_text="api, api_version, plan, …")
    target_id = models.BigIntegerField(null=True, blank=True)
    target_label = models.CharField(max_length=200, blank=True)
    api = models.ForeignKey(Api, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events")
    from_state = models.CharField(max_length=32, blank=True)
    to_state = models.CharField(max_length=32, blank=True)
    note = models.TextField(max_length=2000, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = TenantScopedManager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "target_type", "target_id"], name="auditevent_target_idx"),
            # An API's changelog, newest first, and its cursor pages (core.api.pagination).
            models.Index(fields=["api", "-created_at", "-id"], name="auditevent_api_new_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.actor_email or 'system'} {self.action} {self.target_label}"
