"""REST endpoints: provider management under /tenants/{tenant_slug}/apis/…, and the read-only catalog."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import ListAPIView
from rest_framework.parsers import BaseParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apis import openapi, selectors, services
from apis.api import serializers as s
from apis.filtersets import ApiFilterSet, CatalogFilterSet, PlanFilterSet, VersionFilterSet
from apis.models import Api, ApiVersion, AuditEvent, Endpoint, Plan, SpecStatus
from apis.uploads import install_limit
from core.api import tags
from core.api.actions import ServiceActionMixin
from core.api.pagination import CursorPagination
from core.api.throttling import ClientAddressAnonThrottle
from core.errors import InvalidInput
from tenants.api.mixins import TenantScopedAPIMixin
from tenants.models import PersonalAccessToken
from tenants.roles import Perm

TENANT_PARAM = OpenApiParameter("tenant_slug", str, OpenApiParameter.PATH, description="Organisation slug.")
API_PARAM = OpenApiParameter("api_slug", str, OpenApiParameter.PATH, description="API slug.")

_EDIT = Perm.APIS_EDIT
_VIEW = Perm.APIS_VIEW


class RawSpecParser(BaseParser):
    """Hands the request body to apis.openapi as bytes, so JSON and YAML get one size check and one parser."""

    media_type = "*/*"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if declared and declared.isdigit():
            # Refuse before reading a byte when the sender says it is too large.
            openapi.check_size(int(declared))
        # …and never trust the header: read in chunks and stop as soon as the limit is passed.
        return openapi.read_limited(stream.read) if stream is not None else b""


# --- APIs ------------------------------------------------------------------------------

API_EXAMPLE = OpenApiExample(
    "Orders API",
    request_only=True,
    value={
        "name": "Orders",
        "slug": "orders",
        "summary": "Create, track and cancel shipping orders.",
        "description": "Hand parcels to **Acme Logistics** and follow them to the door.",
        "tags": ["logistics", "orders"],
        "contact_email": "api@acme.example",
        "visibility": "public",
    },
)


@extend_schema(parameters=[TENANT_PARAM], tags=[tags.APIS])
@extend_schema_view(
    list=extend_schema(summary="APIs your organisation provides"),
    retrieve=extend_schema(summary="One API"),
)
class ApiViewSet(
    ServiceActionMixin, TenantScopedAPIMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = s.ApiSerializer
    filterset_class = ApiFilterSet
    lookup_field = "slug"
    lookup_url_kwarg = "api_slug"
    lookup_value_regex = "[a-z0-9-]+"
    required_perms = {
        "list": _VIEW,
        "retrieve": _VIEW,
        "events": _VIEW,
        "create": _EDIT,
        "update": _EDIT,
        "partial_update": _EDIT,
        "destroy": _EDIT,
    }

    def tenant_queryset(self) -> QuerySet[Api]:
        return Api.objects.for_tenant(self.tenant).select_related("tenant")

    def get_object(self) -> Api:
        return selectors.api_for_tenant(self.tenant, self.kwargs["api_slug"])

    @extend_schema(
        request=s.ApiWriteSerializer,
        responses={201: s.ApiSerializer},
        summary="Register an API",
        examples=[API_EXAMPLE],
    )
    def create(self, request: Request, tenant_slug: str) -> Response:
        return self.run_service(
            lambda **data: services.api_create(actor=self.membership, **data),
            input=s.ApiWriteSerializer,
            output=s.ApiSerializer,
            status_code=status.HTTP_201_CREATED,
        )

    @extend_schema(request=s.ApiWriteSerializer, responses=s.ApiSerializer, summary="Replace an API's details")
    def update(self, request: Request, tenant_slug: str, api_slug: str, partial: bool = False) -> Response:
        return self.run_service(
            lambda **data: services.api_update(actor=self.membership, api=self.get_object(), **data),
            input=s.ApiWriteSerializer,
            output=s.ApiSerializer,
            partial=partial,
        )

    @extend_schema(
        request=s.ApiWriteSerializer,
        responses=s.ApiSerializer,
        summary="Change some of an API's details",
        examples=[OpenApiExample("Make public", value={"visibility": "public"}, request_only=True)],
    )
    def partial_update(self, request: Request, tenant_slug: str, api_slug: str) -> Response:
        return self.update(request, tenant_slug, api_slug, partial=True)

    @extend_schema(
        responses={
            204: None,
            409: OpenApiResponse(
                description="`has_subscriptions`: the API has (or had) subscriptions; retire its versions and "
                "archive its plans instead. `api_has_live_versions`: retire the live versions first."
            ),
        },
        summary="Delete an API that never had subscriptions and has no live version",
    )
    def destroy(self, request: Request, tenant_slug: str, api_slug: str) -> Response:
        return self.run_service(
            lambda: services.api_delete(actor=self.membership, api=self.get_object()),
            output=None,
            status_code=status.HTTP_204_NO_CONTENT,
        )

    @extend_schema(
        responses=s.AuditEventSerializer(many=True),
        summary="Changelog: every recorded change to the API, its versions and plans",
        filters=False,
    )
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=CursorPagination)
    def events(self, request: Request, tenant_slug: str, api_slug: str) -> Response:
        # The serializer reads the actor's e-mail snapshot: no join on users.
        events = selectors.api_events(self.get_object()).select_related(None)
        page = self.paginate_queryset(events)
        return self.get_paginated_response(s.AuditEventSerializer(page, many=True).data)


# --- Versions --------------------------------------------------------------------------

VERSION_EXAMPLE = OpenApiExample(
    "v1 with two upstreams",
    request_only=True,
    value={
        "label": "v1",
        "base_path": "/orders/v1",
        "upstreams": [
            {"url": "https://orders-a.internal.acme.example", "weight": 3},
            {"url": "https://orders-b.internal.acme.example", "weight": 1},
        ],
        "connect_timeout_ms": 2000,
        "read_timeout_ms": 15000,
        "release_notes": "First public version.",
        "openapi": {"openapi": "3.1.0", "info": {"title": "Orders", "version": "1"}, "paths": {}},
    },
)


class _ApiChildMixin(ServiceActionMixin, TenantScopedAPIMixin):
    """Resolves the parent API from the URL (404 when it is not the tenant's)."""

    @property
    def api(self) -> Api:
        if not hasattr(self, "_api"):
            self._api = selectors.api_for_tenant(self.tenant, self.kwargs["api_slug"])
        return self._api

    def resolve_url_objects(self) -> None:
        self.api  # noqa: B018 - the parent first: its 404 comes before any validation
        super().resolve_url_objects()


@extend_schema(parameters=[TENANT_PARAM, API_PARAM], tags=[tags.APIS])
@extend_schema_view(
    list=extend_schema(summary="Versions of an API"),
    retrieve=extend_schema(summary="One version"),
)
class VersionViewSet(_ApiChildMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.VersionSerializer
    filterset_class = VersionFilterSet
    lookup_field = "label"
    lookup_value_regex = "[A-Za-z0-9][A-Za-z0-9._-]*"
    required_perms = {
        "list": _VIEW,
        "retrieve": _VIEW,
        "endpoints": _VIEW,
        "history": _VIEW,
        # GET reads, PUT writes: the service checks APIS_EDIT for the upload itself.
        "openapi": _VIEW,
        "create": _EDIT,
        "update": _EDIT,
        "partial_update": _EDIT,
        "destroy": _EDIT,
        "publish": _EDIT,
        "deprecate": _EDIT,
        "retire": _EDIT,
    }

    def tenant_queryset(self) -> QuerySet[ApiVersion]:
        return selectors.api_versions(self.api)

    def get_object(self) -> ApiVersion:
        return selectors.version_for(self.api, self.kwargs["label"])

    def _transition(
        self, serializer_class: type[serializers.Serializer], service: Callable[..., ApiVersion]
    ) -> Response:
        """Validate the body, run one lifecycle service on this version, answer with it."""
        return self.run_service(
            lambda **data: service(actor=self.membership, version=self.get_object(), **data),
            input=serializer_class,
            output=self._render,
        )

    def _render(self, version: ApiVersion) -> dict[str, Any]:
        return s.VersionSerializer(version).data

    @extend_schema(
        request=s.VersionWriteSerializer,
        responses={201: s.VersionSerializer},
        summary="Add a draft version (the OpenAPI document may come now or later)",
        examples=[VERSION_EXAMPLE],
    )
    def create(self, request: Request, tenant_slug: str, api_slug: str) -> Response:
        def run(openapi: Any = None, **data: Any) -> ApiVersion:
            return services.version_create(actor=self.membership, api=self.api, openapi_document=openapi, **data)

        return self.run_service(
            run, input=s.VersionWriteSerializer, output=self._render, status_code=status.HTTP_201_CREATED
        )

    @extend_schema(
        request=s.VersionWriteSerializer, responses=s.VersionSerializer, summary="Replace a version's settings"
    )
    def update(self, request: Request, tenant_slug: str, api_slug: str, label: str, partial: bool = False) -> Response:
        def run(openapi: Any = None, kind: str | None = None, **data: Any) -> ApiVersion:
            current = self.get_object()
            if kind is not None and kind != current.kind:
                raise InvalidInput("The kind of a version is fixed once created.", field="kind")
            version = services.version_update(actor=self.membership, version=current, **data)
            if openapi is not None:
                version = services.version_upload_spec(actor=self.membership, version=version, document=openapi)
            return version

        return self.run_service(run, input=s.VersionWriteSerializer, output=self._render, partial=partial)

    @extend_schema(
        request=s.VersionWriteSerializer,
        responses=s.VersionSerializer,
        summary="Change some of a version's settings",
        description="Label and base path can only change while the version is a draft.",
        examples=[
            OpenApiExample(
                "New upstreams",
                request_only=True,
                value={"upstreams": [{"url": "https://orders-c.internal.acme.example", "weight": 1}]},
            )
        ],
    )
    def partial_update(self, request: Request, tenant_slug: str, api_slug: str, label: str) -> Response:
        return self.update(request, tenant_slug, api_slug, label, partial=True)

    @extend_schema(
        responses={
            204: None,
            409: OpenApiResponse(
                description="`has_subscriptions`: the version has (or had) subscriptions; retire it instead. "
                "`version_live`: retire it before deleting it."
            ),
        },
        summary="Delete a draft or retired version that never had subscriptions",
    )
    def destroy(self, request: Request, tenant_slug: str, api_slug: str, label: str) -> Response:
        return self.run_service(
            lambda: services.version_delete(actor=self.membership, version=self.get_object()),
            output=None,
            status_code=status.HTTP_204_NO_CONTENT,
        )

    @extend_schema(
        methods=["GET"],
        request=None,
        responses={(200, "application/json"): OpenApiTypes.OBJECT},
        summary="The version's OpenAPI document (JSON)",
    )
    @extend_schema(
        methods=["PUT"],
        request={
            "application/json": OpenApiTypes.OBJECT,
            "application/yaml": OpenApiTypes.STR,
            "multipart/form-data": s.SpecUploadSerializer,
        },
        responses={
            200: s.VersionSerializer,
            202: OpenApiResponse(
                s.VersionSerializer,
                description="A large document, accepted for validation in the background: `spec_status` is "
                "`processing`; poll the version until it is `ready` or `failed` (with `spec_error`).",
            ),
            413: OpenApiResponse(description="Over OPENAPI_MAX_BYTES (code `too_large`); nothing was stored."),
        },
        summary="Upload the OpenAPI document (JSON or YAML body, or a multipart file)",
        description=(
            "Validated against the OpenAPI 3.0/3.1 schema; the 400 lists each problem with the path where it "
            "occurs. External `$ref`s and YAML aliases are refused (the portal fetches nothing). Endpoints are "
            "re-extracted. Limits: OPENAPI_MAX_BYTES (2 MB by default, 413 `too_large`, enforced while reading) "
            "and OPENAPI_MAX_ENDPOINTS (5,000, 400 `too_many_endpoints`). Documents over 256 KB or 200 endpoints "
            "are validated by a background task (202); the previous document stays until it succeeds."
        ),
    )
    @action(
        detail=True,
        methods=["get", "put"],
        parser_classes=[MultiPartParser, RawSpecParser],
        filterset_class=None,
    )
    def openapi(self, request: Request, tenant_slug: str, api_slug: str, label: str) -> Response:
        version = self.get_object()
        if request.method == "GET":
            if version.spec is None:
                raise InvalidInput("This version has no OpenAPI document yet.", code="no_openapi", field="openapi")
            return Response(version.spec)
        limit = install_limit(request)  # before request.data parses a multipart body
        data = request.data
        if isinstance(data, bytes):
            document: bytes = data
        else:
            if limit is not None and limit.exceeded:
                raise openapi.too_large(field="file")
            upload = data.get("file")
            if upload is None:
                raise InvalidInput("Send the document as the body, or as a multipart field “file”.", field="file")
            openapi.check_size(upload.size, field="file")
            document = openapi.read_limited(upload.read, field="file")
        version = services.version_upload_spec(actor=self.membership, version=version, document=document)
        accepted = version.spec_status == SpecStatus.PROCESSING
        return Response(self._render(version), status=status.HTTP_202_ACCEPTED if accepted else status.HTTP_200_OK)

    @extend_schema(responses=s.EndpointSerializer(many=True), summary="Endpoints extracted from the OpenAPI document")
    @action(detail=True, methods=["get"], filterset_class=None)
    def endpoints(self, request: Request, tenant_slug: str, api_slug: str, label: str) -> Response:
        # Up to OPENAPI_MAX_ENDPOINTS of them: numbered pages, ordered without the model's join on the API.
        endpoints: QuerySet[Endpoint] = selectors.version_endpoints(self.get_object()).order_by("path", "method", "id")
        page = self.paginate_queryset(endpoints)
        return self.get_paginated_response(s.EndpointSerializer(page, many=True).data)

    @extend_schema(responses=s.AuditEventSerializer(many=True), summary="Version history: who changed what, when")
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=CursorPagination)
    def history(self, request: Request, tenant_slug: str, api_slug: str, label: str) -> Response:
        events: QuerySet[AuditEvent] = selectors.version_events(self.get_object())
        page = self.paginate_queryset(events)
        return self.get_paginated_response(s.AuditEventSerializer(page, many=True).data)

    @extend_schema(
        request=s.LifecycleSerializer,
        responses=s.VersionSerializer,
        summary="Publish (draft → published; or undo a deprecation)",
        description="Needs at least one upstream and an OpenAPI document; 409 with the reason otherwise.",
    )
    @action(detail=True, methods=["post"], parser_classes=[JSONParser])
    def publish(self, request: Request, tenant_slug: str, api_slug: str, label: str) -> Response:
        return self._transition(s.LifecycleSerializer, services.version_publish)

    @extend_schema(
        request=s.DeprecateSerializer,
        responses=s.VersionSerializer,
        summary="Deprecate with a sunset date (published → deprecated)",
        examples=[
            OpenApiExample(
                "Sunset", request_only=True, value={"sunset_date": "2026-12-31", "note": "Use v2: it has cursors."}
            )
        ],
    )
    @action(detail=True, methods=["post"], parser_classes=[JSONParser])
    def deprecate(self, request: Request, tenant_slug: str, api_slug: str, label: str) -> Response:
        return self._transition(s.DeprecateSerializer, services.version_deprecate)

    @extend_schema(
        request=s.LifecycleSerializer,
        responses=s.VersionSerializer,
        summary="Retire (published / deprecated → retired); gateways stop routing it",
    )
    @action(detail=True, methods=["post"], parser_classes=[JSONParser])
    def retire(self, request: Request, tenant_slug: str, api_slug: str, label: str) -> Response:
        return self._transition(s.LifecycleSerializer, services.version_retire)


# --- Plans -----------------------------------------------------------------------------


@extend_schema(parameters=[TENANT_PARAM, API_PARAM], tags=[tags.PLANS])
@extend_schema_view(
    list=extend_schema(summary="Plans of an API (including hidden and archived ones)"),
    retrieve=extend_schema(summary="One plan"),
)
class PlanViewSet(_ApiChildMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.PlanSerializer
    filterset_class = PlanFilterSet
    required_perms = {
        "list": _VIEW,
        "retrieve": _VIEW,
        "create": _EDIT,
        "update": _EDIT,
        "partial_update": _EDIT,
        "destroy": _EDIT,
        "archive": _EDIT,
        "restore": _EDIT,
    }

    def tenant_queryset(self) -> QuerySet[Plan]:
        return selectors.api_plans(self.api)

    def get_object(self) -> Plan:
        pk = self.kwargs["pk"]
        if not str(pk).isdigit():
            return selectors.plan_for(self.api, 0)
        return selectors.plan_for(self.api, pk)

    @extend_schema(
        request=s.PlanWriteSerializer,
        responses={201: s.PlanSerializer},
        summary="Add a plan",
        examples=[
            OpenApiExample(
                "Free, automatic",
                request_only=True,
                value={"name": "Free", "rate_limit_per_second": 5, "quota_per_day": 1000, "price_label": "Free"},
            ),
            OpenApiExample(
                "Business, approval required",
                request_only=True,
                value={
                    "name": "Business",
                    "rate_limit_per_second": 50,
                    "rate_limit_per_minute": 2000,
                    "quota_per_month": 5000000,
                    "approval_required": True,
                    "price_label": "€249 / month",
                },
            ),
        ],
    )
    def create(self, request: Request, tenant_slug: str, api_slug: str) -> Response:
        return self.run_service(
            lambda **data: services.plan_create(actor=self.membership, api=self.api, **data),
            input=s.PlanWriteSerializer,
            output=s.PlanSerializer,
            status_code=status.HTTP_201_CREATED,
        )

    @extend_schema(request=s.PlanWriteSerializer, responses=s.PlanSerializer, summary="Replace a plan's terms")
    def update(self, request: Request, tenant_slug: str, api_slug: str, pk: str, partial: bool = False) -> Response:
        return self.run_service(
            lambda **data: services.plan_update(actor=self.membership, plan=self.get_object(), **data),
            input=s.PlanWriteSerializer,
            output=s.PlanSerializer,
            partial=partial,
        )

    @extend_schema(
        request=s.PlanWriteSerializer,
        responses=s.PlanSerializer,
        summary="Change some of a plan's terms",
        examples=[OpenApiExample("Raise the quota", request_only=True, value={"quota_per_day": 5000})],
    )
    def partial_update(self, request: Request, tenant_slug: str, api_slug: str, pk: str) -> Response:
        return self.update(request, tenant_slug, api_slug, pk, partial=True)

    @extend_schema(
        responses={
            204: None,
            409: OpenApiResponse(
                description="`has_subscriptions`: the plan has (or had) subscriptions; archive it instead."
            ),
        },
        summary="Delete a plan that never had subscriptions (archive it otherwise)",
    )
    def destroy(self, request: Request, tenant_slug: str, api_slug: str, pk: str) -> Response:
        return self.run_service(
            lambda: services.plan_delete(actor=self.membership, plan=self.get_object()),
            output=None,
            status_code=status.HTTP_204_NO_CONTENT,
        )

    @extend_schema(request=s.LifecycleSerializer, responses=s.PlanSerializer, summary="Archive: stop offering the plan")
    @action(detail=True, methods=["post"], parser_classes=[JSONParser])
    def archive(self, request: Request, tenant_slug: str, api_slug: str, pk: str) -> Response:
        return self._plan_transition(services.plan_archive)

    @extend_schema(request=s.LifecycleSerializer, responses=s.PlanSerializer, summary="Offer an archived plan again")
    @action(detail=True, methods=["post"], parser_classes=[JSONParser])
    def restore(self, request: Request, tenant_slug: str, api_slug: str, pk: str) -> Response:
        return self._plan_transition(services.plan_restore)

    def _plan_transition(self, service: Callable[..., Plan]) -> Response:
        return self.run_service(
            lambda **data: service(actor=self.membership, plan=self.get_object(), **data),
            input=s.LifecycleSerializer,
            output=s.PlanSerializer,
        )


# --- Catalog ---------------------------------------------------------------------------


def catalog_viewer(request: Request) -> tuple[Any, list[int]]:
    """The viewer and the tenants they act for: a token acts for its one tenant only."""
    user = request.user if request.user.is_authenticated else None
    if isinstance(request.auth, PersonalAccessToken):
        return user, [request.auth.tenant_id]
    return user, selectors.viewer_tenant_ids(user)


PROVIDER_PARAM = OpenApiParameter("provider_slug", str, OpenApiParameter.PATH, description="Provider slug.")


class CatalogAnonThrottle(ClientAddressAnonThrottle):
    """Anonymous catalog reads are rate-limited per client IP (counters in Redis); members are not."""

    scope = "catalog_anon"


@extend_schema(
    tags=[tags.CATALOG],
    summary="Browse the catalog",
    description="What the caller may see: public APIs for everyone (no authentication needed), internal ones "
    "for signed-in callers, private ones for members of the provider.",
    auth=[{}, {"cookieAuth": []}],  # type: ignore[list-item]
)
class CatalogListView(ListAPIView):
    permission_classes = [AllowAny]
    throttle_classes = [CatalogAnonThrottle]
    serializer_class = s.CatalogApiSerializer
    filterset_class = CatalogFilterSet

    def get_queryset(self) -> QuerySet[Api]:
        if getattr(self, "swagger_fake_view", False):
            return Api.objects.unscoped().none()
        user, tenant_ids = catalog_viewer(self.request)
        return selectors.catalog_visible(user, tenant_ids=tenant_ids)


@extend_schema(
    tags=[tags.CATALOG],
    summary="One API of the catalog: versions, plans, description",
    parameters=[PROVIDER_PARAM, API_PARAM],
    responses={200: s.CatalogApiDetailSerializer, 404: OpenApiResponse(description="No such API, or not visible.")},
    auth=[{}, {"cookieAuth": []}],  # type: ignore[list-item]
)
class CatalogDetailView(APIView):
    permission_classes = [AllowAny]
    throttle_classes = [CatalogAnonThrottle]
    serializer_class = s.CatalogApiDetailSerializer

    def get(self, request: Request, provider_slug: str, api_slug: str) -> Response:
        user, tenant_ids = catalog_viewer(request)
        api = selectors.catalog_api(user, provider_slug, api_slug, tenant_ids=tenant_ids)
        member = selectors.is_provider_member(api, tenant_ids)
        context = {
            "versions": selectors.catalog_versions(api, member=member).select_related("api", "tenant"),
            "plans": selectors.catalog_plans(api, member=member),
        }
        return Response(s.CatalogApiDetailSerializer(api, context=context).data)


@extend_schema(
    tags=[tags.CATALOG],
    summary="The OpenAPI document of a version, as consumers see it",
    description="`servers` points at the gateway (GATEWAY_URL + base path).",
    parameters=[
        PROVIDER_PARAM,
        API_PARAM,
        OpenApiParameter("label", str, OpenApiParameter.PATH, description="Version label."),
    ],
    responses={(200, "application/json"): OpenApiTypes.OBJECT},
    auth=[{}, {"cookieAuth": []}],  # type: ignore[list-item]
)
class CatalogOpenApiView(APIView):
    permission_classes = [AllowAny]
    throttle_classes = [CatalogAnonThrottle]

    def get(self, request: Request, provider_slug: str, api_slug: str, label: str) -> Response:
        user, tenant_ids = catalog_viewer(request)
        api = selectors.catalog_api(user, provider_slug, api_slug, tenant_ids=tenant_ids)
        version = selectors.catalog_version(api, label, member=selectors.is_provider_member(api, tenant_ids))
        if version.spec is None:
            raise InvalidInput("This version has no OpenAPI document.", code="no_openapi")
        return Response(openapi.for_gateway(version.spec, settings.GATEWAY_URL + version.base_path))
