"""The provider's getting-started steps on the organisation dashboard (see tenants.dashboard)."""

from __future__ import annotations

from django.urls import reverse

from apis.models import ROUTED_STATUSES, Api, ApiVersion, Plan
from tenants.dashboard import Contribution, Step
from tenants.web import TenantRequest


def contribute(request: TenantRequest) -> Contribution:
    """Register an API → publish a version → create a plan: three queries."""
    tenant = request.tenant
    slug = tenant.slug
    first = Api.objects.for_tenant(tenant).order_by("created_at", "pk").values_list("slug", flat=True).first()
    api_page = reverse("apis:detail", args=[slug, first]) if first else reverse("apis:create", args=[slug])
    published = ApiVersion.objects.for_tenant(tenant).filter(status__in=ROUTED_STATUSES).exists()
    planned = Plan.objects.for_tenant(tenant).exists()
    return Contribution(
        steps=[
            Step("provide", 10, "Register an API", first is not None, reverse("apis:create", args=[slug])),
            Step(
                "provide",
                20,
                "Publish a version",
                published,
                api_page,
                "Add a version with its OpenAPI document and upstream, then publish it.",
            ),
            Step("provide", 30, "Create a plan", planned, api_page, "Rate limit, quotas and whether you approve."),
        ]
    )
