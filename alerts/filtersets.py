"""Query-string filters of the alert events REST list; a bad value is a 400."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from alerts.models import AlertEvent, Metric
from core.filters import IdFilter


class AlertEventFilterSet(django_filters.FilterSet):
    rule = IdFilter(field_name="rule_id", label="Only this rule's incidents (its id).")
    state = django_filters.ChoiceFilter(
        choices=[("firing", "firing"), ("resolved", "resolved")], method="filter_state", label="firing or resolved."
    )
    metric = django_filters.ChoiceFilter(field_name="rule__metric", choices=Metric.choices, label="The rule's metric.")
    api = django_filters.CharFilter(field_name="rule__api__slug", label="Rules on this API (its slug).")
    application = IdFilter(field_name="rule__application_id", label="Rules on this application (its id).")
    since = django_filters.IsoDateTimeFilter(field_name="fired_at", lookup_expr="gte", label="Fired at or after.")

    class Meta:
        model = AlertEvent
        fields: list[str] = []

    def filter_state(self, queryset: QuerySet[AlertEvent], name: str, value: str) -> QuerySet[AlertEvent]:
        return queryset.filter(resolved_at__isnull=value == "firing")
