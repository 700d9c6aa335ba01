"""REST endpoints: staff node management (/api/v1/platform/nodes/), key verification, and the
node protocol (/gateway/v1/config, /gateway/v1/heartbeat)."""

from __future__ import annotations

from typing import Any, cast

from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission, IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import tags
from core.api.actions import ServiceActionMixin
from core.http import reveals_secret
from gateways import selectors, services
from gateways.api import serializers as s
from gateways.auth import NodeTokenAuthentication
from gateways.models import GatewayNode
from gateways.snapshot import current_version, snapshot
from subscriptions import services as subscription_services
from subscriptions.api import serializers as subscription_serializers
from tenants.authentication import PersonalAccessTokenAuthentication
from tenants.models import User

PROTOCOL_TAG = tags.GATEWAY_PROTOCOL


class IsNode(BasePermission):
    """The request carries an active gateway node token (``request.auth`` is the node)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, GatewayNode)


class IsStaffOrNode(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return isinstance(request.auth, GatewayNode) or bool(user and user.is_active and user.is_staff)


# --- Staff: gateway nodes ------------------------------------------------------------


def _created(result: tuple[GatewayNode, str]) -> dict:
    """The node with its token: the only responses that ever carry it."""
    node, token = result
    node.token = token  # type: ignore[attr-defined]
    return s.NodeCreatedSerializer(node).data


@extend_schema(tags=[tags.GATEWAY_NODES])
@extend_schema_view(
    list=extend_schema(summary="Registered gateway nodes with their health (platform staff)"),
    retrieve=extend_schema(summary="One gateway node (platform staff)"),
)
class PlatformNodeViewSet(
    ServiceActionMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Gateway nodes are platform infrastructure: staff only (403 for everyone else, like approvals)."""

    permission_classes = [IsAdminUser]
    serializer_class = s.NodeSerializer

    def get_queryset(self) -> QuerySet[GatewayNode]:
        return selectors.nodes()

    def _staff(self) -> User:
        # IsAdminUser let the request in: the user is a signed-in staff User.
        return cast(User, self.request.user)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        items = selectors.annotate(list(page if page is not None else self.get_queryset()))
        data = s.NodeSerializer(items, many=True).data
        return self.get_paginated_response(data) if page is not None else Response(data)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(s.NodeSerializer(selectors.annotate([self.get_object()])[0]).data)

    @extend_schema(
        request=s.NodeCreateSerializer,
        responses={201: s.NodeCreatedSerializer},
        summary="Register a node; its token is in this response only",
    )
    @reveals_secret
    def create(self, request: Request) -> Response:
        return self.run_service(
            lambda **data: services.node_create(actor=self._staff(), **data),
            input=s.NodeCreateSerializer,
            output=_created,
            status_code=status.HTTP_201_CREATED,
        )

    @extend_schema(
        request=None,
        responses={201: s.NodeCreatedSerializer},
        summary="New token for the node (the old one stops at once); shown in this response only",
    )
    @action(detail=True, methods=["post"])
    @reveals_secret
    def rotate(self, request: Request, pk: str) -> Response:
        return self.run_service(
            lambda: services.node_rotate(actor=self._staff(), node=self.get_object()),
            output=_created,
            status_code=status.HTTP_201_CREATED,
        )

    @extend_schema(request=None, responses=s.NodeSerializer, summary="Revoke the node's token at once")
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str) -> Response:
        return self.run_service(
            lambda: services.node_revoke(actor=self._staff(), node=self.get_object()), output=s.NodeSerializer
        )


# --- Key verification ----------------------------------------------------------------


class KeyVerifyView(ServiceActionMixin, APIView):
    """What gateways ask when they do not use the snapshot: node tokens, or platform staff.

    Lives here, not in subscriptions, because node tokens are a gateways concept (the layers
    test forbids subscriptions importing gateways); the decision itself is
    ``subscriptions.services.key_verify``.
    """

    authentication_classes = [
        NodeTokenAuthentication,
        PersonalAccessTokenAuthentication,
        SessionAuthentication,
    ]
    permission_classes = [IsStaffOrNode]

    @extend_schema(
        request=subscription_serializers.VerifySerializer,
        responses=subscription_serializers.VerdictSerializer,
        summary="Verify an API key for a request path (gateway nodes, platform staff)",
        description=(
            "Give `path`, the full request path: the published or deprecated version whose base path is "
            "the longest prefix of it (on a segment boundary) serves it, none → `unknown_route`. "
            "`base_path` (exact) still works. Authenticate with a node token or as platform staff."
        ),
        tags=[PROTOCOL_TAG],
        examples=[
            OpenApiExample(
                "Ask", value={"key": "apk_3fGh7Kq2LmNp_…", "path": "/acme/orders/v1/orders/7"}, request_only=True
            ),
            OpenApiExample(
                "Denied",
                value={
                    "allowed": False,
                    "reason": "revoked",
                    "key_id": "3fGh7Kq2LmNp",
                    "application_id": 12,
                    "consumer_tenant_id": 2,
                    "subscription_id": None,
                    "api_id": None,
                    "api_version_id": None,
                    "plan_id": None,
                    "limits": {},
                },
                response_only=True,
            ),
        ],
    )
    def post(self, request: Request) -> Response:
        return self.run_service(
            lambda key, path=None, base_path=None: subscription_services.key_verify(
                presented_key=key, path=path, base_path=base_path
            ),
            input=subscription_serializers.VerifySerializer,
            output=lambda verdict: verdict.as_dict(),
        )


# --- The node protocol ---------------------------------------------------------------


class NodeProtocolView(ServiceActionMixin, APIView):
    """Node token only: a PAT or a session is 401 here."""

    authentication_classes = [NodeTokenAuthentication]
    permission_classes = [IsNode]


def _etag_matches(header: str, etag: str) -> bool:
    """``If-None-Match`` (a list, weak tags and ``*`` allowed) names ``etag``."""
    tags = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return "*" in tags or etag in tags


class ConfigView(NodeProtocolView):
    @extend_schema(
        summary="The config snapshot: routes and credentials",
        description=(
            "Everything a node needs to route and authorize calls on its own. `ETag` is the quoted "
            "`version`; send it back in `If-None-Match` and get 304 (no body) until something changed. "
            "Poll every few seconds: a revoked key is then refused within seconds."
        ),
        tags=[PROTOCOL_TAG],
        parameters=[
            OpenApiParameter("If-None-Match", str, OpenApiParameter.HEADER, required=False, description='e.g. "42"')
        ],
        responses={
            200: s.ConfigSnapshotSerializer,
            304: OpenApiResponse(description="Not modified: the config version is still the one in If-None-Match."),
        },
    )
    def get(self, request: Request) -> HttpResponse:
        version = current_version()
        condition = request.headers.get("If-None-Match", "")
        if condition and _etag_matches(condition, f'"{version}"'):
            response = HttpResponse(status=304)
            response["ETag"] = f'"{version}"'
        else:
            built = snapshot(version)
            response = HttpResponse(built.body, content_type="application/json")
            response["ETag"] = built.etag
        # Key hashes: no shared cache may keep it; the node revalidates with If-None-Match.
        response["Cache-Control"] = "private, no-cache"
        return response


class HeartbeatView(NodeProtocolView):
    @extend_schema(
        summary="Report the node's state; learn the current config version",
        tags=[PROTOCOL_TAG],
        request=s.HeartbeatSerializer,
        responses=s.HeartbeatAnswerSerializer,
    )
    def post(self, request: Request) -> Response:
        return self.run_service(
            lambda **data: {"config_version": services.node_heartbeat(node=cast(GatewayNode, request.auth), **data)},
            input=s.HeartbeatSerializer,
            output=s.HeartbeatAnswerSerializer,
        )
