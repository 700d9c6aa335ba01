"""Celery tasks of the outbox and the liveness heartbeat: thin wrappers around core.outbox."""

from __future__ import annotations

import time

from celery import shared_task
from django.conf import settings

from core import health, outbox


@shared_task(acks_late=True, reject_on_worker_lost=True)
def outbox_send_task(ids: list[int]) -> dict[str, int]:
    """Send these outbox rows (the after-commit kick). Rows already claimed or sent are skipped."""
    return outbox.send_batch(ids)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def outbox_sweep_task() -> int:
    """Beat: send every due row (lost kicks, expired leases of dead workers, retries); prune old rows."""
    handled = outbox.sweep()
    outbox.prune(days=settings.OUTBOX_KEEP_DAYS)
    return handled


@shared_task(acks_late=True)
def heartbeat_task() -> float:
    """Beat: record that beat scheduled and a worker ran a task just now (read by /healthz)."""
    now = time.time()
    health.write_heartbeat(now)
    return now
