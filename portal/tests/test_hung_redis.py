"""A Redis that accepts connections but answers nothing (SIGSTOP) must not hang or fail requests.

That is the nastier outage: a dead Redis refuses at once, a hung one lets every client wait.
The cache (rate-limit counters) fails open and the broker kick gives up after its socket
timeout; the outbox sweep sends what could not be queued once Redis is back.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.models import OutboxMessage
from portal.celery import app
from portal.tests.test_outbox_worker import Broker, _reset_celery_pools


@pytest.fixture
def hung_redis(tmp_path: Path, settings) -> Iterator[Broker]:
    b = Broker(tmp_path)
    b.start()
    old_url, old_eager = app.conf.broker_url, app.conf.task_always_eager
    app.conf.broker_url = b.url
    app.conf.task_always_eager = False
    settings.CELERY_BROKER_URL = b.url
    settings.CACHES = {
        "default": {
            "BACKEND": "core.cache.ResilientRedisCache",
            "LOCATION": b.url,
            "OPTIONS": {"socket_timeout": 0.5, "socket_connect_timeout": 0.5},
        }
    }
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"catalog_anon": "1000/min"},
    }
    _reset_celery_pools()
    assert b.proc is not None
    os.kill(b.proc.pid, signal.SIGSTOP)
    try:
        yield b
    finally:
        os.kill(b.proc.pid, signal.SIGCONT)
        app.conf.broker_url, app.conf.task_always_eager = old_url, old_eager
        _reset_celery_pools()
        b.stop()


def test_a_hung_redis_neither_hangs_nor_fails_requests(api, acme, alice, hung_redis):
    started = time.monotonic()
    catalog = api.get("/api/v1/catalog/")  # the anonymous throttle reads the cache
    assert catalog.status_code == 200, catalog.content
    assert time.monotonic() - started < 3

    api.force_authenticate(alice)
    started = time.monotonic()
    invite = api.post(
        "/api/v1/tenants/acme/invitations/", {"email": "dora@example.com", "role": "viewer"}, format="json"
    )
    assert invite.status_code == 201, invite.content
    assert time.monotonic() - started < 10  # bounded by the broker socket timeout, not forever
    # The mail is an outbox row, committed with the invitation: the sweep sends it later.
    assert OutboxMessage.objects.filter(kind="tenants.invitation_email").count() == 1

    health = api.get("/healthz")
    assert health.status_code == 503 and health.json()["broker"] == "unreachable"
