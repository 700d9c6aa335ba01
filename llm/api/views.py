"""REST endpoints of the AI gateway under /api/v1/tenants/{tenant_slug}/ai/… (and the presets).

Reads for every member, writes for owners and admins (``ai.manage``); an AI version's routes
are set by whoever edits APIs (``apis.edit``). Another organisation's objects are 404.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apis import selectors as catalog_selectors
from apis.models import ApiVersion
from core.api import tags
from core.api.actions import ServiceActionMixin
from core.errors import InvalidInput
from llm import presets, selectors
from llm.api import serializers as s
from llm.models import ModelProvider, ModelRoute, ProviderCredential, ProviderModel
from llm.services import providers as provider_services
from llm.services import routes as route_services
from llm.services import surfaces
from tenants.api.mixins import TenantScopedAPIMixin
from tenants.permissions import require
from tenants.roles import Perm

TENANT_PARAM = OpenApiParameter("tenant_slug", str, OpenApiParameter.PATH, description="Organisation slug.")
PROVIDER_PARAM = OpenApiParameter("provider_pk", int, OpenApiParameter.PATH, description="Provider id.")

_VIEW = Perm.APIS_VIEW
_MANAGE = Perm.AI_MANAGE
_CRUD_PERMS = {
    "list": _VIEW,
    "retrieve": _VIEW,
    "create": _MANAGE,
    "partial_update": _MANAGE,
    "destroy": _MANAGE,
}
_DELETE_409 = OpenApiResponse(description="In use (`provider_in_use`, `model_in_use`, `route_in_use`).")


class _Base(ServiceActionMixin, TenantScopedAPIMixin):
    pass


@extend_schema(parameters=[TENANT_PARAM], tags=[tags.AI_GATEWAY])
@extend_schema_view(list=extend_schema(summary="Model providers"), retrieve=extend_schema(summary="One model provider"))
class ProviderViewSet(_Base, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.ModelProviderSerializer
    required_perms = _CRUD_PERMS

    def tenant_queryset(self) -> QuerySet[ModelProvider]:
        return selectors.providers(self.tenant)

    def get_object(self) -> ModelProvider:
        return selectors.provider(self.tenant, self.kwargs["pk"])

    def _render(self, provider: ModelProvider) -> dict[str, Any]:
        # With its credential and model counts, as in the list: the schema promises them.
        return s.ModelProviderSerializer(self.tenant_queryset().get(pk=provider.pk)).data

    def retrieve(self, request: Request, tenant_slug: str, pk: str) -> Response:
        return Response(self._render(self.get_object()))

    @extend_schema(
        request=s.ModelProviderWriteSerializer,
        responses={201: s.ModelProviderSerializer},
        summary="Add a model provider",
        description="The base URL must pass the platform's outbound policy (no private or loopback hosts "
        "unless the operator allows them). See GET /api/v1/ai/presets/ for known providers.",
        examples=[
            OpenApiExample(
                "OpenAI",
                request_only=True,
                value={"name": "OpenAI", "slug": "openai", "kind": "openai", "base_url": "https://api.openai.com/v1"},
            )
        ],
    )
    def create(self, request: Request, tenant_slug: str) -> Response:
        return self.run_service(
            lambda **data: provider_services.provider_create(actor=self.membership, **data),
            input=s.ModelProviderWriteSerializer,
            output=self._render,
            status_code=status.HTTP_201_CREATED,
        )

    @extend_schema(
        request=s.ModelProviderWriteSerializer, responses=s.ModelProviderSerializer, summary="Change a provider"
    )
    def partial_update(self, request: Request, tenant_slug: str, pk: str) -> Response:
        return self.run_service(
            lambda **data: provider_services.provider_update(actor=self.membership, provider=self.get_object(), **data),
            input=s.ModelProviderWriteSerializer,
            output=self._render,
            partial=True,
        )

    @extend_schema(responses={204: None, 409: _DELETE_409}, summary="Delete a provider, its credentials and models")
    def destroy(self, request: Request, tenant_slug: str, pk: str) -> Response:
        return self.run_service(
            lambda: provider_services.provider_delete(actor=self.membership, provider=self.get_object()),
            output=None,
            status_code=status.HTTP_204_NO_CONTENT,
        )


@extend_schema(parameters=[TENANT_PARAM, PROVIDER_PARAM], tags=[tags.AI_GATEWAY])
@extend_schema_view(
    list=extend_schema(summary="A provider's credential pool (secrets masked)"),
    retrieve=extend_schema(summary="One credential (secret masked)"),
)
class CredentialViewSet(_Base, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.ProviderCredentialSerializer
    required_perms = _CRUD_PERMS

    @property
    def provider(self) -> ModelProvider:
        if not hasattr(self, "_provider"):
            self._provider = selectors.provider(self.tenant, self.kwargs["provider_pk"])
        return self._provider

    def resolve_url_objects(self) -> None:
        self.provider  # noqa: B018 - the parent's 404 first
        super().resolve_url_objects()

    def tenant_queryset(self) -> QuerySet[ProviderCredential]:
        return selectors.credentials(self.provider)

    def get_object(self) -> ProviderCredential:
        return selectors.credential(self.provider, self.kwargs["pk"])

    @extend_schema(
        request=s.ProviderCredentialWriteSerializer,
        responses={
            201: s.ProviderCredentialSerializer,
            503: OpenApiResponse(description="`encryption_not_configured`."),
        },
        summary="Add a key to the pool (the secret is write-only)",
    )
    def create(self, request: Request, tenant_slug: str, provider_pk: str) -> Response:
        return self.run_service(
            lambda **data: provider_services.credential_create(actor=self.membership, provider=self.provider, **data),
            input=s.ProviderCredentialWriteSerializer,
            output=s.ProviderCredentialSerializer,
            status_code=status.HTTP_201_CREATED,
        )

    @extend_schema(
        request=s.ProviderCredentialUpdateSerializer,
        responses=s.ProviderCredentialSerializer,
        summary="Change weight, priority, enabled, label, or replace the key",
    )
    def partial_update(self, request: Request, tenant_slug: str, provider_pk: str, pk: str) -> Response:
        return self.run_service(
            lambda **data: provider_services.credential_update(
                actor=self.membership, credential=self.get_object(), **data
            ),
            input=s.ProviderCredentialUpdateSerializer,
            output=s.ProviderCredentialSerializer,
            partial=True,
        )

    @extend_schema(responses={204: None}, summary="Remove a key from the pool")
    def destroy(self, request: Request, tenant_slug: str, provider_pk: str, pk: str) -> Response:
        return self.run_service(
            lambda: provider_services.credential_delete(actor=self.membership, credential=self.get_object()),
            output=None,
            status_code=status.HTTP_204_NO_CONTENT,
        )


@extend_schema(parameters=[TENANT_PARAM], tags=[tags.AI_GATEWAY])
@extend_schema_view(
    list=extend_schema(summary="Models of your providers, with prices"),
    retrieve=extend_schema(summary="One model with its price history"),
)
class ModelViewSet(_Base, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.ProviderModelSerializer
    required_perms = {**_CRUD_PERMS, "prices": _VIEW}

    def tenant_queryset(self) -> QuerySet[ProviderModel]:
        return selectors.models(self.tenant)

    def get_object(self) -> ProviderModel:
        return selectors.model(self.tenant, self.kwargs["pk"])

    def _render(self, model: ProviderModel) -> dict[str, Any]:
        return s.ProviderModelSerializer(selectors.model(self.tenant, model.pk)).data

    @extend_schema(
        request=s.ProviderModelWriteSerializer,
        responses={201: s.ProviderModelSerializer},
        summary="Add a model (optionally priced, or filled from the price list)",
        examples=[
            OpenApiExample(
                "From the price list",
                request_only=True,
                value={"provider": 1, "model_id": "gpt-4o-mini", "from_price_list": "openai/gpt-4o-mini"},
            ),
        ],
    )
    def create(self, request: Request, tenant_slug: str) -> Response:
        def run(provider: int, from_price_list: str | None = None, **data: Any) -> ProviderModel:
            if from_price_list:
                listed = presets.listed_price(from_price_list)
                if listed is None:
                    raise InvalidInput("No such entry in the price list.", field="from_price_list")
                data.setdefault("capability", listed.capability)
                data.setdefault("context_window", listed.context_window)
                data.setdefault("price", price_from_list(listed))
            return provider_services.model_create(
                actor=self.membership, provider=selectors.provider(self.tenant, provider), **data
            )

        return self.run_service(
            run, input=s.ProviderModelWriteSerializer, output=self._render, status_code=status.HTTP_201_CREATED
        )

    @extend_schema(
        request=s.ProviderModelUpdateSerializer, responses=s.ProviderModelSerializer, summary="Rename or resize a model"
    )
    def partial_update(self, request: Request, tenant_slug: str, pk: str) -> Response:
        return self.run_service(
            lambda **data: provider_services.model_update(actor=self.membership, model=self.get_object(), **data),
            input=s.ProviderModelUpdateSerializer,
            output=self._render,
            partial=True,
        )

    @extend_schema(responses={204: None, 409: _DELETE_409}, summary="Delete a model no route uses")
    def destroy(self, request: Request, tenant_slug: str, pk: str) -> Response:
        return self.run_service(
            lambda: provider_services.model_delete(actor=self.membership, model=self.get_object()),
            output=None,
            status_code=status.HTTP_204_NO_CONTENT,
        )

    @extend_schema(
        methods=["GET"],
        request=None,
        responses=s.ModelPriceSerializer(many=True),
        summary="A model's price history, newest first",
    )
    @extend_schema(
        methods=["POST"],
        request=s.ModelPriceWriteSerializer,
        responses={201: s.ModelPriceSerializer},
        summary="Set a price from a date on (the same date again corrects it)",
    )
    @action(detail=True, methods=["get", "post"])
    def prices(self, request: Request, tenant_slug: str, pk: str) -> Response:
        model = self.get_object()
        if request.method == "GET":  # numbered pages like every list (a model has few prices)
            page = self.paginate_queryset(selectors.prices(model))
            return self.get_paginated_response(s.ModelPriceSerializer(page, many=True).data)
        require(self.membership, Perm.AI_MANAGE)  # the action reads with apis.view; writing needs more
        return self.run_service(
            lambda **data: provider_services.price_add(actor=self.membership, model=model, **data),
            input=s.ModelPriceWriteSerializer,
            output=s.ModelPriceSerializer,
            status_code=status.HTTP_201_CREATED,
        )


def price_from_list(listed: presets.ListedPrice) -> dict[str, Any]:
    return {
        "input_per_million": listed.input,
        "output_per_million": listed.output,
        "cached_input_per_million": listed.cached_input,
        "effective_from": listed.as_of,
        "source": listed.source,
    }


@extend_schema(parameters=[TENANT_PARAM], tags=[tags.AI_GATEWAY])
@extend_schema_view(
    list=extend_schema(summary="Model routes (public names and their targets)"),
    retrieve=extend_schema(summary="One model route"),
)
class RouteViewSet(_Base, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.ModelRouteSerializer
    required_perms = _CRUD_PERMS

    def tenant_queryset(self) -> QuerySet[ModelRoute]:
        return selectors.routes(self.tenant)

    def get_object(self) -> ModelRoute:
        return selectors.route(self.tenant, self.kwargs["pk"])

    def _render(self, route: ModelRoute) -> dict[str, Any]:
        return s.ModelRouteSerializer(selectors.route(self.tenant, route.pk)).data

    @extend_schema(
        request=s.ModelRouteWriteSerializer,
        responses={201: s.ModelRouteSerializer},
        summary="Add a model route (public name <organisation slug>/<name>)",
        examples=[
            OpenApiExample(
                "Small chat with a fallback",
                request_only=True,
                value={
                    "name": "chat-small",
                    "capability": "chat",
                    "targets": [{"model": 34, "position": 0, "weight": 3}, {"model": 36, "position": 1}],
                },
            )
        ],
    )
    def create(self, request: Request, tenant_slug: str) -> Response:
        def run(targets: list[dict[str, Any]] | None = None, **data: Any) -> ModelRoute:
            return route_services.route_create(actor=self.membership, targets=s.targets_input(targets), **data)

        return self.run_service(
            run, input=s.ModelRouteWriteSerializer, output=self._render, status_code=status.HTTP_201_CREATED
        )

    @extend_schema(
        request=s.ModelRouteUpdateSerializer,
        responses=s.ModelRouteSerializer,
        summary="Change the description or replace the targets",
        description="The name and capability are fixed: consumers call the public name.",
    )
    def partial_update(self, request: Request, tenant_slug: str, pk: str) -> Response:
        def run(targets: list[dict[str, Any]] | None = None, **data: Any) -> ModelRoute:
            return route_services.route_update(
                actor=self.membership, route=self.get_object(), targets=s.targets_input(targets), **data
            )

        return self.run_service(run, input=s.ModelRouteUpdateSerializer, output=self._render, partial=True)

    @extend_schema(responses={204: None, 409: _DELETE_409}, summary="Delete a route no version uses")
    def destroy(self, request: Request, tenant_slug: str, pk: str) -> Response:
        return self.run_service(
            lambda: route_services.route_delete(actor=self.membership, route=self.get_object()),
            output=None,
            status_code=status.HTTP_204_NO_CONTENT,
        )


@extend_schema(
    parameters=[
        TENANT_PARAM,
        OpenApiParameter("api_slug", str, OpenApiParameter.PATH, description="API slug."),
        OpenApiParameter("label", str, OpenApiParameter.PATH, description="Version label."),
    ],
    tags=[tags.AI_GATEWAY],
)
class VersionRoutesView(_Base, APIView):
    """The model routes an AI version (kind ``ai``) serves."""

    # Only GET and PUT are routed; the other methods pass the membership check and the version
    # lookup (so another organisation's API is a 404 whatever the method) and then get DRF's 405.
    required_perms = {
        **dict.fromkeys(("get", "post", "patch", "delete"), Perm.APIS_VIEW),
        "put": Perm.APIS_EDIT,
    }

    def tenant_queryset(self) -> QuerySet[ApiVersion]:
        raise NotImplementedError  # one object per URL

    def resolve_url_objects(self) -> None:
        self._version()

    def _version(self) -> ApiVersion:
        if not hasattr(self, "_loaded_version"):
            api = catalog_selectors.api_for_tenant(self.tenant, self.kwargs["api_slug"])
            self._loaded_version = catalog_selectors.version_for(api, self.kwargs["label"])
        return self._loaded_version

    def _render(self, version: ApiVersion) -> dict[str, Any]:
        return {"routes": s.ModelRouteSerializer(surfaces.surface_routes(version), many=True).data}

    @extend_schema(responses=s.AiSurfaceSerializer, summary="The model routes an AI version serves")
    def get(self, request: Request, tenant_slug: str, api_slug: str, label: str) -> Response:
        return Response(self._render(self._version()))

    @extend_schema(
        request=s.AiSurfaceRoutesSerializer,
        responses={200: s.AiSurfaceSerializer, 409: OpenApiResponse(description="`not_ai_version`, `no_route`, …")},
        summary="Choose the model routes of an AI version (its OpenAPI document is regenerated)",
    )
    def put(self, request: Request, tenant_slug: str, api_slug: str, label: str) -> Response:
        version = self._version()

        def run(routes: list[int]) -> ApiVersion:
            surfaces.surface_set_routes(actor=self.membership, version=version, routes=routes)
            return version

        return self.run_service(run, input=s.AiSurfaceRoutesSerializer, output=self._render)


@extend_schema(tags=[tags.AI_GATEWAY])
class PresetsView(APIView):
    """Known providers and the curated price list (check the prices: they change)."""

    @extend_schema(responses=s.AiPresetsSerializer, summary="Provider presets and the curated price list")
    def get(self, request: Request) -> Response:
        return Response(
            {
                "providers": [p.as_dict() for p in presets.PRESETS],
                "prices": [p.as_dict() for p in presets.price_list()],
                "prices_note": presets.price_list_note(),
            }
        )
