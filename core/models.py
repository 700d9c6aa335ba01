"""The transactional outbox: side effects written in the transaction that causes them."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class OutboxMessage(models.Model):
    """One side effect to perform (an e-mail to one recipient, …), sent by a worker after commit.

    Written in the same transaction as the state change that causes it, so it exists if and
    only if that change committed. ``next_attempt_at`` is both the schedule and the claim
    lease: a worker that claims a row pushes it into the future, so a worker killed mid-send
    leaves a row that the sweep picks up again once the lease runs out (at-least-once).
    ``delivery_id`` stays the same across attempts: receivers dedupe on it.
    """

    kind = models.CharField(max_length=60, help_text="Which registered sender handles it, e.g. email.")
    payload = models.JSONField()
    delivery_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    status = models.CharField(max_length=16, choices=OutboxStatus.choices, default=OutboxStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="outbox_due_idx",
                condition=models.Q(status="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.delivery_id} ({self.status})"
