"""Query-string filters of the tenants REST lists (invitations, tokens); a bad value is a 400."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from core.filters import StrictBooleanFilter
from tenants.models import Invitation, PersonalAccessToken


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
