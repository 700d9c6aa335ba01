"""REST endpoints: an organisation's alert rules (CRUD) and the history of their incidents."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from alerts import selectors, services
from alerts.api import serializers as s
from alerts.filtersets import AlertEventFilterSet
from alerts.models import AlertEvent, AlertRule
from apis import selectors as api_selectors
from core.api import tags
from core.api.actions import ServiceActionMixin
from core.api.pagination import CursorPagination
from core.filters import ListOnlyFilterMixin
from subscriptions import selectors as subscription_selectors
from tenants.api.mixins import TenantScopedAPIMixin
from tenants.roles import Perm

TENANT_PARAM = OpenApiParameter("tenant_slug", str, OpenApiParameter.PATH, description="Organisation slug.")
#: Every member reads; a write is then checked by the service against the rule's target: apis.edit
#: for a rule on an API, apps.edit for one on an application (docs/alerts.md, "Who may").
_VIEW = Perm.TENANT_VIEW


@extend_schema(parameters=[TENANT_PARAM], tags=[tags.ALERTS])
@extend_schema_view(
    list=extend_schema(summary="Alert rules of the organisation, with their state (firing ones first)"),
    retrieve=extend_schema(summary="One alert rule"),
)
class AlertRuleViewSet(
    ServiceActionMixin, TenantScopedAPIMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = s.AlertRuleSerializer
    required_perms = dict.fromkeys(("list", "retrieve", "create", "partial_update", "destroy"), _VIEW)

    def tenant_queryset(self) -> QuerySet[AlertRule]:
        return selectors.tenant_rules(self.tenant)

    def get_object(self) -> AlertRule:
        return selectors.rule_for(self.tenant, self.kwargs["pk"])

    def _render(self, rule: AlertRule) -> dict[str, Any]:
        return s.AlertRuleSerializer(selectors.rule_for(self.tenant, rule.pk)).data

    def _create(self, *, api: str | None = None, application: int | None = None, **fields: Any) -> AlertRule:
        target: dict[str, Any] = {}
        if api is not None:
            target["api"] = api_selectors.api_for_tenant(self.tenant, api)
        if application is not None:
            target["application"] = subscription_selectors.application_for(self.tenant, application)
        return services.rule_create(actor=self.membership, **target, **fields)

    @extend_schema(
        request=s.AlertRuleCreateSerializer,
        responses={201: s.AlertRuleSerializer},
        summary="Add a rule on one of your APIs or applications",
        examples=[
            OpenApiExample(
                "Error rate of an API",
                request_only=True,
                value={"api": "orders", "metric": "error_rate", "threshold": "5", "window_minutes": 15},
            ),
            OpenApiExample(
                "Quota use of an application",
                request_only=True,
                value={"application": 12, "metric": "quota_use", "threshold": "80", "quota_period": "day"},
            ),
        ],
    )
    def create(self, request: Request, tenant_slug: str) -> Response:
        return self.run_service(
            self._create,
            input=s.AlertRuleCreateSerializer,
            output=self._render,
            status_code=status.HTTP_201_CREATED,
        )

    @extend_schema(
        request=s.AlertRuleUpdateSerializer,
        responses=s.AlertRuleSerializer,
        summary="Change a rule's condition, recipients or state (disabling closes its open incident)",
    )
    def partial_update(self, request: Request, tenant_slug: str, pk: str) -> Response:
        return self.run_service(
            lambda **data: services.rule_update(actor=self.membership, rule=self.get_object(), **data),
            input=s.AlertRuleUpdateSerializer,
            output=self._render,
            partial=True,
        )

    @extend_schema(responses={204: None}, summary="Delete a rule with its history")
    def destroy(self, request: Request, tenant_slug: str, pk: str) -> Response:
        return self.run_service(
            lambda: services.rule_delete(actor=self.membership, rule=self.get_object()),
            output=None,
            status_code=status.HTTP_204_NO_CONTENT,
        )


@extend_schema(parameters=[TENANT_PARAM], tags=[tags.ALERTS])
@extend_schema_view(
    list=extend_schema(summary="Incidents of the organisation's rules, newest first"),
    retrieve=extend_schema(summary="One incident"),
)
class AlertEventViewSet(
    ListOnlyFilterMixin,
    TenantScopedAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = s.AlertEventSerializer
    pagination_class = CursorPagination
    filterset_class = AlertEventFilterSet
    required_perms = dict.fromkeys(("list", "retrieve"), _VIEW)

    def tenant_queryset(self) -> QuerySet[AlertEvent]:
        return selectors.tenant_events(self.tenant)
