"""The transactional outbox: write side effects as rows in the caller's transaction; workers send them.

How a side effect travels:

1. ``enqueue(kind, payload)`` inserts an :class:`~core.models.OutboxMessage` in the current
   transaction (it is rolled back with it) and, once the transaction commits, *kicks* a Celery
   task with the new ids. The kick is best-effort: a broker outage is logged, never raised, so a
   committed request never turns into a 500.
2. A worker claims due rows in a short transaction (``SELECT … FOR UPDATE SKIP LOCKED``),
   moving ``next_attempt_at`` a lease into the future, then sends each one outside any row lock
   and records the outcome (sent; retry later with exponential backoff; failed for good).
3. The beat sweep (``core.tasks.outbox_sweep_task``) claims whatever is due: rows whose kick was
   lost (broker down), rows whose worker died mid-send (lease expired), retries.

Delivery is at-least-once; every row carries a stable ``delivery_id`` that receivers dedupe on.
Senders are registered per ``kind`` by the apps (``register_sender`` in ``AppConfig.ready``):
this module imports no app.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Now
from django.utils import timezone

from core.models import OutboxMessage, OutboxStatus

logger = logging.getLogger(__name__)

EMAIL = "email"
SEND_TASK = "core.tasks.outbox_send_task"

Sender = Callable[[OutboxMessage], None]
_SENDERS: dict[str, Sender] = {}


class PermanentError(Exception):
    """Raised by a sender when retrying cannot help (a malformed address, a missing object)."""


def register_sender(kind: str, sender: Sender) -> None:
    """Declare the function that performs side effects of ``kind`` (called from ``AppConfig.ready``)."""
    _SENDERS[kind] = sender


# --- Writing ---------------------------------------------------------------------------


def enqueue(kind: str, payload: dict[str, Any]) -> OutboxMessage:
    """Record one side effect in the current transaction; it is sent after commit."""
    return enqueue_many(kind, [payload])[0]


def enqueue_many(kind: str, payloads: Iterable[dict[str, Any]]) -> list[OutboxMessage]:
    """Record several side effects of one kind in the current transaction; one kick after commit."""
    if kind not in _SENDERS:
        raise ValueError(f"No outbox sender is registered for {kind!r}.")
    rows = OutboxMessage.objects.bulk_create([OutboxMessage(kind=kind, payload=p) for p in payloads])
    ids = [row.pk for row in rows]
    if ids:
        transaction.on_commit(lambda: kick(SEND_TASK, ids))
    return rows


def email_payload(*, subject: str, body: str, to: str, html: str | None = None) -> dict[str, Any]:
    """The payload of an ``email`` row: one message to one recipient (addresses never leak via To:)."""
    return {"subject": subject, "body": body, "to": [to], "html": html}


def enqueue_email(*, subject: str, body: str, to: str, html: str | None = None) -> OutboxMessage:
    return enqueue(EMAIL, email_payload(subject=subject, body=body, to=to, html=html))


def kick(task_name: str, *args: Any) -> None:
    """Ask a worker to run ``task_name`` now; best-effort (the sweep catches up when it fails).

    Called after commit. Looking the task up by name keeps the services free of task imports.
    """
    from celery import current_app

    if task_name not in current_app.tasks:
        # Celery discovers the apps' tasks lazily (at worker start); a web process imports on demand.
        importlib.import_module(task_name.rsplit(".", 1)[0])
    task = current_app.tasks[task_name]
    if current_app.conf.task_always_eager:
        # Tests and worker-less runs: run inline and let errors surface.
        task.apply_async(args=args)
        return
    try:
        # One quick connection attempt and no publish retries: a request must not wait for a dead
        # broker (kombu's defaults would retry for seconds). The sweep sends the rows later.
        conn: Any
        with current_app.pool.acquire(block=True, timeout=1) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0.2, interval_max=0.2, timeout=2)
            task.apply_async(args=args, connection=conn, retry=False)  # type: ignore[call-arg]
    except Exception as exc:  # noqa: BLE001 - any broker failure: logged, the row waits for the sweep
        logger.warning("Could not queue %s%r (%s); the outbox sweep will send it.", task_name, args, exc)


# --- Sending ---------------------------------------------------------------------------


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after ``attempts`` failed attempts: exponential backoff, capped at an hour."""
    seconds = settings.OUTBOX_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, 3600))


def claim(ids: Iterable[int] | None = None, limit: int = 20) -> list[OutboxMessage]:
    """Lock due rows (skipping those another worker holds), take a lease on them and return them.

    The lock lasts only for this short transaction; the lease (``next_attempt_at`` pushed
    ``OUTBOX_LEASE_SECONDS`` ahead) keeps other workers away while the rows are being sent, and
    runs out by itself when the worker dies. Rows that already used every attempt (their last
    worker died without reporting) are marked failed instead of being sent again.
    """
    with transaction.atomic():
        qs = OutboxMessage.objects.select_for_update(skip_locked=True).filter(
            status=OutboxStatus.PENDING, next_attempt_at__lte=Now()
        )
        if ids is not None:
            qs = qs.filter(pk__in=list(ids))
        rows = list(qs.order_by("next_attempt_at", "pk")[:limit])
        exhausted = [r.pk for r in rows if r.attempts >= settings.OUTBOX_MAX_ATTEMPTS]
        if exhausted:
            OutboxMessage.objects.filter(pk__in=exhausted).update(
                status=OutboxStatus.FAILED,
                last_error=f"Gave up after {settings.OUTBOX_MAX_ATTEMPTS} attempts (the last one never reported back).",
            )
        claimed = [r for r in rows if r.pk not in exhausted]
        if claimed:
            OutboxMessage.objects.filter(pk__in=[r.pk for r in claimed]).update(
                attempts=F("attempts") + 1,
                next_attempt_at=Now() + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS),
            )
        for row in claimed:
            row.attempts += 1
    return claimed


def _record_failure(row: OutboxMessage, exc: BaseException) -> None:
    permanent = isinstance(exc, PermanentError)
    error = f"{exc.__class__.__name__}: {exc}"[:500]
    if permanent or row.attempts >= settings.OUTBOX_MAX_ATTEMPTS:
        OutboxMessage.objects.filter(pk=row.pk).update(status=OutboxStatus.FAILED, last_error=error)
        logger.error("Outbox %s %s failed for good: %s", row.kind, row.delivery_id, error)
    else:
        OutboxMessage.objects.filter(pk=row.pk).update(
            next_attempt_at=Now() + retry_delay(row.attempts), last_error=error
        )
        logger.warning(
            "Outbox %s %s failed (attempt %s), will retry: %s", row.kind, row.delivery_id, row.attempts, error
        )


def send_claimed(rows: Iterable[OutboxMessage]) -> dict[str, int]:
    """Send claimed rows one by one, outside any transaction; one failure never stops the others."""
    counts = {"sent": 0, "failed": 0}
    for row in rows:
        sender = _SENDERS.get(row.kind)
        try:
            if sender is None:
                raise PermanentError(f"No sender registered for {row.kind!r}.")
            sender(row)
        except Exception as exc:  # noqa: BLE001 - recorded on the row, retried or failed visibly
            _record_failure(row, exc)
            counts["failed"] += 1
        else:
            # The payload may hold secrets (invitation tokens, password-reset links): once sent,
            # it is not kept. The row itself (kind, delivery id, times) stays until pruned.
            OutboxMessage.objects.filter(pk=row.pk).update(
                status=OutboxStatus.SENT, sent_at=Now(), last_error="", next_attempt_at=Now(), payload={}
            )
            counts["sent"] += 1
    return counts


def send_batch(ids: Iterable[int]) -> dict[str, int]:
    """Send these rows now if they are due and nobody else holds them (the after-commit kick)."""
    ids = list(ids)
    return send_claimed(claim(ids, limit=len(ids) or 1))


def sweep(*, batch: int = 20, budget_seconds: float = 20.0) -> int:
    """Send everything due, batch by batch, for at most ``budget_seconds``; returns how many rows it handled."""
    deadline = timezone.now() + timedelta(seconds=budget_seconds)
    handled = 0
    while timezone.now() < deadline:
        rows = claim(limit=batch)
        if not rows:
            break
        send_claimed(rows)
        handled += len(rows)
    return handled


def prune(*, days: int) -> int:
    """Delete rows sent more than ``days`` ago (failed rows stay, for the operator to see)."""
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = OutboxMessage.objects.filter(status=OutboxStatus.SENT, sent_at__lt=cutoff).delete()
    return deleted


# --- The e-mail sender -----------------------------------------------------------------


def send_email(row: OutboxMessage) -> None:
    """Send an ``email`` row; its Message-ID derives from the delivery id, so a re-send is one mail."""
    payload = row.payload
    domain = urlsplit(settings.SITE_URL).hostname or "localhost"
    try:
        message = EmailMultiAlternatives(
            payload["subject"],
            payload["body"],
            settings.DEFAULT_FROM_EMAIL,
            payload["to"],
            headers={"Message-ID": f"<{row.delivery_id}@{domain}>", "X-Portal-Delivery": str(row.delivery_id)},
        )
        if payload.get("html"):
            message.attach_alternative(payload["html"], "text/html")
        message.message()  # build it now: a malformed address or header is not worth retrying
    except (KeyError, TypeError, ValueError) as exc:
        raise PermanentError(f"The mail cannot be built: {exc}") from exc
    message.send()
