"""Input and output shapes of the catalog's REST endpoints. Validation of meaning lives in apis.services."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apis.models import Api, ApiVersion, AuditEvent, Endpoint, Plan, VersionKind, VersionStatus, Visibility
from core.limits import max_length, max_value, min_value

# --- Provider side ---------------------------------------------------------------------


class ApiSerializer(serializers.ModelSerializer):
    catalog_url = serializers.SerializerMethodField(help_text="The API's page in the developer portal.")

    class Meta:
        model = Api
        fields = [
            "id",
            "slug",
            "name",
            "summary",
            "description",
            "tags",
            "contact_name",
            "contact_email",
            "contact_url",
            "visibility",
            "created_at",
            "updated_at",
            "catalog_url",
        ]
        read_only_fields = fields

    def get_catalog_url(self, api: Api) -> str:
        return reverse("apis:catalog-detail", args=[api.tenant.slug, api.slug])


class ApiWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=max_length(Api, "name"))
    slug = serializers.CharField(
        max_length=max_length(Api, "slug"), help_text="Lowercase letters, digits, hyphens; unique per organisation."
    )
    summary = serializers.CharField(max_length=max_length(Api, "summary"), required=False, allow_blank=True)
    description = serializers.CharField(
        max_length=max_length(Api, "description"), required=False, allow_blank=True, help_text="Markdown."
    )
    tags = serializers.ListField(
        child=serializers.CharField(max_length=max_length(Api, "tags")), required=False, max_length=20
    )
    contact_name = serializers.CharField(max_length=max_length(Api, "contact_name"), required=False, allow_blank=True)
    contact_email = serializers.CharField(max_length=max_length(Api, "contact_email"), required=False, allow_blank=True)
    contact_url = serializers.CharField(max_length=max_length(Api, "contact_url"), required=False, allow_blank=True)
    visibility = serializers.ChoiceField(choices=Visibility.choices, required=False)


class UpstreamSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=500, help_text="Absolute http(s) URL; the portal never calls it.")
    weight = serializers.IntegerField(min_value=1, max_value=1000, default=1)


class VersionSerializer(serializers.ModelSerializer):
    upstreams = UpstreamSerializer(many=True, read_only=True)
    has_openapi = serializers.SerializerMethodField()
    endpoint_count = serializers.SerializerMethodField()
    accepts_subscriptions = serializers.BooleanField(read_only=True)

    class Meta:
        model = ApiVersion
        fields = [
            "id",
            "label",
            "base_path",
            "kind",
            "upstreams",
            "connect_timeout_ms",
            "read_timeout_ms",
            "status",
            "sunset_date",
            "release_notes",
            "has_openapi",
            "openapi_version",
            "spec_updated_at",
            "spec_status",
            "spec_error",
            "endpoint_count",
            "accepts_subscriptions",
            "created_at",
            "published_at",
            "deprecated_at",
            "retired_at",
        ]
        read_only_fields = fields

    def get_has_openapi(self, version: ApiVersion) -> bool:
        return version.spec is not None

    def get_endpoint_count(self, version: ApiVersion) -> int:
        count = getattr(version, "endpoint_count", None)
        return count if count is not None else version.endpoints.count()


class VersionWriteSerializer(serializers.Serializer):
    label = serializers.CharField(  # type: ignore[assignment]
        max_length=max_length(ApiVersion, "label"), help_text="e.g. v1 or 2024-06-01"
    )
    base_path = serializers.CharField(
        max_length=max_length(ApiVersion, "base_path"), help_text="Unique across the platform, e.g. /orders/v1"
    )
    kind = serializers.ChoiceField(
        choices=VersionKind.choices,
        required=False,
        help_text="rest (default): routed to upstreams. ai: model routes the gateway answers itself (no upstreams, "
        "generated OpenAPI document; choose its routes with PUT …/versions/{label}/ai-routes). "
        "Fixed once created.",
    )
    upstreams = UpstreamSerializer(many=True, required=False)
    connect_timeout_ms = serializers.IntegerField(
        min_value=min_value(ApiVersion, "connect_timeout_ms"),
        max_value=max_value(ApiVersion, "connect_timeout_ms"),
        required=False,
    )
    read_timeout_ms = serializers.IntegerField(
        min_value=min_value(ApiVersion, "read_timeout_ms"),
        max_value=max_value(ApiVersion, "read_timeout_ms"),
        required=False,
    )
    release_notes = serializers.CharField(
        max_length=max_length(ApiVersion, "release_notes"), required=False, allow_blank=True
    )
    openapi = serializers.JSONField(
        required=False,
        write_only=True,
        help_text="Optional OpenAPI 3.0/3.1 document: a JSON object, or JSON/YAML text. Max 2 MB.",
    )

    def validate_openapi(self, value: object) -> object:
        if value is not None and not isinstance(value, dict | str):
            raise serializers.ValidationError("Send the OpenAPI document as a JSON object or as JSON/YAML text.")
        return value


class LifecycleSerializer(serializers.Serializer):
    note = serializers.CharField(
        required=False, allow_blank=True, max_length=max_length(AuditEvent, "note"), help_text="Why; kept in history."
    )


class DeprecateSerializer(LifecycleSerializer):
    sunset_date = serializers.DateField(help_text="When the version will be retired; shown to consumers.")


class SpecUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="An OpenAPI 3.0/3.1 document, JSON or YAML, at most 2 MB.")


class EndpointSerializer(serializers.ModelSerializer):
    class Meta:
        model = Endpoint
        fields = ["id", "method", "path", "operation_id", "summary", "deprecated"]
        read_only_fields = fields


class PlanSerializer(serializers.ModelSerializer):
    class Meta:
        model = Plan
        fields = [
            "id",
            "name",
            "description",
            "rate_limit_per_second",
            "rate_limit_per_minute",
            "quota_per_day",
            "quota_per_month",
            *Plan.AI_LIMIT_FIELDS,
            "approval_required",
            "is_public",
            "status",
            "price_label",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class PlanWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=max_length(Plan, "name"))
    description = serializers.CharField(max_length=max_length(Plan, "description"), required=False, allow_blank=True)
    rate_limit_per_second = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    rate_limit_per_minute = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    quota_per_day = serializers.IntegerField(min_value=1, required=False, allow_null=True, help_text="UTC day.")
    quota_per_month = serializers.IntegerField(min_value=1, required=False, allow_null=True, help_text="UTC month.")
    token_limit_per_minute = serializers.IntegerField(
        min_value=1, required=False, allow_null=True, help_text="AI versions: input + output tokens per minute."
    )
    token_quota_per_day = serializers.IntegerField(
        min_value=1, required=False, allow_null=True, help_text="AI versions: tokens per UTC day."
    )
    token_quota_per_month = serializers.IntegerField(
        min_value=1, required=False, allow_null=True, help_text="AI versions: tokens per UTC month."
    )
    cost_budget_per_day = serializers.DecimalField(
        max_digits=14,
        decimal_places=4,
        min_value=Decimal("0.0001"),
        required=False,
        allow_null=True,
        help_text="AI versions: USD per UTC day.",
    )
    cost_budget_per_month = serializers.DecimalField(
        max_digits=14,
        decimal_places=4,
        min_value=Decimal("0.0001"),
        required=False,
        allow_null=True,
        help_text="AI versions: USD per UTC month.",
    )
    approval_required = serializers.BooleanField(required=False)
    is_public = serializers.BooleanField(required=False, help_text="Hidden plans are only granted by the provider.")
    price_label = serializers.CharField(max_length=max_length(Plan, "price_label"), required=False, allow_blank=True)


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.EmailField(source="actor_email", read_only=True)

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created_at",
            "actor",
            "action",
            "target_type",
            "target_id",
            "target_label",
            "from_state",
            "to_state",
            "note",
        ]
        read_only_fields = fields


# --- Catalog (consumer side) -----------------------------------------------------------


class ProviderSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()


class CatalogApiSerializer(serializers.ModelSerializer):
    provider = ProviderSerializer(source="tenant", read_only=True)
    url = serializers.SerializerMethodField(help_text="The API's page in the developer portal.")

    class Meta:
        model = Api
        fields = ["provider", "slug", "name", "summary", "tags", "visibility", "updated_at", "url"]
        read_only_fields = fields

    def get_url(self, api: Api) -> str:
        return reverse("apis:catalog-detail", args=[api.tenant.slug, api.slug])


class CatalogVersionSerializer(serializers.ModelSerializer):
    gateway_url = serializers.SerializerMethodField(help_text="Where to call this version.")
    openapi_url = serializers.SerializerMethodField(help_text="The OpenAPI document (JSON), or null.")

    class Meta:
        model = ApiVersion
        fields = ["label", "status", "sunset_date", "base_path", "gateway_url", "openapi_url", "published_at"]
        read_only_fields = fields

    def get_gateway_url(self, version: ApiVersion) -> str:
        return settings.GATEWAY_URL + version.base_path

    @extend_schema_field(OpenApiTypes.STR)
    def get_openapi_url(self, version: ApiVersion) -> str | None:
        if version.spec is None:
            return None
        return reverse("api:catalog-openapi", args=[version.tenant.slug, version.api.slug, version.label])


class CatalogPlanSerializer(serializers.ModelSerializer):
    class Meta:
        model = Plan
        fields = [
            "id",
            "name",
            "description",
            "rate_limit_per_second",
            "rate_limit_per_minute",
            "quota_per_day",
            "quota_per_month",
            *Plan.AI_LIMIT_FIELDS,
            "approval_required",
            "price_label",
        ]
        read_only_fields = fields


class CatalogApiDetailSerializer(CatalogApiSerializer):
    description_html = serializers.CharField(
        read_only=True, help_text="The description rendered from Markdown and sanitised when it was saved."
    )
    versions = serializers.SerializerMethodField()
    plans = serializers.SerializerMethodField()

    class Meta(CatalogApiSerializer.Meta):
        fields = [
            *CatalogApiSerializer.Meta.fields,
            "description",
            "description_html",
            "contact_name",
            "contact_email",
            "contact_url",
            "versions",
            "plans",
        ]
        read_only_fields = fields

    @extend_schema_field(CatalogVersionSerializer(many=True))
    def get_versions(self, api: Api) -> Any:
        return CatalogVersionSerializer(self.context["versions"], many=True).data

    @extend_schema_field(CatalogPlanSerializer(many=True))
    def get_plans(self, api: Api) -> Any:
        return CatalogPlanSerializer(self.context["plans"], many=True).data


STATUS_HELP = ", ".join(VersionStatus.values)
