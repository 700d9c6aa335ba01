"""REST endpoints for the current user, tenants, members, invitations and tokens."""

from __future__ import annotations

from typing import Any, cast

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import ListAPIView
from rest_framework.permissions import SAFE_METHODS, IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import tags
from core.api.actions import ServiceActionMixin
from core.api.pagination import PageNumberPagination
from core.errors import Forbidden
from core.filters import ListOnlyFilterMixin
from core.http import reveals_secret
from tenants import selectors, services
from tenants.api import serializers as s
from tenants.api.mixins import TenantScopedAPIMixin, request_membership
from tenants.filtersets import InvitationFilterSet, PlatformTenantFilterSet, TokenFilterSet
from tenants.models import Invitation, Membership, PersonalAccessToken, Tenant, User
from tenants.permissions import require_not_suspended
from tenants.reauth import is_destructive_member_change, require_fresh_auth
from tenants.roles import Perm


@extend_schema(tags=[tags.ACCOUNT])
class MeView(APIView):
    @extend_schema(responses=s.MeSerializer, summary="The signed-in user and their organisations")
    def get(self, request: Request) -> Response:
        user = request.user
        user_data = s.MeSerializer(user).data
        memberships = selectors.memberships_for_user(user)
        if isinstance(request.auth, PersonalAccessToken):
            memberships = memberships.filter(tenant=request.auth.tenant)
        user_data["memberships"] = s.MembershipBriefSerializer(memberships, many=True).data
        return Response(user_data)

    @extend_schema(request=s.MeSerializer, responses=s.MeSerializer, summary="Update your display name")
    def patch(self, request: Request) -> Response:
        serializer = s.MeSerializer(request.user, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return self.get(request)


@extend_schema(tags=[tags.ORGANISATIONS])
@extend_schema_view(
    list=extend_schema(summary="Organisations you belong to"),
    retrieve=extend_schema(summary="One organisation"),
)
class TenantViewSet(ServiceActionMixin, viewsets.ViewSet):
    lookup_field = "slug"
    lookup_value_regex = "[a-z0-9-]+"
    serializer_class = s.TenantSerializer

    def initial(self, request: Request, *args: object, **kwargs: object) -> None:
        super().initial(request, *args, **kwargs)
        if "slug" in kwargs:
            # Strangers learn nothing, not even which methods a tenant URL accepts: 404 first.
            membership = request_membership(request, str(kwargs["slug"]))
            if request.method not in SAFE_METHODS:
                require_not_suspended(membership.tenant)

    def _memberships(self, request: Request) -> QuerySet[Membership]:
        memberships = selectors.memberships_for_user(request.user)
        if isinstance(request.auth, PersonalAccessToken):
            memberships = memberships.filter(tenant=request.auth.tenant)
        return memberships

    def _render(self, membership: Membership) -> dict:
        return s.TenantSerializer(membership.tenant, context={"roles": {membership.tenant_id: membership.role}}).data

    @extend_schema(
        responses=s.PaginatedTenantListSerializer,
        parameters=[
            OpenApiParameter("page", int, description="A page number within the paginated result set."),
            OpenApiParameter("page_size", int, description="Number of results to return per page."),
        ],
    )
    def list(self, request: Request) -> Response:
        paginator = PageNumberPagination()
        ordered = self._memberships(request).order_by("tenant__name", "pk")
        memberships = paginator.paginate_queryset(ordered, request) or []
        roles = {m.tenant_id: m.role for m in memberships}
        data = s.TenantSerializer([m.tenant for m in memberships], many=True, context={"roles": roles}).data
        return paginator.get_paginated_response(data)

    @extend_schema(
        request=s.TenantCreateSerializer,
        responses={201: s.TenantSerializer},
        summary="Create an organisation (you become its owner)",
        examples=[OpenApiExample("Create", value={"name": "Acme Logistics", "slug": "acme"}, request_only=True)],
    )
    def create(self, request: Request) -> Response:
        if isinstance(request.auth, PersonalAccessToken):
            raise Forbidden("A personal access token is bound to one organisation and cannot create others.")

        def run(**data: Any) -> Membership:
            tenant = services.tenant_create(user=cast(User, request.user), **data)
            return selectors.membership_for(request.user, tenant.slug)

        return self.run_service(
            run, input=s.TenantCreateSerializer, output=self._render, status_code=status.HTTP_201_CREATED
        )

    @extend_schema(responses=s.TenantSerializer)
    def retrieve(self, request: Request, slug: str) -> Response:
        return Response(self._render(request_membership(request, slug)))

    @extend_schema(request=s.TenantUpdateSerializer, responses=s.TenantSerializer, summary="Rename (owner, admin)")
    def partial_update(self, request: Request, slug: str) -> Response:
        membership = request_membership(request, slug)

        def run(**data: Any) -> Membership:
            services.tenant_update(actor=membership, **data)
            membership.tenant.refresh_from_db()
            return membership

        return self.run_service(run, input=s.TenantUpdateSerializer, output=self._render)

    @extend_schema(
        responses={
            204: None,
            409: OpenApiResponse(
                description="`has_subscriptions`: the organisation took part in a subscription (either side); "
                "that history is kept for both sides, so it cannot be deleted."
            ),
        },
        summary="Delete the organisation and everything it owns (owner)",
    )
    def destroy(self, request: Request, slug: str) -> Response:
        membership = request_membership(request, slug)

        def run() -> None:
            require_fresh_auth(request, membership)
            services.tenant_delete(actor=membership, confirm_slug=slug)

        return self.run_service(run, output=None, status_code=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={204: None}, summary="Leave the organisation")
    @action(detail=True, methods=["post"])
    def leave(self, request: Request, slug: str) -> Response:
        return self.run_service(
            lambda: services.membership_leave(membership=request_membership(request, slug)),
            output=None,
            status_code=status.HTTP_204_NO_CONTENT,
        )


TENANT_PARAM = OpenApiParameter("tenant_slug", str, OpenApiParameter.PATH, description="Organisation slug.")


@extend_schema(parameters=[TENANT_PARAM], tags=[tags.MEMBERS])
@extend_schema_view(
    list=extend_schema(summary="Members of the organisation"),
    retrieve=extend_schema(summary="One member"),
)
class MemberViewSet(
    ServiceActionMixin, TenantScopedAPIMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = s.MemberSerializer
    required_perms = {
        "list": Perm.TENANT_VIEW,
        "retrieve": Perm.TENANT_VIEW,
        "partial_update": Perm.MEMBERS_MANAGE,
        "destroy": Perm.TENANT_VIEW,
    }

    def tenant_queryset(self) -> QuerySet[Membership]:
        return selectors.tenant_members(self.tenant)

    @extend_schema(request=s.MemberRoleSerializer, responses=s.MemberSerializer, summary="Change a member's role")
    def partial_update(self, request: Request, tenant_slug: str, pk: str) -> Response:

        def run(role: str) -> Membership:
            target = self.get_object()
            if is_destructive_member_change(target, role):
                require_fresh_auth(request, self.membership)
            return services.membership_change_role(actor=self.membership, membership=target, role=role)

        return self.run_service(
            run,
            input=s.MemberRoleSerializer,
            output=s.MemberSerializer,
        )

    @extend_schema(responses={204: None}, summary="Remove a member (yourself: leave)")
    def destroy(self, request: Request, tenant_slug: str, pk: str) -> Response:

        def run() -> None:
            target = self.get_object()
            if target.pk != self.membership.pk and is_destructive_member_change(target):
                require_fresh_auth(request, self.membership)
            services.membership_remove(actor=self.membership, membership=target)

        return self.run_service(run, output=None, status_code=status.HTTP_204_NO_CONTENT)


@extend_schema(parameters=[TENANT_PARAM], tags=[tags.MEMBERS])
@extend_schema_view(
    list=extend_schema(summary="Invitations of the organisation"),
    retrieve=extend_schema(summary="One invitation"),
)
class InvitationViewSet(
    ListOnlyFilterMixin,
    ServiceActionMixin,
    TenantScopedAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = s.InvitationSerializer
    filterset_class = InvitationFilterSet
    required_perms = {
        "list": Perm.MEMBERS_MANAGE,
        "retrieve": Perm.MEMBERS_MANAGE,
        "create": Perm.MEMBERS_MANAGE,
        "resend": Perm.MEMBERS_MANAGE,
        "revoke": Perm.MEMBERS_MANAGE,
    }

    def tenant_queryset(self) -> QuerySet[Invitation]:
        # The serializer shows the tenant's slug: joined here, not fetched once per row.
        return selectors.tenant_invitations(self.tenant, pending_only=False).select_related("tenant")

    @extend_schema(
        request=s.InvitationCreateSerializer,
        responses={201: s.InvitationSerializer},
        summary="Invite someone by e-mail (the link is e-mailed to them)",
        examples=[OpenApiExample("Invite", value={"email": "bob@example.com", "role": "developer"}, request_only=True)],
    )
    def create(self, request: Request, tenant_slug: str) -> Response:
        return self.run_service(
            lambda **data: services.invitation_create(actor=self.membership, **data)[0],
            input=s.InvitationCreateSerializer,
            output=s.InvitationSerializer,
            status_code=status.HTTP_201_CREATED,
        )

    @extend_schema(request=None, responses=s.InvitationSerializer, summary="Send a new link; the old one stops working")
    @action(detail=True, methods=["post"])
    def resend(self, request: Request, tenant_slug: str, pk: str) -> Response:
        return self.run_service(
            lambda: services.invitation_resend(actor=self.membership, invitation=self.get_object())[0],
            output=s.InvitationSerializer,
        )

    @extend_schema(request=None, responses=s.InvitationSerializer, summary="Withdraw the invitation")
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, tenant_slug: str, pk: str) -> Response:
        return self.run_service(
            lambda: services.invitation_revoke(actor=self.membership, invitation=self.get_object()),
            output=s.InvitationSerializer,
        )


@extend_schema(tags=[tags.ACCOUNT])
@extend_schema_view(get=extend_schema(summary="Pending invitations for your e-mail"))
class MyInvitationsView(ListAPIView):
    serializer_class = s.InvitationSerializer
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[Invitation]:
        if getattr(self, "swagger_fake_view", False):
            return Invitation.objects.unscoped().none()
        return selectors.pending_invitations_for_user(cast(User, self.request.user)).order_by("-created_at", "-id")


@extend_schema(tags=[tags.ACCOUNT])
class InvitationAcceptView(ServiceActionMixin, APIView):
    @extend_schema(
        request=s.InvitationAcceptSerializer,
        responses={201: s.TenantSerializer},
        summary="Accept an invitation (it must be addressed to your e-mail)",
    )
    def post(self, request: Request) -> Response:
        if isinstance(request.auth, PersonalAccessToken):
            raise Forbidden("Accept invitations with a signed-in session, not a token bound to another organisation.")
        return self.run_service(
            lambda token: services.invitation_accept(user=cast(User, request.user), token=token),
            input=s.InvitationAcceptSerializer,
            output=lambda membership: (
                s.TenantSerializer(membership.tenant, context={"roles": {membership.tenant_id: membership.role}}).data
            ),
            status_code=status.HTTP_201_CREATED,
        )


@extend_schema(parameters=[TENANT_PARAM], tags=[tags.TOKENS])
@extend_schema_view(
    list=extend_schema(summary="Your tokens in this organisation (owners/admins: ?all=true for everyone's)"),
    retrieve=extend_schema(summary="One token (never its secret)"),
)
class TokenViewSet(
    ListOnlyFilterMixin,
    ServiceActionMixin,
    TenantScopedAPIMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = s.TokenSerializer
    filterset_class = TokenFilterSet
    required_perms = {
        "list": Perm.TENANT_VIEW,
        "retrieve": Perm.TENANT_VIEW,
        "create": Perm.TOKENS_OWN,
        "revoke": Perm.TOKENS_OWN,
    }

    def tenant_queryset(self) -> QuerySet[PersonalAccessToken]:
        from tenants.permissions import can

        # Every token the role may see; the list narrows to one's own unless ?all=true (TokenFilterSet).
        return selectors.tokens_visible_to(self.membership, all_members=can(self.membership, Perm.TOKENS_MANAGE_ALL))

    @extend_schema(
        request=s.TokenCreateSerializer,
        responses={201: s.TokenCreatedSerializer},
        summary="Create a token: the response is the only time the full token is shown",
        examples=[OpenApiExample("Create", value={"name": "CI deploys"}, request_only=True)],
    )
    @reveals_secret
    def create(self, request: Request, tenant_slug: str) -> Response:

        def answer(result: tuple[PersonalAccessToken, str]) -> dict:
            token, plaintext = result
            token.token = plaintext  # type: ignore[attr-defined]  # shown in this response only
            return s.TokenCreatedSerializer(token).data

        return self.run_service(
            lambda **data: services.token_create(actor=self.membership, **data),
            input=s.TokenCreateSerializer,
            output=answer,
            status_code=status.HTTP_201_CREATED,
        )

    @extend_schema(request=None, responses=s.TokenSerializer, summary="Revoke at once")
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, tenant_slug: str, pk: str) -> Response:
        return self.run_service(
            lambda: services.token_revoke(actor=self.membership, token=self.get_object()), output=s.TokenSerializer
        )


# --- Platform staff ------------------------------------------------------------------


@extend_schema(tags=[tags.PLATFORM])
@extend_schema_view(
    list=extend_schema(summary="Every organisation (platform staff)"),
    retrieve=extend_schema(summary="One organisation, with its suspension state (platform staff)"),
)
class PlatformTenantViewSet(
    ListOnlyFilterMixin, ServiceActionMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Organisations across the platform: staff only (403 for everyone else, like the global queue)."""

    permission_classes = [IsAdminUser]
    serializer_class = s.PlatformTenantSerializer
    filterset_class = PlatformTenantFilterSet
    lookup_field = "slug"
    # Not ``slug``: a staff endpoint (403 for everyone else), not a tenant URL (404 for strangers).
    lookup_url_kwarg = "organisation"
    lookup_value_regex = "[a-z0-9-]+"

    def get_queryset(self) -> QuerySet[Tenant]:
        return selectors.platform_tenants().select_related("suspended_by")

    def _staff(self) -> User:
        return cast(User, self.request.user)  # IsAdminUser let it in: a signed-in staff User

    def _render(self, tenant: Tenant) -> dict:
        return s.PlatformTenantSerializer(self.get_queryset().get(pk=tenant.pk)).data

    @extend_schema(
        request=s.TenantSuspendSerializer,
        responses={
            200: s.PlatformTenantSerializer,
            409: OpenApiResponse(description="`already_suspended`."),
        },
        summary="Suspend the organisation (platform staff)",
        description="Members keep read access; every write of theirs answers 403 `tenant_suspended` with the "
        "reason; its APIs leave the catalog; its API keys leave the gateway config (the config version "
        "bumps) and key verification answers `unknown_key`; the owners get an e-mail. Reversible.",
    )
    @action(detail=True, methods=["post"])
    def suspend(self, request: Request, organisation: str) -> Response:
        return self.run_service(
            lambda **data: services.tenant_suspend(staff=self._staff(), tenant=self.get_object(), **data),
            input=s.TenantSuspendSerializer,
            output=self._render,
        )

    @extend_schema(
        request=s.TenantUnsuspendSerializer,
        responses={200: s.PlatformTenantSerializer, 409: OpenApiResponse(description="`not_suspended`.")},
        summary="Lift the suspension (platform staff)",
    )
    @action(detail=True, methods=["post"])
    def unsuspend(self, request: Request, organisation: str) -> Response:
        return self.run_service(
            lambda **data: services.tenant_unsuspend(staff=self._staff(), tenant=self.get_object(), **data),
            input=s.TenantUnsuspendSerializer,
            output=self._render,
        )
