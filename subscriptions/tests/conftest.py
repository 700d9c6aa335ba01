import pytest

from subscriptions.models import SubscriptionStatus
from subscriptions.tests.factories import ApplicationFactory, SubscriptionFactory, make_catalog, membership


@pytest.fixture
def catalog(acme):
    """Acme (Alice) provides the Orders API."""
    return make_catalog(acme)


@pytest.fixture
def shop(globex, charlie):
    """Globex's (Charlie's) application."""
    return ApplicationFactory(tenant=globex, name="Shop backend", created_by=charlie)


@pytest.fixture
def charlie_m(charlie, globex):
    return membership(charlie, globex)


@pytest.fixture
def alice_m(alice, acme):
    return membership(alice, acme)


@pytest.fixture
def active_sub(shop, catalog):
    return SubscriptionFactory(
        application=shop, plan=catalog.free, version=catalog.v1, status=SubscriptionStatus.ACTIVE
    )


@pytest.fixture
def pending_sub(shop, catalog, charlie):
    from django.utils import timezone

    return SubscriptionFactory(
        application=shop,
        plan=catalog.gold,
        version=catalog.v1,
        status=SubscriptionStatus.PENDING,
        requested_by=charlie,
        awaiting_since=timezone.now(),
        use_case="Sync orders",
    )
