import pytest

#: The raw call table exactly as the issue 8 contract states it (intake's migration creates it
#: on main; until then the nodes page reads it through this fixture).


@pytest.fixture(autouse=True)
def _config_row(db):
    """The ConfigState row comes from a migration; a transactional test's flush (with --reuse-db,
    even one of an earlier run) deletes it, and the triggers then have nothing to bump."""
    from gateways.models import ConfigState

    ConfigState.objects.get_or_create(pk=1)


@pytest.fixture(autouse=True)
def _fresh_snapshot_cache():
    """Tests roll back, so a config version number comes back with other data: forget built snapshots."""
    from gateways.snapshot import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def staff(db):
    from tenants.tests.factories import UserFactory

    return UserFactory(is_staff=True, email="ops@platform.example")


@pytest.fixture
def node_and_token(staff):
    from gateways import services

    return services.node_create(actor=staff, name="edge-1", description="Frankfurt")


@pytest.fixture
def node_api(node_and_token):
    """A DRF client speaking as the node."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {node_and_token[1]}")
    return client
