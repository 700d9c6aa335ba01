"""Filters of the REST list endpoints (django-filter); the query logic itself lives in selectors."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from apis import selectors
from apis.models import Api, ApiVersion, Plan, PlanStatus, VersionStatus, Visibility


class ApiFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Full-text search over name, summary, description, tags.")
    tag = django_filters.CharFilter(method="filter_tag", label="Only APIs with this tag.")
    visibility = django_filters.ChoiceFilter(choices=Visibility.choices)

    class Meta:
        model = Api
        fields = ["visibility"]

    def search(self, queryset: QuerySet[Api], name: str, value: str) -> QuerySet[Api]:
        return selectors.search_apis(queryset, value).order_by("-rank", "name") if value.strip() else queryset

    def filter_tag(self, queryset: QuerySet[Api], name: str, value: str) -> QuerySet[Api]:
        return queryset.filter(tags__contains=[value.strip().lower()])


class VersionFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=VersionStatus.choices)

    class Meta:
        model = ApiVersion
        fields = ["status"]


class PlanFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=PlanStatus.choices)
    approval_required = django_filters.BooleanFilter()
    is_public = django_filters.BooleanFilter()

    class Meta:
        model = Plan
        fields = ["status", "approval_required", "is_public"]
