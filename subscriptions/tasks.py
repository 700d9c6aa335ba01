"""Celery tasks of the subscriptions app: thin wrappers around services."""

from __future__ import annotations

from celery import shared_task

from subscriptions.services import subscriptions_sync_lifecycle


@shared_task(acks_late=True)
def sync_lifecycle_task() -> dict[str, int]:
    """Deprecation notices and retirement ends (idempotent; beat runs it every few minutes)."""
    return subscriptions_sync_lifecycle()
