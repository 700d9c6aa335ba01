"""/healthz: database, broker (Redis ping) and the beat/worker heartbeat; 503 names what is down."""

import time

import pytest

from core import health
from core.tasks import heartbeat_task

pytestmark = pytest.mark.django_db


def test_healthy_when_the_heartbeat_is_fresh(client, settings):
    settings.HEALTHZ_HEARTBEAT_MAX_AGE = 60
    heartbeat_task.delay()  # what beat schedules and a worker runs every few seconds
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["broker"] == "ok"
    assert body["heartbeat"] == "ok" and 0 <= body["heartbeat_age_seconds"] < 60


def test_a_stale_or_missing_heartbeat_is_a_503(client, settings):
    settings.HEALTHZ_HEARTBEAT_MAX_AGE = 60
    health.write_heartbeat(time.time() - 600)  # beat or every worker stopped ten minutes ago
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["heartbeat"] == "stale" and response.json()["heartbeat_age_seconds"] >= 600
    health.broker().delete(health.HEARTBEAT_KEY)
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["heartbeat"] == "missing"


def test_a_broker_down_is_a_503_quickly(client, settings):
    import socket

    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{port}/0"
    started = time.monotonic()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"] == "unreachable" and response.json()["database"] == "ok"
    assert time.monotonic() - started < 3
