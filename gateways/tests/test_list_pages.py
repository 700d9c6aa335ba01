"""Staff pages of the gateways at two data sizes: same number of queries, paginated with a total."""

from __future__ import annotations

import itertools

import pytest
from django.urls import reverse

from core.tests.queries import assert_flat_queries
from gateways.models import GatewayNode, IngestBatch, QuarantinedRecord
from tenants.tests.factories import UserFactory

pytestmark = pytest.mark.django_db
_serial = itertools.count()


@pytest.fixture
def staff(db):
    return UserFactory(is_staff=True, email="ops@platform.example")


def _nodes(n):
    return GatewayNode.objects.bulk_create(
        [GatewayNode(name=f"node-{(i := next(_serial)):05d}", key_id=f"n{i:08d}", token_hash="x") for _ in range(n)]
    )


def _quarantine(node, n):
    batch = IngestBatch.objects.create(node=node, batch_id=f"b{next(_serial)}")
    QuarantinedRecord.objects.bulk_create(
        [QuarantinedRecord(batch=batch, node=node, line=i + 1, reason="invalid_json", raw="{") for i in range(n)]
    )


def test_nodes_page(client, staff):
    _nodes(3)
    client.force_login(staff)
    _, page = assert_flat_queries(client, reverse("platform-nodes"), lambda: _nodes(27))
    assert "1–30 of 30" in page.content.decode()


def test_quarantine_page(client, staff):
    (node,) = _nodes(1)
    _quarantine(node, 3)
    client.force_login(staff)
    url = reverse("platform-quarantine")
    _, page = assert_flat_queries(client, url, lambda: _quarantine(node, 27))
    assert "1–30 of 30" in page.content.decode()


def test_quarantine_page_two_keeps_the_filter(client, staff):
    (node,) = _nodes(1)
    _quarantine(node, 60)
    client.force_login(staff)
    url = reverse("platform-quarantine") + "?reason=invalid_json"
    html = client.get(url).content.decode()
    assert "1–50 of 60" in html and "?reason=invalid_json&amp;page=2" in html
    assert "51–60 of 60" in client.get(url + "&page=2").content.decode()
