import pytest

from console.tests.support import portal, start_node, upstream  # noqa: F401 - the live fixtures
from console.tests.world import ConsoleWorld, build


@pytest.fixture
def world(db) -> ConsoleWorld:
    return build()


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Console keys and rate counters live in the cache: each test starts without another's."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
