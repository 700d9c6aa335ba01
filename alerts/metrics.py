"""The figures alert rules compare with their thresholds, read in batches from the analytics rollups.

One query answers every rule of a kind, whatever the number of rules: the windowed figures of
every watched API (from the ``api`` minute summary) or application (from the minute rollup), for
every window length in use at once, and the quota, token quota and cost budget use of every
watched subscription (one query for the calls, one for the AI tokens and cost, and the watermark
read they share). docs/alerts.md defines each figure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection

from analytics.histogram import BUCKETS, percentile
from analytics.rollup import summary_table

# The rollup's own readers of "where are hours and days written" (closed buckets only): the
# month-to-date quota figure must read each bucket exactly once, as the quota panel does.
from analytics.selectors import AI_TABLES, TABLES, rollup_watermarks, written_parts

#: A refusal: the gateway answered 4xx itself (``error`` set: bad or missing key, no subscription,
#: rate limit, quota). Rows with ``error`` set and no 4xx are upstream failures (timeouts, 502s).
_NOT_REFUSED = "(error = '' OR errors_4xx = 0)"
_HIST = ", ".join(
    f"coalesce(sum(latency_hist[{i}]::float8) FILTER (WHERE {_NOT_REFUSED}), 0)" for i in range(1, BUCKETS + 1)
)
_WINDOW_SQL = """
SELECT s.{key}, w.m, coalesce(sum(s.calls::float8), 0),
       coalesce(sum(s.errors_4xx::float8) FILTER (WHERE s.error <> ''), 0),
       coalesce(sum(s.errors_5xx::float8), 0), {hist}
FROM {table} s JOIN unnest(%s::int[]) AS w(m) ON s.bucket >= %s::timestamptz - make_interval(mins => w.m)
WHERE s.{tenant} = ANY(%s) AND s.{key} = ANY(%s) AND s.bucket >= %s AND s.bucket < %s
GROUP BY 1, 2
"""
#: (table, tenant column, key column) of each side: the narrowest minute-level table with the key.
_SIDES = {
    "api": (summary_table("api", "minute"), "provider_tenant_id", "api_id"),
    "application": (TABLES["minute"], "consumer_tenant_id", "application_id"),
}


@dataclass(frozen=True)
class WindowStats:
    """Calls of one API or application over one window (see docs/alerts.md, "Metrics")."""

    calls: int = 0
    refused: int = 0
    errors_5xx: int = 0
    hist: list[int] = field(default_factory=lambda: [0] * BUCKETS)

    @property
    def counted(self) -> int:
        """Calls the gateway did not refuse: the base of the error rate, the p95 and the traffic guard."""
        return self.calls - self.refused

    @property
    def error_rate(self) -> float | None:
        """Percent of the counted calls answered 5xx; None without counted calls."""
        return 100.0 * self.errors_5xx / self.counted if self.counted > 0 else None

    @property
    def p95_ms(self) -> float | None:
        return percentile(self.hist, 95)


def window_end(now: datetime) -> datetime:
    """Windows end at the start of the current minute: only whole minutes are compared."""
    return now.astimezone(UTC).replace(second=0, microsecond=0)


def window_stats(
    side: str, targets: dict[int, int], windows: Iterable[int], *, now: datetime
) -> dict[tuple[int, int], WindowStats]:
    """``{(API or application id, window minutes): WindowStats}`` for the last N whole minutes.

    ``targets`` maps each id to its owner tenant (the provider of an API, the consumer of an
    application), which the rollup rows carry too. Ids without calls are absent. One query.
    """
    lengths = sorted(set(windows))
    if not targets or not lengths:
        return {}
    table, tenant_column, key = _SIDES[side]
    end = window_end(now)
    sql = _WINDOW_SQL.format(key=key, tenant=tenant_column, table=table, hist=_HIST)
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                lengths,
                end,
                sorted(set(targets.values())),
                sorted(targets),
                end - timedelta(minutes=lengths[-1]),
                end,
            ],
        )
        rows = cursor.fetchall()
    return {
        (row[0], row[1]): WindowStats(int(row[2]), int(row[3]), int(row[4]), [int(v) for v in row[5:]]) for row in rows
    }


def watermarks() -> dict[str, datetime]:
    """Up to where hours and days are written: read once per run, shared by the quota reads."""
    return rollup_watermarks()


def _periods(now: datetime) -> tuple[datetime, datetime]:
    """The starts of this UTC day and month."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today, today.replace(day=1)


def _month_parts(now: datetime, marks: dict[str, datetime]) -> list[tuple[str, datetime, datetime]]:
    """Where to read this UTC month, each bucket once: the earlier days from the closed days (hours
    and minutes for a day not closed yet), today from the minutes."""
    today, month = _periods(now)
    return [
        *written_parts("day", month, today, marks),
        *written_parts("minute", today, today + timedelta(days=1), marks),
    ]


@dataclass(frozen=True)
class QuotaCalls:
    """Served calls (``error`` empty: refused calls use no quota) of this UTC day and month."""

    day: int = 0
    month: int = 0


def quota_calls(
    pairs: Iterable[tuple[int, int, int]], *, now: datetime, marks: dict[str, datetime]
) -> dict[tuple[int, int], QuotaCalls]:
    """``{(application id, API id): QuotaCalls}`` for (consumer tenant, application, API) triples.

    The definition of the consumer's quota panel (analytics.selectors.quota_usage): today from the
    minute rollups, the month's earlier days from the closed days (hours and minutes for those not
    closed yet), so no bucket is read twice. ``marks``: :func:`rollup_watermarks`, read once per
    run. One query whatever the number of pairs.
    """
    triples = sorted(set(pairs))
    if not triples:
        return {}
    parts = _month_parts(now, marks)
    union = " UNION ALL ".join(
        f"SELECT application_id, api_id, bucket, calls FROM {TABLES[level]} "  # noqa: S608 - our table names
        "WHERE consumer_tenant_id = ANY(%s) AND application_id = ANY(%s) AND api_id = ANY(%s) "
        "AND bucket >= %s AND bucket < %s AND error = ''"
        for level, _lo, _hi in parts
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT application_id, api_id, coalesce(sum(calls) FILTER (WHERE bucket >= %s), 0)::bigint, "  # noqa: S608
            f"sum(calls)::bigint FROM ({union}) u GROUP BY 1, 2",
            [_periods(now)[0], *_part_params(triples, parts)],
        )
        return {(app, api): QuotaCalls(int(day), int(total)) for app, api, day, total in cursor.fetchall()}


@dataclass(frozen=True)
class QuotaAiUse:
    """Tokens (input + output) and cost of the AI calls of this UTC day and month."""

    day_tokens: int = 0
    month_tokens: int = 0
    day_cost: Decimal = Decimal(0)
    month_cost: Decimal = Decimal(0)


def quota_ai_use(
    pairs: Iterable[tuple[int, int, int]], *, now: datetime, marks: dict[str, datetime]
) -> dict[tuple[int, int], QuotaAiUse]:
    """``{(application id, API id): QuotaAiUse}`` for (consumer tenant, application, API) triples.

    The definition of the consumer's token and cost bars (analytics.selectors._ai_use), for many
    consumers at once: the AI rollups, read like :func:`quota_calls` (each bucket once); every AI
    call counts, refused or failed ones included (the node charges whatever tokens an answer
    used; a refused call has none). One query whatever the number of pairs.
    """
    triples = sorted(set(pairs))
    if not triples:
        return {}
    parts = _month_parts(now, marks)
    union = " UNION ALL ".join(
        f"SELECT application_id, api_id, bucket, input_tokens + output_tokens AS tokens, cost "  # noqa: S608
        f"FROM {AI_TABLES[level]} WHERE consumer_tenant_id = ANY(%s) AND application_id = ANY(%s) "
        "AND api_id = ANY(%s) AND bucket >= %s AND bucket < %s"
        for level, _lo, _hi in parts
    )
    today = _periods(now)[0]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT application_id, api_id, "  # noqa: S608 - our table names
            "coalesce(sum(tokens) FILTER (WHERE bucket >= %s), 0)::bigint, coalesce(sum(tokens), 0)::bigint, "
            "coalesce(sum(cost) FILTER (WHERE bucket >= %s), 0), coalesce(sum(cost), 0) "
            f"FROM ({union}) u GROUP BY 1, 2",
            [today, today, *_part_params(triples, parts)],
        )
        return {
            (app, api): QuotaAiUse(int(day_tokens), int(tokens), Decimal(day_cost), Decimal(cost))
            for app, api, day_tokens, tokens, day_cost, cost in cursor.fetchall()
        }


def _part_params(triples: list[tuple[int, int, int]], parts: list[tuple[str, datetime, datetime]]) -> list[Any]:
    """The parameters of each part's ``tenant, application, API, from, to`` filter."""
    tenants = sorted({t for t, _a, _p in triples})
    apps = sorted({a for _t, a, _p in triples})
    apis = sorted({p for _t, _a, p in triples})
    return [v for _lv, lo, hi in parts for v in (tenants, apps, apis, lo, hi)]
