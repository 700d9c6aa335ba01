"""Alert rules on the usage of an API or an application (and, for staff, on gateway nodes), and
the history of their incidents.

A rule watches one metric of one scope; each evaluation (``alerts.evaluation``, every minute)
compares the metric with the rule's threshold. An :class:`AlertEvent` is one incident: it opens
when the condition starts to hold and closes once when it no longer does (docs/alerts.md). A
partial unique index allows one open incident per rule and subject, so two workers evaluating at
the same time can never fire the same incident twice.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from apis.models import Api
from core.validators import validate_single_line
from subscriptions.models import Application
from tenants.models import Tenant
from tenants.scoping import TenantScopedManager


class Scope(models.TextChoices):
    API = "api", "API (provider)"
    APPLICATION = "application", "Application (consumer)"
    PLATFORM = "platform", "Platform (staff)"


class Metric(models.TextChoices):
    ERROR_RATE = "error_rate", "Error rate (% of calls answered 5xx)"
    P95_LATENCY = "p95_latency_ms", "p95 latency (ms)"
    REFUSED_CALLS = "refused_calls", "Calls refused by the gateway"
    QUOTA_USE = "quota_use", "Quota use (% of the plan's quota)"
    TOKEN_QUOTA_USE = "token_quota_use", "Token quota use (% of the plan's token quota)"
    COST_BUDGET_USE = "cost_budget_use", "Cost budget use (% of the plan's cost budget)"
    NODE_SILENT = "node_silent", "Gateway node silent (seconds)"


#: Metrics a rule of each scope may watch.
SCOPE_METRICS: dict[str, tuple[str, ...]] = {
    Scope.API: (Metric.ERROR_RATE, Metric.P95_LATENCY, Metric.REFUSED_CALLS),
    Scope.APPLICATION: (
        Metric.ERROR_RATE,
        Metric.P95_LATENCY,
        Metric.REFUSED_CALLS,
        Metric.QUOTA_USE,
        Metric.TOKEN_QUOTA_USE,
        Metric.COST_BUDGET_USE,
    ),
    Scope.PLATFORM: (Metric.NODE_SILENT,),
}
#: Metrics read against a plan limit of the UTC day or month (``quota_period``), one reading per
#: active subscription whose plan has that limit: the plan field holding the limit of a period is
#: ``QUOTA_LIMIT_FIELDS[metric] + period`` (apis.models.Plan).
QUOTA_METRICS = (Metric.QUOTA_USE, Metric.TOKEN_QUOTA_USE, Metric.COST_BUDGET_USE)
QUOTA_LIMIT_FIELDS = {
    Metric.QUOTA_USE: "quota_per_",
    Metric.TOKEN_QUOTA_USE: "token_quota_per_",
    Metric.COST_BUDGET_USE: "cost_budget_per_",
}
#: The quota metrics in words, as conditions say them.
QUOTA_WORDS = {
    Metric.QUOTA_USE: "quota use",
    Metric.TOKEN_QUOTA_USE: "token quota use",
    Metric.COST_BUDGET_USE: "cost budget use",
}
#: Metrics read over a window of minutes of the rollups (the others: a quota period, a node's silence).
WINDOW_METRICS = (Metric.ERROR_RATE, Metric.P95_LATENCY, Metric.REFUSED_CALLS)
#: Metrics that need ``min_calls`` calls in the window to say anything.
GUARDED_METRICS = (Metric.ERROR_RATE, Metric.P95_LATENCY)
#: (lowest, highest) threshold of each metric, in its unit.
THRESHOLD_RANGES: dict[str, tuple[Decimal, Decimal]] = {
    Metric.ERROR_RATE: (Decimal("0.01"), Decimal(100)),
    Metric.P95_LATENCY: (Decimal(1), Decimal(60_000)),
    Metric.REFUSED_CALLS: (Decimal(1), Decimal(10_000_000)),
    Metric.QUOTA_USE: (Decimal(1), Decimal(100)),
    Metric.TOKEN_QUOTA_USE: (Decimal(1), Decimal(100)),
    Metric.COST_BUDGET_USE: (Decimal(1), Decimal(100)),
    Metric.NODE_SILENT: (Decimal(30), Decimal(86_400)),
}
UNITS = {
    Metric.ERROR_RATE: "%",
    Metric.P95_LATENCY: "ms",
    Metric.REFUSED_CALLS: "calls",
    Metric.QUOTA_USE: "%",
    Metric.TOKEN_QUOTA_USE: "%",
    Metric.COST_BUDGET_USE: "%",
    Metric.NODE_SILENT: "s",
}
WINDOW_CHOICES = [(5, "5 minutes"), (15, "15 minutes"), (60, "60 minutes")]


class QuotaPeriod(models.TextChoices):
    DAY = "day", "UTC day"
    MONTH = "month", "UTC month"


class AlertRule(models.Model):
    """One condition to watch: ``metric`` of ``api`` / ``application`` (or every gateway node)
    against ``threshold``.

    ``tenant`` is the owner (the API's provider or the application's consumer); platform rules
    (node silence, staff only) have no tenant.
    """

    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    scope = models.CharField(max_length=16, choices=Scope.choices)
    api = models.ForeignKey(Api, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    application = models.ForeignKey(Application, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=100, blank=True, validators=[validate_single_line])
    metric = models.CharField(max_length=20, choices=Metric.choices)
    threshold = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text="In the metric's unit.",
    )
    window_minutes = models.PositiveSmallIntegerField(
        choices=WINDOW_CHOICES, default=15, help_text="Error rate, p95 and refused calls: the last N whole minutes."
    )
    quota_period = models.CharField(max_length=8, choices=QuotaPeriod.choices, blank=True)
    min_calls = models.PositiveIntegerField(
        default=20,
        validators=[MinValueValidator(1), MaxValueValidator(1_000_000)],
        help_text="Error rate and p95: with fewer calls in the window the rule neither fires nor resolves.",
    )
    email = models.BooleanField(default=False, help_text="Also e-mail the recipients.")
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = TenantScopedManager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["tenant", "created_at"], name="alertrule_tenant_idx")]
        constraints = [
            models.CheckConstraint(
                name="alertrule_scope_target",
                condition=(
                    Q(scope="api", tenant__isnull=False, api__isnull=False, application__isnull=True)
                    | Q(scope="application", tenant__isnull=False, api__isnull=True, application__isnull=False)
                    | Q(scope="platform", tenant__isnull=True, api__isnull=True, application__isnull=True)
                ),
            ),
            models.CheckConstraint(
                name="alertrule_scope_metric",
                condition=(
                    Q(scope="api", metric__in=SCOPE_METRICS[Scope.API])
                    | Q(scope="application", metric__in=SCOPE_METRICS[Scope.APPLICATION])
                    | Q(scope="platform", metric__in=SCOPE_METRICS[Scope.PLATFORM])
                ),
            ),
            models.CheckConstraint(
                name="alertrule_quota_period",
                condition=Q(metric__in=QUOTA_METRICS, quota_period__in=["day", "month"])
                | (~Q(metric__in=QUOTA_METRICS) & Q(quota_period="")),
            ),
            models.CheckConstraint(name="alertrule_threshold_positive", condition=Q(threshold__gt=0)),
            models.CheckConstraint(name="alertrule_min_calls_positive", condition=Q(min_calls__gte=1)),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def target_name(self) -> str:
        if self.scope == Scope.API and self.api is not None:
            return self.api.name
        if self.scope == Scope.APPLICATION and self.application is not None:
            return self.application.name
        return "every gateway node"

    @property
    def unit(self) -> str:
        return UNITS[Metric(self.metric)]

    @property
    def condition(self) -> str:
        """The rule in words: "error rate ≥ 5 % over 15 min", "token quota use ≥ 80 % of the UTC day"."""
        threshold = f"{self.threshold.normalize():f}"
        if self.metric in QUOTA_METRICS:
            return f"{QUOTA_WORDS[Metric(self.metric)]} ≥ {threshold} % of the {self.get_quota_period_display()}"
        if self.metric == Metric.NODE_SILENT:
            return f"not heard from for ≥ {threshold} s"
        what = {"error_rate": "error rate", "p95_latency_ms": "p95 latency", "refused_calls": "refused calls"}
        unit = " %" if self.metric == Metric.ERROR_RATE else f" {self.unit}"
        return f"{what[self.metric]} ≥ {threshold}{unit} over {self.window_minutes} min"

    @property
    def label(self) -> str:
        return self.name or f"{self.target_name}: {self.condition}"


class AlertEvent(models.Model):
    """One incident of a rule for one subject: fired at a time with a value, resolved (once) later.

    ``subject`` says what fired within the rule's scope: ``""`` for the API or application itself,
    ``subscription:<id>`` for a quota, token quota or cost budget rule (one per subscription of the
    application), ``node:<id>`` for a node-silence rule (one per node). ``tenant`` repeats the
    rule's (scoping; NULL for platform rules).
    """

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="events")
    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    subject = models.CharField(max_length=60, blank=True)
    subject_label = models.CharField(max_length=200, blank=True)
    fired_at = models.DateTimeField()
    fired_value = models.FloatField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_value = models.FloatField(null=True, blank=True)
    message = models.CharField(max_length=300)
    resolve_message = models.CharField(max_length=300, blank=True)

    objects = TenantScopedManager()

    class Meta:
        ordering = ["-fired_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "-fired_at", "-id"], name="alertevent_tenant_recent_idx"),
            models.Index(fields=["rule", "-fired_at"], name="alertevent_rule_recent_idx"),
        ]
        constraints = [
            # One open incident per rule and subject: firing is an INSERT that a second worker's
            # identical INSERT cannot repeat.
            models.UniqueConstraint(
                fields=["rule", "subject"], condition=Q(resolved_at__isnull=True), name="alertevent_one_open"
            ),
        ]

    def __str__(self) -> str:
        return self.message

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None
