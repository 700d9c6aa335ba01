"""A live portal, a real ``python -m gateway_node`` and a real upstream for the console's
end-to-end and browser tests (as llm/tests/test_ai_end_to_end.py runs them)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from gateway_node.tests.upstreams import Upstream
from portal.tests.journey_support import NodeProcess


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    """Echoes every request as JSON (method, path with query, headers, body)."""
    with Upstream() as server:
        yield server


@pytest.fixture
def portal(live_portal: str) -> str:
    return live_portal


@pytest.fixture
def start_node(portal: str, tmp_path: Path, settings: Any) -> Iterator[Callable[[], NodeProcess]]:
    """Registers a node, starts it once the world is built, and points GATEWAY_URL at it."""
    nodes: list[NodeProcess] = []

    def start() -> NodeProcess:
        from django.db import connection

        from gateways import services as gateway_services
        from gateways.snapshot import current_version
        from tenants.models import User
        from tenants.tests.factories import UserFactory

        staff = cast("User", UserFactory(is_staff=True, email="ops@platform.example"))
        _, token = gateway_services.node_create(actor=staff, name="edge-1")
        version = current_version()
        connection.close()  # the live server's thread opens its own
        node = NodeProcess(portal, token, tmp_path / "node").start()
        nodes.append(node)
        node.wait_config(version, timeout=30)
        settings.GATEWAY_URL = node.url
        return node

    yield start
    for node in nodes:
        node.stop()
