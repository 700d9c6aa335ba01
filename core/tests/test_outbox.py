"""The outbox in-process (tasks inline): sweep of never-attempted rows, backoff, giving up, leases."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from core import outbox
from core.models import OutboxMessage, OutboxStatus
from core.tasks import outbox_sweep_task

pytestmark = pytest.mark.django_db


def test_a_row_whose_kick_was_lost_is_sent_by_the_sweep(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False), transaction.atomic():  # the kick never happens
        row = outbox.enqueue_email(subject="Hello", body="Body", to="dora@example.com")
    assert row.attempts == 0 and mail.outbox == []

    assert outbox_sweep_task.delay().get() == 1
    assert [m.to for m in mail.outbox] == [["dora@example.com"]]
    # Re-sending the same row gives the same Message-ID and X-Portal-Delivery: receivers dedupe on them.
    assert mail.outbox[0].extra_headers["X-Portal-Delivery"] == str(row.delivery_id)
    assert str(row.delivery_id) in mail.outbox[0].extra_headers["Message-ID"]
    row.refresh_from_db()
    assert row.status == OutboxStatus.SENT and row.attempts == 1 and row.sent_at
    assert row.payload == {}  # sent mails may carry links with secrets: not kept
    assert outbox_sweep_task.delay().get() == 0  # sent once, not again


def test_failures_back_off_then_give_up_visibly(settings, django_capture_on_commit_callbacks):
    settings.OUTBOX_MAX_ATTEMPTS = 2
    calls = []

    def flaky(row: OutboxMessage) -> None:
        calls.append(row.pk)
        raise OSError("mail server down")

    outbox.register_sender("test.flaky", flaky)
    with django_capture_on_commit_callbacks(execute=True):
        row = outbox.enqueue("test.flaky", {"n": 1})
    row.refresh_from_db()
    assert row.status == OutboxStatus.PENDING and row.attempts == 1
    assert row.next_attempt_at > timezone.now() + timedelta(seconds=20)  # backoff: not due yet
    assert "mail server down" in row.last_error
    assert outbox_sweep_task.delay().get() == 0

    OutboxMessage.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
    assert outbox_sweep_task.delay().get() == 1
    row.refresh_from_db()
    assert row.status == OutboxStatus.FAILED and row.attempts == 2 and calls == [row.pk, row.pk]


def test_a_claimed_row_is_left_alone_until_its_lease_runs_out(settings, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        row = outbox.enqueue_email(subject="Hi", body="", to="a@example.com")
    assert [r.pk for r in outbox.claim()] == [row.pk]  # a worker took it … and died
    assert outbox.claim() == []
    OutboxMessage.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())  # lease over
    assert outbox_sweep_task.delay().get() == 1
    row.refresh_from_db()
    assert row.status == OutboxStatus.SENT and row.attempts == 2 and len(mail.outbox) == 1


def test_a_row_whose_worker_died_on_the_last_attempt_fails_instead_of_looping(settings):
    settings.OUTBOX_MAX_ATTEMPTS = 1
    row = OutboxMessage.objects.create(kind=outbox.EMAIL, payload={}, attempts=1)
    assert outbox.claim() == []
    row.refresh_from_db()
    assert row.status == OutboxStatus.FAILED and "never reported back" in row.last_error


def test_the_writer_rolls_back_with_the_transaction():
    with pytest.raises(RuntimeError), transaction.atomic():
        outbox.enqueue_email(subject="Hi", body="", to="a@example.com")
        raise RuntimeError
    assert not OutboxMessage.objects.exists()
