"""B1: call-log intake throughput — HTTP intake vs raw COPY vs ORM save() per row, in one run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python bench/intake.py [--records 50000]

Creates a throwaway database (``bench_intake_<pid>``), migrates it, and on the same
generated rows (bench/traffic.py, duplicates removed so COPY can take them) measures:

* **http**: gzip NDJSON batches of 1,000 through the real WSGI stack (Django's handler with
  every middleware, node-token authentication, inflate, validation, COPY into staging, the
  enriching INSERT … SELECT, the IngestBatch row, commit), one request after another;
* **copy**: psycopg 3 ``COPY`` of the already-normalised rows straight into gateways_callrecord,
  in text and in binary format (declared types, psycopg's C dumpers); the faster is the reference;
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
#: The types of the raw COPY's columns, for its binary variant.
COPY_TYPES = [
    "uuid", "timestamptz", "int8", "text", "text", "text", "text", "text", "int2", "float8", "float8", "int8", "int8",
    "inet", "text", "text",
]  # fmt: skip


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
        "--concurrency", type=int, default=2, help="also measure a gunicorn with this many workers, as many senders"
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


def _gunicorn_intake(bodies: list[bytes], token: str, n: int, workers: int) -> float:
    """Seconds to post every batch to a real gunicorn with ``workers`` processes on loopback, as
    ``workers`` nodes would (one keep-alive connection each, one batch in flight per connection).

    This is the intake as deployed (README: gunicorn with several workers); the figure above is
    one Django process taking one batch at a time.
    """
    import http.client
    import socket
    import subprocess
    from concurrent.futures import ThreadPoolExecutor

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "portal.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), "--log-level", "warning"],
        cwd=ROOT,
        env=os.environ.copy(),
    )  # fmt: skip
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Encoding": "gzip",
        "Content-Type": "application/x-ndjson",
    }
    try:
        deadline = time.monotonic() + 60
        while True:  # ready when the portal answers at all
            try:
                probe_conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                probe_conn.request("GET", "/api/v1/")
                probe_conn.getresponse().read()
                probe_conn.close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("gunicorn did not start") from None
                time.sleep(0.2)

        def sender(k: int) -> int:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            accepted = 0
            for i in range(k, len(bodies), workers):
                conn.request("POST", "/gateway/v1/logs", bodies[i], {**headers, "X-Batch-Id": f"g{i}"})
                response = conn.getresponse()
                body = response.read()
                if response.status != 200:
                    raise SystemExit(f"intake answered {response.status}: {body[:300]!r}")
                accepted += int(json.loads(body)["accepted"])
            conn.close()
            return accepted

        # One warm-up batch per worker process (imports, URL resolver), not counted.
        with ThreadPoolExecutor(workers) as pool:
            futures = [pool.submit(_post_once, port, headers, bodies[k], f"warm{k}") for k in range(workers)]
            for future in futures:
                future.result()
        _truncate_raw()
        start = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            got = sum(pool.map(sender, range(workers)))
        elapsed = time.perf_counter() - start
        assert got == n, (got, n)
        return elapsed
    finally:
        server.terminate()
        server.wait(timeout=30)


def _post_once(port: int, headers: dict[str, str], body: bytes, batch_id: str) -> None:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/gateway/v1/logs", body, {**headers, "X-Batch-Id": batch_id})
    conn.getresponse().read()
    conn.close()


def _truncate_raw() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("TRUNCATE gateways_callrecord, gateways_ingestbatch CASCADE")
        cur.execute("VACUUM ANALYZE gateways_callrecord")


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

    truncate = _truncate_raw

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

    def send_all() -> float:
        start = time.perf_counter()
        got = sum(send(i) for i in range(len(bodies)))
        elapsed = time.perf_counter() - start
        assert got == n, (got, n)
        return elapsed

    http_s = send_all()
    http_parallel_s = None
    if args.concurrency > 1:
        truncate()
        http_parallel_s = _gunicorn_intake(bodies, token, n, args.concurrency)
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

    def copy_in(binary: bool) -> float:
        """COPY the rows in psycopg's text format, or in binary with declared types (its C dumpers)."""
        from gateways.intake import _InetTextBinaryDumper

        truncate()
        options = " (FORMAT BINARY)" if binary else ""
        t0 = time.perf_counter()
        with (
            connection.cursor() as wrapper,
            wrapper.cursor.copy(f"COPY gateways_callrecord ({', '.join(columns)}) FROM STDIN{options}") as copy,
        ):
            if binary:
                wrapper.cursor.adapters.register_dumper(None, _InetTextBinaryDumper)
                copy.set_types(COPY_TYPES)
            for row in rows:
                copy.write_row(row)
        return time.perf_counter() - t0

    copy_text_s, copy_binary_s = copy_in(False), copy_in(True)
    # The reference is the faster of the two: the intake is held to the best raw COPY.
    copy_s = min(copy_text_s, copy_binary_s)

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
        "copy_text_records_per_s": round(n / copy_text_s),
        "copy_binary_records_per_s": round(n / copy_binary_s),
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
        (f"HTTP intake, gunicorn × {args.concurrency} workers", "http_concurrent_records_per_s"),
        ("raw COPY, text format", "copy_text_records_per_s"),
        ("raw COPY, binary format", "copy_binary_records_per_s"),
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
