"""Cheap liveness checks for /healthz: database, broker, and the beat/worker heartbeat."""

from __future__ import annotations

import time
from functools import cache
from typing import Any

import redis
from django.conf import settings
from django.db import connection

HEARTBEAT_KEY = "portal:heartbeat"


@cache
def _broker(url: str) -> redis.Redis:
    # kombu spells a Unix socket "redis+socket://", redis-py "unix://".
    if url.startswith("redis+socket://"):
        url = "unix://" + url.removeprefix("redis+socket://")
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)


def broker() -> redis.Redis:
    """A client of the broker's Redis, with short timeouts (a health check must answer quickly)."""
    return _broker(settings.CELERY_BROKER_URL)


def write_heartbeat(now: float) -> None:
    broker().set(HEARTBEAT_KEY, repr(now), ex=24 * 3600)


def check() -> tuple[bool, dict[str, Any]]:
    """Return (healthy, report). The report names each component and, when down, why."""
    report: dict[str, Any] = {}
    healthy = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        report["database"] = "ok"
    except Exception:  # noqa: BLE001 - any database failure means "not ready"
        report["database"] = "unreachable"
        healthy = False
    beat: bytes | str | None = None
    try:
        client = broker()
        client.ping()
        beat = client.get(HEARTBEAT_KEY)
        report["broker"] = "ok"
    except redis.RedisError:
        report["broker"] = "unreachable"
        healthy = False
    max_age = settings.HEALTHZ_HEARTBEAT_MAX_AGE
    age = round(time.time() - float(beat), 1) if beat else None
    report["heartbeat_age_seconds"] = age
    if max_age and report["broker"] == "ok":
        if age is None:
            report["heartbeat"] = "missing"
            healthy = False
        elif age > max_age:
            report["heartbeat"] = "stale"
            healthy = False
        else:
            report["heartbeat"] = "ok"
    report["status"] = "ok" if healthy else "error"
    return healthy, report
