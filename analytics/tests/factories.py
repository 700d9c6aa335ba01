"""Insert raw call records and rollup rows with plain SQL (as the intake and rollup jobs would)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db import connection

from analytics.histogram import BOUNDS_MS
from analytics.rollup import refresh_summaries
from analytics.selectors import HIST_SIZE


def hist_of(*latencies: float) -> list[int]:
    """The contract's histogram of some latencies (bucket = first bound ≥ x, else overflow)."""
    hist = [0] * HIST_SIZE
    for x in latencies:
        index = next((i for i, bound in enumerate(BOUNDS_MS) if x <= bound), HIST_SIZE - 1)
        hist[index] += 1
    return hist


def rollup(
    level: str,
    bucket: datetime,
    *,
    calls: int = 1,
    status: int = 200,
    latency_ms: float = 10.0,
    error: str = "",
    coarser: bool = True,
    **dims: Any,
) -> None:
    """One rollup row of ``calls`` identical calls, added to the buckets of the coarser levels
    that contain it too (``coarser``) and to their summaries, as the rollup would."""
    e4 = calls if 400 <= status < 500 else 0
    e5 = calls if status >= 500 else 0
    hist = [count * calls for count in hist_of(latency_ms)]
    columns = {
        "bucket": bucket,
        "status": status,
        "error": error,
        "endpoint": dims.pop("endpoint", ""),
        "calls": calls,
        "errors_4xx": e4,
        "errors_5xx": e5,
        "request_bytes": 100 * calls,
        "response_bytes": 1000 * calls,
        "latency_sum": latency_ms * calls,
        "latency_hist": hist,
        "upstream_latency_sum": 0,
        "upstream_count": 0,
        "upstream_hist": [0] * HIST_SIZE,
        "ai_input_tokens": 0,
        "ai_output_tokens": 0,
        "ai_cost": 0,
        **dims,
    }
    names = ", ".join(columns)
    marks = ", ".join(["%s"] * len(columns))
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO analytics_rollup{level} ({names}) VALUES ({marks})", list(columns.values()))
        # Rows written here count as closed: without a watermark, readers would take hours and
        # days from the finer levels, as for the open hour and day (analytics.selectors.written_parts).
        cursor.execute(
            "INSERT INTO analytics_watermark (level, upto) VALUES ('hour', '9999-01-01Z'), ('day', '9999-01-01Z') "
            "ON CONFLICT (level) DO NOTHING"
        )
        levels = ["minute", "hour", "day"]
        for up in levels[levels.index(level) + 1 :] if coarser else []:
            add = ", ".join(
                f"{m} = t.{m} + EXCLUDED.{m}"
                for m in columns
                if m not in ("bucket", "status", "error", "endpoint", "latency_hist", "upstream_hist", *dims)
            )
            cursor.execute(
                f"INSERT INTO analytics_rollup{up} AS t ({names}) VALUES (date_trunc('{up}', %s::timestamptz, 'UTC'), "
                f"{', '.join(['%s'] * (len(columns) - 1))}) ON CONFLICT ON CONSTRAINT rollup{up}_unique_dims DO UPDATE "
                f"SET {add}, latency_hist = "
                "ARRAY(SELECT a + b FROM unnest(t.latency_hist, EXCLUDED.latency_hist) u(a, b))",
                list(columns.values()),
            )
            cursor.execute(f"SELECT date_trunc('{up}', %s::timestamptz, 'UTC')", [bucket])
            refresh_summaries(up, [cursor.fetchone()[0]])
    refresh_summaries(level, [bucket])  # the rollup keeps the summaries of each level with it


def call(ts: datetime, *, status: int = 200, path: str = "/orders/1", **fields: Any) -> uuid.UUID:
    """One raw call record; returns its request id."""
    request_id = fields.pop("request_id", None) or uuid.uuid4()
    columns = {
        "request_id": request_id,
        "ts": ts,
        "node_id": fields.pop("node_id", 1),
        "source": "native",
        "status": status,
        "path": path,
        "method": "GET",
        "latency_ms": fields.pop("latency_ms", 12.5),
        **fields,
    }
    names = ", ".join(columns)
    marks = ", ".join(["%s"] * len(columns))
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO gateways_callrecord ({names}) VALUES ({marks})", list(columns.values()))
    return request_id
