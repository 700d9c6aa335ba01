from __future__ import annotations

import pytest

from apis import services
from apis.models import Api, ApiVersion, Plan, Visibility
from apis.tests.factories import orders_spec
from tenants.models import Membership


def membership(user, tenant) -> Membership:
    return Membership.objects.for_tenant(tenant).get(user=user)


@pytest.fixture
def alice_m(alice, acme) -> Membership:
    return membership(alice, acme)


@pytest.fixture
def orders(alice_m) -> Api:
    """Acme's Orders API, registered through the services like a provider would."""
    return services.api_create(
        actor=alice_m,
        name="Orders",
        slug="orders",
        summary="Create and track shipping orders.",
        description="Hand parcels to **Acme**.",
        tags=["logistics", "shipping"],
        visibility=Visibility.PUBLIC,
    )


@pytest.fixture
def orders_v1(alice_m, orders) -> ApiVersion:
    return services.version_create(
        actor=alice_m,
        api=orders,
        label="v1",
        base_path="/orders/v1",
        upstreams=[{"url": "https://orders.internal.acme.example", "weight": 1}],
        openapi_document=orders_spec(),
    )


@pytest.fixture
def free_plan(alice_m, orders) -> Plan:
    return services.plan_create(
        actor=alice_m, api=orders, name="Free", rate_limit_per_second=5, quota_per_day=1000, price_label="Free"
    )
