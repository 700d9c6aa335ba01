"""B2: rollup throughput (raw records/s) against a bare ``GROUP BY`` over the same rows.

Run ``DATABASE_URL=postgres://… .venv/bin/python bench/rollup.py [--rows 1000000]``. It creates a
throwaway database next to the one in DATABASE_URL, migrates it, generates the raw rows in SQL
(``generate_series``: Zipf-skewed keys and endpoints, realistic statuses, log-normal latencies,
a fifth of the records without an endpoint template so the rollup matches their paths), then:

* **bare GROUP BY**: ``SELECT date_trunc('minute', ts), <the 11 dimensions>, count(*), sums … GROUP
  BY …`` over all rows (the cheapest possible aggregation: no histograms, no matching, no writes);
* **bare GROUP BY, written**: the same groups inserted into the minute table, with its indexes (rolled
  back): the least any rollup that stores this grain spends. Shown for reference; the target is
  against the bare GROUP BY;
* **minute rollup**: the rollup's minute step (``DELETE`` + ``INSERT … SELECT … GROUP BY``, with
  both 29-bucket histograms and endpoint matching);
* **whole run**: minute + hour + day in one transaction, as beat runs it;
* **late run**: 1 % more records below the watermark, then one incremental run (dirty buckets).

Each timing is the best of ``--repeat`` runs. Prints a table, writes ``var/bench/rollup.json``,
drops the database, and exits 1 when the minute rollup is below 0.5 × the bare GROUP BY.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("PORTAL_TESTING", "1")  # dev-only defaults (secret key); nothing else changes

TARGET = 0.5

GENERATE = """
INSERT INTO gateways_callrecord (request_id, ts, received_at, node_id, source, api_version_id, api_id,
    provider_tenant_id, endpoint, method, path, api_key_id, application_id, consumer_tenant_id, plan_id,
    status, latency_ms, upstream_latency_ms, request_bytes, response_bytes, error,
    ai_input_tokens, ai_output_tokens, ai_cost)
SELECT gen_random_uuid(), ts, ts, 1 + mod(g, 3), 'native', v.id, v.api_id, v.tenant_id,
       CASE WHEN mod(g, 5) = 0 THEN '' ELSE ops.method || ' ' || ops.template END,
       ops.method, v.base_path || ops.concrete,
       key, 1000 + key / 4, 5000 + key / 40, 1 + mod(key, 3),
       st.status, lat, CASE WHEN st.error = '' THEN lat * 0.8 END,
       (random() * 2000)::int, (random() * 40000)::int, st.error,
       CASE WHEN mod(g, 10) = 0 THEN (random() * 2000)::int END,
       CASE WHEN mod(g, 10) = 0 THEN (random() * 800)::int END,
       CASE WHEN mod(g, 10) = 0 THEN round((random() / 100)::numeric, 8) END
FROM (
    SELECT g,
           %(start)s::timestamptz + (random() * %(span)s) * interval '1 second' AS ts,
           -- Zipf-like skew: a few keys, versions and endpoints carry most of the traffic.
           1 + floor(%(keys)s * power(random(), 3))::int AS key,
           1 + floor(4 * power(random(), 2))::int AS oprank,
           random() AS sr,
           -- log-normal latency (Box-Muller), median ~40 ms
           exp(3.7 + 1.1 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())) AS lat
    FROM generate_series(1, %(rows)s) AS g
) x
CROSS JOIN LATERAL (SELECT CASE WHEN random() < 0.9 THEN 1 + mod(x.key, %(nversions)s)
                                ELSE 1 + floor(%(nversions)s * random())::int END AS vrank) vr
JOIN LATERAL (SELECT * FROM bench_versions WHERE rank = vr.vrank) v ON true
JOIN LATERAL (SELECT * FROM (VALUES
        (1, 'GET', '/orders/{id}', '/orders/' || (mod(x.g, 1000))),
        (2, 'GET', '/orders/search', '/orders/search'),
        (3, 'POST', '/orders', '/orders'),
        (4, 'GET', '/customers/{cid}/orders/{oid}', '/customers/' || (mod(x.g, 97)) || '/orders/' || (mod(x.g, 13)))
    ) AS o(rank, method, template, concrete) WHERE o.rank = x.oprank) ops ON true
JOIN LATERAL (SELECT CASE WHEN x.sr < 0.86 THEN 200 WHEN x.sr < 0.90 THEN 404 WHEN x.sr < 0.93 THEN 400
                          WHEN x.sr < 0.96 THEN 429 WHEN x.sr < 0.985 THEN 500 ELSE 502 END AS status,
                     CASE WHEN x.sr >= 0.93 AND x.sr < 0.96 THEN 'rate_limited'
                          WHEN x.sr >= 0.985 THEN 'upstream_timeout' ELSE '' END AS error) st ON true
"""

BARE_GROUP_BY = """
SELECT count(q.*) FROM (  -- count(q.*) so every aggregate is computed, not pruned as unused
    SELECT date_trunc('minute', ts, 'UTC'), provider_tenant_id, api_id, api_version_id, endpoint,
           consumer_tenant_id, application_id, api_key_id, plan_id, status, error, node_id,
           count(*), sum(request_bytes), sum(response_bytes), sum(latency_ms), sum(upstream_latency_ms)
    FROM gateways_callrecord
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12
) q
"""


# The same bare GROUP BY, its groups written into the minute table (with its indexes), in a
# transaction that is rolled back: what any rollup storing this grain must at least spend.
BARE_WRITTEN = """
INSERT INTO analytics_rollupminute (bucket, provider_tenant_id, api_id, api_version_id, endpoint,
    consumer_tenant_id, application_id, api_key_id, plan_id, status, error, node_id,
    calls, request_bytes, response_bytes, latency_sum, upstream_latency_sum, latency_hist, upstream_hist)
SELECT date_trunc('minute', ts, 'UTC'), provider_tenant_id, api_id, api_version_id, endpoint,
       consumer_tenant_id, application_id, api_key_id, plan_id, status, error, node_id,
       count(*), sum(request_bytes), sum(response_bytes), sum(latency_ms), coalesce(sum(upstream_latency_ms), 0),
       '{}', '{}'
FROM gateways_callrecord
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12
"""


def _database_url(base: str, name: str) -> str:
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _admin(base: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(_database_url(base, "postgres"), autocommit=True) as conn:
        conn.execute(sql)


def _setup(rows: int, versions: int, keys: int, minutes: int) -> None:
    """Migrate the throwaway database, create the catalog (versions with OpenAPI operations), generate raw rows."""
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0, interactive=False)
    from apis.models import Endpoint
    from apis.tests.factories import ApiVersionFactory

    ops = [
        ("GET", "/orders/{id}"),
        ("GET", "/orders/search"),
        ("POST", "/orders"),
        ("GET", "/customers/{cid}/orders/{oid}"),
    ]
    made = [ApiVersionFactory(base_path=f"/bench/api{i}/v1") for i in range(versions)]
    for v in made:
        Endpoint.objects.bulk_create(Endpoint(tenant_id=v.tenant_id, version=v, method=m, path=p) for m, p in ops)
    with connection.cursor() as cur:
        cur.execute(
            "CREATE TABLE bench_versions AS SELECT row_number() OVER (ORDER BY id) AS rank, id, api_id, tenant_id, "
            "base_path FROM apis_apiversion"
        )
        cur.execute("SELECT now() - make_interval(mins => %s)", [minutes])
        (start,) = cur.fetchone()
        span = minutes * 60
        cur.execute(GENERATE, {"rows": rows, "start": start, "span": span, "keys": keys, "nversions": versions})
        cur.execute("VACUUM ANALYZE gateways_callrecord")


def _timed(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _reset_rollups() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE analytics_rollupminute, analytics_rolluphour, analytics_rollupday, "
            "analytics_watermark, analytics_dirtybucket"
        )
        cur.execute("VACUUM ANALYZE analytics_rollupminute, analytics_rolluphour, analytics_rollupday")


def _measure(rows: int, repeat: int) -> dict[str, Any]:
    from django.db import connection

    from analytics.rollup import run_rollup

    def bare() -> None:
        with connection.cursor() as cur:
            cur.execute(BARE_GROUP_BY)

    bare_s = min(_timed(bare) for _ in range(repeat))

    def bare_written() -> None:
        from django.db import transaction

        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("TRUNCATE analytics_rollupminute")
            cur.execute(BARE_WRITTEN)
            transaction.set_rollback(True)

    bare_written_s = min(_timed(bare_written) for _ in range(repeat))

    minute_s, run_s = [], []
    for _ in range(repeat):
        _reset_rollups()
        marks: dict[str, float] = {}
        started = time.perf_counter()
        result = run_rollup(after_step=lambda step, marks=marks: marks.setdefault(step, time.perf_counter()))
        run_s.append(time.perf_counter() - started)
        minute_s.append(marks["minute"] - started)  # includes the lock, the late scan and pattern table
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM analytics_rollupminute")
        (minute_rows,) = cur.fetchone()
        # 1 % late: copies of records moved 5–35 minutes back (a node's buffer after an outage),
        # arriving now, below the watermark.
        late = max(rows // 100, 1)
        cur.execute(
            "INSERT INTO gateways_callrecord SELECT gen_random_uuid(), ts - interval '1 minute' * (5 + random() * 30), "
            "now(), node_id, batch_id, source, api_version_id, api_id, provider_tenant_id, endpoint, method, path, "
            "api_key_id, key_id, application_id, consumer_tenant_id, plan_id, subscription_id, status, latency_ms, "
            "upstream_latency_ms, request_bytes, response_bytes, client_ip, user_agent, error, ai_provider, "
            "ai_model, ai_input_tokens, ai_output_tokens, ai_cost "
            "FROM gateways_callrecord TABLESAMPLE SYSTEM (5) LIMIT %s",
            [late],
        )
    late_result: list[Any] = []
    late_s = _timed(lambda: late_result.append(run_rollup()))
    return {
        "rows": rows,
        "minute_rollup_rows": minute_rows,
        "raw_rows_per_minute_row": rows / max(minute_rows, 1),
        "bare_group_by_s": bare_s,
        "bare_group_by_records_per_s": rows / bare_s,
        "bare_group_by_written_s": bare_written_s,
        "ratio_minute_vs_bare_written": bare_written_s / min(minute_s),
        "minute_rollup_s": min(minute_s),
        "minute_rollup_records_per_s": rows / min(minute_s),
        "whole_run_s": min(run_s),
        "whole_run_records_per_s": rows / min(run_s),
        "rows_written": result.rows,
        "ratio_minute_vs_bare": bare_s / min(minute_s),
        "ratio_whole_run_vs_bare": bare_s / min(run_s),
        "late_records": late,
        "late_buckets": late_result[0].late_buckets,
        "late_run_s": late_s,
        "target_ratio": TARGET,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument("--keys", type=int, default=500)
    parser.add_argument("--minutes", type=int, default=120, help="time span of the rows (1M rows in 2 h ≈ 140 calls/s)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the database (to explain queries)")
    parser.add_argument("--reuse", default="", help="measure again on a database left by --keep (its raw rows)")
    args = parser.parse_args()

    base = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    name = args.reuse or f"bench_rollup_{os.getpid()}"
    args.keep = args.keep or bool(args.reuse)
    if not args.reuse:
        _admin(base, f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = _database_url(base, name)
    try:
        import django

        django.setup()
        t0 = time.perf_counter()
        if args.reuse:
            from django.core.management import call_command
            from django.db import connection

            call_command("migrate", verbosity=0, interactive=False)
            with connection.cursor() as cur:
                # Late records a previous run added are dropped (received after the generation).
                cur.execute("DELETE FROM gateways_callrecord WHERE received_at > ts + interval '1 minute'")
                cur.execute("SELECT count(*) FROM gateways_callrecord")
                (args.rows,) = cur.fetchone()
                cur.execute("VACUUM ANALYZE gateways_callrecord")
        else:
            _setup(args.rows, args.versions, args.keys, args.minutes)
        print(f"{'reused' if args.reuse else 'generated'} {args.rows:,} raw rows in {time.perf_counter() - t0:.1f} s")
        figures = _measure(args.rows, args.repeat)
        figures.update(versions=args.versions, keys=args.keys, minutes=args.minutes)
    finally:
        from django.db import connections

        connections.close_all()
        if args.keep:
            print(f"kept database {name}")
        else:
            _admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    print(f"\nB2 rollup: {figures['rows']:,} raw rows → {figures['minute_rollup_rows']:,} minute rows")
    print(f"{'':28}{'seconds':>10}{'records/s':>14}{'× bare':>9}")
    print(
        f"{'bare GROUP BY (minute)':28}{figures['bare_group_by_s']:>10.2f}"
        f"{figures['bare_group_by_records_per_s']:>14,.0f}{1:>9.2f}"
    )
    print(
        f"{'bare GROUP BY, written':28}{figures['bare_group_by_written_s']:>10.2f}"
        f"{figures['rows'] / figures['bare_group_by_written_s']:>14,.0f}"
        f"{figures['bare_group_by_s'] / figures['bare_group_by_written_s']:>9.2f}"
    )
    print(
        f"{'minute rollup':28}{figures['minute_rollup_s']:>10.2f}{figures['minute_rollup_records_per_s']:>14,.0f}"
        f"{figures['ratio_minute_vs_bare']:>9.2f}"
    )
    print(
        f"{'whole run (min+hour+day)':28}{figures['whole_run_s']:>10.2f}{figures['whole_run_records_per_s']:>14,.0f}"
        f"{figures['ratio_whole_run_vs_bare']:>9.2f}"
    )
    print(
        f"{'late run (' + format(figures['late_records'], ',') + ' late)':28}{figures['late_run_s']:>10.2f}"
        f"{'':>14}{'':>9}  {figures['late_buckets']} dirty minutes"
    )
    out = ROOT / "var" / "bench" / "rollup.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    print(
        f"\nminute rollup against the bare GROUP BY written to the same table: "
        f"{figures['ratio_minute_vs_bare_written']:.2f} × (the rollup's own work beyond storing its groups)"
    )
    print(f"written to {out.relative_to(ROOT)}; target minute rollup ≥ {TARGET} × bare GROUP BY")
    return 0 if figures["ratio_minute_vs_bare"] >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
