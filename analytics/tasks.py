"""Celery beat tasks of the rollups: the rollup run (every ROLLUP_INTERVAL_SECONDS) and retention."""

from __future__ import annotations

from celery import shared_task

from analytics.rollup import delete_expired_rollups, run_rollup


@shared_task(acks_late=True, reject_on_worker_lost=True)
def rollup_task() -> dict[str, object]:
    """Beat: roll raw call records up into minutes, hours and days.

    Idempotent and safe to run concurrently or again after a crash: one run holds the advisory
    lock (another returns at once with ``ran: False``), and every bucket it touches is replaced
    from its source in one transaction, so a killed run leaves nothing half-done.
    """
    result = run_rollup()
    return {
        "ran": result.ran,
        "watermark": result.watermark.isoformat() if result.watermark else None,
        "late_buckets": result.late_buckets,
        "rows": result.rows,
    }


@shared_task(acks_late=True, reject_on_worker_lost=True)
def expire_rollups_task() -> dict[str, int]:
    """Beat: delete minute and hour rollups past their retention, in batches."""
    return delete_expired_rollups()
