"""Celery tasks of the console (thin wrappers around services)."""

from __future__ import annotations

from celery import shared_task

from subscriptions.services import console_keys


@shared_task(acks_late=True)
def sweep_console_keys_task() -> int:
    """Mark expired console keys revoked (beat, every few minutes); returns how many."""
    return console_keys.console_keys_sweep()
