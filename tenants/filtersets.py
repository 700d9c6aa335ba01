"""Query-string filters of the tenants lists (invitations, tokens, staff lists); a bad value is a 400."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from core.filters import StrictBooleanFilter
from tenants.models import Invitation, PersonalAccessToken, Tenant, User


class InvitationFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        choices=[("pending", "pending"), ("all", "all")], label="Default: pending.", empty_label=None
    )

    class Meta:
        model = Invitation
        fields: list[str] = []

    def filter_queryset(self, queryset: QuerySet[Invitation]) -> QuerySet[Invitation]:
        # "pending" is the default when the parameter is absent, so this is not a per-value filter method.
        if (self.form.cleaned_data.get("status") or "pending") == "pending":
            return queryset.pending()  # type: ignore[attr-defined]
        return queryset


class TokenFilterSet(django_filters.FilterSet):
    """``all=true``: owners and admins also see other members' tokens (the view passes ``own_user``)."""

    all = StrictBooleanFilter(method="filter_all", label="Owners and admins: include other members' tokens.")

    class Meta:
        model = PersonalAccessToken
        fields: list[str] = []

    def filter_queryset(self, queryset: QuerySet[PersonalAccessToken]) -> QuerySet[PersonalAccessToken]:
        # Only one's own tokens unless all=true was asked for (and the role allows it: see the view).
        if not self.form.cleaned_data.get("all"):
            queryset = queryset.filter(user=self.request.user)
        return queryset

    def filter_all(
        self, queryset: QuerySet[PersonalAccessToken], name: str, value: bool
    ) -> QuerySet[PersonalAccessToken]:
        return queryset


class PlatformTenantFilterSet(django_filters.FilterSet):
    """Platform staff's organisation list: ``q`` (name or slug), ``suspended``."""

    q = django_filters.CharFilter(method="filter_q", max_length=100, label="Name or slug contains.")
    suspended = StrictBooleanFilter(field_name="suspended_at", lookup_expr="isnull", exclude=True)

    class Meta:
        model = Tenant
        fields: list[str] = []

    def filter_q(self, queryset: QuerySet[Tenant], name: str, value: str) -> QuerySet[Tenant]:
        return queryset.filter(Q(name__icontains=value) | Q(slug__icontains=value))


class PlatformUserFilterSet(django_filters.FilterSet):
    """Platform staff's user list: ``q`` (e-mail or name), ``staff``."""

    q = django_filters.CharFilter(method="filter_q", max_length=100, label="E-mail or name contains.")
    staff = StrictBooleanFilter(field_name="is_staff")

    class Meta:
        model = User
        fields: list[str] = []

    def filter_q(self, queryset: QuerySet[User], name: str, value: str) -> QuerySet[User]:
        return queryset.filter(Q(email__icontains=value) | Q(name__icontains=value))
