"""REST analytics under /api/v1/tenants/{tenant_slug}/analytics/ (tag "Analytics").

Every endpoint resolves its scope through ``analytics.selectors.scope_for``: ``side=provider``
reads calls to the tenant's APIs, ``side=consumer`` calls made by its applications; a foreign
API / version / application / key id is a 404.
"""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics import selectors
from analytics.api import serializers as s
from core.api import tags
from core.errors import NotFound
from tenants.api.mixins import TenantScopedAPIMixin
from tenants.models import Tenant
from tenants.roles import Perm

TENANT_PARAM = OpenApiParameter("tenant_slug", str, OpenApiParameter.PATH, description="Organisation slug.")
TAG = [tags.ANALYTICS]


def scope_from(tenant: Tenant, data: dict[str, Any]) -> selectors.Scope:
    """The caller's scope from validated query parameters (foreign ids → NotFound → 404)."""
    return selectors.scope_for(
        tenant,
        data["side"],
        api_id=data.get("api"),
        api_version_id=data.get("version"),
        application_id=data.get("application"),
        api_key_id=data.get("key"),
    )


class _AnalyticsView(TenantScopedAPIMixin, APIView):  # type: ignore[misc]
    # Only GET is routed; the other methods pass the membership check and the URL object
    # lookup (so a foreign id is a 404 whatever the method) and then get DRF's 405.
    required_perms = dict.fromkeys(("get", "post", "put", "patch", "delete"), Perm.TENANT_VIEW)
    query_class: type[s.serializers.Serializer] = s.AnalyticsQuery

    def query(self, request: Request) -> dict[str, Any]:
        serializer = self.query_class(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


class TimeseriesView(_AnalyticsView):
    @extend_schema(
        tags=TAG,
        parameters=[TENANT_PARAM, s.AnalyticsQuery],
        responses=s.TimeseriesSerializer,
        summary="Calls, errors and latency over time (from rollups)",
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        data = self.query(request)
        scope, window = scope_from(self.tenant, data), data["window"]
        stats = selectors.timeseries_stats(scope, window)
        body = {
            "window": window,
            "totals": selectors.Stats.sum(point for _, point in stats).as_dict(),
            "points": [{"t": moment, **point.as_dict()} for moment, point in stats],
        }
        return Response(s.TimeseriesSerializer(body).data)


class TopView(_AnalyticsView):
    query_class = s.TopQuery

    @extend_schema(
        tags=TAG,
        parameters=[TENANT_PARAM, s.TopQuery],
        responses=s.TopSerializer,
        summary="Top-N endpoints, consumers, statuses, refusal reasons… (from rollups)",
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        data = self.query(request)
        scope, window = scope_from(self.tenant, data), data["window"]
        items = selectors.top(scope, window, data["by"], limit=data["limit"])
        return Response(s.TopSerializer({"window": window, "by": data["by"], "items": items}).data)


class TrendsView(_AnalyticsView):
    @extend_schema(
        tags=TAG,
        parameters=[TENANT_PARAM, s.AnalyticsQuery],
        responses=s.TrendsSerializer,
        summary="This period against the previous one, and the endpoints that changed most",
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        data = self.query(request)
        scope, window = scope_from(self.tenant, data), data["window"]
        return Response(s.TrendsSerializer({"window": window, **selectors.trends(scope, window)}).data)


class AiUsageView(_AnalyticsView):
    @extend_schema(
        tags=TAG,
        parameters=[TENANT_PARAM, s.AnalyticsQuery],
        responses=s.AiUsageSerializer,
        summary="AI usage: tokens, cost and time to first token, per model and per application / API (from rollups)",
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        data = self.query(request)
        scope, window = scope_from(self.tenant, data), data["window"]
        return Response(s.AiUsageSerializer({"window": window, **selectors.ai_usage(scope, window)}).data)


class CallListView(_AnalyticsView):
    query_class = s.CallQuery

    @extend_schema(
        tags=TAG,
        parameters=[TENANT_PARAM, s.CallQuery],
        responses=s.CallPageSerializer,
        operation_id="tenants_analytics_calls_list",
        summary="Call records, newest first (cursor pagination; at most 31 days per query)",
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        data = self.query(request)
        rows, next_cursor = selectors.calls(
            scope_from(self.tenant, data), data["filter"], after=data.get("cursor", ""), size=data["page_size"]
        )
        return Response(s.CallPageSerializer({"results": rows, "next_cursor": next_cursor}).data)


class CallDetailView(_AnalyticsView):
    query_class = s.CallSideQuery
    serializer_class = s.CallDetailSerializer  # tells the schema generator what the path id names

    def resolve_url_objects(self) -> None:
        """A call neither side of the tenant may see is 404 for every method."""
        request_id = self.kwargs["request_id"]
        for side in ("provider", "consumer"):
            try:
                selectors.call_detail(selectors.scope_for(self.tenant, side), request_id)
                return
            except NotFound:
                continue
        raise NotFound("No such call.", code="call_not_found")

    @extend_schema(
        tags=TAG,
        parameters=[
            TENANT_PARAM,
            OpenApiParameter("request_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The call's id."),
            s.CallSideQuery,
        ],
        operation_id="tenants_analytics_call_detail",
        responses=s.CallDetailSerializer,
        summary="One call record",
    )
    def get(self, request: Request, tenant_slug: str, request_id: uuid.UUID) -> Response:
        data = self.query(request)
        record = selectors.call_detail(scope_from(self.tenant, data), request_id)
        return Response(s.CallDetailSerializer(record).data)
