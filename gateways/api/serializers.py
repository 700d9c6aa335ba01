"""Serializers of the gateway REST endpoints: staff node management and the node protocol."""

from __future__ import annotations

from rest_framework import serializers

from apis.models import Plan
from core.limits import max_length
from gateways.models import GatewayNode
from gateways.services import MAX_REPORTED


class NodeSerializer(serializers.ModelSerializer):
    active = serializers.BooleanField(source="is_active", read_only=True)
    silent = serializers.BooleanField(
        read_only=True, default=False, help_text="Active and not heard from for longer than the threshold."
    )
    calls_last_hour = serializers.IntegerField(
        read_only=True, allow_null=True, default=None, help_text="Null while the call table does not exist."
    )
    errors_last_hour = serializers.IntegerField(
        read_only=True, allow_null=True, default=None, help_text="Calls with status >= 400 or a gateway error."
    )

    class Meta:
        model = GatewayNode
        fields = [
            "id",
            "name",
            "description",
            "key_id",
            "active",
            "created_at",
            "token_rotated_at",
            "revoked_at",
            "last_seen_at",
            "last_heartbeat_at",
            "software_version",
            "applied_config_version",
            "buffered_records",
            "silent",
            "calls_last_hour",
            "errors_last_hour",
        ]
        read_only_fields = fields


class NodeCreatedSerializer(NodeSerializer):
    token = serializers.CharField(read_only=True, help_text="The node token. Shown only in this response.")

    class Meta(NodeSerializer.Meta):
        fields = [*NodeSerializer.Meta.fields, "token"]
        read_only_fields = fields


class NodeCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=max_length(GatewayNode, "name"))
    description = serializers.CharField(
        max_length=max_length(GatewayNode, "description"), required=False, allow_blank=True, default=""
    )


# --- The node protocol ---------------------------------------------------------------


class HeartbeatSerializer(serializers.Serializer):
    software_version = serializers.CharField(
        max_length=max_length(GatewayNode, "software_version"), allow_blank=True, help_text="e.g. portal-gw/1.4.2"
    )
    applied_config_version = serializers.IntegerField(
        min_value=0, max_value=MAX_REPORTED, allow_null=True, help_text="Null before the first config was applied."
    )
    buffered_records = serializers.IntegerField(
        min_value=0, max_value=MAX_REPORTED, help_text="Call records waiting to be sent."
    )


class HeartbeatAnswerSerializer(serializers.Serializer):
    config_version = serializers.IntegerField(help_text="The current config version: fetch the config if newer.")


class RouteUpstreamSerializer(serializers.Serializer):
    url = serializers.URLField()
    weight = serializers.IntegerField()


class EndpointTemplateSerializer(serializers.Serializer):
    method = serializers.CharField()
    path = serializers.CharField(help_text="Template relative to the base path, e.g. /orders/{id}")


class RouteSerializer(serializers.Serializer):
    api_version_id = serializers.IntegerField()
    api_id = serializers.IntegerField()
    provider_tenant_id = serializers.IntegerField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field named like Field.label
    base_path = serializers.CharField(help_text="Longest prefix (on a segment boundary) of the request path wins.")
    status = serializers.ChoiceField(choices=["published", "deprecated"])
    kind = serializers.ChoiceField(
        choices=["rest", "ai", "prompt"], help_text="ai / prompt: the node answers itself (docs/ai-gateway.md)."
    )
    upstreams = RouteUpstreamSerializer(many=True, help_text="Weighted targets (empty for ai / prompt).")
    connect_timeout_ms = serializers.IntegerField()
    read_timeout_ms = serializers.IntegerField()
    sunset_date = serializers.DateField(allow_null=True, help_text="Set on deprecated versions only.")
    endpoints = EndpointTemplateSerializer(many=True)
    ai = serializers.DictField(
        allow_null=True,
        help_text='Null for REST. ai: {"models": {public name: route id}}; prompt: {"prompt": {…}}.',
    )


class RouteLimitsSerializer(serializers.Serializer):
    def get_fields(self) -> dict[str, serializers.Field]:
        fields: dict[str, serializers.Field] = {
            name: serializers.IntegerField(allow_null=True) for name in (*Plan.LIMIT_FIELDS, *Plan.AI_LIMIT_FIELDS)
        }
        for name in Plan.AI_LIMIT_FIELDS:
            if name.startswith("cost_"):
                fields[name] = serializers.FloatField(allow_null=True, help_text="USD.")
        return fields


class CredentialSubscriptionSerializer(serializers.Serializer):
    subscription_id = serializers.IntegerField()
    status = serializers.ChoiceField(
        choices=["pending", "active", "suspended"], help_text="Only active authorizes calls."
    )
    api_id = serializers.IntegerField()
    api_version_id = serializers.IntegerField(help_text="The one version this subscription covers.")
    plan_id = serializers.IntegerField()
    limits = RouteLimitsSerializer()


class CredentialSerializer(serializers.Serializer):
    key_hash = serializers.CharField(help_text="SHA-256 (hex) of the key's secret part.")
    application_id = serializers.IntegerField()
    consumer_tenant_id = serializers.IntegerField()
    expires_at = serializers.DateTimeField(allow_null=True, help_text="Refuse the key from then on.")
    grace_ends_at = serializers.DateTimeField(
        allow_null=True, help_text="Set on a rotated key: it works until then (equals expires_at)."
    )
    revoked = serializers.BooleanField(help_text="Revoked keys stay listed (refused) for a day, then drop out.")
    subscriptions = CredentialSubscriptionSerializer(many=True)


class ConfigSnapshotSerializer(serializers.Serializer):
    version = serializers.IntegerField(help_text="Monotonically increasing; also the ETag.")
    generated_at = serializers.DateTimeField()
    routes = RouteSerializer(many=True)
    credentials = serializers.DictField(child=CredentialSerializer(), help_text="Key id → credential.")
    ai = serializers.DictField(
        help_text="providers (with decrypted, enabled credentials), models (with prices), routes: "
        "see docs/ai-gateway.md."
    )
