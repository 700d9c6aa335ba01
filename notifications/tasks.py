"""Celery tasks of the notifications app: thin wrappers around services."""

from __future__ import annotations

from celery import shared_task

from notifications.models import DeliveryStatus
from notifications.services import retry_delay, webhook_deliveries_due, webhook_delivery_attempt


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def deliver_webhook_task(self, delivery_id: int) -> str:
    """Send one webhook delivery; on failure, retry with exponential backoff until the attempts run out.

    Idempotent: a delivery that already succeeded or failed for good is left alone.
    """
    delivery = webhook_delivery_attempt(delivery_id)
    if delivery is None:
        return "skipped"
    if delivery.status == DeliveryStatus.PENDING:
        if self.request.is_eager:
            # Tests and ./run without a worker: do not spin through the retries inline.
            return "retry-scheduled"
        raise self.retry(countdown=retry_delay(delivery.attempts))
    return delivery.status


@shared_task(acks_late=True, reject_on_worker_lost=True)
def retry_due_webhooks_task() -> int:
    """Beat sweep: queue deliveries that are due, never-attempted ones included (lost kick, dead worker)."""
    due = webhook_deliveries_due()
    for delivery_id in due:
        deliver_webhook_task.delay(delivery_id)
    return len(due)
