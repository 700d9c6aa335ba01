"""Factories for applications, subscriptions and keys, plus a tiny catalog built with constructors.

The catalog objects are created directly (not through apis' factories) so these tests do not
depend on how the catalog's own tests build their data.
"""

from __future__ import annotations

from dataclasses import dataclass

import factory
from django.utils import timezone

from apis.models import Api, ApiVersion, Plan, PlanStatus, VersionStatus, Visibility
from subscriptions.models import ApiKey, Application, Subscription, SubscriptionStatus
from subscriptions.services import key_create
from tenants.models import Membership, Tenant


class ApplicationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Application

    tenant = factory.SubFactory("tenants.tests.factories.TenantFactory")
    name = factory.Sequence(lambda n: f"App {n}")
    description = "A client program."
    contact_email = "ops@example.com"


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscription

    application = factory.SubFactory(ApplicationFactory)
    consumer_tenant = factory.SelfAttribute("application.tenant")
    plan = None  # pass one
    api = factory.SelfAttribute("plan.api")
    provider_tenant = factory.SelfAttribute("plan.tenant")
    version = None  # pass one
    status = SubscriptionStatus.ACTIVE
    use_case = "Testing"


@dataclass
class Catalog:
    """Acme's Orders API: published v1, draft v2, retired v0 and plans of every kind."""

    api: Api
    v1: ApiVersion
    v2_draft: ApiVersion
    v0_retired: ApiVersion
    free: Plan
    gold: Plan
    hidden: Plan
    archived: Plan


def make_catalog(provider: Tenant, *, slug: str = "orders", visibility: str = Visibility.PUBLIC) -> Catalog:
    now = timezone.now()
    api = Api.objects.create(tenant=provider, name=f"{slug.title()} API", slug=slug, visibility=visibility)

    def version(label: str, status: str, **extra: object) -> ApiVersion:
        return ApiVersion.objects.create(
            tenant=provider,
            api=api,
            label=label,
            base_path=f"/{provider.slug}/{slug}/{label}",
            upstreams=[{"url": "https://upstream.example", "weight": 1}],
            status=status,
            **extra,
        )

    def plan(name: str, **extra: object) -> Plan:
        return Plan.objects.create(tenant=provider, api=api, name=name, **extra)

    return Catalog(
        api=api,
        v1=version("v1", VersionStatus.PUBLISHED, published_at=now),
        v2_draft=version("v2", VersionStatus.DRAFT),
        v0_retired=version("v0", VersionStatus.RETIRED, retired_at=now),
        free=plan("Free", rate_limit_per_second=5, quota_per_day=1000),
        gold=plan("Gold", rate_limit_per_second=50, quota_per_month=1_000_000, approval_required=True),
        hidden=plan("Partner", is_public=False),
        archived=plan("Legacy", status=PlanStatus.ARCHIVED),
    )


def membership(user: object, tenant: Tenant) -> Membership:
    return Membership.objects.for_tenant(tenant).select_related("tenant", "user").get(user=user)


def make_key(actor: Membership, application: Application, name: str = "production") -> tuple[ApiKey, str]:
    return key_create(actor=actor, application=application, name=name)
