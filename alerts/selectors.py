"""Reads behind the alert pages and REST endpoints: rules with their current state, incident history."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, QuerySet

from alerts.models import AlertEvent, AlertRule
from core.errors import NotFound
from tenants.models import Tenant


def _with_state(rules: QuerySet[AlertRule]) -> QuerySet[AlertRule]:
    """Annotate ``firing``: the rule has an open incident (one EXISTS per row, in the same query)."""
    # Correlated on the rule, whose tenant the outer queryset already narrowed.
    open_events = AlertEvent.objects.unscoped().filter(rule=OuterRef("pk"), resolved_at__isnull=True)
    return rules.select_related("api", "application").annotate(firing=Exists(open_events))


def tenant_rules(
    tenant: Tenant, *, api_id: int | None = None, application_id: int | None = None
) -> QuerySet[AlertRule]:
    rules = AlertRule.objects.for_tenant(tenant)
    if api_id is not None:
        rules = rules.filter(api_id=api_id)
    if application_id is not None:
        rules = rules.filter(application_id=application_id)
    return _with_state(rules).order_by("-firing", "created_at", "pk")


def rule_for(tenant: Tenant, pk: int | str) -> AlertRule:
    rule = _with_state(AlertRule.objects.for_tenant(tenant)).filter(pk=pk).first() if str(pk).isdigit() else None
    if rule is None:
        raise NotFound("No such alert rule.")
    return rule


def tenant_events(tenant: Tenant) -> QuerySet[AlertEvent]:
    """Incidents of the tenant's rules, newest first."""
    return (
        AlertEvent.objects.for_tenant(tenant)
        .select_related("rule", "rule__api", "rule__application")
        .order_by("-fired_at", "-id")
    )


def rule_events(rule: AlertRule) -> QuerySet[AlertEvent]:
    return AlertEvent.objects.unscoped().filter(rule=rule).order_by("-fired_at", "-id")  # the caller loaded the rule


def platform_rules() -> QuerySet[AlertRule]:
    """Staff's node-silence rules (no tenant)."""
    return _with_state(AlertRule.objects.unscoped().filter(tenant__isnull=True)).order_by("created_at", "pk")


def platform_rule(pk: int | str) -> AlertRule:
    rule = platform_rules().filter(pk=pk).first() if str(pk).isdigit() else None
    if rule is None:
        raise NotFound("No such alert rule.")
    return rule


def platform_events() -> QuerySet[AlertEvent]:
    return AlertEvent.objects.unscoped().filter(tenant__isnull=True).select_related("rule").order_by("-fired_at", "-id")
