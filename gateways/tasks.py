"""Celery beat tasks of the raw call table: partitions ahead, retention behind."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from gateways import partitions


@shared_task(acks_late=True, reject_on_worker_lost=True)
def ensure_partitions_task() -> list[str]:
    """Beat: partitions for yesterday … today + GATEWAY_PARTITIONS_AHEAD days, and re-home late rows.

    Idempotent: an existing partition is left alone; rows that landed in the default
    partition get their day's partition and are moved into it.
    """
    created = partitions.ensure_partitions(days_behind=1, days_ahead=settings.GATEWAY_PARTITIONS_AHEAD)
    created += partitions.rehome_default_rows(retention_days=settings.RAW_RETENTION_DAYS)
    return created


@shared_task(acks_late=True, reject_on_worker_lost=True)
def drop_expired_partitions_task() -> list[str]:
    """Beat: drop raw partitions older than RAW_RETENTION_DAYS (whole tables, no DELETE)."""
    return partitions.drop_expired_partitions(retention_days=settings.RAW_RETENTION_DAYS)
