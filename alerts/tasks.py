"""Celery beat task of the alerts: evaluate every enabled rule (every minute)."""

from __future__ import annotations

from celery import shared_task

from alerts.evaluation import evaluate


@shared_task(acks_late=True, reject_on_worker_lost=True)
def evaluate_alerts_task() -> dict[str, object]:
    """Beat: compare every enabled rule with the rollups; fire and resolve with hysteresis.

    Idempotent and safe to run concurrently: one run holds the advisory lock (another returns at
    once with ``ran: False``), and an incident opens and closes at most once (docs/alerts.md).
    """
    result = evaluate()
    return {"ran": result.ran, "rules": result.rules, "fired": len(result.fired), "resolved": len(result.resolved)}
