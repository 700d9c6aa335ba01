"""Background work of the catalog: validating large OpenAPI uploads off the request path."""

from __future__ import annotations

import uuid

from celery import shared_task
from django.conf import settings

from apis.services.versions import version_process_spec, version_sweep_specs


@shared_task(
    acks_late=True,
    soft_time_limit=settings.OPENAPI_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.OPENAPI_TASK_TIME_LIMIT,
)
def process_spec_task(version_id: int, job: str) -> str:
    """Validate one queued upload and extract its endpoints; the version records the outcome.

    Idempotent (acks_late: a lost worker's task runs again): it acts only while the version
    still waits for this ``job``.
    """
    return version_process_spec(version_id=version_id, job=uuid.UUID(job))


@shared_task(acks_late=True)
def sweep_specs_task() -> int:
    """Re-queue uploads stuck in "processing"; give up on those stuck far too long."""
    return version_sweep_specs()
