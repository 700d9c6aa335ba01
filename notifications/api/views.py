"""REST endpoints: your notifications, and the organisation's webhooks with their delivery logs."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from core.api import tags
from core.api.actions import ServiceActionMixin
from core.api.pagination import CursorPagination
from core.filters import ListOnlyFilterMixin
from core.http import reveals_secret
from notifications import selectors, services
from notifications.api import serializers as s
from notifications.filtersets import NotificationFilterSet
from notifications.models import Notification, Webhook
from tenants.api.mixins import TenantScopedAPIMixin
from tenants.roles import Perm

TENANT_PARAM = OpenApiParameter("tenant_slug", str, OpenApiParameter.PATH, description="Organisation slug.")


@extend_schema(parameters=[TENANT_PARAM], tags=[tags.NOTIFICATIONS])
@extend_schema_view(
    list=extend_schema(summary="Your notifications in this organisation, newest first"),
    retrieve=extend_schema(summary="One notification"),
)
class NotificationViewSet(
    ListOnlyFilterMixin,
    ServiceActionMixin,
    TenantScopedAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = s.NotificationSerializer
    pagination_class = CursorPagination
    filterset_class = NotificationFilterSet
    # Everyone reads (and marks read) their own notifications: tenant_queryset narrows to the user.
    required_perms = dict.fromkeys(("list", "retrieve", "read", "read_all", "unread_count"), Perm.TENANT_VIEW)

    def tenant_queryset(self) -> QuerySet[Notification]:
        return selectors.member_notifications(self.tenant, self.membership.user)

    @extend_schema(request=None, responses=s.NotificationSerializer, summary="Mark one notification read")
    @action(detail=True, methods=["post"])
    def read(self, request: Request, tenant_slug: str, pk: str) -> Response:

        def run() -> Notification:
            notification = self.get_object()
            services.notification_mark_read(actor=self.membership, ids=[notification.pk])
            notification.refresh_from_db()
            return notification

        return self.run_service(run, output=s.NotificationSerializer)

    @extend_schema(request=None, responses=s.MarkedSerializer, summary="Mark all your notifications here read")
    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request: Request, tenant_slug: str) -> Response:
        return self.run_service(
            lambda: services.notification_mark_read(actor=self.membership), output=lambda marked: {"marked": marked}
        )

    @extend_schema(responses=s.UnreadCountSerializer, summary="How many are unread (the bell's number)")
    @action(detail=False, methods=["get"], url_path="unread-count")
    def unread_count(self, request: Request, tenant_slug: str) -> Response:
        return Response({"unread": selectors.unread_count(self.tenant, self.membership.user)})


_EDIT = Perm.TENANT_EDIT


@extend_schema(parameters=[TENANT_PARAM], tags=[tags.WEBHOOKS])
@extend_schema_view(
    list=extend_schema(summary="Webhooks of the organisation (owner, admin)"),
    retrieve=extend_schema(summary="One webhook (never its secret)"),
)
class WebhookViewSet(
    ServiceActionMixin, TenantScopedAPIMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = s.WebhookSerializer
    required_perms = {
        "list": _EDIT,
        "retrieve": _EDIT,
        "create": _EDIT,
        "partial_update": _EDIT,
        "destroy": _EDIT,
        "test": _EDIT,
        "deliveries": _EDIT,
    }

    def tenant_queryset(self) -> QuerySet[Webhook]:
        return selectors.tenant_webhooks(self.tenant)

    @extend_schema(
        request=s.WebhookCreateSerializer,
        responses={201: s.WebhookCreatedSerializer},
        summary="Add a webhook: the response is the only time the signing secret is shown",
        examples=[
            OpenApiExample(
                "Create",
                value={"url": "https://hooks.globex.example/portal", "events": ["subscription.*", "key.*"]},
                request_only=True,
            )
        ],
    )
    @reveals_secret
    def create(self, request: Request, tenant_slug: str) -> Response:
        return self.run_service(
            lambda **data: services.webhook_create(actor=self.membership, **data),
            input=s.WebhookCreateSerializer,
            output=s.WebhookCreatedSerializer,
            status_code=status.HTTP_201_CREATED,
        )

    @extend_schema(request=s.WebhookUpdateSerializer, responses=s.WebhookSerializer, summary="Change or pause")
    def partial_update(self, request: Request, tenant_slug: str, pk: str) -> Response:
        return self.run_service(
            lambda **data: services.webhook_update(actor=self.membership, webhook=self.get_object(), **data),
            input=s.WebhookUpdateSerializer,
            output=s.WebhookSerializer,
        )

    @extend_schema(responses={204: None}, summary="Delete the webhook and its delivery log")
    def destroy(self, request: Request, tenant_slug: str, pk: str) -> Response:
        return self.run_service(
            lambda: services.webhook_delete(actor=self.membership, webhook=self.get_object()),
            output=None,
            status_code=status.HTTP_204_NO_CONTENT,
        )

    @extend_schema(request=None, responses={202: s.DeliverySerializer}, summary="Send a test event")
    @action(detail=True, methods=["post"])
    def test(self, request: Request, tenant_slug: str, pk: str) -> Response:
        return self.run_service(
            lambda: services.webhook_send_test(actor=self.membership, webhook=self.get_object()),
            output=s.DeliverySerializer,
            status_code=status.HTTP_202_ACCEPTED,
        )

    @extend_schema(responses=s.DeliverySerializer(many=True), summary="Delivery log, newest first")
    @action(detail=True, methods=["get"], pagination_class=CursorPagination)
    def deliveries(self, request: Request, tenant_slug: str, pk: str) -> Response:
        page = self.paginate_queryset(selectors.webhook_deliveries(self.get_object()))
        return self.get_paginated_response(s.DeliverySerializer(page, many=True).data)
