"""What the REST API shows of single sign-on (never the client secret) and what it accepts."""

from __future__ import annotations

from django.db import models
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from sso import services
from sso.models import SECRET_MAX_LENGTH, GroupRoleMapping, IdentityProvider, VerifiedDomain


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


# --- Writes: what the management endpoints accept -------------------------------------------


def _max(model: type[models.Model], field: str) -> int:
    """The model's limit of ``field``: written once, on the model."""
    return int(getattr(model._meta.get_field(field), "max_length"))  # noqa: B009  (Field | ForeignObjectRel)


class IdentityProviderWriteSerializer(serializers.ModelSerializer):
    """The whole provider (PUT replaces it); limits and choices come from the model."""

    client_secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=SECRET_MAX_LENGTH,
        trim_whitespace=False,  # the service strips it; a secret is never echoed back to say so
        help_text="OpenID Connect: write-only, stored encrypted. Omitted or blank keeps the current one.",
    )

    class Meta:
        model = IdentityProvider
        fields = [
            "kind",
            "name",
            "server_url",
            "client_id",
            "client_secret",
            "scopes",
            "metadata_url",
            "metadata_xml",
            "default_role",
            "group_claim",
            "enabled",
            "sso_required",
        ]
        extra_kwargs = {
            "kind": {"required": True},
            "server_url": {"help_text": "OpenID Connect: the issuer, e.g. https://login.example.com/realms/acme."},
            "client_id": {"help_text": "OpenID Connect: the client id registered at the IdP."},
            "metadata_url": {"help_text": "SAML: the IdP's metadata URL, fetched once when saved."},
            "metadata_xml": {"help_text": "SAML: the IdP's metadata XML (instead of metadata_url)."},
            "default_role": {"help_text": "The role of people who join by signing in (no mapped group)."},
        }


class SsoDiscoverSerializer(serializers.Serializer):
    issuer = serializers.URLField(
        max_length=_max(IdentityProvider, "server_url"),
        help_text="The issuer URL; <issuer>/.well-known/openid-configuration is fetched.",
    )


class SsoDiscoveredSerializer(serializers.Serializer):
    """What the issuer's discovery document says about the endpoints sign-in uses."""

    issuer = serializers.CharField()
    authorization_endpoint = serializers.CharField()
    token_endpoint = serializers.CharField()
    jwks_uri = serializers.CharField()
    userinfo_endpoint = serializers.CharField(required=False, help_text="Absent when the issuer names none.")


class VerifiedDomainDetailSerializer(VerifiedDomainSerializer):
    email_recipients = serializers.SerializerMethodField(
        help_text="The addresses a verification e-mail may go to (POST …/send-email/)."
    )

    class Meta(VerifiedDomainSerializer.Meta):
        fields = [*VerifiedDomainSerializer.Meta.fields, "email_recipients"]
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.EmailField()))
    def get_email_recipients(self, domain: VerifiedDomain) -> list[str]:
        return services.email_recipients(domain)


class VerifiedDomainCreateSerializer(serializers.Serializer):
    domain = serializers.CharField(
        max_length=_max(VerifiedDomain, "domain"),
        help_text="An e-mail domain such as acme.example; verify it next (DNS TXT record or e-mail).",
    )


class DomainEmailSerializer(serializers.Serializer):
    address = serializers.EmailField(
        help_text="A role mailbox at the domain (admin@, postmaster@ …) or a member's address there."
    )


class DomainEmailSentSerializer(serializers.Serializer):
    sent_to = serializers.EmailField()


class GroupRoleMappingWriteSerializer(serializers.ModelSerializer):
    class Meta:
        model = GroupRoleMapping
        fields = ["group", "role"]
        extra_kwargs = {"group": {"help_text": "The group's name (or id) as the provider sends it."}}
