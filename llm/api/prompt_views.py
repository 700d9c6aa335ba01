"""REST endpoints of prompts under /tenants/{tenant_slug}/prompts/…: templates, versions, publish, playground."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apis import selectors as api_selectors
from core.api import tags
from core.api.actions import ServiceActionMixin
from llm import playground
from llm.api import prompt_serializers as s
from llm.models import PromptTemplate, PromptVersion
from llm.services import prompts as services
from tenants.api.mixins import TenantScopedAPIMixin
from tenants.roles import Perm

TENANT_PARAM = OpenApiParameter("tenant_slug", str, OpenApiParameter.PATH, description="Organisation slug.")
PROMPT_PARAM = OpenApiParameter("prompt_slug", str, OpenApiParameter.PATH, description="Prompt slug.")
NUMBER_PARAM = OpenApiParameter("number", int, OpenApiParameter.PATH, description="Version number.")

_EDIT = Perm.APIS_EDIT
_VIEW = Perm.APIS_VIEW

LINT_400 = OpenApiResponse(
    description="`invalid_prompt`: the lint found errors; `fields.prompt` lists every one of them. "
    "Other codes name the field (route, messages, …)."
)


@extend_schema(parameters=[TENANT_PARAM], tags=[tags.APIS])
@extend_schema_view(
    list=extend_schema(summary="Prompt templates of your organisation"),
    retrieve=extend_schema(summary="One prompt template"),
)
class PromptTemplateViewSet(
    ServiceActionMixin, TenantScopedAPIMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = s.PromptTemplateSerializer
    lookup_field = "slug"
    lookup_url_kwarg = "prompt_slug"
    lookup_value_regex = "[a-z0-9-]+"
    required_perms = {
        "list": _VIEW,
        "retrieve": _VIEW,
        "create": _EDIT,
        "partial_update": _EDIT,
        "destroy": _EDIT,
    }

    def tenant_queryset(self) -> QuerySet[PromptTemplate]:
        return services.prompt_templates(self.tenant)

    def get_object(self) -> PromptTemplate:
        return services.prompt_template_for(self.tenant, self.kwargs["prompt_slug"])

    @extend_schema(
        request=s.PromptTemplateWriteSerializer,
        responses={201: s.PromptTemplateSerializer},
        summary="Create a prompt template",
    )
    def create(self, request: Request, tenant_slug: str) -> Response:
        return self.run_service(
            lambda **data: services.prompt_template_create(actor=self.membership, **data),
            input=s.PromptTemplateWriteSerializer,
            output=s.PromptTemplateSerializer,
            status_code=status.HTTP_201_CREATED,
        )

    @extend_schema(
        request=s.PromptTemplateUpdateSerializer,
        responses=s.PromptTemplateSerializer,
        summary="Rename a prompt template",
    )
    def partial_update(self, request: Request, tenant_slug: str, prompt_slug: str) -> Response:
        return self.run_service(
            lambda **data: services.prompt_template_update(actor=self.membership, template=self.get_object(), **data),
            input=s.PromptTemplateUpdateSerializer,
            output=lambda template: s.PromptTemplateSerializer(self.get_object()).data,
        )

    @extend_schema(
        responses={204: None, 409: OpenApiResponse(description="`prompt_published`: an API version serves it.")},
        summary="Delete a prompt template and its versions (not while published as an API)",
    )
    def destroy(self, request: Request, tenant_slug: str, prompt_slug: str) -> Response:
        return self.run_service(
            lambda: services.prompt_template_delete(actor=self.membership, template=self.get_object()),
            output=None,
            status_code=status.HTTP_204_NO_CONTENT,
        )


VERSION_EXAMPLE = OpenApiExample(
    "Summarise",
    request_only=True,
    value={
        "messages": [
            {"role": "system", "content": "You summarise."},
            {"role": "user", "content": "Summarise in {{words}} words: {{text}}"},
        ],
        "variables": [
            {"name": "text", "type": "string", "required": True, "max_length": 20000},
            {"name": "words", "type": "integer", "required": False, "default": 50},
        ],
        "route": 5,
        "params": {"temperature": 0.2, "max_tokens": 300},
        "response_mode": "text",
    },
)


@extend_schema(parameters=[TENANT_PARAM, PROMPT_PARAM], tags=[tags.APIS])
@extend_schema_view(
    list=extend_schema(summary="Versions of a prompt (newest first)"),
    retrieve=extend_schema(summary="One prompt version", parameters=[NUMBER_PARAM]),
)
class PromptVersionViewSet(
    ServiceActionMixin, TenantScopedAPIMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = s.PromptVersionSerializer
    lookup_field = "number"
    lookup_value_regex = "[0-9]+"
    required_perms = {
        "list": _VIEW,
        "retrieve": _VIEW,
        "create": _EDIT,
        "publish": _EDIT,
        "playground": _EDIT,
    }

    @property
    def template(self) -> PromptTemplate:
        if not hasattr(self, "_template"):
            self._template = services.prompt_template_for(self.tenant, self.kwargs["prompt_slug"])
        return self._template

    def resolve_url_objects(self) -> None:
        self.template  # noqa: B018 - the parent first: its 404 comes before any validation
        super().resolve_url_objects()

    def tenant_queryset(self) -> QuerySet[PromptVersion]:
        return services.prompt_versions(self.template)

    def get_object(self) -> PromptVersion:
        return services.prompt_version_for(self.template, self.kwargs["number"])

    @extend_schema(
        request=s.PromptVersionWriteSerializer,
        responses={
            201: OpenApiResponse(s.PromptVersionSavedSerializer, description="A new version."),
            200: OpenApiResponse(s.PromptVersionSavedSerializer, description="The same content exists: that version."),
            400: LINT_400,
        },
        summary="Save a version (immutable; the same content answers the existing version)",
        examples=[VERSION_EXAMPLE],
    )
    def create(self, request: Request, tenant_slug: str, prompt_slug: str) -> Response:
        serializer = s.PromptVersionWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        saved = services.prompt_version_save(actor=self.membership, template=self.template, **serializer.validated_data)
        body = s.PromptVersionSavedSerializer(saved).data
        return Response(body, status=status.HTTP_201_CREATED if saved.created else status.HTTP_200_OK)

    @extend_schema(
        request=s.PromptPublishSerializer,
        responses={201: s.PublishedPromptSerializer},
        parameters=[NUMBER_PARAM],
        summary="Publish this version as an API (a draft API version of kind prompt)",
        description="Adds a version of kind `prompt` to an existing API of yours (`api`) or registers a new API. "
        "Its OpenAPI document (`POST /run`) is generated; publish it with the API version lifecycle.",
    )
    @action(detail=True, methods=["post"])
    def publish(self, request: Request, tenant_slug: str, prompt_slug: str, number: str) -> Response:
        def run(api: str = "", **data: Any) -> Any:
            target = api_selectors.api_for_tenant(self.tenant, api) if api else None
            return services.prompt_publish(actor=self.membership, version=self.get_object(), api=target, **data)

        return self.run_service(
            run,
            input=s.PromptPublishSerializer,
            output=s.PublishedPromptSerializer,
            status_code=status.HTTP_201_CREATED,
        )

    @extend_schema(
        request=s.PlaygroundRequestSerializer,
        responses={
            200: s.PlaygroundResultSerializer,
            429: OpenApiResponse(description="`throttled`: too many model calls from the playground this minute."),
        },
        parameters=[NUMBER_PARAM],
        summary="Playground: render with sample variables, optionally call the model once",
        description="Invalid variables are listed in `problems` (200): the playground shows them rather than failing. "
        "Provider failures are in `error`.",
    )
    @action(detail=True, methods=["post"])
    def playground(self, request: Request, tenant_slug: str, prompt_slug: str, number: str) -> Response:
        return self.run_service(
            lambda variables, call_model: playground.playground_run(
                actor=self.membership, version=self.get_object(), values=variables, call_model=call_model
            ),
            input=s.PlaygroundRequestSerializer,
            output=s.PlaygroundResultSerializer,
        )
