"""B3: p95 of every dashboard query and REST analytics read over N raw call records.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/dashboards.py --rows 10000000

Creates a throwaway database (dropped at the end), migrates it, seeds ``--rows`` raw records
spread over 30 days with generate_series (Zipf-like skew: a few providers, keys and endpoints
take most calls), builds the rollups with INSERT … SELECT … GROUP BY (minute for the last
``--minute-days`` days, hour and day for all 30) and their summaries with the rollup's own
code (``analytics.rollup.refresh_summaries``), then times each selector the pages and REST
endpoints call (the same functions; REST adds only serialisation) ``--repeat`` times per case
and prints the p95. Writes var/bench/dashboards.json. Target: p95 < 100 ms for each.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
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


def _seed(cursor: Any, args: argparse.Namespace, now: datetime) -> dict[str, float]:
    from analytics.rollup import refresh_summaries
    from gateways.partitions import ensure_partitions

    timings: dict[str, float] = {}
    ensure_partitions(days_behind=31, days_ahead=1, today=now.date())
    started = time.perf_counter()
    # Skew: u^3 puts most calls on the first ids. Provider p owns APIs p*4..p*4+3; each key belongs to
    # one application (key / 2) of one consumer tenant (1000 + key % 200).
    cursor.execute(
        f"""
        INSERT INTO gateways_callrecord (request_id, ts, node_id, source, api_version_id, api_id, provider_tenant_id,
            endpoint, method, path, api_key_id, key_id, application_id, consumer_tenant_id, plan_id, status,
            latency_ms, request_bytes, response_bytes, error)
        SELECT gen_random_uuid(), ts, 1 + (g %% 3), 'native', api, api, 1 + api / 4,
            'GET /r' || ep || '/{{id}}', 'GET', '/p' || api || '/r' || ep || '/' || g, k, 'k' || k, 1 + k / 2,
            1000 + k %% 200, 1 + api, st, lat, 200, 2000, CASE WHEN st = 429 THEN 'rate_limited' ELSE '' END
        FROM (
            SELECT g,
                %(now)s - (random() * interval '30 days') AS ts,
                floor({args.providers * 4} * power(random(), 3))::int AS api,
                floor(20 * power(random(), 2))::int AS ep,
                1 + floor({args.keys} * power(random(), 3))::int AS k,
                (ARRAY[200,200,200,200,200,200,200,200,200,201,204,400,404,429,500,503])[1 + floor(random() * 16)::int]
                    AS st,
                exp(3 + random() * 2.5) AS lat
            FROM generate_series(1, %(rows)s) g
        ) s
        """,  # noqa: S608 - only our own integers are formatted in
        {"now": now, "rows": args.rows},
    )
    timings["seed_raw_s"] = time.perf_counter() - started
    cursor.execute("ANALYZE gateways_callrecord")
    timings.update(_build_rollups(cursor, args, now))
    # The summaries come from the rollup's own code (analytics.rollup.refresh_summaries: the
    # same DELETE + INSERT … GROUP BY the rollup run does for the buckets it recomputes).
    started = time.perf_counter()
    for level in ("minute", "hour", "day"):
        cursor.execute(f"SELECT array_agg(DISTINCT bucket) FROM analytics_rollup{level}")  # noqa: S608
        refresh_summaries(level, cursor.fetchone()[0] or [])
    timings["seed_summaries_s"] = time.perf_counter() - started
    for table in ("analytics_rollupminute", "analytics_rolluphour", "analytics_rollupday", *_summary_tables()):
        cursor.execute(f"ANALYZE {table}")
    return timings


def _build_rollups(cursor: Any, args: argparse.Namespace, now: datetime) -> dict[str, float]:
    """The rollups with the rollup's own SQL (analytics.rollup): minute rows for the last
    ``--minute-days`` days and hour rows for all, from raw; day rows from the hour rows."""
    from django.conf import settings
    from django.db import transaction

    from analytics import rollup

    started = time.perf_counter()
    raw = f"SELECT {rollup._RAW_COLUMNS} FROM gateways_callrecord WHERE ts >= %(since)s"  # noqa: S608
    with transaction.atomic():
        cursor.execute("SET LOCAL jit = off")
        cursor.execute("SELECT set_config('work_mem', %s, true)", [settings.ROLLUP_WORK_MEM])
        cursor.execute(rollup._PATTERNS_SQL)
        cursor.execute(rollup._insert_from_raw("minute", raw), {"since": now - timedelta(days=args.minute_days)})
        cursor.execute(rollup._insert_from_raw("hour", raw), {"since": rollup.EPOCH_MIN})
        cursor.execute(rollup._insert_from_level("day", "SELECT * FROM analytics_rolluphour"))
    # One big INSERT leaves the minute rows in hash order; a rollup running every interval
    # appends each minute's rows together. Lay them out in time order, as production has them.
    cursor.execute("CLUSTER analytics_rollupminute USING rollupminute_unique_dims")
    for table in ("analytics_rollupminute", "analytics_rolluphour", "analytics_rollupday"):
        cursor.execute(f"VACUUM ANALYZE {table}")
    return {"seed_rollups_s": time.perf_counter() - started}


def _backfill(cursor: Any, args: argparse.Namespace, now: datetime) -> dict[str, float]:
    """Summaries added since the kept database was seeded, from its rollups (the rollup's code)."""
    from django.apps import apps
    from django.db import connection

    from analytics.models import SUMMARIES, SUMMARY_LEVELS
    from analytics.rollup import refresh_summaries, summary_table

    timings: dict[str, float] = {}
    cursor.execute("SELECT NOT EXISTS (SELECT FROM analytics_rollupday)")
    if cursor.fetchone()[0]:  # a seed stopped after the raw rows: build the rollups now
        timings.update(_build_rollups(cursor, args, now))
    else:  # seeded by an older version of this script: minute rows in time order (see above)
        cursor.execute("CLUSTER analytics_rollupminute USING rollupminute_unique_dims")
        cursor.execute("VACUUM ANALYZE analytics_rollupminute")
    started = time.perf_counter()
    # A database kept from a run on an earlier draft of the migration may lack a summary table.
    existing = set(connection.introspection.table_names())
    with connection.schema_editor() as editor:
        for model in apps.get_app_config("analytics").get_models():
            if model._meta.db_table not in existing:
                editor.create_model(model)
    for level in ("minute", "hour", "day"):
        for shape in (shape for shape in SUMMARIES if level in SUMMARY_LEVELS[shape]):
            cursor.execute(f"SELECT EXISTS (SELECT FROM {summary_table(shape, level)})")  # noqa: S608
            if not cursor.fetchone()[0]:
                cursor.execute(f"SELECT array_agg(DISTINCT bucket) FROM analytics_rollup{level}")  # noqa: S608
                refresh_summaries(level, cursor.fetchone()[0] or [], (shape,))
                cursor.execute(f"VACUUM ANALYZE {summary_table(shape, level)}")
    return {**timings, "backfill_summaries_s": time.perf_counter() - started}


def _summary_tables() -> list[str]:
    from analytics.models import SUMMARIES, SUMMARY_LEVELS
    from analytics.rollup import summary_table

    return [summary_table(shape, level) for shape in SUMMARIES for level in SUMMARY_LEVELS[shape]]


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
            now = cursor.fetchone()[0]  # type: ignore[index]
            timings = _backfill(cursor, args, now)
        else:
            timings = _seed(cursor, args, now)
        counts = {}
        for table in (
            "gateways_callrecord",
            "analytics_rollupminute",
            "analytics_rolluphour",
            "analytics_rollupday",
            *_summary_tables(),
        ):
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
            counts[table] = cursor.fetchone()[0]  # type: ignore[index]
    print(f"seeded: {counts} in {timings}")

    # The scope helper only needs the tenant's pk when no filter id is given (no catalogue rows here).
    busiest_provider, small_provider, busiest_consumer = Tenant(pk=1), Tenant(pk=args.providers // 2), Tenant(pk=1000)
    scopes = {
        "provider(top)": selectors.Scope("provider", busiest_provider.pk),
        "provider(mid)": selectors.Scope("provider", small_provider.pk),
        "provider api": selectors.Scope("provider", busiest_provider.pk, api_id=0),
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

    results = []
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
