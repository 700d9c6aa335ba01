"""Every write about alert rules: create, change, enable / disable, delete.

Who may manage a rule follows what it watches: a rule on an API needs ``apis.edit`` (whoever may
change the API), a rule on an application ``apps.edit``; every member reads them. Platform rules
(gateway node silence) are staff's. The checks of a rule's fields live here once; forms and
serializers only parse.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone

from alerts.evaluation import close_open_events
from alerts.models import (
    QUOTA_METRICS,
    SCOPE_METRICS,
    THRESHOLD_RANGES,
    UNITS,
    WINDOW_CHOICES,
    AlertRule,
    Metric,
    QuotaPeriod,
    Scope,
)
from apis.models import Api
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from core.limits import max_value
from core.validators import clean_text
from subscriptions.models import Application
from tenants.models import Membership, Tenant, User
from tenants.ownership import get_owned
from tenants.permissions import require
from tenants.roles import Perm

MAX_RULES_PER_TENANT = 500
MAX_PLATFORM_RULES = 50
MAX_MIN_CALLS = max_value(AlertRule, "min_calls")
#: Fields a change may set (the target, API or application, is fixed for the rule's life).
EDITABLE = ("name", "metric", "threshold", "window_minutes", "quota_period", "min_calls", "email", "enabled")


def _perm_for(scope: str) -> Perm:
    return Perm.APIS_EDIT if scope == Scope.API else Perm.APPS_EDIT


def _clean(scope: str, values: dict[str, Any]) -> dict[str, Any]:
    """Check and normalise a rule's fields for ``scope``; InvalidInput names the field."""
    metric = values.get("metric") or ""
    if metric not in Metric.values:
        raise InvalidInput(f"Choose one of: {', '.join(Metric.values)}.", field="metric")
    if metric not in SCOPE_METRICS[scope]:
        allowed = ", ".join(Metric(m).label for m in SCOPE_METRICS[scope])
        raise InvalidInput(f"A rule on {'an API' if scope == Scope.API else 'this scope'} watches: {allowed}.",
                           field="metric")  # fmt: skip
    try:
        threshold = Decimal(str(values.get("threshold"))).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError, TypeError):
        raise InvalidInput("Enter a number.", field="threshold") from None
    low, high = THRESHOLD_RANGES[metric]
    if not threshold.is_finite() or not low <= threshold <= high:
        unit = UNITS[Metric(metric)]
        raise InvalidInput(f"Between {low:f} and {high:,f} {unit} for this metric.", field="threshold")
    if metric == Metric.REFUSED_CALLS and threshold != threshold.to_integral_value():
        raise InvalidInput("A number of calls: a whole number.", field="threshold")
    window = values.get("window_minutes")
    window = 15 if window is None else window
    if window not in dict(WINDOW_CHOICES):
        raise InvalidInput("Choose 5, 15 or 60 minutes.", field="window_minutes")
    period = values.get("quota_period") or ""
    if metric in QUOTA_METRICS:
        if period not in QuotaPeriod.values:
            raise InvalidInput("Choose the limit of the day or of the month.", field="quota_period")
    else:
        period = ""
    min_calls = values.get("min_calls")
    min_calls = 20 if min_calls is None else min_calls
    if not isinstance(min_calls, int) or not 1 <= min_calls <= MAX_MIN_CALLS:
        raise InvalidInput(f"Between 1 and {MAX_MIN_CALLS:,} calls.", field="min_calls")
    return {
        "name": clean_text(values.get("name"), field="name", max_length=100),
        "metric": metric,
        "threshold": threshold,
        "window_minutes": window,
        "quota_period": period,
        "min_calls": min_calls,
        "email": bool(values.get("email", False)),
        "enabled": bool(values.get("enabled", True)),
    }


def _lock_count(tenant_id: int | None) -> int:
    if tenant_id is None:
        return AlertRule.objects.unscoped().filter(tenant__isnull=True).count()
    # Lock the tenant row first: concurrent creations would all count below the limit.
    Tenant.objects.select_for_update().filter(pk=tenant_id).values_list("pk", flat=True).first()
    return AlertRule.objects.unscoped().filter(tenant_id=tenant_id).count()


@transaction.atomic
def rule_create(
    *, actor: Membership, api: Api | None = None, application: Application | None = None, **fields: Any
) -> AlertRule:
    """A rule on one of the actor's APIs or applications (exactly one of them)."""
    if (api is None) == (application is None):
        raise InvalidInput("Choose the API or the application the rule watches.", field="target")
    scope = Scope.API if api is not None else Scope.APPLICATION
    require(actor, _perm_for(scope))
    if api is not None:
        api = get_owned(actor, api)
    if application is not None:
        application = get_owned(actor, application)
    values = _clean(scope, fields)
    if _lock_count(actor.tenant_id) >= MAX_RULES_PER_TENANT:
        raise Conflict(f"At most {MAX_RULES_PER_TENANT} alert rules per organisation.", code="alert_rule_limit")
    return AlertRule.objects.create(
        tenant=actor.tenant, scope=scope, api=api, application=application, created_by=actor.user, **values
    )


def _update(rule: AlertRule, scope: str, changes: dict[str, Any]) -> AlertRule:
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise InvalidInput(f"Cannot change: {', '.join(sorted(unknown))}.", field=sorted(unknown)[0])
    current = {name: getattr(rule, name) for name in EDITABLE}
    values = _clean(scope, {**current, **{k: v for k, v in changes.items() if v is not None}})
    if not values["enabled"] and rule.enabled:
        close_open_events(rule, "Rule disabled.")
    elif (values["metric"], values["quota_period"]) != (rule.metric, rule.quota_period):
        # Open incidents were about another figure: close them; the next run starts afresh.
        close_open_events(rule, "Rule changed.")
    for name, value in values.items():
        setattr(rule, name, value)
    rule.updated_at = timezone.now()
    rule.save()
    return rule


@transaction.atomic
def rule_update(*, actor: Membership, rule: AlertRule, **changes: Any) -> AlertRule:
    """Change a rule's condition, recipients or state (disabling closes its open incident)."""
    rule = get_owned(actor, rule, lock=True, related=("api", "application"))
    require(actor, _perm_for(rule.scope))
    return _update(rule, rule.scope, changes)


@transaction.atomic
def rule_delete(*, actor: Membership, rule: AlertRule) -> None:
    """Delete a rule with its history."""
    rule = get_owned(actor, rule)
    require(actor, _perm_for(rule.scope))
    AlertRule.objects.for_tenant(actor.tenant).filter(pk=rule.pk).delete()


# --- Platform rules (staff) --------------------------------------------------------------------


def _require_staff(user: User) -> None:
    if not (user.is_authenticated and user.is_staff and user.is_active):
        raise Forbidden("Only platform staff manage platform alert rules.")


@transaction.atomic
def platform_rule_create(*, user: User, **fields: Any) -> AlertRule:
    """A node-silence rule (staff): watches every active gateway node."""
    _require_staff(user)
    values = _clean(Scope.PLATFORM, {"metric": Metric.NODE_SILENT, **fields})
    if _lock_count(None) >= MAX_PLATFORM_RULES:
        raise Conflict(f"At most {MAX_PLATFORM_RULES} platform alert rules.", code="alert_rule_limit")
    return AlertRule.objects.create(scope=Scope.PLATFORM, created_by=user, **values)


@transaction.atomic
def platform_rule_update(*, user: User, rule: AlertRule, **changes: Any) -> AlertRule:
    _require_staff(user)
    locked = AlertRule.objects.unscoped().select_for_update().filter(pk=rule.pk, tenant__isnull=True).first()
    if locked is None:
        raise NotFound("No such alert rule.")
    return _update(locked, Scope.PLATFORM, changes)


@transaction.atomic
def platform_rule_delete(*, user: User, rule: AlertRule) -> None:
    _require_staff(user)
    AlertRule.objects.unscoped().filter(pk=rule.pk, tenant__isnull=True).delete()
