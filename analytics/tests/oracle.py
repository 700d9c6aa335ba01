"""Test helpers: raw call records written with plain SQL, and an independent oracle in Python.

The oracle recomputes every rollup level from the raw table row by row in Python (its own
endpoint matching with ``re``, its own histogram bucketing with ``bisect``), so a bug in the SQL
rollup cannot hide behind the same bug in the check.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.db import connection, transaction

from analytics.histogram import BUCKETS, bucket_index
from analytics.models import AI_DIMENSIONS, AI_SUMMARIES, AI_SUMMARY_LEVELS, DIMENSIONS, SUMMARIES, SUMMARY_LEVELS

RAW_COLUMNS = (
    "request_id",
    "ts",
    "node_id",
    "source",
    "api_version_id",
    "api_id",
    "provider_tenant_id",
    "endpoint",
    "method",
    "path",
    "api_key_id",
    "application_id",
    "consumer_tenant_id",
    "plan_id",
    "status",
    "latency_ms",
    "upstream_latency_ms",
    "request_bytes",
    "response_bytes",
    "error",
    "ai_input_tokens",
    "ai_output_tokens",
    "ai_cost",
    "ai_route",
    "ai_provider",
    "ai_model",
    "ai_cached_tokens",
    "ai_ttft_ms",
)


#: Columns that are '' rather than NULL when a record does not carry them.
_TEXT_DEFAULTS = {"ai_route": "", "ai_provider": "", "ai_model": ""}


def insert_raw(rows: list[dict[str, Any]]) -> int:
    """COPY rows into a staging table, then INSERT … ON CONFLICT DO NOTHING (duplicates dropped
    by the raw primary key, as intake does). Returns the number of rows accepted."""
    cols = ", ".join(RAW_COLUMNS)
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS test_raw_staging "
            "(LIKE gateways_callrecord INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        cur.execute("TRUNCATE test_raw_staging")
        with cur.cursor.copy(f"COPY test_raw_staging ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row.get(c, _TEXT_DEFAULTS.get(c)) for c in RAW_COLUMNS])
        cur.execute(
            f"INSERT INTO gateways_callrecord ({cols}) SELECT {cols} FROM test_raw_staging ON CONFLICT DO NOTHING"
        )
        return cur.rowcount


class Traffic:
    """A deterministic synthetic workload over a few APIs, keys and endpoints."""

    def __init__(self, versions: list[dict[str, Any]], seed: int = 7) -> None:
        self.rng = random.Random(seed)
        # AI fields come from their own generator, so the rest of each record is what it was
        # before AI calls existed (tests pinned on a seed see the same traffic).
        self.ai_rng = random.Random(seed + 1_000_003)
        # {"id", "api_id", "tenant_id", "base_path", "paths": [(method, template or "", concrete path)]}
        self.versions = versions
        self.sent: list[dict[str, Any]] = []

    def record(self, ts: dt.datetime) -> dict[str, Any]:
        rng = self.rng
        version = rng.choice([*self.versions, None]) if rng.random() < 0.1 else rng.choice(self.versions)
        status = rng.choices([200, 201, 204, 400, 404, 429, 500, 502], weights=[60, 8, 4, 5, 6, 5, 3, 2])[0]
        error = {429: "rate_limited", 502: "upstream_timeout"}.get(status, "")
        upstream = None if error or rng.random() < 0.1 else round(rng.lognormvariate(3, 1.2), 3)
        key = rng.choice([None, 1, 2, 3, 4])
        row: dict[str, Any] = {
            "request_id": uuid.UUID(int=rng.getrandbits(128)),
            "ts": ts,
            "node_id": rng.choice([1, 2]),
            "source": rng.choice(["native", "kong"]),
            "status": status,
            "error": error,
            "latency_ms": rng.choice([round(rng.lognormvariate(3.5, 1.3), 3), 0.0, 1.0, 60000.0, 75000.0]),
            "upstream_latency_ms": upstream,
            "request_bytes": rng.randint(0, 5000),
            "response_bytes": rng.randint(0, 50000),
            "api_key_id": key,
            "application_id": key and 100 + key % 2,
            "consumer_tenant_id": key and 900 + key % 2,
            "plan_id": key and 50 + key % 3,
            "ai_input_tokens": rng.choice([None, rng.randint(1, 4000)]),
            "ai_output_tokens": rng.choice([None, rng.randint(1, 4000)]),
            "ai_cost": rng.choice([None, Decimal(rng.randint(1, 10**6)) / Decimal(10**8)]),
        }
        row.update(self.ai(row))
        if version is None:  # unknown route: no API version, no endpoint
            row.update(
                api_version_id=None, api_id=None, provider_tenant_id=None, endpoint="", method="GET", path="/nowhere/x"
            )
            row["error"] = "unknown_route"
            return row
        method, template, path = rng.choice(version["paths"])
        full = rng.choice([version["base_path"] + path, path])  # with or without the base path
        row.update(
            api_version_id=version["id"],
            api_id=version["api_id"],
            provider_tenant_id=version["tenant_id"],
            method=rng.choice([method, method.lower()]),
            path=full + rng.choice(["", "?page=2"]),
            # Our gateway sends the template; Kong / APISIX records are matched at rollup time.
            endpoint=f"{method} {template}" if row["source"] == "native" and template else "",
        )
        return row

    def ai(self, row: dict[str, Any]) -> dict[str, Any]:
        """A third of the calls are AI calls: a route (sometimes refused before any model), the
        model that answered, tokens (some unreported), cached tokens, a cost (some unknown) and a
        time to first token (absent on some). The others keep only the call rollups' token fields."""
        rng = self.ai_rng
        if rng.random() >= 1 / 3:
            return {}  # not an AI call (the tokens and cost the record may carry still count in the call rollups)
        route = rng.choice(["acme/chat-small", "acme/chat-large", "acme/embed"])
        answered = rng.random() < 0.9
        provider, model = rng.choice([("openai", "gpt-4o-mini"), ("anthropic", "claude-x"), ("ollama", "llama3")])
        tokens_in = rng.choice([None, rng.randint(1, 100_000)])
        cached = None if tokens_in is None or rng.random() < 0.5 else rng.randint(0, tokens_in)
        return {
            "ai_route": rng.choice([route, route, ""]),  # a node of another kind may only name the model
            "ai_provider": provider if answered else "",
            "ai_model": model if answered else "",
            "ai_input_tokens": tokens_in,
            "ai_output_tokens": rng.choice([None, rng.randint(0, 8000)]),
            "ai_cached_tokens": cached,
            "ai_cost": rng.choice([None, Decimal(rng.randint(0, 10**9)) / Decimal(10**8)]),
            "ai_ttft_ms": rng.choice([None, 0.0, 1.0, round(rng.lognormvariate(5, 1.2), 3), 75000.0]),
        } | ({"ai_route": route} if not answered else {})

    def batch(self, n: int, start: dt.datetime, span: dt.timedelta) -> list[dict[str, Any]]:
        rows = [self.record(start + span * self.rng.random()) for _ in range(n)]
        self.sent += rows
        return rows


# --- the oracle -----------------------------------------------------------------------------


def _patterns() -> dict[tuple[int, str], list[tuple[int, int, str, re.Pattern[str]]]]:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT e.version_id, upper(e.method), e.path, v.base_path "
            "FROM apis_endpoint e JOIN apis_apiversion v ON v.id = e.version_id"
        )
        found: dict[tuple[int, str], list[tuple[int, int, str, re.Pattern[str]]]] = defaultdict(list)
        for version_id, method, path, base in cur.fetchall():
            parts = re.split(r"(\{[^/]*?\})", path)
            body = "".join("[^/]+" if p.startswith("{") and p.endswith("}") else re.escape(p) for p in parts)
            pattern = re.compile("^(" + re.escape(base.rstrip("/")) + ")?" + body + "/?$")
            found[(version_id, method)].append((path.count("{"), -len(path), f"{method} {path}", pattern))
    return found


def _endpoint(row: dict[str, Any], patterns: dict[tuple[int, str], list[Any]]) -> str:
    if row["endpoint"]:
        return row["endpoint"]
    if row["api_version_id"] is None:
        return ""
    path = row["path"].split("?", 1)[0]
    candidates = sorted(
        (params, neg_len, template)
        for params, neg_len, template, pattern in patterns.get((row["api_version_id"], row["method"].upper()), [])
        if pattern.match(path)
    )
    return candidates[0][2] if candidates else "other"


def _trunc(ts: dt.datetime, level: str) -> dt.datetime:
    ts = ts.astimezone(dt.UTC)
    if level == "minute":
        return ts.replace(second=0, microsecond=0)
    if level == "hour":
        return ts.replace(minute=0, second=0, microsecond=0)
    return ts.replace(hour=0, minute=0, second=0, microsecond=0)


def expected(level: str, dims: tuple[str, ...] = DIMENSIONS) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Every rollup row of ``level`` (grouped by ``dims``: all of them, or a summary's) as a fresh
    GROUP BY over the raw table would give it."""
    patterns = _patterns()
    with connection.cursor() as cur:
        cur.execute(
            "SELECT ts, provider_tenant_id, api_id, api_version_id, endpoint, method, path, consumer_tenant_id, "
            "application_id, api_key_id, plan_id, status, error, node_id, request_bytes, response_bytes, "
            "latency_ms, upstream_latency_ms, ai_input_tokens, ai_output_tokens, ai_cost FROM gateways_callrecord"
        )
        names = [c.name for c in cur.description]
        raw = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in raw:
        values = {**row, "endpoint": _endpoint(row, patterns)}
        key = (_trunc(row["ts"], level), *(values[d] for d in dims))
        g = groups.setdefault(
            key,
            {
                "calls": 0,
                "errors_4xx": 0,
                "errors_5xx": 0,
                "request_bytes": 0,
                "response_bytes": 0,
                "latency_sum": 0.0,
                "latency_hist": [0] * BUCKETS,
                "upstream_latency_sum": 0.0,
                "upstream_count": 0,
                "upstream_hist": [0] * BUCKETS,
                "ai_input_tokens": 0,
                "ai_output_tokens": 0,
                "ai_cost": Decimal(0),
            },
        )
        g["calls"] += 1
        g["errors_4xx"] += 400 <= row["status"] <= 499
        g["errors_5xx"] += row["status"] >= 500
        g["request_bytes"] += row["request_bytes"]
        g["response_bytes"] += row["response_bytes"]
        g["latency_sum"] += row["latency_ms"]
        g["latency_hist"][bucket_index(row["latency_ms"])] += 1
        if row["upstream_latency_ms"] is not None:
            g["upstream_latency_sum"] += row["upstream_latency_ms"]
            g["upstream_count"] += 1
            g["upstream_hist"][bucket_index(row["upstream_latency_ms"])] += 1
        g["ai_input_tokens"] += row["ai_input_tokens"] or 0
        g["ai_output_tokens"] += row["ai_output_tokens"] or 0
        g["ai_cost"] += row["ai_cost"] or 0
    return {k: _rounded(v) for k, v in groups.items()}


def actual(level: str, shape: str = "") -> dict[tuple[Any, ...], dict[str, Any]]:
    """The rows of one rollup table (or of the ``shape`` summary of ``level``), keyed like :func:`expected`."""
    table = {"minute": "analytics_rollupminute", "hour": "analytics_rolluphour", "day": "analytics_rollupday"}[level]
    dims = DIMENSIONS
    if shape:
        table, dims = f"analytics_{shape}summary{level}", SUMMARIES[shape]
    with connection.cursor() as cur:
        cur.execute(f"SELECT * FROM {table}")
        names = [c.name for c in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    found = {}
    for row in rows:
        key = (row["bucket"].astimezone(dt.UTC), *(row[d] for d in dims))
        assert key not in found, f"two rows for {key}"
        found[key] = _rounded({m: row[m] for m in row if m not in {"id", "bucket", *dims}})
    return found


def _rounded(measures: dict[str, Any]) -> dict[str, Any]:
    # Float sums depend on the order of addition; everything else must match exactly.
    return {
        **measures,
        "latency_sum": round(measures["latency_sum"], 3),
        "upstream_latency_sum": round(measures["upstream_latency_sum"], 3),
        "ai_cost": Decimal(measures["ai_cost"]).quantize(Decimal("0.00000001")),
    }


def expected_ai(level: str, dims: tuple[str, ...] = AI_DIMENSIONS) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Every AI rollup row of ``level`` (or AI summary row, grouped by ``dims``) as a fresh GROUP BY
    over the raw table's AI calls would give it."""
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT ts, {', '.join(AI_DIMENSIONS)}, status, error, latency_ms, ai_ttft_ms, ai_input_tokens, "
            "ai_output_tokens, ai_cached_tokens, ai_cost FROM gateways_callrecord"
        )
        names = [c.name for c in cur.description]
        raw = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in raw:
        if not row["ai_model"] and not row["ai_route"]:
            continue
        key = (_trunc(row["ts"], level), *(row[d] for d in dims))
        g = groups.setdefault(
            key,
            {
                "calls": 0,
                "errors": 0,
                "input_tokens": 0,
                "output_tokens": 0,
                "cached_tokens": 0,
                "cost": Decimal(0),
                "cost_unknown": 0,
                "ttft_sum": 0.0,
                "ttft_count": 0,
                "ttft_hist": [0] * BUCKETS,
                "latency_sum": 0.0,
                "latency_hist": [0] * BUCKETS,
            },
        )
        g["calls"] += 1
        g["errors"] += row["status"] >= 400 or row["error"] != ""
        g["input_tokens"] += row["ai_input_tokens"] or 0
        g["output_tokens"] += row["ai_output_tokens"] or 0
        g["cached_tokens"] += row["ai_cached_tokens"] or 0
        g["cost"] += row["ai_cost"] or 0
        tokens_known = row["ai_input_tokens"] is not None or row["ai_output_tokens"] is not None
        g["cost_unknown"] += row["ai_cost"] is None and tokens_known
        if row["ai_ttft_ms"] is not None:
            g["ttft_sum"] += row["ai_ttft_ms"]
            g["ttft_count"] += 1
            g["ttft_hist"][bucket_index(row["ai_ttft_ms"])] += 1
        g["latency_sum"] += row["latency_ms"]
        g["latency_hist"][bucket_index(row["latency_ms"])] += 1
    return {k: _ai_rounded(v) for k, v in groups.items()}


def actual_ai(level: str, shape: str = "") -> dict[tuple[Any, ...], dict[str, Any]]:
    """The rows of one AI rollup table (or AI summary ``shape``), keyed like :func:`expected_ai`."""
    table, dims = (f"analytics_{shape}summary{level}", AI_SUMMARIES[shape]) if shape else (
        f"analytics_airollup{level}", AI_DIMENSIONS
    )  # fmt: skip
    with connection.cursor() as cur:
        cur.execute(f"SELECT * FROM {table}")
        names = [c.name for c in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    found = {}
    for row in rows:
        key = (row["bucket"].astimezone(dt.UTC), *(row[d] for d in dims))
        assert key not in found, f"two AI rows for {key} in {table}"
        found[key] = _ai_rounded({m: row[m] for m in row if m not in {"id", "bucket", *dims}})
    return found


def _ai_rounded(measures: dict[str, Any]) -> dict[str, Any]:
    # Float sums depend on the order of addition; tokens, counts and the Decimal cost are exact.
    return {
        **measures,
        "ttft_sum": round(measures["ttft_sum"], 3),
        "latency_sum": round(measures["latency_sum"], 3),
        "cost": Decimal(measures["cost"]).quantize(Decimal("0.00000001")),
    }


def assert_ai_rollups_exact() -> None:
    """Every AI rollup level, and every AI summary at each of its levels, equals a fresh GROUP BY over
    raw (minutes up to now, hours and days up to their watermark, none beyond it)."""
    assert actual_ai("minute"), "ai minute: no rows"
    cases = [(level, "") for level in ("minute", "hour", "day")]
    cases += [(level, shape) for shape in AI_SUMMARIES for level in AI_SUMMARY_LEVELS[shape]]
    for level, shape in cases:
        want = expected_ai(level, AI_SUMMARIES[shape] if shape else AI_DIMENSIONS)
        got = actual_ai(level, shape)
        until = materialised_until(level)
        if until is not None:
            want = {k: v for k, v in want.items() if k[0] < until}
        name = f"{shape} summary {level}" if shape else f"ai {level}"
        assert set(got) == set(want), f"{name}: missing {set(want) - set(got)}, extra {set(got) - set(want)}"
        diffs = {k: (got[k], want[k]) for k in want if got[k] != want[k]}
        assert not diffs, f"{name}: {len(diffs)} rows differ, e.g. {next(iter(diffs.items()))}"


def materialised_until(level: str) -> dt.datetime | None:
    """Hours and days are written once closed: the first bucket of ``level`` not written yet
    (the level's watermark), None for minutes (written up to the current one)."""
    if level == "minute":
        return None
    with connection.cursor() as cur:
        cur.execute("SELECT upto FROM analytics_watermark WHERE level = %s", [level])
        row = cur.fetchone()
    return row[0] if row else dt.datetime.min.replace(tzinfo=dt.UTC)


def assert_rollups_exact() -> None:
    """Every level, and every summary at each of its levels, equals a fresh GROUP BY over raw,
    row for row, measure for measure: minutes up to now, hours and days up to their watermark
    (the open hour and day are not written; readers take them from the finer level), and none
    written beyond it."""
    cases = [(level, "") for level in ("minute", "hour", "day")]
    cases += [(level, shape) for shape in SUMMARIES for level in SUMMARY_LEVELS[shape]]
    assert actual("minute"), "minute: no rows"
    for level, shape in cases:
        want, got = expected(level, SUMMARIES[shape] if shape else DIMENSIONS), actual(level, shape)
        until = materialised_until(level)
        if until is not None:
            want = {k: v for k, v in want.items() if k[0] < until}
        name = f"{shape} summary {level}" if shape else level
        assert set(got) == set(want), f"{name}: missing {set(want) - set(got)}, extra {set(got) - set(want)}"
        diffs = {k: (got[k], want[k]) for k in want if got[k] != want[k]}
        assert not diffs, f"{name}: {len(diffs)} rows differ, e.g. {next(iter(diffs.items()))}"
    assert_ai_rollups_exact()
