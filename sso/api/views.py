"""REST: an organisation's single sign-on at a glance (configuration stays in the owner's page)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import tags
from core.api.actions import ServiceActionMixin
from sso import selectors
from sso.api import serializers as s
from sso.models import IdentityProvider
from tenants.api.mixins import TenantScopedAPIMixin
from tenants.roles import Perm


@extend_schema(
    parameters=[OpenApiParameter("tenant_slug", str, OpenApiParameter.PATH, description="Organisation slug.")],
    tags=[tags.ORGANISATIONS],
)
class SsoView(ServiceActionMixin, TenantScopedAPIMixin, APIView):
    """The identity provider (without its secret), verified domains and group mappings."""

    # Only GET is routed; other methods pass the owner check and then get DRF's 405.
    required_perms = dict.fromkeys(("get", "post", "put", "patch", "delete"), Perm.SSO_MANAGE)

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
