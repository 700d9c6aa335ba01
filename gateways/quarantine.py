"""Quarantine of refused call records: the staff filter shared by the web page and REST."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import django_filters
from django.db.models import Count, QuerySet

from core.filters import IdFilter
from gateways.models import GatewayNode, QuarantinedRecord


class QuarantineFilterSet(django_filters.FilterSet):
    """``?node=<id>&reason=<code>&since=YYYY-MM-DD&until=YYYY-MM-DD`` (UTC days, both inclusive)."""

    node = IdFilter(field_name="node_id")
    reason = django_filters.CharFilter(field_name="reason", max_length=64)
    since = django_filters.DateFilter(method="filter_since")
    until = django_filters.DateFilter(method="filter_until")
    batch = django_filters.CharFilter(field_name="batch__batch_id", max_length=100)

    class Meta:
        model = QuarantinedRecord
        fields = ["node", "reason", "since", "until", "batch"]

    def filter_since(self, queryset: QuerySet[QuarantinedRecord], name: str, value: Any) -> QuerySet[QuarantinedRecord]:
        return queryset.filter(created_at__gte=datetime.combine(value, time.min, tzinfo=UTC))

    def filter_until(self, queryset: QuerySet[QuarantinedRecord], name: str, value: Any) -> QuerySet[QuarantinedRecord]:
        return queryset.filter(created_at__lt=datetime.combine(value + timedelta(days=1), time.min, tzinfo=UTC))


def quarantined() -> QuerySet[QuarantinedRecord]:
    return QuarantinedRecord.objects.select_related("node", "batch").order_by("-created_at", "-id")


def reasons() -> list[dict[str, Any]]:
    """Reasons seen, most frequent first (the filter's choices and the page's summary)."""
    return list(
        QuarantinedRecord.objects.values("reason").annotate(count=Count("id")).order_by("-count", "reason")[:50]
    )


def nodes() -> QuerySet[GatewayNode]:
    return GatewayNode.objects.order_by("name")
