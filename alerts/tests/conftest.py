"""Alice's Acme provides the Orders API; Charlie's Globex consumes it through its Shop application."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from django.utils import timezone

from analytics.rollup import run_rollup
from analytics.tests.factories import call
from apis.models import Api, Plan
from subscriptions.models import Application, Subscription, SubscriptionStatus
from subscriptions.tests.factories import ApplicationFactory, SubscriptionFactory, make_catalog, membership
from tenants.models import Membership


@dataclass
class Shop:
    api: Api
    plan: Plan
    app: Application
    subscription: Subscription
    alice: Membership
    charlie: Membership
    dims: dict[str, Any]
    #: A whole minute about three hours ago: calls are written around it, evaluations read at it.
    t0: dt.datetime

    def calls(self, start: dt.datetime, n: int, *, status: int = 200, latency_ms: float = 10.0, error: str = "",
              spread: int = 1) -> None:  # fmt: skip
        """``n`` raw calls from ``start``, spread over ``spread`` minutes."""
        for i in range(n):
            ts = start + dt.timedelta(seconds=(60 * spread) * i / max(n, 1))
            call(ts, status=status, latency_ms=latency_ms, error=error, **self.dims)


@pytest.fixture
def shop(acme, alice, globex, charlie) -> Shop:
    catalog = make_catalog(acme)
    plan = Plan.objects.create(tenant=acme, api=catalog.api, name="Small", quota_per_day=10, quota_per_month=40)
    app = ApplicationFactory(tenant=globex, name="Shop")
    subscription = SubscriptionFactory(application=app, plan=plan, version=catalog.v1, status=SubscriptionStatus.ACTIVE)
    dims = {
        "provider_tenant_id": acme.pk,
        "api_id": catalog.api.pk,
        "api_version_id": catalog.v1.pk,
        "consumer_tenant_id": globex.pk,
        "application_id": app.pk,
        "plan_id": plan.pk,
    }
    t0 = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(hours=3)
    return Shop(catalog.api, plan, app, subscription, membership(alice, acme), membership(charlie, globex), dims, t0)


def rollup() -> None:
    assert run_rollup().ran
