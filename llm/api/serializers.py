"""Input and output shapes of the AI gateway's REST endpoints; meaning is checked by llm.services.

A credential's secret is write-only: answers carry ``secret_hint`` (``sk-…a1b2``), never the
secret or its ciphertext.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rest_framework import serializers

from core.limits import max_length, max_value, min_value
from llm.models import (
    Capability,
    ModelPrice,
    ModelProvider,
    ModelRoute,
    ProviderCredential,
    ProviderKind,
    ProviderModel,
    RouteTarget,
)
from llm.services.providers import MAX_SECRET_LENGTH
from llm.services.routes import MAX_POSITION


def _price(**kwargs: Any) -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=12, decimal_places=6, min_value=Decimal(0), coerce_to_string=True, **kwargs
    )


class ModelProviderSerializer(serializers.ModelSerializer):
    credential_count = serializers.IntegerField(read_only=True, required=False)
    model_count = serializers.IntegerField(read_only=True, required=False)

    class Meta:
        model = ModelProvider
        fields = [
            "id",
            "name",
            "slug",
            "kind",
            "base_url",
            "connect_timeout_ms",
            "read_timeout_ms",
            "credential_count",
            "model_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ModelProviderWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=max_length(ModelProvider, "name"))
    slug = serializers.CharField(max_length=max_length(ModelProvider, "slug"), help_text="e.g. openai")
    kind = serializers.ChoiceField(choices=ProviderKind.choices, help_text="The wire format.")
    base_url = serializers.CharField(
        max_length=max_length(ModelProvider, "base_url"), help_text="e.g. https://api.openai.com/v1"
    )
    connect_timeout_ms = serializers.IntegerField(
        min_value=min_value(ModelProvider, "connect_timeout_ms"),
        max_value=max_value(ModelProvider, "connect_timeout_ms"),
        required=False,
    )
    read_timeout_ms = serializers.IntegerField(
        min_value=min_value(ModelProvider, "read_timeout_ms"),
        max_value=max_value(ModelProvider, "read_timeout_ms"),
        required=False,
    )


class ProviderCredentialSerializer(serializers.ModelSerializer):
    class Meta:
        model = ProviderCredential
        fields = ["id", "label", "secret_hint", "weight", "priority", "enabled", "created_at", "updated_at"]
        read_only_fields = fields


class ProviderCredentialWriteSerializer(serializers.Serializer):
    label = serializers.CharField(max_length=max_length(ProviderCredential, "label"))  # type: ignore[assignment]
    secret = serializers.CharField(
        write_only=True,
        max_length=MAX_SECRET_LENGTH,
        trim_whitespace=True,
        style={"input_type": "password"},
        help_text="The provider's API key. Write-only: stored encrypted, shown as secret_hint.",
    )
    weight = serializers.IntegerField(
        min_value=min_value(ProviderCredential, "weight"),
        max_value=max_value(ProviderCredential, "weight"),
        required=False,
    )
    priority = serializers.IntegerField(
        min_value=0, max_value=max_value(ProviderCredential, "priority"), required=False, help_text="Lowest first."
    )
    enabled = serializers.BooleanField(required=False)


class ProviderCredentialUpdateSerializer(serializers.Serializer):
    label = serializers.CharField(  # type: ignore[assignment]  # a field named like Field.label
        max_length=max_length(ProviderCredential, "label"), required=False
    )
    secret = serializers.CharField(
        write_only=True, max_length=MAX_SECRET_LENGTH, required=False, help_text="Replace the key (write-only)."
    )
    weight = serializers.IntegerField(
        min_value=min_value(ProviderCredential, "weight"),
        max_value=max_value(ProviderCredential, "weight"),
        required=False,
    )
    priority = serializers.IntegerField(
        min_value=0, max_value=max_value(ProviderCredential, "priority"), required=False
    )
    enabled = serializers.BooleanField(required=False)


class ModelPriceSerializer(serializers.ModelSerializer):
    input_per_million = _price(read_only=True)
    output_per_million = _price(read_only=True)
    cached_input_per_million = _price(read_only=True, allow_null=True)

    class Meta:
        model = ModelPrice
        fields = [
            "id",
            "effective_from",
            "input_per_million",
            "output_per_million",
            "cached_input_per_million",
            "source",
            "created_at",
        ]
        read_only_fields = fields


class ModelPriceWriteSerializer(serializers.Serializer):
    input_per_million = _price(help_text="USD per million input tokens.")
    output_per_million = _price(help_text="USD per million output tokens.")
    cached_input_per_million = _price(
        required=False, allow_null=True, help_text="Empty: cached input costs the input price."
    )
    effective_from = serializers.DateField(required=False, help_text="UTC date; default today.")
    source = serializers.CharField(  # type: ignore[assignment]  # a field named like Field.source
        max_length=max_length(ModelPrice, "source"), required=False, allow_blank=True
    )


class ProviderModelSerializer(serializers.ModelSerializer):
    provider = serializers.IntegerField(source="provider_id", read_only=True)
    provider_slug = serializers.CharField(source="provider.slug", read_only=True)
    prices = ModelPriceSerializer(
        many=True, read_only=True, help_text="Newest first; the first not in the future applies."
    )

    class Meta:
        model = ProviderModel
        fields = ["id", "provider", "provider_slug", "model_id", "capability", "context_window", "prices", "created_at"]
        read_only_fields = fields


class ProviderModelWriteSerializer(serializers.Serializer):
    provider = serializers.IntegerField(help_text="Id of one of your providers.")
    model_id = serializers.CharField(max_length=max_length(ProviderModel, "model_id"), help_text="e.g. gpt-4o-mini")
    capability = serializers.ChoiceField(choices=Capability.choices, required=False)
    context_window = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    price = ModelPriceWriteSerializer(required=False, help_text="Optional first price.")
    from_price_list = serializers.CharField(
        required=False,
        help_text="Key of a price-list entry (GET /ai/presets/): fills capability, context window and price.",
    )


class ProviderModelUpdateSerializer(serializers.Serializer):
    model_id = serializers.CharField(max_length=max_length(ProviderModel, "model_id"), required=False)
    context_window = serializers.IntegerField(min_value=1, required=False, allow_null=True)


class RouteTargetSerializer(serializers.ModelSerializer):
    model = serializers.IntegerField(source="model_id", read_only=True)
    model_id = serializers.CharField(source="model.model_id", read_only=True)
    provider_slug = serializers.CharField(source="model.provider.slug", read_only=True)

    class Meta:
        model = RouteTarget
        fields = ["model", "model_id", "provider_slug", "position", "weight"]
        read_only_fields = fields


class RouteTargetWriteSerializer(serializers.Serializer):
    model = serializers.IntegerField(help_text="Id of one of your models of the route's capability.")
    position = serializers.IntegerField(
        min_value=0, max_value=MAX_POSITION, required=False, help_text="Tried in order."
    )
    weight = serializers.IntegerField(
        min_value=min_value(RouteTarget, "weight"),
        max_value=max_value(RouteTarget, "weight"),
        required=False,
        help_text="Within a position.",
    )


class ModelRouteSerializer(serializers.ModelSerializer):
    public_name = serializers.CharField(read_only=True)
    targets = RouteTargetSerializer(many=True, read_only=True)

    class Meta:
        model = ModelRoute
        fields = ["id", "name", "public_name", "capability", "description", "targets", "created_at", "updated_at"]
        read_only_fields = fields


class ModelRouteWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=max_length(ModelRoute, "name"), help_text="e.g. chat-small")
    capability = serializers.ChoiceField(choices=Capability.choices, required=False)
    description = serializers.CharField(
        max_length=max_length(ModelRoute, "description"), required=False, allow_blank=True
    )
    targets = RouteTargetWriteSerializer(many=True, required=False)


class ModelRouteUpdateSerializer(serializers.Serializer):
    description = serializers.CharField(
        max_length=max_length(ModelRoute, "description"), required=False, allow_blank=True
    )
    targets = RouteTargetWriteSerializer(many=True, required=False, help_text="Replaces every target.")


class AiSurfaceRoutesSerializer(serializers.Serializer):
    routes = serializers.ListField(child=serializers.IntegerField(), help_text="Ids of your model routes.")


class AiSurfaceSerializer(serializers.Serializer):
    routes = ModelRouteSerializer(many=True, read_only=True)


class ProviderPresetSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    base_url = serializers.CharField()
    docs_url = serializers.CharField()
    price_list = serializers.CharField()
    note = serializers.CharField()


class ListedPriceSerializer(serializers.Serializer):
    key = serializers.CharField()
    provider = serializers.CharField()
    model = serializers.CharField()
    capability = serializers.CharField()
    context_window = serializers.IntegerField(allow_null=True)
    input = serializers.CharField()
    output = serializers.CharField()
    cached_input = serializers.CharField(allow_null=True)
    source = serializers.CharField()  # type: ignore[assignment]  # a field named like Field.source
    as_of = serializers.CharField()


class AiPresetsSerializer(serializers.Serializer):
    providers = ProviderPresetSerializer(many=True)
    prices = ListedPriceSerializer(many=True)
    prices_note = serializers.CharField()


def targets_input(data: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    return None if data is None else [dict(item) for item in data]
