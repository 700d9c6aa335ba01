"""Reads behind the analytics pages and REST endpoints.

Dashboards read the rollup tables only (``analytics_rollupminute`` / ``…hour`` / ``…day``,
see docs/analytics.md); the call-log explorer and its export read the raw table
``gateways_callrecord`` and always bound ``ts`` so PostgreSQL prunes partitions.

Scoping goes through one helper, ``scope_for``: a provider sees rows whose
``provider_tenant_id`` is its tenant, a consumer rows whose ``consumer_tenant_id`` is its
tenant, staff (``platform_scope``) everything. Every id a caller filters on (API, version,
application, key) is checked against what that side may name, else ``NotFound``.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any, Literal

from django.conf import settings
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

from analytics.histogram import BUCKETS, percentile_sql
from analytics.histogram import percentile as _histogram_percentile
from analytics.models import AI_SUMMARIES, AI_SUMMARY_LEVELS, SUMMARIES, SUMMARY_LEVELS
from apis.models import Api, ApiVersion
from core.errors import InvalidInput, NotFound
from subscriptions import selectors as subscription_selectors
from subscriptions.models import ApiKey, Application, KeyPurpose, Subscription, SubscriptionStatus
from tenants.models import Tenant

HIST_SIZE = BUCKETS  # 28 bounds + the overflow bucket

Side = Literal["provider", "consumer", "platform"]
Level = Literal["minute", "hour", "day"]
TABLES: dict[str, str] = {
    "minute": "analytics_rollupminute",
    "hour": "analytics_rolluphour",
    "day": "analytics_rollupday",
}
RAW_TABLE = "gateways_callrecord"
_FILTER_COLUMNS = ("api_id", "api_version_id", "application_id", "api_key_id", "node_id")


def percentile(hist: Sequence[int], p: float) -> float | None:
    """Latency (ms) at quantile ``p`` (0–1) of a merged histogram; None without calls.

    The rule is analytics.histogram's (upper bound of the bucket; the overflow reads 60,000 ms).
    """
    return _histogram_percentile(hist, p * 100)


# --- Scope ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """Which rows a caller may see, narrowed by the filters they chose (all already checked)."""

    side: Side
    tenant_id: int | None = None
    api_id: int | None = None
    api_version_id: int | None = None
    application_id: int | None = None
    api_key_id: int | None = None
    node_id: int | None = None

    def where(self) -> tuple[str, list[Any]]:
        """The SQL condition (columns shared by the raw and rollup tables) and its parameters."""
        clauses: list[str] = []
        params: list[Any] = []
        if self.side == "provider":
            clauses.append("provider_tenant_id = %s")
            params.append(self.tenant_id)
        elif self.side == "consumer":
            clauses.append("consumer_tenant_id = %s")
            params.append(self.tenant_id)
        elif self.side != "platform":  # pragma: no cover - Literal guards this
            raise ValueError(self.side)
        for column in _FILTER_COLUMNS:
            value = getattr(self, column)
            if value is not None:
                clauses.append(f"{column} = %s")
                params.append(value)
        return " AND ".join(clauses) or "TRUE", params

    def columns(self) -> set[str]:
        """The dimension columns :meth:`where` filters on."""
        used = {column for column in _FILTER_COLUMNS if getattr(self, column) is not None}
        side_column = {"provider": "provider_tenant_id", "consumer": "consumer_tenant_id"}.get(self.side)
        return used | ({side_column} if side_column else set())


def _missing(what: str, field_name: str) -> NotFound:
    return NotFound(f"No such {what}.", code=f"{field_name}_not_found", field=field_name)


def scope_for(
    tenant: Tenant,
    side: Side,
    *,
    api_id: int | None = None,
    api_version_id: int | None = None,
    application_id: int | None = None,
    api_key_id: int | None = None,
) -> Scope:
    """The one scoping helper for tenant callers: checks every filter id, else ``NotFound``.

    Provider side: the API / version must be the tenant's own; an application or key must
    belong to a consumer subscribed to one of its APIs (the provider already sees those in
    its approvals). Consumer side: the application / key must be the tenant's own; an API or
    version must be one it subscribes to. Anything else is 404, like any foreign id.
    """
    if side not in ("provider", "consumer"):
        raise InvalidInput("Choose provider or consumer.", code="invalid", field="side")
    provided = subscription_selectors.provider_subscriptions(tenant)
    consumed = subscription_selectors.consumer_subscriptions(tenant)
    if api_id is not None:
        found = (
            Api.objects.for_tenant(tenant).filter(pk=api_id).exists()
            if side == "provider"
            else consumed.filter(api_id=api_id).exists()
        )
        if not found:
            raise _missing("API", "api")
    if api_version_id is not None:
        found = (
            ApiVersion.objects.for_tenant(tenant).filter(pk=api_version_id).exists()
            if side == "provider"
            else consumed.filter(version_id=api_version_id).exists()
        )
        if not found:
            raise _missing("version", "version")
    if application_id is not None:
        found = (
            provided.filter(application_id=application_id).exists()
            if side == "provider"
            else Application.objects.for_tenant(tenant).filter(pk=application_id).exists()
        )
        if not found:
            raise _missing("application", "application")
    if api_key_id is not None:
        if side == "provider":
            owner = ApiKey.objects.unscoped().filter(pk=api_key_id).values_list("application_id", flat=True).first()
            # The key's application must be one of this provider's consumers (checked scoped).
            found = owner is not None and provided.filter(application_id=owner).exists()
        else:
            found = ApiKey.objects.for_tenant(tenant).filter(pk=api_key_id).exists()
        if not found:
            raise _missing("key", "key")
    return Scope(
        side=side,
        tenant_id=tenant.pk,
        api_id=api_id,
        api_version_id=api_version_id,
        application_id=application_id,
        api_key_id=api_key_id,
    )


def platform_scope(*, node_id: int | None = None, api_id: int | None = None) -> Scope:
    """Everything (platform staff on /platform/ pages only)."""
    return Scope(side="platform", node_id=node_id, api_id=api_id)


# --- Time windows -----------------------------------------------------------------------

RANGES: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
#: Display steps, finest first; a window uses the finest one that keeps the chart ≤ MAX_POINTS.
STEPS = [
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=6),
    timedelta(days=1),
    timedelta(days=7),
]
MAX_POINTS = 200
MAX_SPAN = timedelta(days=400)
#: Rollup granularity: minute rows up to a day, hour rows up to 14 days, day rows beyond.
MINUTE_UP_TO = timedelta(hours=24)
HOUR_UP_TO = timedelta(days=14)
_ORIGIN = datetime(2000, 1, 3, tzinfo=UTC)  # a Monday at midnight UTC: day and week steps align


def _floor(moment: datetime, step: timedelta) -> datetime:
    return _ORIGIN + ((moment - _ORIGIN) // step) * step


@dataclass(frozen=True)
class Window:
    """A half-open interval [start, end) read from one rollup level, charted in ``step`` buckets."""

    start: datetime
    end: datetime
    level: Level
    step: timedelta
    range_key: str = "custom"

    @property
    def span(self) -> timedelta:
        return self.end - self.start

    @property
    def step_label(self) -> str:
        """The chart step for people: "1 min", "15 min", "1 h", "6 h", "1 day", "7 days"."""
        minutes = int(self.step.total_seconds() // 60)
        if minutes < 60:
            return f"{minutes} min"
        if minutes < 24 * 60:
            return f"{minutes // 60} h"
        days = minutes // (24 * 60)
        return "1 day" if days == 1 else f"{days} days"

    def previous(self) -> Window:
        """The window of the same length just before this one (trends); it shares the watermarks."""
        before = Window(self.start - self.span, self.start, self.level, self.step, self.range_key)
        before.__dict__["marks"] = self.marks
        return before

    @cached_property
    def marks(self) -> dict[str, datetime]:
        """The rollup's hour and day watermarks, read once for every query of this window (a
        page's charts, totals and tops); a read that the rollup has since overtaken stays correct
        (see :func:`written_parts`)."""
        return rollup_watermarks()

    def buckets(self) -> list[datetime]:
        points, moment = [], self.start
        while moment < self.end:
            points.append(moment)
            moment += self.step
        return points


def window_for(
    range_key: str = "24h", *, start: datetime | None = None, end: datetime | None = None, now: datetime | None = None
) -> Window:
    """The window for a preset (1h, 24h, 7d, 30d) or a custom from/to.

    Edges are aligned down to the rollup level (minute / hour / UTC day) so a bucket is read
    whole or not at all; the end includes the current, partly filled bucket.
    """
    now = now or timezone.now()
    if range_key == "custom":
        if start is None or end is None:
            raise InvalidInput("A custom range needs both from and to.", code="invalid", field="from")
        if end <= start:
            raise InvalidInput("“to” must be after “from”.", code="invalid", field="to")
        if end - start > MAX_SPAN:
            raise InvalidInput(f"A range spans at most {MAX_SPAN.days} days.", code="invalid", field="from")
    elif range_key in RANGES:
        end = now
        start = now - RANGES[range_key]
    else:
        raise InvalidInput("Choose 1h, 24h, 7d, 30d or custom.", code="invalid", field="range")
    span = end - start
    level: Level = "minute" if span <= MINUTE_UP_TO else "hour" if span <= HOUR_UP_TO else "day"
    unit = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}[level]
    step = next((s for s in STEPS if s >= unit and span / s <= MAX_POINTS), STEPS[-1])
    aligned_start = _floor(start, step)
    if range_key == "custom":  # round the end up to a whole bucket
        aligned_end = end if _floor(end, unit) == end else _floor(end, unit) + unit
    else:  # presets end with the current, partly filled bucket
        aligned_end = _floor(end, unit) + unit
    return Window(aligned_start, aligned_end, level, step, range_key)


# --- Rollup queries ---------------------------------------------------------------------

# float8 sums: a by-value aggregate state, several times cheaper than sum(bigint) and exact for
# any count below 2^53 (Stats.from_row turns them back into ints). ``h1`` … ``h29`` are the
# histogram's counters as ``_READ`` gives them.
_HIST_SUMS = ", ".join(f"sum(h{i})" for i in range(1, HIST_SIZE + 1))
# The counters too (exact below 2^53 calls), and the byte sums come back as bigint: sum(bigint)
# alone is numeric, which psycopg turns into a Decimal per value (a trends query fetches
# thousands of rows).
_MEASURES = (
    "sum(calls::float8), sum(errors_4xx::float8), sum(errors_5xx::float8), "
    "coalesce(sum(calls::float8) FILTER (WHERE error <> ''), 0), "
    f"sum(latency_sum), sum(request_bytes)::bigint, sum(response_bytes)::bigint, {_HIST_SUMS}"
)
_N_MEASURES = 7 + HIST_SIZE


@dataclass
class Stats:
    """Measures summed over some rollup rows, with the latency read from the merged histogram."""

    calls: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    refused: int = 0
    latency_sum: float = 0.0
    request_bytes: int = 0
    response_bytes: int = 0
    hist: list[int] = field(default_factory=lambda: [0] * HIST_SIZE)

    @classmethod
    def from_row(cls, values: Sequence[Any]) -> Stats:
        calls, e4, e5, refused, lat, rq, rs = (v or 0 for v in values[:7])
        return cls(
            int(calls), int(e4), int(e5), int(refused), float(lat), int(rq), int(rs), [int(v or 0) for v in values[7:]]
        )

    @classmethod
    def sum(cls, parts: Iterable[Stats]) -> Stats:
        """The measures of several groups together (histograms merge element-wise)."""
        total = cls()
        for part in parts:
            total.calls += part.calls
            total.errors_4xx += part.errors_4xx
            total.errors_5xx += part.errors_5xx
            total.refused += part.refused
            total.latency_sum += part.latency_sum
            total.request_bytes += part.request_bytes
            total.response_bytes += part.response_bytes
            total.hist = [a + b for a, b in zip(total.hist, part.hist, strict=True)]
        return total

    @property
    def errors(self) -> int:
        return self.errors_4xx + self.errors_5xx

    @property
    def error_rate(self) -> float | None:
        """4xx + 5xx over calls (0–1); None without calls."""
        return self.errors / self.calls if self.calls else None

    @property
    def avg_ms(self) -> float | None:
        return self.latency_sum / self.calls if self.calls else None

    def p(self, q: float) -> float | None:
        return percentile(self.hist, q)

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "errors_4xx": self.errors_4xx,
            "errors_5xx": self.errors_5xx,
            "refused": self.refused,
            "error_rate": self.error_rate,
            "avg_ms": self.avg_ms,
            "p50_ms": self.p(0.50),
            "p95_ms": self.p(0.95),
            "p99_ms": self.p(0.99),
            "request_bytes": self.request_bytes,
            "response_bytes": self.response_bytes,
        }


def table_for(scope: Scope, level: Level, columns: Iterable[str] = ()) -> str:
    """The narrowest rollup table of ``level`` with every dimension the query needs.

    ``columns`` are the dimensions the query groups or filters by besides the scope's own; every
    query also needs ``error`` (the "refused" measure). Hour and day queries read a summary
    rollup (analytics.models.SUMMARIES, narrowest first) when one has them all: far fewer rows
    than the full rollup for wide scopes and long ranges, with the same sums.
    """
    needed = scope.columns() | set(columns) | {"error"}
    for shape, dims in SUMMARIES.items():
        if level in SUMMARY_LEVELS[shape] and needed <= set(dims):
            return f"analytics_{shape}summary{level}"
    return TABLES[level]


_UNITS: dict[str, timedelta] = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
_COARSER: dict[str, Level] = {"minute": "hour", "hour": "day"}
#: The measure columns ``_MEASURES`` reads, the histogram as 29 float8 counters ``h1`` … ``h29``.
#: Every part of a UNION gets the same types (the minute rollup stores int4[], hours and days
#: bigint[]), so PostgreSQL flattens it, prunes unread columns and a covering index serves a
#: ranking. Each counter is read once per row: with the whole array cast to bigint[] here, the
#: flattened query cast it again for each of the 29 sums (4 × the time of a minute-level read).
_READ = "calls, errors_4xx, errors_5xx, latency_sum, request_bytes, response_bytes, " + ", ".join(
    f"latency_hist[{i}]::float8 AS h{i}" for i in range(1, HIST_SIZE + 1)
)


def pieces(start: datetime, end: datetime, level: Level) -> list[tuple[Level, datetime, datetime]]:
    """[start, end) as runs of whole buckets of the coarsest level that fits, finer at the edges.

    E.g. a 7-day window of hours reads the whole UTC days inside it from the day rollups and
    only the hours at both ends from the hour rollups: the same calls, far fewer rows.
    """
    coarser = _COARSER.get(level)
    if coarser is not None:
        unit = _UNITS[coarser]
        inner_start = _floor(start, unit)
        if inner_start < start:
            inner_start += unit
        inner_end = _floor(end, unit)
        if inner_start < inner_end:
            return [
                *([(level, start, inner_start)] if start < inner_start else []),
                *pieces(inner_start, inner_end, coarser),
                *([(level, inner_end, end)] if inner_end < end else []),
            ]
    return [(level, start, end)]


def _source(
    scope: Scope,
    window: Window,
    columns: Iterable[str] = (),
    *,
    extra: str = "",
    extra_params: Sequence[Any] = (),
    split: bool = True,
) -> tuple[str, list[Any]]:
    """A subquery of the rollup rows in the window the scope may see (``extra`` added, with its
    ``extra_params``), and its parameters: the bucket, the dimensions the query needs and the measures.

    Totals, tops and trends (``split``) read whole coarser buckets where the window has them
    (``pieces``); a time series reads the window's own level, which its step needs.
    """
    where, params = scope.where()
    cond = f"{where} AND {extra}" if extra else where
    needed = ", ".join(sorted(scope.columns() | set(columns) | {"error"}))
    runs = pieces(window.start, window.end, window.level) if split else [(window.level, window.start, window.end)]
    parts, values = [], []
    marks = window.marks
    for run_level, run_start, run_end in runs:
        for level, start, end in written_parts(run_level, run_start, run_end, marks):
            table = table_for(scope, level, columns)
            parts.append(f"SELECT bucket, {needed}, {_READ} FROM {table} WHERE bucket >= %s AND bucket < %s AND {cond}")  # noqa: S608
            values += [start, end, *params, *extra_params]
    return " UNION ALL ".join(parts), values


def rollup_watermarks() -> dict[str, datetime]:
    """Up to where the rollup has written hours and days (the first bucket not written)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT level, upto FROM analytics_watermark WHERE level IN ('hour', 'day') AND upto IS NOT NULL"
        )
        return dict(cursor.fetchall())


def written_parts(
    level: Level, start: datetime, end: datetime, marks: dict[str, datetime]
) -> list[tuple[Level, datetime, datetime]]:
    """Where to read ``[start, end)`` of ``level`` buckets: (level, start, end) parts, none empty.

    Hours and days are written once closed (analytics.rollup): the part at or after the level's
    watermark (the open hour, the open day) is read from the finer levels instead, so today's
    calls are in a 30-day chart and the current hour's in a 7-day one. A watermark read a moment
    before the rollup moves it only sends more of the range to the finer levels, which still
    hold it (minutes are kept 14 days): never a call counted twice or missed. The bounds are
    constants, so the planner picks its index knowing the range.
    """
    never = datetime.min.replace(tzinfo=UTC)
    hour, day = marks.get("hour", never), marks.get("day", never)
    if level == "minute":
        candidates = [("minute", start, end)]
    elif level == "hour":
        candidates = [("hour", start, min(end, hour)), ("minute", max(start, hour), end)]
    else:
        candidates = [
            ("day", start, min(end, day)),
            ("hour", max(start, day), min(end, hour)),
            ("minute", max(start, day, hour), end),
        ]
    return [(lv, lo, hi) for lv, lo, hi in candidates if lo < hi]  # type: ignore[misc]


@contextmanager
def _aggregating() -> Iterator[CursorWrapper]:
    """A cursor for a dashboard aggregate, in a transaction with ``ANALYTICS_WORK_MEM``: grouping
    thousands of endpoints or applications with their histograms needs more than the default
    4 MB, below which PostgreSQL sorted the rows on disk instead of hashing them."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('work_mem', %s, true)", [settings.ANALYTICS_WORK_MEM])
        yield cursor


def _rollup_query(
    scope: Scope,
    window: Window,
    select: str,
    *,
    columns: Iterable[str] = (),
    group: str = "",
    extra: str = "",
    order: str = "",
    limit: int = 0,
) -> list[tuple[Any, ...]]:
    source, params = _source(scope, window, columns, extra=extra)
    sql = f"SELECT {select} FROM ({source}) s"  # noqa: S608 - identifiers are ours
    if group:
        sql += f" GROUP BY {group}"
    if order:
        sql += f" ORDER BY {order}"
    if limit:
        sql += f" LIMIT {int(limit)}"
    with _aggregating() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def totals(scope: Scope, window: Window) -> Stats:
    """Every measure over the whole window."""
    rows = _rollup_query(scope, window, _MEASURES)
    return Stats.from_row(rows[0]) if rows else Stats()


def timeseries_stats(scope: Scope, window: Window) -> list[tuple[datetime, Stats]]:
    """One (bucket start, Stats) per ``window.step``, gaps filled with empty Stats."""
    by_time = {row[0]: Stats.from_row(row[1:]) for row in _timeseries_rows(scope, window)}
    return [(moment, by_time.get(moment, Stats())) for moment in window.buckets()]


def timeseries(scope: Scope, window: Window) -> list[dict[str, Any]]:
    """One point per ``window.step`` (gaps filled with zeros): calls, errors, refused, latency."""
    return [{"t": moment, **stats.as_dict()} for moment, stats in timeseries_stats(scope, window)]


def _timeseries_rows(scope: Scope, window: Window) -> list[tuple[Any, ...]]:
    source, params = _source(scope, window, split=False)
    sql = f"SELECT date_bin(%s::interval, bucket, %s) AS t, {_MEASURES} FROM ({source}) s GROUP BY 1 ORDER BY 1"  # noqa: S608
    with _aggregating() as cursor:
        cursor.execute(sql, [f"{int(window.step.total_seconds())} seconds", _ORIGIN, *params])
        return cursor.fetchall()


#: Top-N dimensions: the columns grouped on (the label is resolved afterwards).
DIMENSIONS: dict[str, tuple[str, ...]] = {
    "endpoints": ("api_id", "endpoint"),
    "apis": ("api_id",),
    "versions": ("api_version_id",),
    "consumers": ("consumer_tenant_id", "application_id"),
    "applications": ("application_id",),
    "keys": ("api_key_id",),
    "statuses": ("status",),
    "errors": ("error",),
    "nodes": ("node_id",),
}
MAX_TOP = 100


#: Dimensions with a handful of values (``_top_rows`` ranks and sums them in one pass).
_FEW_VALUES = {"status", "error", "node_id"}


def _top_rows(
    scope: Scope, window: Window, columns: tuple[str, ...], *, extra: str, limit: int
) -> list[tuple[Any, ...]]:
    """The groups with the most calls (ties by the group's values) and their measures.

    Two queries: rank the groups on ``sum(calls)`` alone, then sum the 35 measures (29 of them
    histogram counters) only over the rows of the ``limit`` winners, which the second query names
    so an index finds them. Over a long range a wide scope has thousands of groups, and summing
    every histogram (or even reading every row twice) to keep ten was most of the time. Statuses,
    refusal reasons and nodes have a handful of values, all of them winners: one pass.
    """
    group = ", ".join(columns)
    source, params = _source(scope, window, columns, extra=extra)
    limit = max(1, min(limit, MAX_TOP))
    with _aggregating() as cursor:
        if set(columns) <= _FEW_VALUES:
            cursor.execute(
                f"SELECT {group}, {_MEASURES} FROM ({source}) s "  # noqa: S608 - identifiers are ours
                f"GROUP BY {group} ORDER BY sum(calls) DESC, {group} LIMIT %s",
                [*params, limit],
            )
            return cursor.fetchall()
        cursor.execute(
            f"SELECT {group} FROM ({source}) s GROUP BY {group} ORDER BY sum(calls) DESC, {group} LIMIT %s",  # noqa: S608
            [*params, limit],
        )
        winners = cursor.fetchall()
        if not winners:
            return []
        match, match_params = _matching(columns, winners)
        source, params = _source(
            scope, window, columns, extra=f"{extra} AND {match}" if extra else match, extra_params=match_params
        )
        cursor.execute(f"SELECT {group}, {_MEASURES} FROM ({source}) s GROUP BY {group}", params)  # noqa: S608
        measures = {row[: len(columns)]: row[len(columns) :] for row in cursor.fetchall()}
    return [(*winner, *measures[winner]) for winner in winners]


def _matching(columns: tuple[str, ...], groups: list[tuple[Any, ...]]) -> tuple[str, list[Any]]:
    """SQL matching the rows of these groups (NULL ids included) and its parameters."""
    arms, params = [], []
    for values in groups:
        terms = []
        for column, value in zip(columns, values, strict=True):
            if value is None:
                terms.append(f"{column} IS NULL")
            else:
                terms.append(f"{column} = %s")
                params.append(value)
        arms.append("(" + " AND ".join(terms) + ")")
    return "(" + " OR ".join(arms) + ")", params


def top(scope: Scope, window: Window, by: str, *, limit: int = 10) -> list[dict[str, Any]]:
    """The ``limit`` busiest values of a dimension, with their measures and a readable label.

    ``errors`` lists gateway-refused calls by reason (rows whose ``error`` is set).
    """
    if by not in DIMENSIONS:
        raise InvalidInput(f"Choose one of: {', '.join(DIMENSIONS)}.", code="invalid", field="by")
    columns = DIMENSIONS[by]
    rows = _top_rows(scope, window, columns, extra="error <> ''" if by == "errors" else "", limit=limit)
    items = []
    for row in rows:
        key = dict(zip(columns, row[: len(columns)], strict=True))
        stats = Stats.from_row(row[len(columns) :])
        items.append({"key": key, **stats.as_dict()})
    _label(by, items)
    return items


def _names(model: Any, ids: set[int], attr: str = "name") -> dict[int, str]:
    if not ids:
        return {}
    manager = model.objects
    # The ids come from rows the caller's scope already allowed; only their names are read.
    qs = manager.unscoped() if hasattr(manager, "unscoped") else manager.all()
    return {pk: str(value) for pk, value in qs.filter(pk__in=ids).values_list("pk", attr)}


def _label(by: str, items: list[dict[str, Any]]) -> None:
    from gateways.models import GatewayNode

    def ids(column: str) -> set[int]:
        return {item["key"][column] for item in items if item["key"].get(column) is not None}

    apis = _names(Api, ids("api_id")) if by in ("endpoints", "apis") else {}
    versions = _names(ApiVersion, ids("api_version_id"), "label") if by == "versions" else {}
    apps = _names(Application, ids("application_id")) if by in ("consumers", "applications") else {}
    tenants = _names(Tenant, ids("consumer_tenant_id")) if by == "consumers" else {}
    keys = _names(ApiKey, ids("api_key_id")) if by == "keys" else {}
    if keys:  # the try-it console's short-lived keys: their calls are console traffic
        console = set(
            ApiKey.objects.unscoped().filter(pk__in=keys, purpose=KeyPurpose.CONSOLE).values_list("pk", flat=True)
        )
        keys = {pk: f"{name} (console)" if pk in console else name for pk, name in keys.items()}
    nodes = _names(GatewayNode, ids("node_id")) if by == "nodes" else {}
    for item in items:
        key = item["key"]
        if by == "endpoints":
            item["label"] = f"{apis.get(key['api_id'], '—')} · {key['endpoint'] or 'other'}"
        elif by == "apis":
            item["label"] = apis.get(key["api_id"], "unknown route")
        elif by == "versions":
            item["label"] = versions.get(key["api_version_id"], "unknown route")
        elif by == "consumers":
            item["label"] = (
                f"{tenants.get(key['consumer_tenant_id'], '—')} · {apps.get(key['application_id'], 'no key')}"
            )
        elif by == "applications":
            item["label"] = apps.get(key["application_id"], "no key")
        elif by == "keys":
            item["label"] = keys.get(key["api_key_id"], "no key")
        elif by == "nodes":
            item["label"] = nodes.get(key["node_id"], f"node {key['node_id']}")
        else:
            item["label"] = str(key[by[:-2] if by == "statuses" else "error"])


# --- Trends -----------------------------------------------------------------------------

#: An endpoint is highlighted when its p95 moved by this share or its error rate by this many points.
P95_CHANGE = 0.20
ERROR_RATE_CHANGE = 0.01


def _relative(now: float | None, before: float | None) -> float | None:
    if now is None or before is None or before == 0:
        return None
    return (now - before) / before


@dataclass(frozen=True)
class _Trend:
    """What a trend compares of a period: its calls, errors (4xx + 5xx) and p95."""

    calls: int = 0
    errors: int = 0
    p95: float | None = None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.calls if self.calls else None


def _compare(current: _Trend, previous: _Trend) -> dict[str, Any]:
    cur_rate, prev_rate = current.error_rate, previous.error_rate
    return {
        "calls": current.calls,
        "previous_calls": previous.calls,
        "calls_change": _relative(current.calls, previous.calls),
        "error_rate": cur_rate,
        "previous_error_rate": prev_rate,
        "error_rate_change": None if cur_rate is None or prev_rate is None else cur_rate - prev_rate,
        "p95_ms": current.p95,
        "previous_p95_ms": previous.p95,
        "p95_change": _relative(current.p95, previous.p95),
    }


def _p95(alias: str) -> str:
    """The p95 of a trend group's summed counters ``<alias>.h1`` … ``<alias>.h29``."""
    return percentile_sql([f"{alias}.h{i}" for i in range(1, HIST_SIZE + 1)], 95)


def _trend_groups(source: str, columns: tuple[str, ...]) -> str:
    """Calls, errors and the histogram of each group of ``source`` (a hash GROUP BY); ``g_api``
    is the API id with NULL as -1, so the two windows' groups can be joined by hashing."""
    hist = ", ".join(f"sum(h{i}) AS h{i}" for i in range(1, HIST_SIZE + 1))
    group = ", ".join(columns)
    return (
        f"SELECT coalesce(api_id, -1) AS g_api, {group}, sum(calls::float8) AS calls, "  # noqa: S608
        f"sum(errors_4xx::float8) + sum(errors_5xx::float8) AS errors, {hist} FROM ({source}) s GROUP BY {group}"
    )


#: What the trends compare: endpoints, but APIs across the whole platform (thousands of endpoints
#: of every provider; staff narrow to one API to see its endpoints).
TREND_GROUPS: dict[str, tuple[str, ...]] = {"endpoints": ("api_id", "endpoint"), "apis": ("api_id",)}


def trend_groups(scope: Scope) -> str:
    """``apis`` for the whole platform (no API or version chosen), else ``endpoints``."""
    whole_platform = scope.side == "platform" and scope.api_id is None and scope.api_version_id is None
    return "apis" if whole_platform else "endpoints"


def _changes(scope: Scope, window: Window, previous: Window, columns: tuple[str, ...], limit: int) -> list[Any]:
    """The ``limit`` groups whose p95 or error rate changed most between the two windows.

    Ranked in SQL over every group of both windows (a platform has thousands of endpoints;
    fetching each one's histogram to rank it in Python was most of the time): the score is the
    relative p95 change plus ten times the error-rate change in points, ties by current calls,
    then the group. Rows: (*group, calls, errors, p95, previous calls, previous errors, previous
    p95, |p95 change|, |error-rate change|).
    """
    now_source, now_params = _source(scope, window, columns)
    before_source, before_params = _source(scope, previous, columns)
    on = " AND ".join(["n.g_api = b.g_api", *(f"n.{c} = b.{c}" for c in columns if c != "api_id")])
    picked = ", ".join(f"coalesce(n.{c}, b.{c}) AS {c}" for c in columns)
    sql = f"""
        WITH now AS ({_trend_groups(now_source, columns)}), before AS ({_trend_groups(before_source, columns)}),
        paired AS (
            SELECT {picked},
                   coalesce(n.calls, 0) AS calls, coalesce(n.errors, 0) AS errors, {_p95("n")} AS p95,
                   coalesce(b.calls, 0) AS b_calls, coalesce(b.errors, 0) AS b_errors, {_p95("b")} AS b_p95
            FROM now n FULL JOIN before b ON {on}
        ),
        scored AS (
            SELECT *, coalesce(abs((p95 - b_p95) / nullif(b_p95, 0)), 0) AS p95_change,
                   CASE WHEN calls > 0 AND b_calls > 0 THEN abs(errors / calls - b_errors / b_calls) ELSE 0 END
                   AS rate_change
            FROM paired
        )
        SELECT {", ".join(columns)}, calls, errors, p95, b_calls, b_errors, b_p95, p95_change, rate_change
        FROM scored ORDER BY p95_change + 10 * rate_change DESC, calls DESC, {", ".join(columns)} LIMIT %s
    """  # noqa: S608 - identifiers and constants are ours
    with _aggregating() as cursor:
        cursor.execute(sql, [*now_params, *before_params, max(1, limit)])
        return cursor.fetchall()


def trends(scope: Scope, window: Window, *, limit: int = 10) -> dict[str, Any]:
    """Totals against the previous window of the same length, and the endpoints (the APIs, for the
    whole platform: ``by``) that changed most.

    Groups are ranked by the size of their p95 change (relative) plus their error-rate change
    (in points, weighted ×10 so one point of errors counts like a 10 % slowdown); those over
    ``P95_CHANGE`` or ``ERROR_RATE_CHANGE`` are flagged ``highlight``. New groups (no calls
    before) and vanished ones are listed with ``calls_change`` None. The windows' own figures come
    from :func:`totals` (the narrowest summary: a few rows).
    """
    by = trend_groups(scope)
    columns = TREND_GROUPS[by]
    previous = window.previous()
    now_total, before_total = totals(scope, window), totals(scope, previous)
    changes = []
    for row in _changes(scope, window, previous, columns, limit):
        calls, errors, p95, b_calls, b_errors, b_p95, p95_change, rate_change = row[len(columns) :]
        change = _compare(_Trend(int(calls), int(errors), p95), _Trend(int(b_calls), int(b_errors), b_p95))
        change.update(
            key=dict(zip(columns, row[: len(columns)], strict=True)),
            score=p95_change + 10 * rate_change,
            highlight=p95_change >= P95_CHANGE or rate_change >= ERROR_RATE_CHANGE,
        )
        changes.append(change)
    _label(by, changes)
    return {
        "by": by,
        "current": _compare(
            _Trend(now_total.calls, now_total.errors, now_total.p(0.95)),
            _Trend(before_total.calls, before_total.errors, before_total.p(0.95)),
        ),
        "changes": changes,
        "previous_start": previous.start,
        "previous_end": previous.end,
    }


# --- AI usage (AI rollups) -------------------------------------------------------------

AI_TABLES: dict[str, str] = {
    "minute": "analytics_airollupminute",
    "hour": "analytics_airolluphour",
    "day": "analytics_airollupday",
}
#: What AI usage is split by besides the model, per side: who called (provider), what was called
#: (consumer), whose models (platform).
AI_GROUPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "provider": ("applications", ("consumer_tenant_id", "application_id")),
    "consumer": ("apis", ("api_id",)),
    "platform": ("providers", ("provider_tenant_id",)),
}
AI_MODEL_COLUMNS = ("ai_route", "ai_provider", "ai_model")
#: Rows listed per split (the totals count every row).
AI_MAX_ROWS = 50
# Each histogram counter read once per row as float8, so the levels' parts of the UNION have the
# same types (minute histograms are int4[], hours and days bigint[]); see _READ.
_AI_READ = (
    "calls, errors, input_tokens, output_tokens, cached_tokens, cost, cost_unknown, ttft_sum, ttft_count, "
    "latency_sum, "
    + ", ".join(f"ttft_hist[{i}]::float8 AS t{i}" for i in range(1, HIST_SIZE + 1))
    + ", "
    + ", ".join(f"latency_hist[{i}]::float8 AS h{i}" for i in range(1, HIST_SIZE + 1))
)
_AI_MEASURES = (
    "sum(calls::float8), sum(errors::float8), sum(input_tokens)::bigint, sum(output_tokens)::bigint, "
    "sum(cached_tokens)::bigint, sum(cost), sum(cost_unknown::float8), sum(ttft_sum), sum(ttft_count::float8), "
    "sum(latency_sum), "
    + ", ".join(f"sum(t{i})" for i in range(1, HIST_SIZE + 1))
    + ", "
    + ", ".join(f"sum(h{i})" for i in range(1, HIST_SIZE + 1))
)


def usd(amount: Decimal) -> str:
    """A cost for people: cents when it has no more, else every digit the rollup kept ($0.00012345)."""
    text = format(amount.normalize(), "f") if amount else "0"
    whole, _, fraction = text.partition(".")
    return f"${int(whole):,}.{fraction.ljust(2, '0')}"


@dataclass
class AiStats:
    """AI measures summed over some AI rollup rows (tokens and cost exact; the histograms merged)."""

    calls: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost: Decimal = Decimal(0)
    cost_unknown: int = 0
    ttft_sum: float = 0.0
    ttft_count: int = 0
    latency_sum: float = 0.0
    ttft_hist: list[int] = field(default_factory=lambda: [0] * HIST_SIZE)
    latency_hist: list[int] = field(default_factory=lambda: [0] * HIST_SIZE)

    @classmethod
    def from_row(cls, values: Sequence[Any]) -> AiStats:
        calls, errors, tin, tout, cached, cost, unknown, ttft_sum, ttft_count, lat = values[:10]
        counters = [int(v or 0) for v in values[10:]]
        return cls(
            int(calls or 0), int(errors or 0), int(tin or 0), int(tout or 0), int(cached or 0),
            Decimal(cost or 0), int(unknown or 0), float(ttft_sum or 0), int(ttft_count or 0), float(lat or 0),
            counters[:HIST_SIZE], counters[HIST_SIZE:],
        )  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "errors": self.errors,
            "error_rate": self.errors / self.calls if self.calls else None,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cached_tokens": self.cached_tokens,
            "cost": self.cost,
            "cost_display": usd(self.cost),
            "cost_unknown": self.cost_unknown,
            "ttft_count": self.ttft_count,
            "ttft_avg_ms": self.ttft_sum / self.ttft_count if self.ttft_count else None,
            "ttft_p50_ms": percentile(self.ttft_hist, 0.50),
            "ttft_p95_ms": percentile(self.ttft_hist, 0.95),
            "avg_ms": self.latency_sum / self.calls if self.calls else None,
            "p95_ms": percentile(self.latency_hist, 0.95),
        }


def ai_table_for(level: Level, needed: set[str]) -> str:
    """The narrowest AI rollup table of ``level`` with every dimension in ``needed`` (an AI summary,
    analytics.models.AI_SUMMARIES, when one has them all: the same sums from far fewer rows)."""
    for shape, dims in AI_SUMMARIES.items():
        if level in AI_SUMMARY_LEVELS[shape] and needed <= set(dims):
            return f"analytics_{shape}summary{level}"
    return AI_TABLES[level]


def _ai_source(
    scope: Scope, window: Window, columns: Iterable[str], *, extra: str = "", extra_params: Sequence[Any] = ()
) -> tuple[str, list[Any]]:
    """The AI rollup rows of the window the scope may see (``extra`` added), with the dimensions
    ``columns`` and the scope's own: whole coarser buckets where the window has them (``pieces``),
    each level cut at its watermark (``written_parts``), from the narrowest table that has them, like
    ``_source``."""
    if scope.node_id is not None:
        raise InvalidInput("AI usage is not kept per gateway node.", code="invalid", field="node")
    where, params = scope.where()
    cond = f"{where} AND {extra}" if extra else where
    needed = scope.columns() | set(columns)
    selected = ", ".join(sorted(needed))
    parts, values = [], []
    for run_level, run_start, run_end in pieces(window.start, window.end, window.level):
        for level, start, end in written_parts(run_level, run_start, run_end, window.marks):
            parts.append(
                f"SELECT {selected}, {_AI_READ} FROM {ai_table_for(level, needed)} "  # noqa: S608 - identifiers are ours
                f"WHERE bucket >= %s AND bucket < %s AND {cond}"
            )
            values += [start, end, *params, *extra_params]
    return " UNION ALL ".join(parts), values


def ai_usage(scope: Scope, window: Window) -> dict[str, Any]:
    """AI calls in the window: totals, per model (route asked for, provider and model that
    answered) and per application (provider side), API (consumer side) or provider organisation
    (platform), busiest first.

    Totals and models in one query (grouping sets) over the narrowest AI table with the models
    (an AI summary wherever the scope allows: a few rows per bucket). The split comes in the same
    pass when that table has it too; else (a provider's applications, which only the full AI
    rollup has: thousands of groups spread over every row) it is ranked like a top-N
    (:func:`_ai_split`). Then the names of the groups listed.
    """
    by, split = AI_GROUPS[scope.side]
    models, splits = ", ".join(AI_MODEL_COLUMNS), ", ".join(split)
    # One pass when the split needs no wider table than the models (the platform: both in the
    # ``aitenant`` summary; a consumer: both in the full AI rollup, few rows).
    with_models = scope.columns() | set(AI_MODEL_COLUMNS)
    together = ai_table_for("day", with_models) == ai_table_for("day", with_models | set(split))
    columns = (*AI_MODEL_COLUMNS, *split) if together else AI_MODEL_COLUMNS
    source, params = _ai_source(scope, window, columns)
    if together:
        sql = (
            f"SELECT GROUPING({models}) AS model_grouped, GROUPING({splits}) AS split_grouped, {models}, "  # noqa: S608
            f"{splits}, {_AI_MEASURES} FROM ({source}) s GROUP BY GROUPING SETS ((), ({models}), ({splits}))"
        )
    else:
        sql = (
            f"SELECT GROUPING({models}) AS model_grouped, 1 AS split_grouped, {models}, "  # noqa: S608
            f"{_AI_MEASURES} FROM ({source}) s GROUP BY GROUPING SETS ((), ({models}))"
        )
    with _aggregating() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    totals, model_items, split_items = AiStats(), [], []
    model_end = 2 + len(AI_MODEL_COLUMNS)
    width = model_end + (len(split) if together else 0)
    for row in rows:
        model_grouped, split_grouped = row[0], row[1]
        stats = AiStats.from_row(row[width:])
        if model_grouped and split_grouped:
            totals = stats
        elif not model_grouped:
            key = dict(zip(AI_MODEL_COLUMNS, row[2:model_end], strict=True))
            model_items.append({"key": key, **stats.as_dict()})
        else:
            key = dict(zip(split, row[model_end:width], strict=True))
            split_items.append({"key": key, **stats.as_dict()})
    if not together and totals.calls:
        split_items = _ai_split(scope, window, split)

    def busiest(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ordered = sorted(items, key=lambda i: (-i["calls"], [("" if v is None else str(v)) for v in i["key"].values()]))
        return ordered[:AI_MAX_ROWS]

    model_items, split_items = busiest(model_items), busiest(split_items)
    for item in model_items:
        key = item["key"]
        item["label"] = " · ".join(v for v in (key["ai_route"], key["ai_provider"], key["ai_model"]) if v) or "—"
    _ai_label(by, split_items)
    return {"totals": totals.as_dict(), "models": model_items, "by": by, "items": split_items}


def _ai_split(scope: Scope, window: Window, split: tuple[str, ...]) -> list[dict[str, Any]]:
    """The ``AI_MAX_ROWS`` groups of ``split`` with the most AI calls (ties by the group's values),
    with their measures: ranked on ``sum(calls)`` alone, then every measure summed over the rows of
    the winners only (as ``_top_rows`` does for calls: summing 58 histogram counters for thousands
    of applications to list fifty was most of the time)."""
    group = ", ".join(split)
    source, params = _ai_source(scope, window, split)
    with _aggregating() as cursor:
        cursor.execute(
            f"SELECT {group} FROM ({source}) s GROUP BY {group} ORDER BY sum(calls) DESC, {group} LIMIT %s",  # noqa: S608
            [*params, AI_MAX_ROWS],
        )
        winners = cursor.fetchall()
        if not winners:
            return []
        match, match_params = _matching(split, winners)
        source, params = _ai_source(scope, window, split, extra=match, extra_params=match_params)
        cursor.execute(f"SELECT {group}, {_AI_MEASURES} FROM ({source}) s GROUP BY {group}", params)  # noqa: S608
        measures = {row[: len(split)]: row[len(split) :] for row in cursor.fetchall()}
    return [
        {"key": dict(zip(split, winner, strict=True)), **AiStats.from_row(measures[winner]).as_dict()}
        for winner in winners
    ]


def _ai_label(by: str, items: list[dict[str, Any]]) -> None:
    if not items:
        return
    if by == "applications":
        _label("consumers", items)
    elif by == "apis":
        _label("apis", items)
    else:
        tenants = _names(Tenant, {i["key"]["provider_tenant_id"] for i in items} - {None})
        for item in items:
            item["label"] = tenants.get(item["key"]["provider_tenant_id"], "unknown route")


# --- Quota usage (consumer) -------------------------------------------------------------


def _day_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def today_window(now: datetime | None = None) -> Window:
    """This UTC day so far (with the current minute), read from minute rollups: "today" on the dashboard."""
    now = now or timezone.now()
    minute = timedelta(minutes=1)
    return Window(_day_start(now), _floor(now, minute) + minute, "minute", timedelta(hours=1), "today")


def quota_usage(application: Application, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Calls of each live subscription of ``application`` this UTC day and month, against its plan
    (and, for a plan with AI limits, tokens and cost against them: ``ai``, see :func:`_ai_quota`).

    Quotas count UTC calendar periods (apis.models.Plan) and only calls the gateway served
    (refused calls have ``error`` set and do not use quota). Today comes from minute rollups;
    the earlier days of the month from day rollups (finer ones for a day not closed yet), so the
    two never overlap.
    """
    subscriptions = list(
        Subscription.objects.for_consumer(application.tenant)
        .filter(application=application, status=SubscriptionStatus.ACTIVE)
        .select_related("plan", "api", "version")
        .order_by("api__name", "pk")
    )
    return _usage(subscriptions, application.tenant_id, now=now)


def tenant_quota_usage(tenant: Tenant, *, limit: int = 8, now: datetime | None = None) -> list[dict[str, Any]]:
    """:func:`quota_usage` for the first ``limit`` active subscriptions of every application of a consumer.

    Three queries whatever the number of applications (the dashboard's quota panel), four when a
    plan has AI limits (their tokens and cost: :func:`_ai_use`).
    """
    subscriptions = list(
        Subscription.objects.for_consumer(tenant)
        .filter(status=SubscriptionStatus.ACTIVE)
        .select_related("plan", "api", "application")
        .order_by("application__name", "api__name", "pk")[:limit]
    )
    return _usage(subscriptions, tenant.pk, now=now)


#: Plan fields that make a subscription's quota use show tokens and cost (apis.Plan.AI_LIMIT_FIELDS).
_AI_LIMITS = (
    "token_limit_per_minute",
    "token_quota_per_day",
    "token_quota_per_month",
    "cost_budget_per_day",
    "cost_budget_per_month",
)


def _usage(subscriptions: list[Subscription], tenant_id: int, *, now: datetime | None) -> list[dict[str, Any]]:
    now = now or timezone.now()
    today = _day_start(now)
    month = today.replace(day=1)
    if not subscriptions:
        return []
    app_ids = sorted({s.application_id for s in subscriptions})
    api_ids = sorted({s.api_id for s in subscriptions})
    sql = (
        "SELECT application_id, api_id, calls FROM {table} "
        "WHERE consumer_tenant_id = %s AND application_id = ANY(%s) AND api_id = ANY(%s) "
        "AND bucket >= %s AND bucket < %s AND error = ''"
    )
    marks = rollup_watermarks()

    def calls(level: Level, start: datetime, end: datetime) -> dict[tuple[int, int], int]:
        """Served calls per (application, API) in [start, end), read where ``level`` is written."""
        parts = written_parts(level, start, end, marks)
        if not parts:
            return {}
        union = " UNION ALL ".join(sql.format(table=TABLES[lv]) for lv, _lo, _hi in parts)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT application_id, api_id, sum(calls) FROM ({union}) u GROUP BY 1, 2",  # noqa: S608
                [v for _lv, lo, hi in parts for v in (tenant_id, app_ids, api_ids, lo, hi)],
            )
            return {(row[0], row[1]): int(row[2] or 0) for row in cursor.fetchall()}

    day_calls = calls("minute", today, today + timedelta(days=1))
    # The month's earlier days from the day rollups, and from hours / minutes for a day the
    # rollup has not closed yet (just after midnight).
    month_before_today = calls("day", month, today)
    with_ai = [s for s in subscriptions if _has_ai_limits(s.plan)]
    ai_use = _ai_use(with_ai, tenant_id, today, month, marks) if with_ai else {}
    usage = []
    for subscription in subscriptions:
        plan = subscription.plan
        pair = (subscription.application_id, subscription.api_id)
        day = day_calls.get(pair, 0)
        month_total = month_before_today.get(pair, 0) + day
        usage.append(
            {
                "subscription": subscription,
                "api": subscription.api.name,
                "plan": plan.name,
                "day_calls": day,
                "day_quota": plan.quota_per_day,
                "day_share": day / plan.quota_per_day if plan.quota_per_day else None,
                "month_calls": month_total,
                "month_quota": plan.quota_per_month,
                "month_share": month_total / plan.quota_per_month if plan.quota_per_month else None,
                "day_start": today,
                "month_start": month,
                "ai": _ai_quota(plan, *ai_use.get(pair, _NO_AI_USE)) if _has_ai_limits(plan) else None,
            }
        )
    return usage


def _has_ai_limits(plan: Any) -> bool:
    return any(getattr(plan, name) is not None for name in _AI_LIMITS)


#: (tokens today, cost today, tokens this month, cost this month) of a subscription without AI calls.
_NO_AI_USE: tuple[int, Decimal, int, Decimal] = (0, Decimal(0), 0, Decimal(0))


def _ai_use(
    subscriptions: list[Subscription], tenant_id: int, today: datetime, month: datetime, marks: dict[str, datetime]
) -> dict[tuple[int, int], tuple[int, Decimal, int, Decimal]]:
    """Tokens (input + output, as the node charges them) and cost per (application, API) this UTC
    day and month, from the AI rollups: one query.

    Read like the calls of :func:`_usage`: today from the minute rows, the month's earlier days from
    the day rows (hours and minutes for a day not closed yet), so no bucket is read twice. Every
    AI call counts, refused or failed ones included: the node charges whatever tokens an answer
    used (a stream cut off midway too), and a refused call has none.
    """
    app_ids = sorted({s.application_id for s in subscriptions})
    api_ids = sorted({s.api_id for s in subscriptions})
    parts = [
        *written_parts("day", month, today, marks),
        *written_parts("minute", today, today + timedelta(days=1), marks),
    ]
    union = " UNION ALL ".join(
        f"SELECT application_id, api_id, bucket, input_tokens + output_tokens AS tokens, cost "  # noqa: S608
        f"FROM {AI_TABLES[level]} WHERE consumer_tenant_id = %s AND application_id = ANY(%s) AND api_id = ANY(%s) "
        "AND bucket >= %s AND bucket < %s"
        for level, _lo, _hi in parts
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT application_id, api_id, bucket >= %s, sum(tokens)::bigint, sum(cost) "  # noqa: S608
            f"FROM ({union}) u GROUP BY 1, 2, 3",
            [today, *(v for _lv, lo, hi in parts for v in (tenant_id, app_ids, api_ids, lo, hi))],
        )
        rows = cursor.fetchall()
    found: dict[tuple[int, int], list[Any]] = {}
    for app_id, api_id, is_today, tokens, cost in rows:
        # [tokens today, cost today, tokens before today, cost before today]
        totals = found.setdefault((app_id, api_id), [0, Decimal(0), 0, Decimal(0)])
        offset = 0 if is_today else 2
        totals[offset] += int(tokens or 0)
        totals[offset + 1] += Decimal(cost or 0)
    return {
        pair: (day_tokens, day_cost, day_tokens + earlier_tokens, day_cost + earlier_cost)
        for pair, (day_tokens, day_cost, earlier_tokens, earlier_cost) in found.items()
    }


def _ai_quota(plan: Any, day_tokens: int, day_cost: Decimal, month_tokens: int, month_cost: Decimal) -> dict[str, Any]:
    """A subscription's tokens and cost of the UTC day and month against its plan's AI limits
    (None: no such limit)."""

    def share(used: int | Decimal, limit: int | Decimal | None) -> float | None:
        return float(used / limit) if limit else None

    figures: dict[str, Any] = {}
    for period, tokens, cost in (("day", day_tokens, day_cost), ("month", month_tokens, month_cost)):
        token_quota = getattr(plan, f"token_quota_per_{period}")
        budget = getattr(plan, f"cost_budget_per_{period}")
        figures.update(
            {
                f"{period}_tokens": tokens,
                f"{period}_token_quota": token_quota,
                f"{period}_token_share": share(tokens, token_quota),
                f"{period}_cost": cost,
                f"{period}_cost_display": usd(cost),
                f"{period}_cost_budget": budget,
                f"{period}_cost_share": share(cost, budget),
            }
        )
    return figures


# --- Call-log explorer (raw table) -------------------------------------------------------

EXPLORER_MAX_SPAN = timedelta(days=31)
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
EXPORT_PAGE_SIZE = 2000
CALL_COLUMNS = (
    "request_id, ts, received_at, node_id, source, api_version_id, api_id, provider_tenant_id, endpoint, method, "
    "path, api_key_id, key_id, application_id, consumer_tenant_id, plan_id, subscription_id, status, latency_ms, "
    "upstream_latency_ms, request_bytes, response_bytes, client_ip, user_agent, error, ai_route, ai_provider, "
    "ai_model, ai_input_tokens, ai_output_tokens, ai_cached_tokens, ai_cost, ai_ttft_ms"
)
CALL_FIELDS = [name.strip() for name in CALL_COLUMNS.split(",")]


@dataclass(frozen=True)
class CallFilter:
    """Explorer filters beyond the scope (ids in the scope were checked by ``scope_for``)."""

    start: datetime
    end: datetime
    status: int | None = None
    status_class: int | None = None  # 2, 3, 4 or 5
    path: str = ""  # prefix
    request_id: uuid.UUID | None = None
    error: str = ""


def call_filter(
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    now: datetime | None = None,
    **filters: Any,
) -> CallFilter:
    """Bound the time range (default the last 24 hours, at most 31 days) so partitions are pruned."""
    now = now or timezone.now()
    end = end or now
    start = start or end - timedelta(hours=24)
    if end <= start:
        raise InvalidInput("“to” must be after “from”.", code="invalid", field="to")
    if end - start > EXPLORER_MAX_SPAN:
        raise InvalidInput(
            f"The call log spans at most {EXPLORER_MAX_SPAN.days} days at a time.", code="invalid", field="from"
        )
    return CallFilter(start=start, end=end, **{k: v for k, v in filters.items() if v not in (None, "")})


def _call_where(scope: Scope, flt: CallFilter) -> tuple[str, list[Any]]:
    where, params = scope.where()
    clauses, values = [where, "ts >= %s", "ts < %s"], [*params, flt.start, flt.end]
    if flt.status is not None:
        clauses.append("status = %s")
        values.append(flt.status)
    if flt.status_class is not None:
        clauses.append("status >= %s AND status < %s")
        values += [flt.status_class * 100, flt.status_class * 100 + 100]
    if flt.path:
        escaped = flt.path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append("path LIKE %s")
        values.append(escaped + "%")
    if flt.request_id is not None:
        clauses.append("request_id = %s")
        values.append(flt.request_id)
    if flt.error:
        clauses.append("error = %s")
        values.append(flt.error)
    return " AND ".join(clauses), values


def encode_cursor(ts: datetime, request_id: uuid.UUID) -> str:
    raw = json.dumps({"ts": ts.isoformat(), "id": str(request_id)}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The (ts, request_id) a page continues after; a tampered cursor is a 400, never a 500."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        ts = datetime.fromisoformat(data["ts"])
        if ts.tzinfo is None:
            raise ValueError("naive")
        return ts, uuid.UUID(data["id"])
    except (ValueError, KeyError, TypeError, json.JSONDecodeError):
        raise InvalidInput("This cursor is not valid.", code="invalid", field="cursor") from None


def calls(
    scope: Scope, flt: CallFilter, *, after: str = "", size: int = PAGE_SIZE, max_size: int = MAX_PAGE_SIZE
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of call records, newest first, and the cursor of the next page (None at the end).

    Keyset pagination on (ts, request_id): stable while records keep arriving, and each page
    costs the same however deep it is.
    """
    size = max(1, min(size, max_size))
    where, params = _call_where(scope, flt)
    if after:
        ts, request_id = decode_cursor(after)
        where += " AND (ts, request_id) < (%s, %s)"
        params += [ts, request_id]
    sql = f"SELECT {CALL_COLUMNS} FROM {RAW_TABLE} WHERE {where} ORDER BY ts DESC, request_id DESC LIMIT %s"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, size + 1])
        rows = [dict(zip(CALL_FIELDS, row, strict=True)) for row in cursor.fetchall()]
    more = len(rows) > size
    rows = rows[:size]
    next_cursor = encode_cursor(rows[-1]["ts"], rows[-1]["request_id"]) if more else None
    return rows, next_cursor


def iter_calls(scope: Scope, flt: CallFilter, *, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Every matching record, newest first, fetched in keyset pages (bounded memory, short queries).

    Used by the CSV export; stops after ``limit`` rows (``ANALYTICS_EXPORT_MAX_ROWS``).
    """
    limit = limit if limit is not None else settings.ANALYTICS_EXPORT_MAX_ROWS
    sent, after = 0, ""
    while sent < limit:
        rows, after_cursor = calls(
            scope, flt, after=after, size=min(EXPORT_PAGE_SIZE, limit - sent), max_size=EXPORT_PAGE_SIZE
        )
        yield from rows
        sent += len(rows)
        if after_cursor is None:
            return
        after = after_cursor


def call_detail(scope: Scope, request_id: uuid.UUID) -> dict[str, Any]:
    """One call record the scope may see, else ``NotFound`` (also for another tenant's call)."""
    where, params = scope.where()
    sql = f"SELECT {CALL_COLUMNS} FROM {RAW_TABLE} WHERE request_id = %s AND {where} ORDER BY ts DESC LIMIT 1"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [request_id, *params])
        row = cursor.fetchone()
    if row is None:
        raise NotFound("No such call.", code="call_not_found")
    record = dict(zip(CALL_FIELDS, row, strict=True))
    apis = _names(Api, {record["api_id"]} - {None})
    apps = _names(Application, {record["application_id"]} - {None})
    record["api_name"] = apis.get(record["api_id"], "")
    record["application_name"] = apps.get(record["application_id"], "")
    return record
