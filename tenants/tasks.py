"""Celery tasks of the tenants app: thin wrappers around services and mail."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import timezone

from tenants.models import Invitation


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_email_task(subject: str, body: str, to: list[str], html: str | None = None) -> None:
    message = EmailMultiAlternatives(subject, body, settings.DEFAULT_FROM_EMAIL, to)
    if html:
        message.attach_alternative(html, "text/html")
    message.send()


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_invitation_email_task(invitation_id: int, token: str) -> None:
    invitation = Invitation.objects.unscoped().select_related("tenant", "invited_by").filter(pk=invitation_id).first()
    if invitation is None or invitation.status != "pending":
        return  # revoked or accepted before the mail went out: nothing to send
    context = {
        "invitation": invitation,
        "accept_url": f"{settings.SITE_URL}/invitations/{token}/",
        "site_name": settings.SITE_NAME,
    }
    subject = f"[{settings.SITE_NAME}] You are invited to join {invitation.tenant.name}"
    body = render_to_string("emails/invitation.txt", context)
    send_email_task.run(subject, body, [invitation.email])


@shared_task(acks_late=True)
def expire_invitations_task() -> int:
    """Delete invitations that ended (expired, revoked) more than 30 days ago."""
    cutoff = timezone.now() - timedelta(days=30)
    deleted, _ = Invitation.objects.unscoped().filter(accepted_at__isnull=True, expires_at__lt=cutoff).delete()
    return deleted
