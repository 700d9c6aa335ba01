"""Filters of the REST list endpoints (django-filter); the query logic itself lives in selectors."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from apis import selectors
from apis.models import Api, ApiVersion, Plan, PlanStatus, VersionStatus, Visibility
from core.filters import StrictBooleanFilter


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


class CatalogFilterSet(django_filters.FilterSet):
    """The catalog's search, filters and sort (REST list and web page); the queryset is what the viewer may see."""

    q = django_filters.CharFilter(label="Full-text search over name, summary, description and tags.")
    tag = django_filters.CharFilter(label="Only APIs with this tag.")
    provider = django_filters.CharFilter(label="Only APIs of this provider (organisation slug).")
    sort = django_filters.ChoiceFilter(
        choices=list(selectors.CATALOG_SORTS.items()), label="Default: relevance with q, else name."
    )

    class Meta:
        model = Api
        fields: list[str] = []

    def filter_queryset(self, queryset: QuerySet[Api]) -> QuerySet[Api]:
        # One selector searches, filters and sorts, so the web page and the REST list agree.
        data = {name: self.form.cleaned_data.get(name) or "" for name in ("q", "tag", "provider", "sort")}
        return selectors.catalog_filter(queryset, **data)


class VersionFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=VersionStatus.choices)

    class Meta:
        model = ApiVersion
        fields = ["status"]


class PlanFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=PlanStatus.choices)
    approval_required = StrictBooleanFilter()
    is_public = StrictBooleanFilter()

    class Meta:
        model = Plan
        fields = ["status", "approval_required", "is_public"]


class PlatformApiFilterSet(django_filters.FilterSet):
    """Platform staff's list of every API: ``q`` (name, slug or provider), ``visibility``, ``provider``."""

    q = django_filters.CharFilter(method="filter_q", max_length=100, label="Name, slug or provider contains.")
    visibility = django_filters.ChoiceFilter(choices=Visibility.choices)
    provider = django_filters.CharFilter(field_name="tenant__slug", max_length=50, label="Provider's slug.")

    class Meta:
        model = Api
        fields: list[str] = []

    def filter_q(self, queryset: QuerySet[Api], name: str, value: str) -> QuerySet[Api]:
        return queryset.filter(
            Q(name__icontains=value)
            | Q(slug__icontains=value)
            | Q(tenant__name__icontains=value)
            | Q(tenant__slug__icontains=value)
        )
