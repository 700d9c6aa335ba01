"""Reads about gateway nodes for the staff pages and the REST API (platform-wide, staff only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from gateways.models import GatewayNode

#: Calls and errors (status >= 400, gateway refusals included) per node in the last hour,
#: from the raw call table: an index range scan on (node_id, ts) / (ts) per day partition.
TRAFFIC_SQL = """
SELECT node_id, count(*), count(*) FILTER (WHERE status >= 400 OR error <> '')
FROM gateways_callrecord
WHERE ts >= %s AND node_id = ANY(%s)
GROUP BY node_id
"""


@dataclass(frozen=True)
class Traffic:
    calls: int
    errors: int


def nodes() -> QuerySet[GatewayNode]:
    return GatewayNode.objects.order_by("name", "pk")


def node(pk: int) -> GatewayNode | None:
    return GatewayNode.objects.filter(pk=pk).first()


def traffic_last_hour(node_ids: list[int], *, now: datetime | None = None) -> dict[int, Traffic]:
    """``{node id: Traffic}`` over the last hour (nodes without calls are absent)."""
    if not node_ids:
        return {}
    since = (now or timezone.now()) - timedelta(hours=1)
    with connection.cursor() as cursor:
        cursor.execute(TRAFFIC_SQL, [since, node_ids])
        return {node_id: Traffic(calls, errors) for node_id, calls, errors in cursor.fetchall()}


def is_silent(node: GatewayNode, *, now: datetime | None = None) -> bool:
    """An active node not heard from (any request) for longer than ``GATEWAY_NODE_SILENT_SECONDS``.

    A node that never connected counts from its registration, so a fresh node is not flagged
    before it had a chance to start.
    """
    if node.revoked_at is not None:
        return False
    last = node.last_seen_at or node.created_at
    return (now or timezone.now()) - last > timedelta(seconds=settings.GATEWAY_NODE_SILENT_SECONDS)


def annotate(found: list[GatewayNode]) -> list[GatewayNode]:
    """Attach ``silent``, ``calls_last_hour`` and ``errors_last_hour`` (None = unknown) to each node."""
    now = timezone.now()
    traffic = traffic_last_hour([n.pk for n in found], now=now)
    for item in found:
        item.silent = is_silent(item, now=now)  # type: ignore[attr-defined]
        known = traffic.get(item.pk, Traffic(0, 0))
        item.calls_last_hour = known.calls  # type: ignore[attr-defined]
        item.errors_last_hour = known.errors  # type: ignore[attr-defined]
    return found
