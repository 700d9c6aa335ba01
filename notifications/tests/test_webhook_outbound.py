"""Webhooks under the outbound policy: refused at save, no row lock during the HTTP call,
a few KB of the answer kept, a lost worker's lease expires."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection, transaction
from django.test.utils import override_settings
from django.utils import timezone

from notifications import services
from notifications.models import Webhook, WebhookDelivery
from subscriptions.tests.factories import membership

STRICT = override_settings(OUTBOUND_ALLOWED_NETWORKS=[], OUTBOUND_ALLOW_PRIVATE_TARGETS=False)


class BlockingReceiver:
    """Answers every POST only once ``release`` is set; ``arrived`` tells that a request is in."""

    def __init__(self, answer: bytes = b"thanks") -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.count = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                receiver.count += 1
                receiver.arrived.set()
                receiver.release.wait(10)
                self.send_response(200)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def blocking() -> Iterator[BlockingReceiver]:
    receiver = BlockingReceiver()
    yield receiver
    receiver.close()


def _delivery(hook: Webhook) -> WebhookDelivery:
    # Created directly: the services would kick an (eager) task on commit.
    return WebhookDelivery.objects.create(tenant=hook.tenant, webhook=hook, event="webhook.test", payload={"id": 1})


@pytest.mark.django_db(transaction=True)
def test_no_row_lock_is_held_while_the_receiver_answers(globex, charlie, blocking):
    hook = services.webhook_create(actor=membership(charlie, globex), url=blocking.url, events=["key.*"])
    delivery = _delivery(hook)
    outcome: dict[str, object] = {}

    def worker() -> None:
        try:
            outcome["delivery"] = services.webhook_delivery_attempt(delivery.pk)
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert blocking.arrived.wait(10), "the receiver never got the request"
        # The receiver is mid-request: another connection can lock the row without waiting…
        with transaction.atomic():
            row = WebhookDelivery.objects.unscoped().select_for_update(nowait=True).get(pk=delivery.pk)
            assert row.attempts == 1 and row.next_attempt_at > timezone.now()  # claimed (leased)
        # …and a concurrent attempt (a Celery retry, the sweep) does not send it twice.
        assert services.webhook_delivery_attempt(delivery.pk) is None
    finally:
        blocking.release.set()
        thread.join(10)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("succeeded", 1, 200)
    assert blocking.count == 1


def test_only_a_few_kb_of_the_answer_are_kept(globex, charlie, django_capture_on_commit_callbacks):
    receiver = BlockingReceiver(answer=b"y" * 100_000)
    receiver.release.set()
    try:
        hook = services.webhook_create(actor=membership(charlie, globex), url=receiver.url, events=["key.*"])
        with django_capture_on_commit_callbacks(execute=True):
            delivery = services.webhook_send_test(actor=membership(charlie, globex), webhook=hook)
    finally:
        receiver.close()
    delivery.refresh_from_db()
    assert delivery.status == "succeeded" and delivery.response_body == "y" * 4096


def test_a_lost_workers_lease_expires_and_its_late_answer_is_ignored(globex, charlie):
    receiver = BlockingReceiver()
    receiver.release.set()
    try:
        hook = services.webhook_create(actor=membership(charlie, globex), url=receiver.url, events=["key.*"])
        delivery = _delivery(hook)
        lost = services._delivery_claim(delivery.pk)  # a worker that then dies mid-flight
        assert lost is not None and services.webhook_delivery_attempt(delivery.pk) is None  # leased
        WebhookDelivery.objects.unscoped().filter(pk=delivery.pk).update(
            next_attempt_at=timezone.now() - timedelta(seconds=1)
        )
        retried = services.webhook_delivery_attempt(delivery.pk)
        assert retried is not None and (retried.status, retried.attempts) == ("succeeded", 2)
        late = services._Outcome(code=500, error="late")
        assert services._delivery_record(lost, late) is None
    finally:
        receiver.close()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.response_code, delivery.error) == ("succeeded", 200, "")


@STRICT
@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[::ffff:127.0.0.1]/hook", "127.0.0.1"),
        ("http://10.1.2.3/hook", "private"),
        ("http://localhost:8000/hook", "loopback"),
        ("http://100.64.1.1/hook", "carrier-grade NAT"),
    ],
)
def test_refused_webhook_urls_are_refused_when_saved(api, client, globex, charlie, url, reason):
    client.force_login(charlie)
    response = client.post("/t/globex/webhooks/", {"url": url, "events": ["key.*"]})
    assert response.status_code == 400 and reason in response.content.decode()
    api.force_authenticate(charlie)
    response = api.post("/api/v1/tenants/globex/webhooks/", {"url": url, "events": ["key.*"]}, format="json")
    assert response.status_code == 400
    assert reason in response.json()["error"]["fields"]["url"][0]
    assert not Webhook.objects.for_tenant(globex).exists()
    hook = services.webhook_create(
        actor=membership(charlie, globex), url="https://hooks.globex.example/in", events=["key.*"]
    )
    response = api.patch(f"/api/v1/tenants/globex/webhooks/{hook.pk}/", {"url": url}, format="json")
    assert response.status_code == 400 and "url" in response.json()["error"]["fields"]


def test_an_answer_with_nul_bytes_is_stored(globex, charlie, django_capture_on_commit_callbacks):
    receiver = BlockingReceiver(answer=b"ok\x00\xff")
    receiver.release.set()
    try:
        hook = services.webhook_create(actor=membership(charlie, globex), url=receiver.url, events=["key.*"])
        with django_capture_on_commit_callbacks(execute=True):
            delivery = services.webhook_send_test(actor=membership(charlie, globex), webhook=hook)
    finally:
        receiver.close()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.response_body) == ("succeeded", "ok\ufffd\ufffd")
