"""A real Celery worker, over the real Redis broker, delivers mail queued by a service."""

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail

from portal.celery import app
from tenants import services
from tenants.selectors import membership_for


@pytest.fixture
def real_worker(settings):
    app.conf.task_always_eager = False
    try:
        with start_worker(app, perform_ping_check=False, pool="solo", shutdown_timeout=10):
            yield
    finally:
        app.conf.task_always_eager = True


@pytest.mark.django_db(transaction=True)
def test_invitation_mail_goes_through_the_broker(alice, real_worker):
    import time

    services.invitation_create(actor=membership_for(alice, "acme"), email="far@example.com", role="viewer")
    deadline = time.monotonic() + 20
    while not mail.outbox and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [m.to for m in mail.outbox] == [["far@example.com"]]
    assert "/invitations/" in mail.outbox[0].body
