"""Query-string filters of the notifications REST list; a bad value is a 400."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from core.filters import StrictBooleanFilter
from notifications.models import Notification


class NotificationFilterSet(django_filters.FilterSet):
    unread = StrictBooleanFilter(method="filter_unread", label="Only unread ones.")

    class Meta:
        model = Notification
        fields: list[str] = []

    def filter_unread(self, queryset: QuerySet[Notification], name: str, value: bool) -> QuerySet[Notification]:
        return queryset.unread() if value else queryset  # type: ignore[attr-defined]
