"""Celery tasks of the tenants app: thin wrappers around services.

Mail goes through the outbox (core.outbox); the two mail tasks below only remain so that
messages queued by an older release before an upgrade still run.
"""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils import timezone

from tenants.models import Invitation
from tenants.services import invitation_email_build


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_email_task(subject: str, body: str, to: list[str], html: str | None = None) -> None:
    """Deprecated (pre-outbox messages only)."""
    message = EmailMultiAlternatives(subject, body, settings.DEFAULT_FROM_EMAIL, to)
    if html:
        message.attach_alternative(html, "text/html")
    message.send()


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_invitation_email_task(invitation_id: int, token: str) -> None:
    """Deprecated (pre-outbox messages only)."""
    built = invitation_email_build(invitation_id=invitation_id, token=token)
    if built is not None:
        subject, body, address = built
        send_email_task.run(subject, body, [address])


@shared_task(acks_late=True)
def expire_invitations_task() -> int:
    """Delete invitations that ended (expired, revoked) more than 30 days ago."""
    cutoff = timezone.now() - timedelta(days=30)
    deleted, _ = Invitation.objects.unscoped().filter(accepted_at__isnull=True, expires_at__lt=cutoff).delete()
    return deleted
