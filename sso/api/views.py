"""REST endpoints of single sign-on: what the owner's settings page does, for automation.

Everything is ``sso.manage`` (owners), reads included, as on the page; another organisation's
objects are 404. The views only validate and call ``sso.services``; the client secret is
write-only and never in an answer (a masked hint at most).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer
from rest_framework.views import APIView

from core.api import tags
from core.api.actions import ServiceActionMixin
from sso import selectors, services
from sso.api import serializers as s
from sso.models import GroupRoleMapping, IdentityProvider, VerifiedDomain
from tenants.api.mixins import TenantScopedAPIMixin
from tenants.roles import Perm

TENANT_PARAM = OpenApiParameter("tenant_slug", str, OpenApiParameter.PATH, description="Organisation slug.")
_MANAGE = Perm.SSO_MANAGE
#: APIViews are checked per HTTP method: every one needs an entry (unrouted ones then get 405).
_ALL_METHODS = dict.fromkeys(("get", "post", "put", "patch", "delete"), _MANAGE)


class _Base(ServiceActionMixin, TenantScopedAPIMixin):
    pass


@extend_schema(parameters=[TENANT_PARAM], tags=[tags.SSO])
class SsoView(_Base, APIView):
    """The identity provider (without its secret), verified domains and group mappings."""

    required_perms = _ALL_METHODS

    def tenant_queryset(self) -> QuerySet[IdentityProvider]:
        return IdentityProvider.objects.for_tenant(self.tenant)

    @extend_schema(responses=s.SsoOverviewSerializer, summary="Single sign-on of the organisation (owners)")
    def get(self, request: Request, tenant_slug: str) -> Response:
        provider = selectors.provider_for(self.tenant)
        key = provider.key if provider else self.tenant.slug
        urls = {
            "oidc_callback": request.build_absolute_uri(
                reverse("openid_connect_callback", kwargs={"provider_id": key})
            ),
            "saml_acs": request.build_absolute_uri(reverse("saml_acs", kwargs={"organization_slug": key})),
            "saml_metadata": request.build_absolute_uri(reverse("saml_metadata", kwargs={"organization_slug": key})),
        }
        data = {
            "provider": s.IdentityProviderSerializer(provider).data if provider else None,
            "domains": s.VerifiedDomainSerializer(selectors.domains_for(self.tenant), many=True).data,
            "group_mappings": s.GroupRoleMappingSerializer(
                selectors.mappings_for(self.tenant).filter(provider=provider) if provider else [], many=True
            ).data,
            "callback_urls": urls,
        }
        return Response(data)


_PROVIDER_EXAMPLE = OpenApiExample(
    "OpenID Connect",
    request_only=True,
    value={
        "kind": "oidc",
        "name": "Acme login",
        "server_url": "https://login.acme.example/realms/acme",
        "client_id": "api-portal",
        "client_secret": "s3cr3t-from-the-idp",
        "default_role": "viewer",
        "group_claim": "groups",
        "enabled": True,
    },
)


@extend_schema(parameters=[TENANT_PARAM], tags=[tags.SSO])
class SsoProviderView(_Base, APIView):
    """The organisation's one identity provider: read, create or replace, remove."""

    required_perms = _ALL_METHODS

    def tenant_queryset(self) -> QuerySet[IdentityProvider]:
        return IdentityProvider.objects.for_tenant(self.tenant)

    @extend_schema(
        responses=s.IdentityProviderSerializer, summary="The identity provider (the secret only as a masked hint)"
    )
    def get(self, request: Request, tenant_slug: str) -> Response:
        return Response(s.IdentityProviderSerializer(services.provider_get(self.tenant)).data)

    @extend_schema(
        request=s.IdentityProviderWriteSerializer,
        responses={200: s.IdentityProviderSerializer, 201: s.IdentityProviderSerializer},
        summary="Create or replace the identity provider",
        description="Omitted fields take their defaults, except `client_secret`: omitted or blank keeps the "
        "current one. URLs pass the platform's outbound policy; a SAML `metadata_url` is fetched now. "
        "Answers 201 when the provider was created, 200 when replaced.",
        examples=[_PROVIDER_EXAMPLE],
    )
    def put(self, request: Request, tenant_slug: str) -> Response:
        existed = selectors.provider_for(self.tenant) is not None
        return self.run_service(
            lambda **data: services.provider_save(actor=self.membership, data=services.ProviderInput(**data)),
            input=s.IdentityProviderWriteSerializer,
            output=s.IdentityProviderSerializer,
            status_code=status.HTTP_200_OK if existed else status.HTTP_201_CREATED,
        )

    @extend_schema(responses={204: None}, summary="Remove the identity provider and its group mappings")
    def delete(self, request: Request, tenant_slug: str) -> Response:
        return self.run_service(
            lambda: services.provider_delete(actor=self.membership), output=None, status_code=status.HTTP_204_NO_CONTENT
        )


def _discovered(config: dict[str, Any]) -> dict[str, Any]:
    return s.SsoDiscoveredSerializer(config).data


@extend_schema(parameters=[TENANT_PARAM], tags=[tags.SSO])
class SsoDiscoverView(_Base, APIView):
    """Fetch an issuer's OpenID configuration, as the page's *Discover* button (nothing is saved)."""

    required_perms = _ALL_METHODS

    def tenant_queryset(self) -> QuerySet[IdentityProvider]:
        return IdentityProvider.objects.for_tenant(self.tenant)

    @extend_schema(
        request=s.SsoDiscoverSerializer,
        responses={
            200: s.SsoDiscoveredSerializer,
            400: OpenApiResponse(description="Refused by the outbound policy, unreachable, or not a usable document."),
        },
        summary="Discover an OpenID Connect issuer's endpoints",
        examples=[OpenApiExample("Issuer", request_only=True, value={"issuer": "https://login.acme.example"})],
    )
    def post(self, request: Request, tenant_slug: str) -> Response:
        return self.run_service(
            lambda issuer: services.discover(issuer, field="issuer"), input=s.SsoDiscoverSerializer, output=_discovered
        )


@extend_schema(parameters=[TENANT_PARAM], tags=[tags.SSO])
@extend_schema_view(
    list=extend_schema(summary="Claimed and verified e-mail domains"),
    retrieve=extend_schema(summary="One domain, with the TXT record to publish and where e-mail may go"),
)
class SsoDomainViewSet(
    _Base, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    serializer_class = s.VerifiedDomainSerializer
    required_perms = dict.fromkeys(("list", "retrieve", "create", "destroy", "verify", "send_email"), _MANAGE)

    def tenant_queryset(self) -> QuerySet[VerifiedDomain]:
        return selectors.domains_for(self.tenant)

    def get_serializer_class(self) -> type[BaseSerializer]:
        return s.VerifiedDomainDetailSerializer if self.action == "retrieve" else s.VerifiedDomainSerializer

    @extend_schema(
        request=s.VerifiedDomainCreateSerializer,
        responses={201: s.VerifiedDomainDetailSerializer},
        summary="Claim a domain (it routes sign-in only once verified)",
        examples=[OpenApiExample("Domain", request_only=True, value={"domain": "acme.example"})],
    )
    def create(self, request: Request, tenant_slug: str) -> Response:
        return self.run_service(
            lambda domain: services.domain_add(actor=self.membership, domain=domain),
            input=s.VerifiedDomainCreateSerializer,
            output=s.VerifiedDomainDetailSerializer,
            status_code=status.HTTP_201_CREATED,
        )

    @extend_schema(responses={204: None}, summary="Remove a domain")
    def destroy(self, request: Request, tenant_slug: str, pk: str) -> Response:
        return self.run_service(
            lambda: services.domain_remove(actor=self.membership, domain=self.get_object()),
            output=None,
            status_code=status.HTTP_204_NO_CONTENT,
        )

    @extend_schema(
        request=None,
        responses={
            200: s.VerifiedDomainSerializer,
            409: OpenApiResponse(description="`not_verified`: the TXT record is not there (yet); the reason is kept."),
        },
        summary="Verify by DNS: look the TXT record up now",
    )
    @action(detail=True, methods=["post"])
    def verify(self, request: Request, tenant_slug: str, pk: str) -> Response:
        return self.run_service(
            lambda: services.domain_verify_dns(actor=self.membership, domain=self.get_object()),
            output=s.VerifiedDomainSerializer,
        )

    @extend_schema(
        request=s.DomainEmailSerializer,
        responses={202: s.DomainEmailSentSerializer},
        summary="Verify by e-mail: send a signed link (valid 3 days) to an address at the domain",
        examples=[OpenApiExample("Postmaster", request_only=True, value={"address": "postmaster@acme.example"})],
    )
    @action(detail=True, methods=["post"], url_path="send-email")
    def send_email(self, request: Request, tenant_slug: str, pk: str) -> Response:
        return self.run_service(
            lambda address: services.domain_send_email(
                actor=self.membership, domain=self.get_object(), address=address
            ),
            input=s.DomainEmailSerializer,
            output=lambda address: {"sent_to": address},
            status_code=status.HTTP_202_ACCEPTED,
        )


@extend_schema(parameters=[TENANT_PARAM], tags=[tags.SSO])
@extend_schema_view(
    list=extend_schema(summary="Group → role mappings"),
    retrieve=extend_schema(summary="One group → role mapping"),
)
class SsoGroupMappingViewSet(
    _Base, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    serializer_class = s.GroupRoleMappingSerializer
    required_perms = dict.fromkeys(("list", "retrieve", "create", "destroy"), _MANAGE)

    def tenant_queryset(self) -> QuerySet[GroupRoleMapping]:
        return selectors.mappings_for(self.tenant)

    @extend_schema(
        request=s.GroupRoleMappingWriteSerializer,
        responses={
            201: s.GroupRoleMappingSerializer,
            409: OpenApiResponse(description="`no_provider` (configure the provider first), or the group is mapped."),
        },
        summary="Map a provider group to a role",
        examples=[OpenApiExample("Admins", request_only=True, value={"group": "portal-admins", "role": "admin"})],
    )
    def create(self, request: Request, tenant_slug: str) -> Response:
        return self.run_service(
            lambda **data: services.mapping_add(actor=self.membership, **data),
            input=s.GroupRoleMappingWriteSerializer,
            output=s.GroupRoleMappingSerializer,
            status_code=status.HTTP_201_CREATED,
        )

    @extend_schema(responses={204: None}, summary="Remove a mapping")
    def destroy(self, request: Request, tenant_slug: str, pk: str) -> Response:
        return self.run_service(
            lambda: services.mapping_remove(actor=self.membership, mapping=self.get_object()),
            output=None,
            status_code=status.HTTP_204_NO_CONTENT,
        )
