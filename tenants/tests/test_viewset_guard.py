"""The REST tenant mixin cannot be bypassed: no get_queryset override, no action without a rule."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate

from tenants.api import serializers as s
from tenants.api.mixins import TenantScopedAPIMixin
from tenants.models import Membership
from tenants.roles import Perm


def test_a_viewset_cannot_override_get_queryset() -> None:
    with pytest.raises(TypeError, match="implement tenant_queryset"):

        class Leaky(TenantScopedAPIMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
            required_perms = {"list": Perm.TENANT_VIEW}

            def get_queryset(self) -> QuerySet:
                return Membership.objects.unscoped()


def test_an_action_without_a_permission_rule_fails_at_class_creation() -> None:
    with pytest.raises(ImproperlyConfigured, match="no entry for: export, retrieve"):

        class Forgetful(TenantScopedAPIMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
            required_perms = {}

            @action(detail=False, methods=["post"])
            def export(self, request: Request, tenant_slug: str) -> Response:
                return Response({})


class _Members(TenantScopedAPIMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = s.MemberSerializer
    required_perms = {"list": Perm.TENANT_VIEW}

    def tenant_queryset(self) -> QuerySet[Membership]:
        return Membership.objects.for_tenant(self.tenant)


def _list(user: object, view: type) -> Response:
    request = APIRequestFactory().get("/api/v1/tenants/acme/x/")
    force_authenticate(request, user=user)
    return view.as_view({"get": "list"})(request, tenant_slug="acme")


def test_an_action_missing_at_runtime_is_refused_not_read(acme, alice, charlie) -> None:
    assert _list(alice, _Members).status_code == 200
    # A rule removed after class creation (or an action added dynamically) is not a read.
    stripped = type("Stripped", (_Members,), {"required_perms": {"list": Perm.TENANT_VIEW}})
    stripped.required_perms = {}
    response = _list(alice, stripped)
    assert response.status_code == 403
    assert response.data["error"]["code"] == "not_permitted"
    # Strangers still learn nothing: 404 comes first.
    assert _list(charlie, stripped).status_code == 404


def test_an_unrouted_method_is_405_for_members(api, acme, alice) -> None:
    api.force_authenticate(alice)
    response = api.put("/api/v1/tenants/acme/members/")
    assert response.status_code == 405
