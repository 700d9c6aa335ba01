"""REST endpoints: applications, subscriptions (both sides), approvals, API keys."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response

from core.api import tags
from core.api.actions import ServiceActionMixin
from core.api.pagination import CursorPagination
from core.errors import InvalidInput, NotFound
from core.filters import ListOnlyFilterMixin
from core.http import reveals_secret
from subscriptions import selectors, services
from subscriptions.api import serializers as s
from subscriptions.filtersets import (
    ConsumerSubscriptionFilterSet,
    KeyFilterSet,
    PlatformQueueFilterSet,
    ProviderSubscriptionFilterSet,
)
from subscriptions.models import ApiKey, Application, Subscription
from tenants.api.mixins import TenantScopedAPIMixin
from tenants.models import Tenant
from tenants.roles import Perm

TENANT_PARAM = OpenApiParameter("tenant_slug", str, OpenApiParameter.PATH, description="Organisation slug.")


def _application(tenant: Tenant, pk: int) -> Application:
    try:
        return selectors.application_for(tenant, pk)
    except NotFound:
        raise InvalidInput("No such application.", code="application_not_found", field="application") from None


# --- Applications --------------------------------------------------------------------


@extend_schema(parameters=[TENANT_PARAM], tags=[tags.APPLICATIONS])
@extend_schema_view(
    list=extend_schema(summary="Your organisation's applications"),
    retrieve=extend_schema(summary="One application"),
)
class ApplicationViewSet(
    ServiceActionMixin, TenantScopedAPIMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = s.ApplicationSerializer
    required_perms = {
        "list": Perm.TENANT_VIEW,
        "retrieve": Perm.TENANT_VIEW,
        "create": Perm.APPS_EDIT,
        "partial_update": Perm.APPS_EDIT,
    }

    def tenant_queryset(self) -> QuerySet[Application]:
        return selectors.tenant_applications(self.tenant)

    @extend_schema(
        request=s.ApplicationSerializer,
        responses={201: s.ApplicationSerializer},
        summary="Create an application (owner, admin, developer)",
        examples=[
            OpenApiExample(
                "Create",
                value={"name": "Shop backend", "description": "Order sync", "contact_email": "ops@globex.example"},
                request_only=True,
            )
        ],
    )
    def create(self, request: Request, tenant_slug: str) -> Response:
        return self.run_service(
            lambda **data: services.application_create(actor=self.membership, **data),
            input=s.ApplicationSerializer,
            output=s.ApplicationSerializer,
            status_code=status.HTTP_201_CREATED,
        )

    @extend_schema(request=s.ApplicationUpdateSerializer, responses=s.ApplicationSerializer, summary="Edit")
    def partial_update(self, request: Request, tenant_slug: str, pk: str) -> Response:
        return self.run_service(
            lambda **data: services.application_update(actor=self.membership, application=self.get_object(), **data),
            input=s.ApplicationUpdateSerializer,
            output=s.ApplicationSerializer,
        )


# --- Subscriptions: consumer side ----------------------------------------------------


class _EventsMixin:
    def shaped(self, queryset: QuerySet[Subscription]) -> QuerySet[Subscription]:
        """Reads load what the serializer shows without a wide join; the trail needs the row only."""
        current = getattr(self, "action", None)  # the viewset's routed action
        if current in ("list", "retrieve"):
            return s.SubscriptionSerializer.eager(queryset)
        if current == "events":
            return queryset.select_related(None)
        return queryset

    @extend_schema(
        responses=s.SubscriptionEventSerializer(many=True),
        summary="Audit trail of the subscription (who, when, old → new state, reason)",
        filters=False,
    )
    @action(detail=True, methods=["get"], pagination_class=CursorPagination)
    def events(self, request: Request, tenant_slug: str, pk: str) -> Response:
        subscription = self.get_object()  # type: ignore[attr-defined]
        events = selectors.subscription_events(self.tenant, subscription)  # type: ignore[attr-defined]
        page = self.paginate_queryset(events)  # type: ignore[attr-defined]
        return self.get_paginated_response(s.SubscriptionEventSerializer(page, many=True).data)  # type: ignore[attr-defined]


@extend_schema(parameters=[TENANT_PARAM], tags=[tags.SUBSCRIPTIONS])
@extend_schema_view(
    list=extend_schema(summary="Subscriptions of your applications"),
    retrieve=extend_schema(summary="One subscription of yours"),
)
class SubscriptionViewSet(
    ListOnlyFilterMixin,
    ServiceActionMixin,
    TenantScopedAPIMixin,
    _EventsMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = s.SubscriptionSerializer
    pagination_class = CursorPagination
    filterset_class = ConsumerSubscriptionFilterSet
    required_perms = {
        "list": Perm.TENANT_VIEW,
        "retrieve": Perm.TENANT_VIEW,
        "events": Perm.TENANT_VIEW,
        "create": Perm.APPS_EDIT,
        "cancel": Perm.APPS_EDIT,
        "change_plan": Perm.APPS_EDIT,
    }

    def tenant_queryset(self) -> QuerySet[Subscription]:
        return self.shaped(selectors.consumer_subscriptions(self.tenant))

    @extend_schema(
        request=s.SubscriptionRequestSerializer,
        responses={201: s.SubscriptionSerializer},
        summary="Request a subscription (active at once when the plan needs no approval)",
        examples=[
            OpenApiExample(
                "Request",
                value={"application": 12, "plan": 3, "use_case": "Sync orders into our shop every 5 minutes."},
                request_only=True,
            )
        ],
    )
    def create(self, request: Request, tenant_slug: str) -> Response:
        def run(application: int, plan: int, version: int | None = None, use_case: str = "") -> Subscription:
            return services.subscription_request(
                actor=self.membership,
                application=_application(self.tenant, application),
                plan=plan,
                version=version,
                use_case=use_case,
            )

        return self.run_service(
            run,
            input=s.SubscriptionRequestSerializer,
            output=s.SubscriptionSerializer,
            status_code=status.HTTP_201_CREATED,
        )

    @extend_schema(request=s.ReasonSerializer, responses=s.SubscriptionSerializer, summary="Cancel the subscription")
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, tenant_slug: str, pk: str) -> Response:
        return self._transition(s.ReasonSerializer, services.subscription_cancel)

    @extend_schema(
        request=s.PlanChangeSerializer,
        responses=s.SubscriptionSerializer,
        summary="Move to another plan (a request when the plan needs approval; keys are kept)",
        examples=[OpenApiExample("Upgrade", value={"plan": 4, "note": "Black Friday traffic"}, request_only=True)],
    )
    @action(detail=True, methods=["post"], url_path="change-plan")
    def change_plan(self, request: Request, tenant_slug: str, pk: str) -> Response:
        return self._transition(s.PlanChangeSerializer, services.subscription_change_plan)

    def _transition(
        self, serializer_class: type[serializers.Serializer], service: Callable[..., Subscription]
    ) -> Response:
        return self.run_service(
            lambda **data: service(actor=self.membership, subscription=self.get_object(), **data),
            input=serializer_class,
            output=s.SubscriptionSerializer,
        )


# --- Subscriptions: provider side (approvals) ----------------------------------------

_DECIDE = Perm.SUBSCRIPTIONS_APPROVE


class _DecisionActions(ServiceActionMixin):
    """Approve / reject / bulk-decide, shared by the provider's queue and the staff-wide one."""

    get_object: Callable[[], Subscription]

    @property
    def actor(self) -> services.Actor:
        raise NotImplementedError

    def _transition(
        self, serializer_class: type[serializers.Serializer], service: Callable[..., Subscription]
    ) -> Response:
        """Validate the body, run one state-change service on this subscription, answer with it."""
        return self.run_service(
            lambda **data: service(actor=self.actor, subscription=self.get_object(), **data),
            input=serializer_class,
            output=s.SubscriptionSerializer,
        )

    @extend_schema(request=s.NoteSerializer, responses=s.SubscriptionSerializer, summary="Approve the waiting request")
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, *args: object, **kwargs: object) -> Response:
        return self._transition(s.NoteSerializer, services.subscription_approve)

    @extend_schema(
        request=s.RequiredReasonSerializer,
        responses=s.SubscriptionSerializer,
        summary="Reject the waiting request (reason required, shown to the requester)",
        examples=[OpenApiExample("Reject", value={"reason": "Use the sandbox plan first."}, request_only=True)],
    )
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, *args: object, **kwargs: object) -> Response:
        return self._transition(s.RequiredReasonSerializer, services.subscription_reject)

    @extend_schema(
        request=s.BulkDecisionSerializer,
        responses=s.BulkDecisionResultSerializer,
        summary="Approve or reject many waiting requests at once",
        examples=[
            OpenApiExample("Approve", value={"ids": [41, 42], "decision": "approve"}, request_only=True),
            OpenApiExample(
                "Reject", value={"ids": [43], "decision": "reject", "reason": "Duplicate request."}, request_only=True
            ),
        ],
    )
    @action(detail=False, methods=["post"], url_path="bulk-decide")
    def bulk_decide(self, request: Request, *args: object, **kwargs: object) -> Response:
        def run(ids: list[int], decision: str, reason: str = "") -> tuple[list[Subscription], dict[int, str]]:
            return services.subscriptions_bulk_decide(
                actor=self.actor, subscription_ids=ids, approve=decision == "approve", reason=reason
            )

        def answer(result: tuple[list[Subscription], dict[int, str]]) -> dict[str, object]:
            decided, skipped = result
            return {
                "decided": s.SubscriptionSerializer(decided, many=True).data,
                "skipped": {str(k): v for k, v in skipped.items()},
            }

        return self.run_service(run, input=s.BulkDecisionSerializer, output=answer)


@extend_schema(parameters=[TENANT_PARAM], tags=[tags.SUBSCRIBERS])
@extend_schema_view(
    list=extend_schema(summary="Subscriptions to your APIs; ?awaiting=true is the approval queue (oldest first)"),
    retrieve=extend_schema(summary="One subscription to your APIs"),
)
class ProvidedSubscriptionViewSet(
    ListOnlyFilterMixin,
    TenantScopedAPIMixin,
    _EventsMixin,
    _DecisionActions,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = s.SubscriptionSerializer
    pagination_class = CursorPagination
    filterset_class = ProviderSubscriptionFilterSet
    required_perms = {
        # Reads stay open to every member (the provider side of the trail); decisions need approvers.
        "list": Perm.TENANT_VIEW,
        "retrieve": Perm.TENANT_VIEW,
        "events": Perm.TENANT_VIEW,
        "approve": _DECIDE,
        "reject": _DECIDE,
        "suspend": _DECIDE,
        "resume": _DECIDE,
        "cancel": _DECIDE,
        "bulk_decide": _DECIDE,
    }

    def tenant_queryset(self) -> QuerySet[Subscription]:
        return self.shaped(selectors.provider_subscriptions(self.tenant))

    @property
    def actor(self) -> services.Actor:
        return self.membership

    @extend_schema(
        request=s.RequiredReasonSerializer, responses=s.SubscriptionSerializer, summary="Suspend (reason required)"
    )
    @action(detail=True, methods=["post"])
    def suspend(self, request: Request, tenant_slug: str, pk: str) -> Response:
        return self._transition(s.RequiredReasonSerializer, services.subscription_suspend)

    @extend_schema(request=s.NoteSerializer, responses=s.SubscriptionSerializer, summary="Resume a suspended one")
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, tenant_slug: str, pk: str) -> Response:
        return self._transition(s.NoteSerializer, services.subscription_resume)

    @extend_schema(request=s.ReasonSerializer, responses=s.SubscriptionSerializer, summary="Cancel as the provider")
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, tenant_slug: str, pk: str) -> Response:
        return self._transition(s.ReasonSerializer, services.subscription_cancel)


@extend_schema(tags=[tags.PLATFORM])
@extend_schema_view(
    list=extend_schema(summary="Every provider's waiting requests, oldest first (platform staff)"),
    retrieve=extend_schema(summary="One waiting request (platform staff)"),
)
class PlatformApprovalViewSet(
    ListOnlyFilterMixin, _DecisionActions, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The global approval queue: staff decide as staff, not as members of the provider."""

    permission_classes = [IsAdminUser]
    serializer_class = s.SubscriptionSerializer
    pagination_class = CursorPagination
    filterset_class = PlatformQueueFilterSet

    def get_queryset(self) -> QuerySet[Subscription]:
        if self.action == "list":
            return s.SubscriptionSerializer.eager(selectors.approval_queue(None))
        # Decided requests stay addressable so a second decision gets 409, not 404.
        return s.SubscriptionSerializer.eager(selectors.platform_subscriptions())

    @property
    def actor(self) -> services.Actor:
        return services.StaffActor(user=self.request.user)


# --- API keys ------------------------------------------------------------------------


@extend_schema(parameters=[TENANT_PARAM], tags=[tags.KEYS])
@extend_schema_view(
    list=extend_schema(summary="API keys of your applications (never their secrets)"),
    retrieve=extend_schema(summary="One API key (never its secret)"),
)
class KeyViewSet(
    ListOnlyFilterMixin,
    ServiceActionMixin,
    TenantScopedAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = s.KeySerializer
    pagination_class = CursorPagination
    filterset_class = KeyFilterSet
    required_perms = {
        "list": Perm.TENANT_VIEW,
        "retrieve": Perm.TENANT_VIEW,
        "create": Perm.APPS_EDIT,
        "rotate": Perm.APPS_EDIT,
        "revoke": Perm.APPS_EDIT,
        "partial_update": Perm.APPS_EDIT,
    }

    def tenant_queryset(self) -> QuerySet[ApiKey]:
        keys = selectors.tenant_keys(self.tenant).select_related("replaced_by").prefetch_related("allowed_apis")
        return keys.only(*s.KEY_LIST_COLUMNS) if self.action == "list" else keys

    @extend_schema(
        request=s.KeyCreateSerializer,
        responses={201: s.KeyCreatedSerializer},
        summary="Create a key: the response is the only time the full key is shown",
        examples=[OpenApiExample("Create", value={"application": 12, "name": "production"}, request_only=True)],
    )
    @reveals_secret
    def create(self, request: Request, tenant_slug: str) -> Response:
        def run(
            application: int, name: str, expires_at: datetime | None = None, **restrictions: Any
        ) -> tuple[ApiKey, str]:
            return services.key_create(
                actor=self.membership,
                application=_application(self.tenant, application),
                name=name,
                expires_at=expires_at,
                **restrictions,
            )

        return self.run_service(
            run, input=s.KeyCreateSerializer, output=_created_key, status_code=status.HTTP_201_CREATED
        )

    @extend_schema(
        request=s.KeyRotateSerializer,
        responses={201: s.KeyCreatedSerializer},
        summary="Rotate: a new key (shown once); the old one keeps working for the grace period",
        examples=[OpenApiExample("One hour of grace", value={"grace_hours": 1}, request_only=True)],
    )
    @action(detail=True, methods=["post"])
    @reveals_secret
    def rotate(self, request: Request, tenant_slug: str, pk: str) -> Response:
        def run(grace_hours: int, name: str = "") -> tuple[ApiKey, str]:
            return services.key_rotate(
                actor=self.membership, key=self.get_object(), grace=timedelta(hours=grace_hours), name=name or None
            )

        return self.run_service(
            run, input=s.KeyRotateSerializer, output=_created_key, status_code=status.HTTP_201_CREATED
        )

    @extend_schema(
        request=s.KeyRestrictionsSerializer,
        responses=s.KeySerializer,
        summary="Change the key's restrictions (IP ranges, APIs, its own rate limit); the key stays the same",
        description=(
            "Fields left out stay as they are; an empty list or null lifts that restriction. Gateway nodes "
            "apply the change at their next config poll. A revoked or expired key answers 409."
        ),
        examples=[
            OpenApiExample(
                "Office and one API, 600 calls a minute",
                value={
                    "allowed_cidrs": ["203.0.113.0/24", "2001:db8::/48"],
                    "allowed_apis": [3],
                    "rate_limit_per_minute": 600,
                },
                request_only=True,
            )
        ],
    )
    def partial_update(self, request: Request, tenant_slug: str, pk: str) -> Response:
        return self.run_service(
            lambda **data: services.key_set_restrictions(actor=self.membership, key=self.get_object(), **data),
            input=s.KeyRestrictionsSerializer,
            partial=True,
            output=lambda key: s.KeySerializer(key).data,
        )

    @extend_schema(request=None, responses=s.KeySerializer, summary="Revoke at once")
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, tenant_slug: str, pk: str) -> Response:
        return self.run_service(
            lambda: services.key_revoke(actor=self.membership, key=self.get_object()), output=s.KeySerializer
        )


def _created_key(result: tuple[ApiKey, str]) -> dict:
    """The new key with its plaintext: the only response that ever carries it."""
    key, plaintext = result
    key.key = plaintext  # type: ignore[attr-defined]
    return s.KeyCreatedSerializer(key).data


# Key verification (POST /api/v1/keys/verify/) lives in gateways.api.views: it accepts node tokens.
