"""B4: build time of the gateway config snapshot at 10,000 keys and 1,000 API versions.

Run ``python bench/config_snapshot.py`` (needs DATABASE_URL, like ``./run``). It creates a
throwaway database next to the one DATABASE_URL names (``bench_config_snapshot_<pid>``),
migrates it, seeds it with bulk inserts, measures, and drops it: the dev data is never touched.

Figures (printed, and written as JSON to ``var/bench/config_snapshot.json``):
* ``cold_build_s``: ``build_snapshot()`` with nothing cached (median and max of several runs);
  target < 0.5 s.
* ``get_cached_s`` / ``get_304_s``: a node's ``GET /gateway/v1/config`` served from the
  per-version cache, and with ``If-None-Match`` (304), through the whole Django stack.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("PORTAL_TESTING", "1")  # dev defaults (secret key, hosts); no real traffic here

TARGET_S = 0.5


def _throwaway_url(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _admin(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


def seed(keys: int, versions: int) -> dict[str, int]:
    """Providers with APIs of 10 versions each (5 endpoints per version), consumers with apps of 2 keys."""
    from apis.models import Api, ApiVersion, Endpoint, Plan
    from core.crypto import hash_secret
    from subscriptions.models import ApiKey, Application, Subscription
    from tenants.models import Tenant

    per_api = 10
    apis_count = versions // per_api
    providers = Tenant.objects.bulk_create([Tenant(name=f"Provider {i}", slug=f"p{i}") for i in range(10)])
    consumers = Tenant.objects.bulk_create([Tenant(name=f"Consumer {i}", slug=f"c{i}") for i in range(10)])
    apis = Api.objects.bulk_create(
        [Api(tenant=providers[i % 10], name=f"API {i}", slug=f"api{i}") for i in range(apis_count)]
    )
    sunset = date.today() + timedelta(days=90)
    upstreams = [{"url": "https://a.upstream.example", "weight": 3}, {"url": "https://b.upstream.example", "weight": 1}]
    vers = ApiVersion.objects.bulk_create(
        [
            ApiVersion(
                tenant_id=api.tenant_id,
                api=api,
                label=f"v{n}",
                base_path=f"/p{api.tenant_id}/api{api.pk}/v{n}",
                upstreams=upstreams,
                status="published" if n < per_api - 1 else "deprecated",
                sunset_date=None if n < per_api - 1 else sunset,
            )
            for api in apis
            for n in range(per_api)
        ]
    )
    Endpoint.objects.bulk_create(
        [
            Endpoint(tenant_id=v.tenant_id, version=v, method=m, path=p)
            for v in vers
            for m, p in [
                ("GET", "/items"),
                ("POST", "/items"),
                ("GET", "/items/{id}"),
                ("PUT", "/items/{id}"),
                ("DELETE", "/items/{id}"),
            ]
        ],
        batch_size=5000,
    )
    plans = Plan.objects.bulk_create(
        [
            Plan(tenant_id=api.tenant_id, api=api, name="Free", rate_limit_per_second=10, quota_per_day=10_000)
            for api in apis
        ]
    )
    apps = Application.objects.bulk_create(
        [Application(tenant=consumers[i % 10], name=f"App {i}") for i in range(keys // 2)], batch_size=5000
    )
    subs = []
    for i, app in enumerate(apps):
        for j in (0, 1):  # two APIs per application, the latest published version of each
            api_index = (i * 2 + j) % apis_count
            subs.append(
                Subscription(
                    consumer_tenant_id=app.tenant_id,
                    provider_tenant_id=apis[api_index].tenant_id,
                    application=app,
                    api=apis[api_index],
                    version=vers[api_index * per_api + per_api - 2],
                    plan=plans[api_index],
                    status="active",
                )
            )
    Subscription.objects.bulk_create(subs, batch_size=5000)
    secret_hash = hash_secret("x" * 32)
    ApiKey.objects.bulk_create(
        [
            ApiKey(
                tenant_id=app.tenant_id, application=app, name=f"k{n}", key_id=f"k{app.pk}x{n}", key_hash=secret_hash
            )
            for app in apps
            for n in (0, 1)
        ],
        batch_size=5000,
    )
    return {
        "keys": ApiKey.objects.unscoped().count(),
        "versions": ApiVersion.objects.unscoped().count(),
        "subscriptions": len(subs),
        "endpoints": len(vers) * 5,
    }


def measure(runs: int) -> dict[str, object]:
    from django.test import Client

    from gateways import services
    from gateways.snapshot import build_snapshot, cache

    cold = []
    size = 0
    for _ in range(runs):
        cache.clear()
        started = time.perf_counter()
        built = build_snapshot()
        cold.append(time.perf_counter() - started)
        size = len(built.body)
    _node, token = services.node_create(actor=None, name="bench")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST="localhost")
    first = client.get("/gateway/v1/config")
    assert first.status_code == 200, first.status_code
    etag = first["ETag"]
    cached, not_modified = [], []
    for _ in range(runs * 4):
        started = time.perf_counter()
        assert client.get("/gateway/v1/config").status_code == 200
        cached.append(time.perf_counter() - started)
        started = time.perf_counter()
        assert client.get("/gateway/v1/config", HTTP_IF_NONE_MATCH=etag).status_code == 304
        not_modified.append(time.perf_counter() - started)
    return {
        "cold_build_s": {"median": statistics.median(cold), "max": max(cold), "runs": len(cold)},
        "get_cached_s": {"median": statistics.median(cached), "max": max(cached)},
        "get_304_s": {"median": statistics.median(not_modified), "max": max(not_modified)},
        "snapshot_bytes": size,
        "target_cold_s": TARGET_S,
        "ok": max(cold) < TARGET_S,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--versions", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL")
    if not base:
        print("DATABASE_URL is required (postgres://…)", file=sys.stderr)
        return 2
    name = f"bench_config_snapshot_{os.getpid()}"
    _admin(base, f'CREATE DATABASE "{name}"')
    try:
        os.environ["DATABASE_URL"] = _throwaway_url(base, name)
        import django
        from django.core.management import call_command

        django.setup()
        with open(os.devnull, "w") as quiet:
            call_command("migrate", verbosity=0, stdout=quiet)
        started = time.perf_counter()
        counts = seed(args.keys, args.versions)
        seed_s = time.perf_counter() - started
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        result = {"benchmark": "B4 config snapshot", **counts, "seed_s": round(seed_s, 2), **measure(args.runs)}
        from django.db import connections

        connections.close_all()
    finally:
        _admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    out = ROOT / "var" / "bench" / "config_snapshot.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    cold = result["cold_build_s"]
    print(
        f"B4 config snapshot: {counts['keys']} keys, {counts['versions']} versions, {result['snapshot_bytes']:,} bytes"
    )
    print(
        f"  cold build  median {cold['median'] * 1000:.0f} ms, max {cold['max'] * 1000:.0f} ms "
        f"(target < {TARGET_S * 1000:.0f} ms)"
    )
    print(f"  GET cached  median {result['get_cached_s']['median'] * 1000:.1f} ms")
    print(f"  GET 304     median {result['get_304_s']['median'] * 1000:.1f} ms")
    print(f"  written to {out.relative_to(ROOT)}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
