"""B3: p95 of every dashboard query and REST analytics read over N raw call records.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/dashboards.py --rows 10000000

Creates a throwaway database (dropped at the end), migrates it, seeds ``--rows`` raw records
spread over 30 days with generate_series (Zipf-like skew: a few providers, keys and endpoints
take most calls; about 10 % are AI calls with routes, models, tokens and costs) one UTC day at
a time (``--jobs`` days side by side), builds each day's rollups and AI rollups with the
rollup's own SQL (minute for the last ``--minute-days`` days, hour for the last
``--hour-days`` — no query reads older hours — and day for all 30) and their summaries with the
rollup's own code (``analytics.rollup.refresh_summaries``), lays the minute and hour tables out
in time order as the rollup leaves them, then times each selector the pages and REST endpoints
call (the same functions; REST adds only serialisation; the AI sections included)
``--repeat`` times per case and prints the p95. Writes var/bench/dashboards.json. Target: p95
< 100 ms for each.

``--name N --keep`` seeds into N and keeps it (about 16 min and 50 GB at 10 M rows on a 2-core
machine); ``--reuse N`` migrates it, backfills the summaries added since, and times again.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _admin_url(url: str, dbname: str) -> str:
    parts = urlparse(url)
    return urlunparse(parts._replace(path=f"/{dbname}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--providers", type=int, default=50)
    parser.add_argument("--keys", type=int, default=5000)
    parser.add_argument("--minute-days", type=int, default=2, help="minute rollups kept for the last N days")
    parser.add_argument(
        "--hour-days", type=int, default=15, help="hour rollups for the last N days (no query reads older hours)"
    )
    parser.add_argument("--jobs", type=int, default=2, help="days seeded side by side (connections)")
    parser.add_argument("--keep", action="store_true", help="do not drop the database at the end")
    parser.add_argument("--name", default="", help="seed into this database name (with --keep, reuse it later)")
    parser.add_argument(
        "--reuse", default="", help="time again on a database left by --keep (migrated, new summaries backfilled)"
    )
    args = parser.parse_args()

    import psycopg

    base_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    dbname = args.reuse or args.name or f"bench_dashboards_{os.getpid()}"
    args.keep = args.keep or bool(args.reuse)
    if not args.reuse:
        with psycopg.connect(_admin_url(base_url, "postgres"), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{dbname}"')
    os.environ["DATABASE_URL"] = _admin_url(base_url, dbname)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    os.environ.setdefault("PORTAL_TESTING", "1")
    try:
        results = run(args)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            with psycopg.connect(_admin_url(base_url, "postgres"), autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
    out = ROOT / "var" / "bench" / "dashboards.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwritten to {out}")


#: Bumped when the seeded data or its layout changes: ``--reuse`` refuses an older database.
SEED_VERSION = 4


def _seed(cursor: Any, args: argparse.Namespace, now: datetime) -> dict[str, float]:
    """Raw rows and every rollup level and summary, one UTC day at a time (oldest first).

    Each day's raw rows are inserted, then rolled up while they are still in the cache: minute
    (last ``--minute-days`` days) and hour rows from raw, the day row from the hour rows, and
    the summaries of those buckets, all with the rollup's own SQL. A day at a time keeps every
    aggregate in memory (one 10 M-row GROUP BY spilled to disk for most of the old seed's time).
    The raw table's indexes are dropped for the load and built once at the end.
    """

    from gateways.partitions import ensure_partitions

    ensure_partitions(days_behind=31, days_ahead=1, today=now.date())
    _session_settings(cursor)
    indexes = _drop_raw_indexes(cursor)
    chunks, start, done = [], now - timedelta(days=30), 0
    while start < now:
        end = min(now, datetime.combine(start.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC))
        rows = round(args.rows * ((end - (now - timedelta(days=30))) / timedelta(days=30))) - done
        chunks.append((start, end, done, rows))
        start, done = end, done + rows
    started = time.perf_counter()
    timings = dict.fromkeys(("seed_raw_s", "seed_rollups_s", "seed_summaries_s"), 0.0)
    # Days are independent (disjoint buckets): --jobs connections seed them side by side.
    with ThreadPoolExecutor(args.jobs) as pool:
        for chunk_timings in pool.map(lambda chunk: _seed_day(args, now, *chunk), chunks):
            for key, seconds in chunk_timings.items():
                timings[key] += seconds
    timings["seed_days_wall_s"] = time.perf_counter() - started
    started = time.perf_counter()
    for statement in indexes:
        cursor.execute(statement)
    timings["seed_raw_indexes_s"] = time.perf_counter() - started
    started = time.perf_counter()
    _time_order(args, [table for table in _rollup_tables() if not table.endswith("day") or "summary" in table])
    for table in ("gateways_callrecord", *(table for table in _rollup_tables() if table.endswith("day"))):
        cursor.execute(f"VACUUM ANALYZE {table}")
    _stamp(cursor, args.rows)
    cursor.execute("RESET work_mem; RESET maintenance_work_mem; RESET jit")
    timings["seed_vacuum_s"] = time.perf_counter() - started
    return timings


def _stamp(cursor: Any, rows: int) -> None:
    from django.db import connection

    cursor.execute(
        f'COMMENT ON DATABASE "{connection.settings_dict["NAME"]}" IS %s',
        [f"bench/dashboards.py seed v{SEED_VERSION}, {rows} rows"],
    )


def _time_order(args: argparse.Namespace, tables: list[str]) -> None:
    """Lay out tables in the order the rollup leaves them (CLUSTER on their bucket-first unique index):
    minute and hour rows in time order, summary rows by bucket and then their dimensions.

    The rollup recomputes the open minute and hour every run and appends them, so a bucket's
    final rows sit together; the seed inserts a whole day per statement in hash order, which
    spreads each hour over the day's pages (and made every hour-range read fetch several times
    the pages production would).
    """
    from django.db import connection

    def cluster(table: str) -> None:
        try:
            with connection.cursor() as cursor:
                _session_settings(cursor)
                cursor.execute(f"CLUSTER {table} USING {table.removeprefix('analytics_')}_unique_dims")
                cursor.execute(f"VACUUM ANALYZE {table}")
        finally:
            connection.close()

    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(cluster, tables))


def _session_settings(cursor: Any) -> None:
    """The rollup's own settings (analytics.rollup.run_rollup), for a whole seed session."""
    cursor.execute("SET work_mem = '256MB'; SET maintenance_work_mem = '1GB'; SET jit = off")


def _seed_day(
    args: argparse.Namespace, now: datetime, start: datetime, end: datetime, first: int, rows: int
) -> dict[str, float]:
    """One day's raw rows and rollups, on this thread's own connection."""
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            _session_settings(cursor)
            started = time.perf_counter()
            _seed_raw(cursor, args, start, end, first, rows)
            timings = {"seed_raw_s": time.perf_counter() - started, **_build_rollups(cursor, args, now, start, end)}
        print(f"  {start:%Y-%m-%d}: {rows} raw rows, {sum(timings.values()):.1f} s", flush=True)
        return timings
    finally:
        connection.close()


def _drop_raw_indexes(cursor: Any) -> list[str]:
    """Drop the raw table's indexes (and primary key); returns the statements that rebuild them."""
    cursor.execute(
        """
        SELECT c.conname, pg_get_constraintdef(c.oid), i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid
        WHERE i.indrelid = 'gateways_callrecord'::regclass
        """
    )
    rebuild = []
    for constraint, constraint_def, index_name, index_def in cursor.fetchall():
        if constraint:
            cursor.execute(f"ALTER TABLE gateways_callrecord DROP CONSTRAINT {constraint}")
            rebuild.append(f"ALTER TABLE gateways_callrecord ADD CONSTRAINT {constraint} {constraint_def}")
        else:
            cursor.execute(f"DROP INDEX {index_name}")
            # pg_get_indexdef says "ON ONLY" for a partitioned table's index: rebuilt that way it
            # would exist on the parent alone, invalid, and no partition would have it.
            rebuild.append(index_def.replace(" ON ONLY ", " ON ", 1))
    return rebuild


def _seed_raw(cursor: Any, args: argparse.Namespace, start: datetime, end: datetime, first: int, rows: int) -> None:
    """``rows`` raw records spread evenly over [start, end), numbered from ``first + 1``.

    Skew: u^3 puts most calls on the first ids. Provider p owns APIs p*4..p*4+3; each key belongs
    to one application (key / 2) of one consumer tenant (1000 + key % 200).

    AI calls: the APIs whose id is 1 modulo 8 are AI surfaces (one of every other provider's
    four, the busiest provider's API 1 among them: about 10 % of all calls). Each call asks for
    one of its provider's three routes ``org<p>/chat-<n>``; nine in ten are answered by the
    route's first model, the rest by a fallback; served ones carry tokens (a third with cached
    input), a cost (one model has no price: cost unknown) and a time to first token; refused
    ones (429) name only their route.
    """
    cursor.execute(
        f"""
        INSERT INTO gateways_callrecord (request_id, ts, node_id, source, api_version_id, api_id, provider_tenant_id,
            endpoint, method, path, api_key_id, key_id, application_id, consumer_tenant_id, plan_id, status,
            latency_ms, request_bytes, response_bytes, error, ai_route, ai_provider, ai_model, ai_input_tokens,
            ai_output_tokens, ai_cached_tokens, ai_cost, ai_ttft_ms)
        SELECT gen_random_uuid(), ts, 1 + (g %% 3), 'native', api, api, 1 + api / 4,
            CASE WHEN ai THEN 'POST /chat/completions' ELSE 'GET /r' || ep || '/{{id}}' END,
            CASE WHEN ai THEN 'POST' ELSE 'GET' END,
            '/p' || api || CASE WHEN ai THEN '/chat/completions' ELSE '/r' || ep || '/' || g END, k, 'k' || k,
            1 + k / 2, 1000 + k %% 200, 1 + api, st, lat, 200, 2000,
            CASE WHEN st = 429 THEN 'rate_limited' ELSE '' END,
            CASE WHEN ai THEN 'org' || (1 + api / 4) || '/chat-' || route ELSE '' END,
            CASE WHEN NOT ai OR st = 429 THEN ''
                 ELSE (ARRAY['openai', 'anthropic', 'gemini'])[1 + (route + fallback) %% 3] END,
            CASE WHEN NOT ai OR st = 429 THEN ''
                 ELSE (ARRAY['gpt-4o-mini', 'claude-haiku', 'gemini-flash'])[1 + (route + fallback) %% 3] END,
            CASE WHEN served THEN tin END, CASE WHEN served THEN tout END,
            CASE WHEN served AND cached THEN tin / 2 END,
            CASE WHEN served AND (route + fallback) %% 3 <> 2
                 THEN round((tin * 0.15 + tout * 0.60) / 1000000, 8) END,
            CASE WHEN served THEN lat * 0.3 END
        FROM (
            SELECT *, ai AND st < 400 AS served FROM (
                SELECT g, ts, api, ep, k, st, lat, api %% 8 = 1 AS ai,
                    (g %% 3)::int AS route, CASE WHEN g %% 10 = 0 THEN 1 ELSE 0 END AS fallback,
                    floor(exp(4 + random() * 4))::int AS tin, floor(exp(2 + random() * 4))::int AS tout,
                    g %% 7 < 2 AS cached
                FROM (
                    SELECT g,
                        %(start)s + (random() * %(span)s) AS ts,
                        floor({args.providers * 4} * power(random(), 3))::int AS api,
                        floor(20 * power(random(), 2))::int AS ep,
                        1 + floor({args.keys} * power(random(), 3))::int AS k,
                        (ARRAY[200,200,200,200,200,200,200,200,200,201,204,400,404,429,500,503])
                            [1 + floor(random() * 16)::int] AS st,
                        exp(3 + random() * 2.5) AS lat
                    FROM generate_series(%(first)s + 1, %(first)s + %(rows)s) g
                ) s
            ) t
        ) u
        """,  # noqa: S608 - only our own integers are formatted in
        {"start": start, "span": end - start, "first": first, "rows": rows},
    )


def _build_rollups(
    cursor: Any, args: argparse.Namespace, now: datetime, start: datetime, end: datetime
) -> dict[str, float]:
    """The rollups of the raw rows in [start, end) (within one UTC day) with the rollup's own SQL
    (analytics.rollup): minute rows for the last ``--minute-days`` days and hour rows for the
    last ``--hour-days`` from raw, the day rows from the hour rows (from raw before that, as the
    rollup does once hours are trimmed), then the summaries of those buckets
    (``refresh_summaries``: the DELETE + INSERT … GROUP BY the rollup run does for the buckets
    it recomputes)."""
    from django.db import transaction

    from analytics import rollup

    started = time.perf_counter()
    raw = f"SELECT {rollup._RAW_COLUMNS} FROM gateways_callrecord WHERE ts >= %(since)s AND ts < %(until)s"  # noqa: S608
    ai_raw = (
        f"SELECT {rollup._AI_RAW_COLUMNS} FROM gateways_callrecord "  # noqa: S608
        f"WHERE ts >= %(since)s AND ts < %(until)s AND {rollup.AI_CALL}"
    )
    minute_since = max(start, now - timedelta(days=args.minute_days))
    day = datetime.combine(start.date(), datetime.min.time(), tzinfo=UTC)
    with transaction.atomic():
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(rollup._PATTERNS_SQL)
        # The call rollups and the AI rollups, as a rollup run writes both for the same buckets.
        for family, raw_rows in ((rollup.CALLS, raw), (rollup.AI, ai_raw)):
            if minute_since < end:
                cursor.execute(family.from_raw("minute", raw_rows), {"since": minute_since, "until": end})
            if day >= datetime.combine((now - timedelta(days=args.hour_days)).date(), datetime.min.time(), tzinfo=UTC):
                cursor.execute(family.from_raw("hour", raw_rows), {"since": start, "until": end})
                hours = (
                    f"SELECT * FROM {family.tables['hour']} "  # noqa: S608
                    "WHERE bucket >= %(day)s AND bucket < %(day)s + interval '1 day'"
                )
                cursor.execute(family.from_level("day", hours), {"day": day})
            else:
                cursor.execute(family.from_raw("day", raw_rows), {"since": start, "until": end})
    timings = {"seed_rollups_s": time.perf_counter() - started}
    started = time.perf_counter()
    _refresh_day(cursor, day)
    timings["seed_summaries_s"] = time.perf_counter() - started
    return timings


def _watermarks(cursor: Any, now: datetime) -> None:
    """The watermarks a rollup run at ``now`` leaves: minutes written up to now, hours and days up
    to the last closed one. The dashboards read the open hour and day from the finer levels
    (analytics.selectors._written), as in production; the seed's rows for them are not read."""
    cursor.execute(
        "INSERT INTO analytics_watermark (level, upto, seen_upto, updated_at) "
        "SELECT l, date_trunc(l, %(now)s::timestamptz, 'UTC'), %(now)s, now() "
        "FROM unnest(ARRAY['minute', 'hour', 'day']) AS l "
        "ON CONFLICT (level) DO UPDATE SET upto = EXCLUDED.upto, seen_upto = EXCLUDED.seen_upto",
        {"now": now},
    )


def _refresh_day(cursor: Any, day: datetime, shapes: tuple[str, ...] = ()) -> None:
    """The summaries (all, or ``shapes``) of one UTC day's minute, hour and day buckets."""
    from analytics.rollup import TABLES, refresh_summaries

    for level in ("minute", "hour", "day"):
        cursor.execute(
            f"SELECT array_agg(DISTINCT bucket) FROM {TABLES[level]} "  # noqa: S608
            "WHERE bucket >= %s AND bucket < %s + interval '1 day'",
            [day, day],
        )
        buckets = cursor.fetchone()[0]
        if buckets:
            refresh_summaries(level, buckets, shapes)


def _backfill(cursor: Any, args: argparse.Namespace, now: datetime) -> dict[str, float]:
    """Summaries added since the kept database was seeded, from its rollups (the rollup's code)."""
    from django.apps import apps
    from django.db import connection

    from analytics.rollup import summary_table

    cursor.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()")
    comment = cursor.fetchone()[0] or ""
    # Older seeds have no AI calls: their AI figures would time empty tables.
    if not comment.startswith(f"bench/dashboards.py seed v{SEED_VERSION},"):
        raise SystemExit(
            f"{connection.settings_dict['NAME']} is not a seed v{SEED_VERSION} ({comment!r}): seed it again"
        )
    started = time.perf_counter()
    _repair_raw_indexes(cursor)
    # A database kept from a run on an earlier draft of the migration may lack a summary table.
    existing = set(connection.introspection.table_names())
    with connection.schema_editor() as editor:
        for model in apps.get_app_config("analytics").get_models():
            if model._meta.db_table not in existing:
                editor.create_model(model)
    # (A migration that adds a summary may fill it itself: then it is not missing here.)
    missing = sorted({shape for shape, level in _summary_shapes() if _empty(cursor, summary_table(shape, level))})
    if missing:
        cursor.execute("SELECT DISTINCT date_trunc('day', bucket, 'UTC') FROM analytics_rollupday ORDER BY 1")
        days = [day for (day,) in cursor.fetchall()]
        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(lambda day: _backfill_day(day, tuple(missing)), days))
    # Tables created since the seed (backfilled here or by their migration) are laid out and
    # analysed as the seed does its own.
    cursor.execute(
        "SELECT relname FROM pg_stat_user_tables WHERE last_vacuum IS NULL AND relname = ANY(%s)",
        [_summary_tables()],
    )
    fresh = [name for (name,) in cursor.fetchall()]
    _time_order(args, [table for table in fresh if not table.endswith("day")])
    for table in fresh:
        if table.endswith("day"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return {"backfill_s": time.perf_counter() - started}


def _repair_raw_indexes(cursor: Any) -> None:
    """Build again the raw table's indexes that an older seed left on the parent table only (invalid,
    on no partition: every call-log read scanned whole partitions)."""
    cursor.execute(
        """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i
        WHERE i.indrelid = 'gateways_callrecord'::regclass AND NOT i.indisvalid
        """
    )
    for index_name, index_def in cursor.fetchall():
        print(f"  rebuilding {index_name} (left invalid by an older seed)", flush=True)
        cursor.execute(f"DROP INDEX {index_name}")
        cursor.execute(index_def.replace(" ON ONLY ", " ON ", 1))


def _backfill_day(day: datetime, shapes: tuple[str, ...]) -> None:
    from django.db import connection

    try:
        with connection.cursor() as cursor:
            _session_settings(cursor)
            _refresh_day(cursor, day, shapes)
    finally:
        connection.close()


def _rollup_tables() -> list[str]:
    """Every rollup level and summary table, the AI rollups included."""
    from analytics.rollup import AI_TABLES

    return [
        "analytics_rollupminute",
        "analytics_rolluphour",
        "analytics_rollupday",
        *AI_TABLES.values(),
        *_summary_tables(),
    ]


def _summary_shapes() -> list[tuple[str, str]]:
    """(shape, level) of every summary, the AI summaries included."""
    from analytics.models import AI_SUMMARIES, AI_SUMMARY_LEVELS, SUMMARIES, SUMMARY_LEVELS

    return [
        (shape, level)
        for summaries, levels in ((SUMMARIES, SUMMARY_LEVELS), (AI_SUMMARIES, AI_SUMMARY_LEVELS))
        for shape in summaries
        for level in levels[shape]
    ]


def _summary_tables() -> list[str]:
    from analytics.rollup import summary_table

    return [summary_table(shape, level) for shape, level in _summary_shapes()]


def _empty(cursor: Any, table: str) -> bool:
    cursor.execute(f"SELECT NOT EXISTS (SELECT FROM {table})")  # noqa: S608 - our table names
    return bool(cursor.fetchone()[0])


def run(args: argparse.Namespace) -> dict[str, Any]:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from analytics import selectors
    from tenants.models import Tenant

    call_command("migrate", verbosity=0)
    now = datetime.now(UTC)
    with connection.cursor() as cursor:
        if args.reuse:
            cursor.execute("SELECT max(ts) FROM gateways_callrecord")
            now = cursor.fetchone()[0]
            timings = _backfill(cursor, args, now)
        else:
            timings = _seed(cursor, args, now)
        _watermarks(cursor, now)
        counts = {}
        for table in ("gateways_callrecord", *_rollup_tables()):
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
            counts[table] = cursor.fetchone()[0]
    print(f"seeded: {counts} in {timings}")

    # The scope helper only needs the tenant's pk when no filter id is given (no catalogue rows here).
    busiest_provider, small_provider, busiest_consumer = Tenant(pk=1), Tenant(pk=args.providers // 2), Tenant(pk=1000)
    scopes = {
        "provider(top)": selectors.Scope("provider", busiest_provider.pk),
        "provider(mid)": selectors.Scope("provider", small_provider.pk),
        "provider api": selectors.Scope("provider", busiest_provider.pk, api_id=0),
        # API 1 is the busiest provider's AI surface (its AI section has every model and caller).
        "provider ai api": selectors.Scope("provider", busiest_provider.pk, api_id=1),
        "consumer(top)": selectors.Scope("consumer", busiest_consumer.pk),
        "consumer app": selectors.Scope("consumer", busiest_consumer.pk, application_id=1),
        "platform": selectors.platform_scope(),
    }
    cases: list[tuple[str, Any]] = []
    for range_key in ("1h", "24h", "7d", "30d"):
        window = selectors.window_for(range_key, now=now)
        for name, scope in scopes.items():
            cases += [
                (f"timeseries {range_key} {name}", lambda s=scope, w=window: selectors.timeseries(s, w)),
                (f"totals {range_key} {name}", lambda s=scope, w=window: selectors.totals(s, w)),
                (f"top endpoints {range_key} {name}", lambda s=scope, w=window: selectors.top(s, w, "endpoints")),
                (f"top consumers {range_key} {name}", lambda s=scope, w=window: selectors.top(s, w, "consumers")),
                (f"statuses {range_key} {name}", lambda s=scope, w=window: selectors.top(s, w, "statuses")),
                (f"refused {range_key} {name}", lambda s=scope, w=window: selectors.top(s, w, "errors")),
                (f"trends {range_key} {name}", lambda s=scope, w=window: selectors.trends(s, w)),
                # The AI section of the API page (provider), the application page (consumer), the
                # platform page (staff) and the platform page of one organisation (provider).
                (f"ai usage {range_key} {name}", lambda s=scope, w=window: selectors.ai_usage(s, w)),
            ]
    for name, scope in scopes.items():
        flt = selectors.call_filter(now=now)
        first, cursor_ = selectors.calls(scope, flt)
        cases.append((f"call log page 1 {name}", lambda s=scope, f=flt: selectors.calls(s, f)))
        if cursor_:
            cases.append((f"call log page 2 {name}", lambda s=scope, f=flt, c=cursor_: selectors.calls(s, f, after=c)))
        flt_404 = selectors.call_filter(now=now, status=404, path="/p0/r1/")
        cases.append((f"call log filtered {name}", lambda s=scope, f=flt_404: selectors.calls(s, f)))
        if first:
            rid = first[0]["request_id"]
            cases.append((f"call detail {name}", lambda s=scope, r=rid: selectors.call_detail(s, r)))

    results: list[dict[str, Any]] = []
    print(f"\n{'query':<45} {'p50 ms':>8} {'p95 ms':>8}  ok")
    for name, fn in cases:
        fn()  # warm the cache
        samples = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - started) * 1000)
        samples.sort()
        p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
        p50 = statistics.median(samples)
        results.append({"query": name, "p50_ms": round(p50, 2), "p95_ms": round(p95, 2), "ok": p95 < 100})
        print(f"{name:<45} {p50:8.1f} {p95:8.1f}  {'yes' if p95 < 100 else 'NO'}")
    worst = max(results, key=lambda r: r["p95_ms"])
    print(
        f"\n{sum(r['ok'] for r in results)}/{len(results)} under 100 ms; worst {worst['query']}: {worst['p95_ms']} ms"
    )
    return {"rows": args.rows, "counts": counts, "timings": timings, "target_ms": 100, "results": results}


if __name__ == "__main__":
    main()
