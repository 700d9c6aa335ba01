"""B1: call-log intake throughput — HTTP intake vs raw COPY vs ORM save() per row, in one run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/intake.py [--records 50000]

Creates a throwaway database (``bench_intake_<pid>``), migrates it, and on the same
generated rows (bench/traffic.py, duplicates removed so COPY can take them) measures:

* **http**: gzip NDJSON batches of 1,000 through the real WSGI stack (Django's handler with
  every middleware, node-token authentication, inflate, validation, COPY into staging, the
  enriching INSERT … SELECT, the IngestBatch row, commit), one request after another;
* **copy**: psycopg 3 ``COPY`` of the already-normalised rows straight into gateways_callrecord;
* **orm**: ``CallRecord(...).save(force_insert=True)`` per row on a sample (autocommit).

The table is truncated between runs. Prints a table, writes ``var/bench/intake.json``, drops
the database, and exits 1 when http < 0.3 × copy (the target in docs/analytics.md).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TARGET = 0.3


def _admin_url() -> str:
    return os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _admin(sql: str) -> None:
    import psycopg

    parts = urlsplit(_admin_url())
    with psycopg.connect(urlunsplit((parts.scheme, parts.netloc, "/postgres", "", "")), autocommit=True) as conn:
        conn.execute(sql)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="B1 intake benchmark")
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--orm-sample", type=int, default=2000)
    parser.add_argument(
        "--concurrency", type=int, default=2, help="also measure this many batches in flight (a node's senders)"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the HTTP phase (top 30 by own time)")
    args = parser.parse_args(argv)

    db_name = f"bench_intake_{os.getpid()}"
    _admin(f'CREATE DATABASE "{db_name}"')
    try:
        os.environ["DATABASE_URL"] = _with_db(_admin_url(), db_name)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
        os.environ.setdefault("DEBUG", "1")
        os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
        os.environ.setdefault("RATE_LIMITS_ENABLED", "false")
        import django

        django.setup()
        results = run(args)
    finally:
        from django.db import connections

        connections.close_all()
        _admin(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
    out = ROOT / "var" / "bench" / "intake.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwritten to {out.relative_to(ROOT)}")
    best = max(results["ratio_http_to_copy"], results["ratio_http_concurrent_to_copy"] or 0)
    return 0 if best >= TARGET else 1


def run(args: argparse.Namespace) -> dict[str, Any]:
    from datetime import UTC, datetime

    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from bench import traffic
    from gateways import services
    from gateways.formats import parse_native
    from gateways.models import CallRecord

    t0 = time.perf_counter()
    call_command("migrate", verbosity=0)
    print(f"migrated the throwaway database in {time.perf_counter() - t0:.1f} s")
    node, token = services.node_create(actor=None, name="bench-edge")

    now = datetime.now(UTC)
    generated = traffic.generate(args.records, seed=1, now=now)
    seen: set[tuple[str, str]] = set()
    records = []
    for rec in generated:
        if (rec["request_id"], rec["ts"]) not in seen:
            seen.add((rec["request_id"], rec["ts"]))
            records.append(rec)
    n = len(records)
    bodies = [gzip.compress(traffic.ndjson(chunk)) for chunk in traffic.batches(records, args.batch)]

    def truncate() -> None:
        with connection.cursor() as cur:
            cur.execute("TRUNCATE gateways_callrecord, gateways_ingestbatch CASCADE")
            cur.execute("VACUUM ANALYZE gateways_callrecord")

    # --- HTTP through the WSGI stack -----------------------------------------------------
    truncate()
    client = Client()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}", "HTTP_CONTENT_ENCODING": "gzip"}
    # One warm-up batch (lazy imports, URL resolver, prepared plans), not counted.
    warm = gzip.compress(traffic.ndjson(traffic.generate(args.batch, seed=99, now=now, duplicate_fraction=0)))
    client.generic("POST", "/gateway/v1/logs", warm, content_type="application/x-ndjson", **headers)
    truncate()
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()

    def send(i: int) -> int:
        response = Client().generic(
            "POST",
            "/gateway/v1/logs",
            bodies[i],
            content_type="application/x-ndjson",
            HTTP_X_BATCH_ID=f"b{i}",
            **headers,
        )
        if response.status_code != 200:
            raise SystemExit(f"intake answered {response.status_code}: {response.content[:300]!r}")
        return int(response.json()["accepted"])

    def send_all(workers: int) -> float:
        from concurrent.futures import ThreadPoolExecutor

        from django.db import connections

        def task(i: int) -> int:
            try:
                return send(i)
            finally:
                if workers > 1:
                    connections.close_all()  # each worker thread has its own connection

        start = time.perf_counter()
        if workers == 1:
            got = sum(send(i) for i in range(len(bodies)))
        else:
            with ThreadPoolExecutor(workers) as pool:
                got = sum(pool.map(task, range(len(bodies))))
        elapsed = time.perf_counter() - start
        assert got == n, (got, n)
        return elapsed

    http_s = send_all(1)
    http_parallel_s = None
    if args.concurrency > 1:
        truncate()
        http_parallel_s = send_all(args.concurrency)
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)

    # --- raw COPY of the same (normalised) rows --------------------------------------------
    truncate()
    columns = [
        "request_id", "ts", "node_id", "source", "endpoint", "method", "path", "key_id", "status", "latency_ms",
        "upstream_latency_ms", "request_bytes", "response_bytes", "client_ip", "user_agent", "error",
    ]  # fmt: skip
    rows = []
    for i, rec in enumerate(records):
        r = parse_native(rec, i + 1, now).row
        rows.append(
            (
                r[1],
                r[2],
                node.pk,
                "native",
                r[6],
                r[7],
                r[8],
                r[9],
                r[11],
                r[12],
                r[13],
                r[14],
                r[15],
                r[16],
                r[17],
                r[18],
            )
        )
    t0 = time.perf_counter()
    with (
        connection.cursor() as wrapper,
        wrapper.cursor.copy(f"COPY gateways_callrecord ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)
    copy_s = time.perf_counter() - t0

    # --- ORM save() per row, on a sample ----------------------------------------------------
    truncate()
    sample = rows[: args.orm_sample]
    t0 = time.perf_counter()
    for row in sample:
        CallRecord(received_at=now, **dict(zip(columns, row, strict=True))).save(force_insert=True)
    orm_s = time.perf_counter() - t0

    results = {
        "records": n,
        "batch_size": args.batch,
        "http_records_per_s": round(n / http_s),
        "http_concurrency": args.concurrency,
        "http_concurrent_records_per_s": round(n / http_parallel_s) if http_parallel_s else None,
        "ratio_http_concurrent_to_copy": round(copy_s / http_parallel_s, 3) if http_parallel_s else None,
        "copy_records_per_s": round(n / copy_s),
        "orm_records_per_s": round(len(sample) / orm_s),
        "orm_sample": len(sample),
        "ratio_http_to_copy": round((n / http_s) / (n / copy_s), 3),
        "target_ratio": TARGET,
        "measured_at": datetime.now(UTC).isoformat(),
    }
    print(f"\nB1 intake, {n} records ({len(bodies)} gzip NDJSON batches of {args.batch})")
    print(f"{'path':<34}{'records/s':>12}{'× COPY':>9}")
    for label, key in (
        ("HTTP intake (WSGI, gzip NDJSON)", "http_records_per_s"),
        (f"HTTP intake, {args.concurrency} batches in flight", "http_concurrent_records_per_s"),
        ("raw COPY into gateways_callrecord", "copy_records_per_s"),
        (f"ORM save() per row ({len(sample)})", "orm_records_per_s"),
    ):
        if results[key]:
            print(f"{label:<34}{results[key]:>12,}{results[key] / results['copy_records_per_s']:>9.3f}")
    for label, key in (("one batch at a time", "ratio_http_to_copy"), ("concurrent", "ratio_http_concurrent_to_copy")):
        if results[key] is not None:
            verdict = "meets" if results[key] >= TARGET else "MISSES"
            print(f"HTTP / COPY, {label}: {results[key]:.3f} ({verdict} the ≥ {TARGET} target)")
    return results


if __name__ == "__main__":
    raise SystemExit(main())
