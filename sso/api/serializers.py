"""What the REST API shows of single sign-on: never the client secret."""

from __future__ import annotations

from rest_framework import serializers

from sso.models import GroupRoleMapping, IdentityProvider, VerifiedDomain


class IdentityProviderSerializer(serializers.ModelSerializer):
    client_secret_hint = serializers.CharField(read_only=True, help_text="The secret, masked; never the secret.")

    class Meta:
        model = IdentityProvider
        fields = [
            "key",
            "kind",
            "name",
            "enabled",
            "sso_required",
            "server_url",
            "client_id",
            "client_secret_hint",
            "scopes",
            "metadata_url",
            "idp_entity_id",
            "idp_sso_url",
            "default_role",
            "group_claim",
            "updated_at",
        ]
        read_only_fields = fields


class VerifiedDomainSerializer(serializers.ModelSerializer):
    verified = serializers.BooleanField(source="is_verified", read_only=True)
    txt_name = serializers.CharField(read_only=True)
    txt_value = serializers.CharField(read_only=True)

    class Meta:
        model = VerifiedDomain
        fields = ["id", "domain", "verified", "method", "verified_at", "txt_name", "txt_value", "last_error"]
        read_only_fields = fields


class GroupRoleMappingSerializer(serializers.ModelSerializer):
    class Meta:
        model = GroupRoleMapping
        fields = ["id", "group", "role"]
        read_only_fields = fields


class SsoOverviewSerializer(serializers.Serializer):
    provider = IdentityProviderSerializer(allow_null=True)
    domains = VerifiedDomainSerializer(many=True)
    group_mappings = GroupRoleMappingSerializer(many=True)
    callback_urls = serializers.DictField(child=serializers.URLField())
