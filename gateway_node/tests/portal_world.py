"""The portal data the node's live-server tests share: a provider, a consumer with an active
subscription and a key, and a node token."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any


@dataclass
class PortalWorld:
    key: str  # the plaintext apk_… key
    key_obj: Any  # its ApiKey row
    consumer: Any  # Bob's membership of Globex (the actor for key services)
    subscription: Any
    version: Any
    plan: Any


def consumer_world(upstream_url: str, *, quota_per_day: int | None = 30) -> PortalWorld:
    """Acme publishes Orders v1 at /acme/orders/v1 (upstream ``upstream_url``) with a Free plan;
    Globex's Storefront has an active subscription to it and a key."""
    from apis.models import Api, ApiVersion, Plan, VersionStatus
    from subscriptions.models import SubscriptionStatus
    from subscriptions.tests.factories import ApplicationFactory, SubscriptionFactory, make_key
    from tenants.tests.factories import MembershipFactory, TenantFactory, UserFactory

    acme, globex = TenantFactory(slug="acme"), TenantFactory(slug="globex")
    bob = MembershipFactory(tenant=globex, user=UserFactory(email="bob@globex.example"), role="owner")
    api = Api.objects.create(tenant=acme, name="Orders", slug="orders", visibility="public")
    version = ApiVersion.objects.create(
        tenant=acme,
        api=api,
        label="v1",
        base_path="/acme/orders/v1",
        upstreams=[{"url": upstream_url, "weight": 1}],
        status=VersionStatus.PUBLISHED,
        published_at=dt.datetime.now(dt.UTC),
    )
    plan = Plan.objects.create(tenant=acme, api=api, name="Free", quota_per_day=quota_per_day)
    application = ApplicationFactory(tenant=globex, name="Storefront")
    subscription = SubscriptionFactory(
        application=application, plan=plan, version=version, status=SubscriptionStatus.ACTIVE
    )
    key_obj, key = make_key(bob, application)
    return PortalWorld(key, key_obj, bob, subscription, version, plan)
