"""Query-string filters of the subscription lists (REST and the web approval queue).

The query logic lives in selectors; a bad value is a 400 (REST) or a form error (web).
"""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from core.filters import CountFilter, IdFilter, StrictBooleanFilter
from subscriptions import selectors
from subscriptions.models import ApiKey, Subscription, SubscriptionStatus

#: A year: longer waits are not a useful filter, and the bound keeps the date arithmetic in range.
MAX_AGE_HOURS = 24 * 366


class QueueFilterSet(django_filters.FilterSet):
    """The approval queue's filters (provider, staff-wide and the web page)."""

    api = IdFilter(field_name="api_id", label="Only requests for this API.")
    plan = IdFilter(method="filter_plan", label="Only requests for this plan (or asking to move to it).")
    min_age_hours = CountFilter(
        method="filter_age", max_value=MAX_AGE_HOURS, label="Only requests waiting at least this long."
    )

    class Meta:
        model = Subscription
        fields: list[str] = []

    def filter_plan(self, queryset: QuerySet[Subscription], name: str, value: int) -> QuerySet[Subscription]:
        return selectors.for_plan(queryset, value)

    def filter_age(self, queryset: QuerySet[Subscription], name: str, value: int) -> QuerySet[Subscription]:
        return selectors.waiting_at_least(queryset, value) if value else queryset


class StaffQueueFilterSet(QueueFilterSet):
    """The staff-wide queue (web page) also filters by provider organisation."""

    provider = IdFilter(field_name="provider_tenant_id", label="Only requests to this provider.")


class ConsumerSubscriptionFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=SubscriptionStatus.choices, label="Only this state.")

    class Meta:
        model = Subscription
        fields: list[str] = []


class ProviderSubscriptionFilterSet(QueueFilterSet):
    """``awaiting=true`` is the approval queue: only waiting requests, oldest first."""

    awaiting = StrictBooleanFilter(method="filter_awaiting", label="Only requests waiting for a decision.")
    status = django_filters.ChoiceFilter(choices=SubscriptionStatus.choices, label="Only this state.")

    class Meta(QueueFilterSet.Meta):
        pass

    def filter_awaiting(self, queryset: QuerySet[Subscription], name: str, value: bool) -> QuerySet[Subscription]:
        if not value:
            return queryset
        return queryset.awaiting_decision().order_by("awaiting_since", "pk")  # type: ignore[attr-defined]


class KeyFilterSet(django_filters.FilterSet):
    application = IdFilter(field_name="application_id", label="Only this application's keys.")

    class Meta:
        model = ApiKey
        fields: list[str] = []


class PlatformQueueFilterSet(QueueFilterSet):
    """Platform staff's queue of every provider: also ``provider`` (a slug: one organisation's queue)."""

    provider = django_filters.CharFilter(
        field_name="provider_tenant__slug", max_length=50, label="Only requests to this provider (its slug)."
    )

    class Meta(QueueFilterSet.Meta):
        pass
