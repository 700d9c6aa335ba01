"""Notification mails are outbox rows: one per recipient, and one bad recipient never stops the others."""

import pytest
from django.core import mail
from django.db import transaction

from core.models import OutboxMessage, OutboxStatus
from notifications.services import notify_users
from tenants.tests.factories import UserFactory


@pytest.mark.django_db
def test_a_mail_that_fails_to_build_does_not_drop_the_other_recipients(
    acme, alice, bob, django_capture_on_commit_callbacks
):
    broken = UserFactory(email="broken\r\nBcc: victim@example.com")  # header injection: cannot be built
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        notify_users(tenant=acme, users=[alice, broken, bob], kind="test", title="Hello", body="Body")
    assert sorted(m.to[0] for m in mail.outbox) == ["alice@acme.example", "bob@acme.example"]
    failed = OutboxMessage.objects.get(status=OutboxStatus.FAILED)
    assert failed.payload["to"] == [broken.email] and "cannot be built" in failed.last_error
    assert OutboxMessage.objects.filter(status=OutboxStatus.SENT).count() == 2


@pytest.mark.django_db
def test_mails_are_written_in_the_transaction_of_the_notice(acme, alice):
    with pytest.raises(RuntimeError), transaction.atomic():
        notify_users(tenant=acme, users=[alice], kind="test", title="Hello")
        assert OutboxMessage.objects.count() == 1
        raise RuntimeError
    assert not OutboxMessage.objects.exists() and mail.outbox == []
