from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


def _empty_raw() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("DELETE FROM gateways_callrecord")


@pytest.fixture
def committed_db(transactional_db: Any) -> Iterator[None]:
    """A database whose writes really commit (the rollup, other connections and killed processes
    see them). The raw table is unmanaged, so Django's flush leaves it alone: empty it here."""
    _empty_raw()
    yield
    _empty_raw()


@pytest.fixture
def catalog(db: Any) -> list[dict[str, Any]]:
    """Two published API versions with OpenAPI operations to match paths against."""
    from apis.models import Endpoint
    from apis.tests.factories import ApiVersionFactory

    v1 = ApiVersionFactory(base_path="/acme/orders/v1")
    v2 = ApiVersionFactory(base_path="/acme/orders/v2/", api=v1.api)
    ops = [
        ("GET", "/orders/{id}"),
        ("GET", "/orders/search"),
        ("POST", "/orders"),
        ("GET", "/customers/{cid}/orders/{oid}"),
    ]
    for version in (v1, v2):
        Endpoint.objects.bulk_create(
            Endpoint(tenant_id=version.tenant_id, version=version, method=m, path=p) for m, p in ops
        )
    paths = [
        ("GET", "/orders/{id}", "/orders/42"),
        ("GET", "/orders/search", "/orders/search"),  # also matches /orders/{id}: the literal one wins
        ("POST", "/orders", "/orders"),
        ("POST", "/orders", "/orders/"),
        ("GET", "", "/orders"),  # no GET /orders operation: 'other'
        ("GET", "/customers/{cid}/orders/{oid}", "/customers/7/orders/9"),
        ("DELETE", "", "/orders/42"),  # no such method: 'other'
        ("GET", "", "/not/in/the/spec"),
    ]
    return [
        {"id": v.id, "api_id": v.api_id, "tenant_id": v.tenant_id, "base_path": v.base_path.rstrip("/"), "paths": paths}
        for v in (v1, v2)
    ]
