"""Synthetic gateway traffic: native call records (NDJSON) over the demo (or given) APIs and keys.

Zipf-skewed keys and endpoints (a few hot keys and operations, a long tail), realistic status
mix (mostly 2xx, some 4xx, gateway refusals, rare 5xx), log-normal latencies (upstream plus
a small gateway overhead), 1 % late records (stamped hours ago) and 5 % exact duplicates (a
node's retry). Importable (``generate``) and a CLI::

    python bench/traffic.py --records 10000 [--seed 1] [--from-db] > traffic.ndjson

``--from-db`` reads routed versions, their endpoint templates and live keys from the
portal's database; otherwise a fixed synthetic universe is used (nothing resolves then,
which is fine for throughput measurements).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Route:
    """One API version as traffic sees it: its base path and its operations ``(method, path template)``."""

    api_version_id: int | None
    base_path: str
    endpoints: list[tuple[str, str]]


@dataclass
class Universe:
    routes: list[Route]
    key_ids: list[str] = field(default_factory=list)


def synthetic_universe(n_versions: int = 20, n_keys: int = 500) -> Universe:
    """A fixed universe without a database: ``/svc<i>/v1`` with a handful of operations each."""
    ops = [("GET", "/items"), ("GET", "/items/{id}"), ("POST", "/items"), ("DELETE", "/items/{id}"), ("GET", "/search")]
    routes = [Route(None, f"/svc{i}/v1", ops) for i in range(n_versions)]
    return Universe(routes, [f"k{i:07d}" for i in range(n_keys)])


def universe_from_db() -> Universe:
    """Routed versions, their endpoint templates and the live keys of the portal's database (Django set up)."""
    from apis.models import ApiVersion, Endpoint
    from apis.models.catalog import ROUTED_STATUSES
    from subscriptions.models import ApiKey

    routes = []
    for version in ApiVersion.objects.unscoped().filter(status__in=ROUTED_STATUSES).order_by("pk"):
        endpoints = [(e.method, e.path) for e in Endpoint.objects.unscoped().filter(version=version).order_by("pk")]
        routes.append(Route(version.pk, version.base_path, endpoints or [("GET", "/")]))
    keys = list(
        ApiKey.objects.unscoped().filter(revoked_at__isnull=True).order_by("pk").values_list("key_id", flat=True)
    )
    if not routes:
        return synthetic_universe()
    return Universe(routes, keys or synthetic_universe().key_ids)


class Zipf:
    """Draws indexes 0..n-1 with P(i) ∝ 1 / (i + 1)^s (cumulative table, bisect)."""

    def __init__(self, n: int, s: float, rng: random.Random) -> None:
        weights = [1.0 / (i + 1) ** s for i in range(max(n, 1))]
        total = sum(weights)
        acc = 0.0
        self.cdf = []
        for w in weights:
            acc += w / total
            self.cdf.append(acc)
        self.rng = rng

    def draw(self) -> int:
        import bisect

        return min(bisect.bisect_left(self.cdf, self.rng.random()), len(self.cdf) - 1)


#: (status, error, weight): what gateways see in production, roughly.
STATUSES = [
    (200, "", 780),
    (201, "", 60),
    (204, "", 30),
    (304, "", 10),
    (400, "", 25),
    (401, "bad_key", 10),
    (403, "", 5),
    (404, "", 30),
    (404, "unknown_route", 5),
    (429, "rate_limited", 25),
    (429, "quota_exceeded", 5),
    (500, "", 8),
    (502, "upstream_error", 4),
    (504, "upstream_timeout", 3),
]
_REFUSED = {"bad_key", "unknown_route", "rate_limited", "quota_exceeded"}


def _concrete(template: str, rng: random.Random) -> str:
    parts = []
    for segment in template.split("/"):
        parts.append(str(rng.randint(1, 99999)) if segment.startswith("{") else segment)
    return "/".join(parts)


def generate(
    n: int,
    universe: Universe | None = None,
    *,
    seed: int = 1,
    now: datetime | None = None,
    late_fraction: float = 0.01,
    duplicate_fraction: float = 0.05,
    spread_seconds: float = 600.0,
) -> list[dict[str, Any]]:
    """``n`` native call records (duplicates included in ``n``), stamped within ``spread_seconds`` before ``now``."""
    rng = random.Random(seed)
    universe = universe or synthetic_universe()
    now = now or datetime.now(UTC)
    route_pick = Zipf(len(universe.routes), 1.1, rng)
    key_pick = Zipf(len(universe.key_ids), 1.2, rng)
    status_population = [(s, e) for s, e, _w in STATUSES]
    status_weights = [w for _s, _e, w in STATUSES]
    endpoint_picks: dict[int, Zipf] = {}
    out: list[dict[str, Any]] = []
    for _ in range(n):
        if out and rng.random() < duplicate_fraction:
            out.append(dict(out[rng.randrange(len(out))]))  # a retried record: same request id and ts
            continue
        r = route_pick.draw()
        route = universe.routes[r]
        pick = endpoint_picks.setdefault(r, Zipf(len(route.endpoints), 1.0, rng))
        method, template = route.endpoints[pick.draw()]
        status, error = rng.choices(status_population, status_weights)[0]
        ts = now - timedelta(seconds=rng.random() * spread_seconds)
        if rng.random() < late_fraction:
            ts -= timedelta(hours=rng.uniform(1, 6))
        refused = error in _REFUSED
        upstream = None if refused else round(math.exp(rng.gauss(math.log(40), 0.8)), 3)
        gateway = round(math.exp(rng.gauss(math.log(0.6), 0.5)), 3)
        record: dict[str, Any] = {
            "request_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "ts": ts.isoformat().replace("+00:00", "Z"),
            "base_path": route.base_path,
            "endpoint": f"{method} {template}",
            "key_id": "" if error == "bad_key" else universe.key_ids[key_pick.draw()] if universe.key_ids else "",
            "method": method,
            "path": route.base_path.rstrip("/") + _concrete(template, rng),
            "status": status,
            "latency_ms": round(gateway + (upstream or 0.0), 3),
            "upstream_latency_ms": upstream,
            "request_bytes": int(rng.lognormvariate(6, 1)) if method in ("POST", "PUT", "PATCH") else 0,
            "response_bytes": int(rng.lognormvariate(7, 1.2)),
            "client_ip": f"198.51.100.{rng.randint(1, 254)}",
            "user_agent": rng.choice(["curl/8.5.0", "python-httpx/0.28.1", "okhttp/4.12.0", "Go-http-client/2.0"]),
            "error": error,
        }
        if route.api_version_id is not None:
            record["api_version_id"] = route.api_version_id
        out.append(record)
    return out


def ndjson(records: list[dict[str, Any]]) -> bytes:
    return ("\n".join(json.dumps(r, separators=(",", ":")) for r in records) + "\n").encode()


def batches(records: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(records), size):
        yield records[start : start + size]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--from-db", action="store_true", help="use the portal database's versions and keys")
    args = parser.parse_args(argv)
    universe = None
    if args.from_db:
        sys.path.insert(0, str(ROOT))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
        import django

        django.setup()
        universe = universe_from_db()
    sys.stdout.buffer.write(ndjson(generate(args.records, universe, seed=args.seed)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
