"""The rollup: raw call records → minute → hour → day, in set-based SQL (docs/analytics.md).

One run, in one transaction, under a transaction-level advisory lock (one runner at a time):

1. ``seen_now``: a ``received_at`` bound such that every raw record received before it is
   visible to the statements that follow (the start of the oldest transaction open in this
   database, or now, minus ``ROLLUP_LATE_MARGIN_SECONDS``). Records received since the last
   run's bound with ``ts`` below the minute watermark are *late*: their minutes are marked dirty.
2. Minute rows are recomputed from raw for every minute at or after the watermark (the open
   range, which includes the current partial minute) and for every dirty minute: the old rows
   are deleted and the groups inserted again (a plain ``INSERT … SELECT … GROUP BY``: the
   buckets it writes were just emptied, under the run's lock, so nothing can conflict; the
   unique constraint still guards it). Nothing is ever incremented, so a run that is killed (its
   transaction rolls back) and run again, or a bucket recomputed twice, gives the same numbers.
3. Hours and days are written once they are *closed* (wholly before the new minute watermark),
   hours from the minute rows, days from the hour rows (from raw instead when the finer level
   has already been trimmed by retention), plus the closed ones a late record dirtied. The open
   hour and the open day are not materialised: readers take them from the finer level
   (``analytics.selectors.written_parts``). Re-summing the whole open day from its hours at every run
   made a run's cost grow all day long (seconds per run by midday at a busy platform's rate);
   now a quiet run costs nearly nothing, and each hour and day is summed about once.
4. The watermarks move forward and the dirty buckets are cleared, in the same transaction. The
   hour and day watermarks say up to where those levels are materialised.

AI rollups (``analytics_airollup*``): the AI calls (``ai_model`` or ``ai_route`` set) grouped by
API, caller, route, provider and model, written by the same steps for the same buckets in the same
transaction (``_recompute`` with the ``AI`` family), so the same exactness rules hold; their
summaries (``AI_SUMMARIES``) are replaced with them, like the call summaries.

Endpoint templates: a raw record with an empty ``endpoint`` is matched here against its API
version's OpenAPI operations (method + path template turned into a regular expression, in a
per-run temporary table); no match gives ``'other'``, no API version gives ``''``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper

from analytics.histogram import BUCKETS, bucket_index_sql
from analytics.models import AI_DIMENSIONS, AI_SUMMARIES, AI_SUMMARY_LEVELS, DIMENSIONS, SUMMARIES, SUMMARY_LEVELS

#: pg_try_advisory_xact_lock key of the rollup runner ("analytics rollup" in ASCII, truncated).
LOCK_KEY = 0x616E_616C_7974_6963

LEVELS = ("minute", "hour", "day")
TABLES = {"minute": "analytics_rollupminute", "hour": "analytics_rolluphour", "day": "analytics_rollupday"}
SOURCE_LEVEL = {"hour": "minute", "day": "hour"}
RAW = "gateways_callrecord"
AI_TABLES = {"minute": "analytics_airollupminute", "hour": "analytics_airolluphour", "day": "analytics_airollupday"}


def summary_table(shape: str, level: str) -> str:
    """``analytics_<shape>summary<level>`` (the levels of ``SUMMARY_LEVELS[shape]``)."""
    return f"analytics_{shape}summary{level}"


#: "Since the beginning" / "until the end" as timestamps psycopg can carry both ways.
EPOCH_MIN = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
INFINITY = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)

_DIMS = ", ".join(DIMENSIONS)
_MEASURES = (
    "calls",
    "errors_4xx",
    "errors_5xx",
    "request_bytes",
    "response_bytes",
    "latency_sum",
    "latency_hist",
    "upstream_latency_sum",
    "upstream_count",
    "upstream_hist",
    "ai_input_tokens",
    "ai_output_tokens",
    "ai_cost",
)
_COLUMNS = f"bucket, {_DIMS}, {', '.join(_MEASURES)}"
_COLUMNS_RAW_NARROW = (
    f"bucket, {_DIMS}, request_bytes, response_bytes, latency_ms, upstream_latency_ms, "
    "ai_input_tokens, ai_output_tokens, ai_cost, lb, ub"
)


#: The histogram column type per level: a minute bucket never counts 2^31 calls of one group, so
#: its histograms are int4[] (half the bytes written per minute row); hours and days sum many
#: minutes and keep bigint[].
HIST_TYPE = {"minute": "int4[]", "hour": "bigint[]", "day": "bigint[]"}


def _one_hot(index: str, array_type: str = "bigint[]") -> str:
    """The histogram of a single call: a CASE over its bucket index choosing a constant array."""
    arms = " ".join(
        "WHEN {} THEN '{{{}}}'::{}".format(i, ",".join("1" if j == i else "0" for j in range(BUCKETS)), array_type)
        for i in range(BUCKETS)
    )
    return f"CASE {index} {arms} END"


def _zeros(array_type: str = "bigint[]") -> str:
    return "'{" + ",".join(["0"] * BUCKETS) + "}'::" + array_type


def _hist_from_indexes(n: str, first: str, indexes: str, array_type: str = "bigint[]") -> str:
    """ARRAY[count per bucket] of a group, from its number of calls ``n``, the bucket index of one
    of them (``first``) and the array of all their bucket indexes.

    Measured against 29 ``count(*) FILTER (WHERE idx = i)`` aggregates (29 quals per row): an
    ``array_agg`` of the index per group and 29 ``array_positions`` over that small array is
    cheaper, and a group of one call (the common case in a minute) is a constant array.
    """
    counts = ", ".join(f"coalesce(cardinality(array_positions({indexes}, {i})), 0)" for i in range(BUCKETS))
    return (
        f"CASE {n} WHEN 0 THEN {_zeros(array_type)} WHEN 1 THEN {_one_hot(first, array_type)} "
        f"ELSE ARRAY[{counts}]::{array_type} END"
    )


def _hist_sum(column: str) -> str:
    """ARRAY[sum of element i]: histograms add element-wise (29 plain sums, no unnest).

    The sums run in float8 (a by-value state, 2.5× faster than sum(bigint)'s 128-bit one) and
    are exact for any count below 2^53 — nine quadrillion calls in one bucket.
    """
    sums = ", ".join(f"sum({column}[{i + 1}]::float8)" for i in range(BUCKETS))
    return f"ARRAY[{sums}]::bigint[]"


# The OpenAPI operations of every API version as LIKE patterns: "{param}" becomes "_%" (one or
# more characters) and a path matches only with the template's number of "/", so a parameter
# never spans segments. LIKE rather than a regular expression: PostgreSQL caches only 32
# compiled regular expressions, and a few dozen versions' templates recompile on every row.
# The raw path may or may not include the version's base path (our gateway logs the full path,
# an upstream log may not), so both are tried. Query strings and a trailing "/" are ignored.
# A path matching several templates takes the most literal one (fewest parameters, then longest).
_PATTERNS_SQL = r"""
DROP TABLE IF EXISTS pg_temp.analytics_endpoint_patterns;
CREATE TEMP TABLE analytics_endpoint_patterns ON COMMIT DROP AS
SELECT version_id, method, template, params, len,
       rel, length(rel) - length(replace(rel, '/', '')) AS rel_slashes,
       base || rel AS full_path,
       length(base || rel) - length(replace(base || rel, '/', '')) AS full_slashes
FROM (
    SELECT e.version_id,
           upper(e.method) AS method,
           upper(e.method) || ' ' || e.path AS template,
           length(e.path) - length(replace(e.path, '{', '')) AS params,
           length(e.path) AS len,
           regexp_replace(replace(replace(replace(rtrim(e.path, '/'), '\', '\\'), '%', '\%'), '_', '\_'),
                          '\{[^/]*?\}', '_%', 'g') AS rel,
           replace(replace(replace(rtrim(v.base_path, '/'), '\', '\\'), '%', '\%'), '_', '\_') AS base
    FROM apis_endpoint e JOIN apis_apiversion v ON v.id = e.version_id
) t;
CREATE INDEX ON analytics_endpoint_patterns (version_id, method);
ANALYZE analytics_endpoint_patterns;
"""

# Rows that name their endpoint skip the matching altogether (a separate branch of a UNION ALL
# over the same source: a second scan costs less than a lateral probe per row).
_KEEP = (
    "ts, provider_tenant_id, api_id, api_version_id, consumer_tenant_id, application_id, api_key_id, plan_id, "
    "status, error, node_id, request_bytes, response_bytes, latency_ms, upstream_latency_ms, "
    "ai_input_tokens, ai_output_tokens, ai_cost"
)
_MATCH_ENDPOINT = f"""
SELECT {_KEEP}, endpoint AS ep FROM src WHERE src.endpoint <> ''
UNION ALL
SELECT {", ".join("src." + c.strip() for c in _KEEP.split(","))},
       CASE WHEN src.api_version_id IS NULL THEN '' ELSE coalesce(m.template, 'other') END
FROM src
CROSS JOIN LATERAL (SELECT rtrim(split_part(src.path, '?', 1), '/') AS p) q
CROSS JOIN LATERAL (SELECT length(q.p) - length(replace(q.p, '/', '')) AS slashes) n
LEFT JOIN LATERAL (
    SELECT p.template FROM analytics_endpoint_patterns p
    WHERE p.version_id = src.api_version_id AND p.method = upper(src.method)
      AND ((n.slashes = p.rel_slashes AND q.p LIKE p.rel) OR (n.slashes = p.full_slashes AND q.p LIKE p.full_path))
    ORDER BY p.params, p.len DESC, p.template LIMIT 1
) m ON true
WHERE src.endpoint = ''
"""  # noqa: S608 - column lists are our constants
_RAW_COLUMNS = (
    "ts, provider_tenant_id, api_id, api_version_id, endpoint, method, path, consumer_tenant_id, application_id, "
    "api_key_id, plan_id, status, error, node_id, request_bytes, response_bytes, latency_ms, upstream_latency_ms, "
    "ai_input_tokens, ai_output_tokens, ai_cost"
)


def _insert_from_raw(level: str, where: str) -> str:
    """INSERT the groups of ``level`` computed from the raw rows chosen by ``where`` (over ``src``)."""
    dims = ", ".join(f"e.{d}" if d != "endpoint" else "e.ep" for d in DIMENSIONS)
    return f"""
WITH src AS NOT MATERIALIZED ({where})
INSERT INTO {TABLES[level]} ({_COLUMNS})
SELECT g.bucket, {_DIMS}, g.calls, g.errors_4xx, g.errors_5xx, g.request_bytes, g.response_bytes,
       g.latency_sum, {_hist_from_indexes("g.calls", "g.lb1", "g.lbs", HIST_TYPE[level])},
       g.upstream_latency_sum, g.upstream_count,
       {_hist_from_indexes("g.upstream_count", "g.ub1", "g.ubs", HIST_TYPE[level])},
       g.ai_input_tokens, g.ai_output_tokens, g.ai_cost
FROM (
    SELECT r.bucket, {_DIMS},
           count(*) AS calls,
           -- status is a dimension: every call of a group has the group's status.
           CASE WHEN r.status BETWEEN 400 AND 499 THEN count(*) ELSE 0 END AS errors_4xx,
           CASE WHEN r.status >= 500 THEN count(*) ELSE 0 END AS errors_5xx,
           coalesce(sum(r.request_bytes), 0) AS request_bytes, coalesce(sum(r.response_bytes), 0) AS response_bytes,
           coalesce(sum(r.latency_ms), 0) AS latency_sum, min(r.lb) AS lb1, array_agg(r.lb) AS lbs,
           coalesce(sum(r.upstream_latency_ms), 0) AS upstream_latency_sum,
           count(r.upstream_latency_ms) AS upstream_count, min(r.ub) AS ub1,
           array_agg(r.ub) FILTER (WHERE r.ub IS NOT NULL) AS ubs,
           coalesce(sum(r.ai_input_tokens), 0) AS ai_input_tokens,
           coalesce(sum(r.ai_output_tokens), 0) AS ai_output_tokens,
           coalesce(sum(r.ai_cost), 0) AS ai_cost
    FROM (
        -- Only the columns the aggregate needs: a narrow tuple sorts / hashes in memory.
        SELECT date_trunc('{level}', e.ts, 'UTC') AS bucket, {dims},
               e.request_bytes, e.response_bytes, e.latency_ms, e.upstream_latency_ms,
               e.ai_input_tokens, e.ai_output_tokens, e.ai_cost,
               {bucket_index_sql("e.latency_ms")} AS lb, {bucket_index_sql("e.upstream_latency_ms")} AS ub
        FROM ({_MATCH_ENDPOINT}) e
    ) r ({_COLUMNS_RAW_NARROW})
    GROUP BY r.bucket, {_DIMS}
) g
"""  # noqa: S608 - table names and expressions are our constants; values are bound parameters


def _insert_from_level(level: str, where: str) -> str:
    """INSERT the groups of ``level`` summed from the finer level's rows chosen by ``where`` (over ``s``)."""
    return f"""
INSERT INTO {TABLES[level]} ({_COLUMNS})
SELECT date_trunc('{level}', s.bucket, 'UTC'), {", ".join(f"s.{d}" for d in DIMENSIONS)},
       sum(s.calls)::bigint, sum(s.errors_4xx)::bigint, sum(s.errors_5xx)::bigint,
       sum(s.request_bytes)::bigint, sum(s.response_bytes)::bigint,
       sum(s.latency_sum), {_hist_sum("s.latency_hist")},
       sum(s.upstream_latency_sum), sum(s.upstream_count)::bigint, {_hist_sum("s.upstream_hist")},
       sum(s.ai_input_tokens)::bigint, sum(s.ai_output_tokens)::bigint, sum(s.ai_cost)
FROM ({where}) s
GROUP BY 1, {", ".join(str(i + 2) for i in range(len(DIMENSIONS)))}
"""  # noqa: S608 - table names and expressions are our constants; values are bound parameters


# --- AI rollups (docs/analytics.md, "AI rollups") ---------------------------------------------

_AI_DIMS = ", ".join(AI_DIMENSIONS)
_AI_MEASURES = (
    "calls",
    "errors",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "cost",
    "cost_unknown",
    "ttft_sum",
    "ttft_count",
    "ttft_hist",
    "latency_sum",
    "latency_hist",
)
_AI_COLUMNS = f"bucket, {_AI_DIMS}, {', '.join(_AI_MEASURES)}"
_AI_RAW_COLUMNS = (
    f"ts, {_AI_DIMS}, status, error, latency_ms, ai_ttft_ms, ai_input_tokens, ai_output_tokens, "
    "ai_cached_tokens, ai_cost"
)
#: The raw rows of AI calls: a model answered, or a route was asked for (a call refused before
#: any provider was tried still names its route).
AI_CALL = "(ai_model <> '' OR ai_route <> '')"


def _ai_insert_from_raw(level: str, where: str) -> str:
    """INSERT the AI groups of ``level`` computed from the raw rows chosen by ``where``."""
    return f"""
WITH src AS NOT MATERIALIZED ({where})
INSERT INTO {AI_TABLES[level]} ({_AI_COLUMNS})
SELECT g.bucket, {_AI_DIMS}, g.calls, g.errors, g.input_tokens, g.output_tokens, g.cached_tokens, g.cost,
       g.cost_unknown, g.ttft_sum, g.ttft_count,
       {_hist_from_indexes("g.ttft_count", "g.tb1", "g.tbs", HIST_TYPE[level])},
       g.latency_sum, {_hist_from_indexes("g.calls", "g.lb1", "g.lbs", HIST_TYPE[level])}
FROM (
    SELECT r.bucket, {_AI_DIMS},
           count(*) AS calls,
           count(*) FILTER (WHERE r.status >= 400 OR r.error <> '') AS errors,
           coalesce(sum(r.ai_input_tokens), 0) AS input_tokens,
           coalesce(sum(r.ai_output_tokens), 0) AS output_tokens,
           coalesce(sum(r.ai_cached_tokens), 0) AS cached_tokens,
           coalesce(sum(r.ai_cost), 0) AS cost,
           count(*) FILTER (
               WHERE r.ai_cost IS NULL AND (r.ai_input_tokens IS NOT NULL OR r.ai_output_tokens IS NOT NULL)
           ) AS cost_unknown,
           coalesce(sum(r.ai_ttft_ms), 0) AS ttft_sum, count(r.ai_ttft_ms) AS ttft_count,
           min(r.tb) AS tb1, array_agg(r.tb) FILTER (WHERE r.tb IS NOT NULL) AS tbs,
           coalesce(sum(r.latency_ms), 0) AS latency_sum, min(r.lb) AS lb1, array_agg(r.lb) AS lbs
    FROM (
        SELECT date_trunc('{level}', e.ts, 'UTC') AS bucket, {", ".join(f"e.{d}" for d in AI_DIMENSIONS)},
               e.status, e.error, e.latency_ms, e.ai_ttft_ms, e.ai_input_tokens, e.ai_output_tokens,
               e.ai_cached_tokens, e.ai_cost,
               {bucket_index_sql("e.latency_ms")} AS lb, {bucket_index_sql("e.ai_ttft_ms")} AS tb
        FROM src e
    ) r
    GROUP BY r.bucket, {_AI_DIMS}
) g
"""  # noqa: S608 - table names and expressions are our constants; values are bound parameters


def _ai_insert_from_level(level: str, where: str) -> str:
    """INSERT the AI groups of ``level`` summed from the finer level's rows chosen by ``where``."""
    return f"""
INSERT INTO {AI_TABLES[level]} ({_AI_COLUMNS})
SELECT date_trunc('{level}', s.bucket, 'UTC'), {", ".join(f"s.{d}" for d in AI_DIMENSIONS)},
       sum(s.calls)::bigint, sum(s.errors)::bigint, sum(s.input_tokens)::bigint, sum(s.output_tokens)::bigint,
       sum(s.cached_tokens)::bigint, sum(s.cost), sum(s.cost_unknown)::bigint,
       sum(s.ttft_sum), sum(s.ttft_count)::bigint, {_hist_sum("s.ttft_hist")},
       sum(s.latency_sum), {_hist_sum("s.latency_hist")}
FROM ({where}) s
GROUP BY 1, {", ".join(str(i + 2) for i in range(len(AI_DIMENSIONS)))}
"""  # noqa: S608 - table names and expressions are our constants; values are bound parameters


@dataclass(frozen=True)
class _Family:
    """A set of rollup tables (minute, hour, day), how a level's rows are computed, and the
    summaries kept from them (narrower copies: the same measures grouped by fewer dimensions)."""

    tables: dict[str, str]
    raw_columns: str
    raw_filter: str  # a condition over the raw table's columns ("TRUE": every call)
    from_raw: Callable[[str, str], str]
    from_level: Callable[[str, str], str]
    summaries: dict[str, tuple[str, ...]]
    summary_levels: dict[str, tuple[str, ...]]
    measures: tuple[str, ...]
    measure_sums: str  # the measures of ``measures`` summed over rows ``s`` of the family's tables


def _recompute_summaries(
    cur: CursorWrapper, level: str, open_from: dt.datetime, until: dt.datetime, family: _Family
) -> int:
    """Replace the summary rows of ``level`` for the buckets just recomputed in the full rollup
    of ``family`` (``[open_from, until)`` and the dirty buckets before ``until``)."""
    table = family.tables[level]
    source = (
        f"SELECT * FROM {table} WHERE bucket >= %(open_from)s AND bucket < %(until)s "  # noqa: S608
        f"UNION ALL SELECT r.* FROM analytics_dirtybucket d JOIN {table} r ON r.bucket = d.bucket "
        "WHERE d.level = %(level)s AND d.bucket < %(open_from)s"
    )
    chosen = (
        "(bucket >= %(open_from)s AND bucket < %(until)s) OR bucket = ANY(ARRAY("
        "SELECT bucket FROM analytics_dirtybucket WHERE level = %(level)s AND bucket < %(until)s))"
    )
    params = {"open_from": open_from, "until": until, "level": level}
    return _replace_summaries(cur, level, source, chosen, params, family)


def refresh_summaries(level: str, buckets: list[dt.datetime], shapes: tuple[str, ...] = ()) -> int:
    """Recompute the summaries (all, or ``shapes``) of some ``level`` buckets from the full
    rollup rows, the AI summaries from the AI rollup rows (tests, repairs, a new summary's backfill)."""
    inserted = 0
    with transaction.atomic(), connection.cursor() as cur:
        for family in (CALLS, AI):
            source = f"SELECT * FROM {family.tables[level]} WHERE bucket = ANY(%(buckets)s)"  # noqa: S608
            chosen = "bucket = ANY(%(buckets)s)"
            inserted += _replace_summaries(cur, level, source, chosen, {"buckets": buckets}, family, shapes)
    return inserted


def _replace_summaries(
    cur: CursorWrapper,
    level: str,
    source: str,
    chosen: str,
    params: dict[str, Any],
    family: _Family,
    shapes: tuple[str, ...] = (),
) -> int:
    """Delete the summary rows of ``level`` whose bucket is ``chosen`` and insert them again from
    the full rollup rows ``source`` (of ``family``).

    Each summary is the ``level`` rollup grouped by fewer dimensions, so it is recomputed from
    those rows (whole buckets, deleted then inserted: the same replace-never-increment rule).
    Rows go in ordered by bucket and the summary's dimensions, so one tenant's rows of a bucket
    share a few pages (a consumer's 30 days of endpoints read ~30 × a few pages, not one per row).
    """
    inserted = 0
    for shape, dims in family.summaries.items():
        if (shapes and shape not in shapes) or level not in family.summary_levels[shape]:
            continue
        table = summary_table(shape, level)
        cur.execute(f"DELETE FROM {table} WHERE {chosen}", params)  # noqa: S608
        cur.execute(
            f"""
            INSERT INTO {table} (bucket, {", ".join(dims)}, {", ".join(family.measures)})
            SELECT s.bucket, {", ".join(f"s.{d}" for d in dims)}, {family.measure_sums}
            FROM ({source}) s
            GROUP BY {", ".join(str(i + 1) for i in range(len(dims) + 1))}
            ORDER BY {", ".join(str(i + 1) for i in range(len(dims) + 1))}
            """,  # noqa: S608 - table names and expressions are our constants; values are bound parameters
            params,
        )
        inserted += cur.rowcount
    return inserted


@dataclass
class RollupResult:
    """What one run did (returned by the task, logged, and asserted on by the tests)."""

    ran: bool
    watermark: dt.datetime | None = None
    late_buckets: int = 0
    rows: dict[str, int] = field(default_factory=dict)


def _trim_cutoff(level: str) -> dt.datetime | None:
    """Buckets of ``level`` before this may already be trimmed by retention (None: kept for ever)."""
    days = {"minute": settings.ROLLUP_MINUTE_RETENTION_DAYS, "hour": settings.ROLLUP_HOUR_RETENTION_DAYS}.get(level)
    if not days:
        return None
    # One day of slack so the retention task (which runs on its own clock) never trims a bucket
    # the rollup still sums from.
    return dt.datetime.now(dt.UTC) - dt.timedelta(days=days - 1)


CALLS = _Family(
    TABLES,
    _RAW_COLUMNS,
    "TRUE",
    _insert_from_raw,
    _insert_from_level,
    SUMMARIES,
    SUMMARY_LEVELS,
    _MEASURES,
    "sum(s.calls)::bigint, sum(s.errors_4xx)::bigint, sum(s.errors_5xx)::bigint, "
    "sum(s.request_bytes)::bigint, sum(s.response_bytes)::bigint, "
    f"sum(s.latency_sum), {_hist_sum('s.latency_hist')}, "
    f"sum(s.upstream_latency_sum), sum(s.upstream_count)::bigint, {_hist_sum('s.upstream_hist')}, "
    "sum(s.ai_input_tokens)::bigint, sum(s.ai_output_tokens)::bigint, sum(s.ai_cost)",
)
AI = _Family(
    AI_TABLES,
    _AI_RAW_COLUMNS,
    AI_CALL,
    _ai_insert_from_raw,
    _ai_insert_from_level,
    AI_SUMMARIES,
    AI_SUMMARY_LEVELS,
    _AI_MEASURES,
    "sum(s.calls)::bigint, sum(s.errors)::bigint, sum(s.input_tokens)::bigint, sum(s.output_tokens)::bigint, "
    "sum(s.cached_tokens)::bigint, sum(s.cost), sum(s.cost_unknown)::bigint, "
    f"sum(s.ttft_sum), sum(s.ttft_count)::bigint, {_hist_sum('s.ttft_hist')}, "
    f"sum(s.latency_sum), {_hist_sum('s.latency_hist')}",
)


def _recompute(
    cur: CursorWrapper, level: str, open_from: dt.datetime, until: dt.datetime, family: _Family = CALLS
) -> int:
    """Replace the rows of ``level`` (of the call rollups, or of another ``family``: the AI rollups)
    for its buckets in ``[open_from, until)`` and its dirty buckets before ``until``.

    For minutes ``until`` is infinity (the open range includes the current, partial minute); for
    hours and days it is the first bucket not yet closed, which is left to the finer level.
    """
    tables = family.tables
    table = tables[level]
    unit = f"interval '1 {level}'"
    params: dict[str, dt.datetime | str] = {"open_from": open_from, "until": until, "level": level}
    cur.execute(
        # "= ANY(ARRAY(…))" rather than "IN (SELECT …)": both arms of the OR then use the index on
        # bucket; a semi-join in an OR reads the whole table (14 days of minutes) at every run.
        f"DELETE FROM {table} WHERE (bucket >= %(open_from)s AND bucket < %(until)s) OR bucket = ANY(ARRAY("  # noqa: S608
        "SELECT bucket FROM analytics_dirtybucket WHERE level = %(level)s AND bucket < %(until)s))",
        params,
    )
    columns = family.raw_columns
    raw_rows = (
        f"SELECT {columns} FROM {RAW} WHERE ts >= %(open_from)s AND ts < least(%(raw_until)s, %(until)s) "  # noqa: S608
        f"AND {family.raw_filter} "
        f"UNION ALL SELECT {', '.join('c.' + c.strip() for c in columns.split(','))} "
        f"FROM analytics_dirtybucket d JOIN {RAW} c ON c.ts >= d.bucket AND c.ts < d.bucket + {unit} "
        "WHERE d.level = %(level)s AND d.bucket < %(open_from)s AND d.bucket < %(raw_until)s "
        f"AND {family.raw_filter.replace('ai_', 'c.ai_')}"
    )
    source = SOURCE_LEVEL.get(level)
    if source is None:
        cur.execute(family.from_raw(level, raw_rows), {**params, "raw_until": INFINITY})
        return cur.rowcount
    # The finer level is complete from its trim cutoff on (rounded up to a whole bucket); buckets
    # before that (late data older than the finer level's retention) are summed from raw.
    cutoff = _trim_cutoff(source)
    from_source = EPOCH_MIN
    if cutoff is not None:
        cur.execute(f"SELECT date_trunc('{level}', %s::timestamptz, 'UTC') + {unit}", [cutoff])
        (from_source,) = cur.fetchone()
    src = tables[source]
    level_rows = (
        f"SELECT * FROM {src} WHERE bucket >= greatest(%(open_from)s, %(from_source)s) "  # noqa: S608
        "AND bucket < %(until)s "
        f"UNION ALL SELECT f.* FROM analytics_dirtybucket d JOIN {src} f "
        f"ON f.bucket >= d.bucket AND f.bucket < d.bucket + {unit} "
        "WHERE d.level = %(level)s AND d.bucket < %(open_from)s AND d.bucket >= %(from_source)s"
    )
    cur.execute(family.from_level(level, level_rows), {**params, "from_source": from_source})
    inserted = cur.rowcount
    if from_source > EPOCH_MIN:
        cur.execute(family.from_raw(level, raw_rows), {**params, "raw_until": from_source})
        inserted += cur.rowcount
    return inserted


def run_rollup(*, after_step: Callable[[str], None] | None = None) -> RollupResult:
    """One rollup run (see the module docstring). Returns ``ran=False`` when another run holds the lock.

    ``after_step`` is called inside the transaction after each level ("minute", "hour", "day"):
    the tests use it to hold a run mid-way or kill its process there.
    """
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_xact_lock(%s)", [LOCK_KEY])
        if not cur.fetchone()[0]:
            return RollupResult(ran=False)
        # JIT compiling these wide aggregates costs seconds and saves nothing; a hash aggregate
        # over a run's groups needs more than the default 4 MB work_mem not to spill to disk.
        cur.execute("SET LOCAL jit = off")
        cur.execute("SELECT set_config('work_mem', %s, true)", [settings.ROLLUP_WORK_MEM])
        # Backend status is cached per transaction: drop the cache so the read below is fresh.
        cur.execute("SELECT pg_stat_clear_snapshot()")
        cur.execute(
            """
            SELECT least(statement_timestamp(), greatest(
                       statement_timestamp() - make_interval(secs => %(max_lag)s),
                       coalesce((SELECT min(xact_start) FROM pg_stat_activity
                                 WHERE datname = current_database() AND pid <> pg_backend_pid()
                                   AND xact_start IS NOT NULL), 'infinity')))
                   - make_interval(secs => %(margin)s)
            """,
            {"margin": settings.ROLLUP_LATE_MARGIN_SECONDS, "max_lag": settings.ROLLUP_MAX_LAG_SECONDS},
        )
        (seen_now,) = cur.fetchone()
        cur.execute("SELECT upto, seen_upto FROM analytics_watermark WHERE level = 'minute'")
        row = cur.fetchone()
        upto, seen_upto = row if row else (None, None)
        open_from = upto or EPOCH_MIN
        cur.execute("SELECT greatest(%s, date_trunc('minute', %s::timestamptz, 'UTC'))", [open_from, seen_now])
        (new_upto,) = cur.fetchone()

        late = 0
        if upto is not None and seen_upto is not None:
            cur.execute(
                f"INSERT INTO analytics_dirtybucket (level, bucket) "  # noqa: S608
                f"SELECT DISTINCT 'minute', date_trunc('minute', ts, 'UTC') FROM {RAW} "
                "WHERE received_at >= %s AND ts < %s ON CONFLICT DO NOTHING",
                [seen_upto, upto],
            )
            late = cur.rowcount

        cur.execute(_PATTERNS_SQL)
        rows: dict[str, int] = {}
        minute_open_from = open_from
        for level in LEVELS:
            if level != "minute":
                # A recomputed finer bucket dirties the coarser bucket that contains it.
                cur.execute(
                    "INSERT INTO analytics_dirtybucket (level, bucket) "
                    "SELECT DISTINCT %(level)s, date_trunc(%(level)s, bucket, 'UTC') FROM analytics_dirtybucket "
                    "WHERE level = %(finer)s AND bucket < %(open_from)s ON CONFLICT DO NOTHING",
                    {"level": level, "finer": SOURCE_LEVEL[level], "open_from": open_from},
                )
            cur.execute(
                "SELECT date_trunc(%(l)s, %(from)s::timestamptz, 'UTC'), "
                "date_trunc(%(l)s, %(upto)s::timestamptz, 'UTC')",
                {"l": level, "from": open_from, "upto": new_upto},
            )
            level_open_from, level_until = cur.fetchone()
            if level == "minute":
                level_until = INFINITY  # the open range, the current partial minute included
            if level == "hour":
                # The minute summaries (from the minute rows just written) open the hour step.
                rows["minute summaries"] = _recompute_summaries(cur, "minute", minute_open_from, INFINITY, CALLS)
            rows[level] = _recompute(cur, level, level_open_from, level_until)
            # The AI rollups: the same buckets, from the same sources, in the same transaction.
            rows[f"ai {level}"] = _recompute(cur, level, level_open_from, level_until, AI)
            if level == "minute":
                minute_open_from = level_open_from
            else:
                rows[f"{level} summaries"] = _recompute_summaries(cur, level, level_open_from, level_until, CALLS)
                rows[f"ai {level} summaries"] = _recompute_summaries(cur, level, level_open_from, level_until, AI)
            if after_step:
                after_step(level)

        cur.execute("DELETE FROM analytics_dirtybucket")
        cur.execute(
            """
            INSERT INTO analytics_watermark (level, upto, seen_upto, updated_at)
            SELECT l, date_trunc(l, %(upto)s::timestamptz, 'UTC'), %(seen)s, now()
            FROM unnest(ARRAY['minute', 'hour', 'day']) AS l
            ON CONFLICT (level) DO UPDATE SET upto = EXCLUDED.upto, seen_upto = EXCLUDED.seen_upto,
                updated_at = EXCLUDED.updated_at
            """,
            {"upto": new_upto, "seen": seen_now},
        )
        return RollupResult(ran=True, watermark=new_upto, late_buckets=late, rows=rows)


def delete_expired_rollups(*, batch_size: int = 10_000) -> dict[str, int]:
    """Retention: minute rows older than ROLLUP_MINUTE_RETENTION_DAYS, hour rows older than
    ROLLUP_HOUR_RETENTION_DAYS (day rows are kept for ever), in batches of short transactions."""
    deleted: dict[str, int] = {}
    now = dt.datetime.now(dt.UTC)
    hour_cutoff = now - dt.timedelta(days=settings.ROLLUP_HOUR_RETENTION_DAYS)
    minute_cutoff = now - dt.timedelta(days=settings.ROLLUP_MINUTE_RETENTION_DAYS)
    for name, table, cutoff in (
        ("minute", TABLES["minute"], minute_cutoff),
        ("hour", TABLES["hour"], hour_cutoff),
        # The AI rollups live as long as the call rollups of their level.
        ("ai minute", AI_TABLES["minute"], minute_cutoff),
        ("ai hour", AI_TABLES["hour"], hour_cutoff),
        # Summaries live as long as the rollups of their level they are grouped from.
        *(
            (f"{shape} summary {level}", summary_table(shape, level), cutoff)
            for level, cutoff in (("minute", minute_cutoff), ("hour", hour_cutoff))
            for family in (CALLS, AI)
            for shape in family.summaries
            if level in family.summary_levels[shape]
        ),
    ):
        deleted[name] = 0
        while True:
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute(
                    f"DELETE FROM {table} WHERE id IN "  # noqa: S608
                    f"(SELECT id FROM {table} WHERE bucket < %s LIMIT %s)",
                    [cutoff, batch_size],
                )
                count = cur.rowcount
            deleted[name] += count
            if count < batch_size:
                break
    return deleted
