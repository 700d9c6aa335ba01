"""The node's config poller and heartbeat against the real portal (pytest-django's live server).

A small TCP proxy sits between the node's client and the portal, so a test can switch the
portal "off", answer garbage or a canned answer, lose an answer after the portal handled the
request, and count what the portal answered (200 vs 304). The node's coroutines run on an
event loop in a background thread, as they do in a worker process.

``LoopThread``, ``Proxy`` and ``node_token`` are also used by test_shipper.py.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvloop

from gateway_node import SOFTWARE
from gateway_node.portal_client import ConfigSource, PortalError, PortalHttp, heartbeat_loop
from gateway_node.tests.upstreams import free_port, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


# --- Helpers (shared with test_shipper.py) ------------------------------------------------------


class LoopThread:
    """An event loop (uvloop, as in the node) running in a background thread."""

    def __init__(self) -> None:
        self.loop = uvloop.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 15.0) -> Any:
        """Run ``coro`` on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future:
        """Run ``coro`` on the loop in the background."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call ``fn`` on the loop's thread (as the node's gate calls ``Shipper.add``)."""

        async def call() -> Any:
            return fn(*args)

        return self.run(call())

    def stop(self) -> None:
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(cancel_all())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def loop() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.stop()


@dataclass
class Exchange:
    """One request through the proxy and what became of it."""

    method: str
    path: str
    headers: dict[str, str]
    status: int | None  # the status the portal (or the canned answer) gave; None when refused
    delivered: bool
    at: float = field(default_factory=time.monotonic)


class Proxy:
    """A TCP proxy in front of the live server, one request per connection (the node sends
    ``Connection: close``).

    ``refuse``: accept and reset at once (the portal is down). ``drop_answers``: forward that
    many requests, let the portal answer, but never deliver the answer (a lost answer).
    ``canned``: answer the next requests with these raw bytes instead of the portal.
    """

    def __init__(self, target: str, tls: ssl.SSLContext | None = None) -> None:
        host, _, port = target.removeprefix("http://").partition(":")
        self.target = (host, int(port))
        self.tls = tls
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.refuse = False
        self.drop_answers = 0
        self.canned: list[bytes] = []
        self.exchanges: list[Exchange] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def statuses(self, path: str = "") -> list[int | None]:
        with self.lock:
            return [e.status for e in self.exchanges if e.path.startswith(path)]

    def close(self) -> None:
        self.server.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            if self.refuse:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                conn.close()  # linger 0: a reset, like a stopped portal behind a load balancer
                return
            if self.tls:
                conn = self.tls.wrap_socket(conn, server_side=True)
            conn.settimeout(10)
            request, method, path, headers = self._read_request(conn)
            with self.lock:
                canned = self.canned.pop(0) if self.canned else None
                drop = False
                if canned is None and self.drop_answers > 0:
                    self.drop_answers -= 1
                    drop = True
            if canned is not None:
                answer = canned
            else:
                with socket.create_connection(self.target, timeout=10) as upstream:
                    upstream.sendall(request)
                    chunks = []
                    while chunk := upstream.recv(65536):
                        chunks.append(chunk)
                answer = b"".join(chunks)
            status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else None
            with self.lock:
                self.exchanges.append(Exchange(method, path, headers, status, delivered=not drop))
            if not drop:
                conn.sendall(answer)
        except OSError:
            pass
        finally:
            conn.close()

    @staticmethod
    def _read_request(conn: socket.socket) -> tuple[bytes, str, str, dict[str, str]]:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                raise ConnectionError("client went away")
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                raise ConnectionError("client went away")
            body += chunk
        return head + b"\r\n\r\n" + body, method, path, headers


@pytest.fixture
def proxy(live_server) -> Iterator[Proxy]:
    server = Proxy(live_server.url)
    yield server
    server.close()


def node_token(name: str = "edge-1") -> tuple[Any, str]:
    """A registered gateway node and its token, as ``manage.py gateway_node create`` makes them."""
    from gateways import services
    from gateways.models import ConfigState
    from gateways.snapshot import cache
    from tenants.tests.factories import UserFactory

    # A transactional test's flush removes the row the config-version triggers bump, and
    # version numbers come back with other data: forget snapshots built by earlier tests.
    ConfigState.objects.get_or_create(pk=1)
    cache.clear()
    staff = UserFactory(is_staff=True, email=f"ops-{name}@platform.example")
    return services.node_create(actor=staff, name=name)


@dataclass
class World:
    portal: str
    token: str
    node: Any
    key_id: str
    key_obj: Any
    consumer: Any


@pytest.fixture
def world(live_server) -> World:
    """Acme publishes Orders v1; Globex's Storefront has an active subscription and a key."""
    from django.db import connection

    from gateway_node.tests.portal_world import consumer_world

    node, token = node_token()
    made = consumer_world("http://127.0.0.1:9")
    key_obj, bob = made.key_obj, made.consumer
    connection.close()  # the live server's thread uses its own connection
    return World(live_server.url, token, node, key_obj.key_id, key_obj, bob)


def portal_version() -> int:
    from gateways.snapshot import current_version

    return current_version()


class Recorder:
    """``on_snapshot`` that keeps what it was given and can be told to refuse."""

    def __init__(self) -> None:
        self.snapshots: list[dict] = []
        self.refuse_above: int | None = None

    def __call__(self, snapshot: dict) -> None:
        if self.refuse_above is not None and snapshot["version"] > self.refuse_above:
            raise ValueError("cannot compile this one")
        self.snapshots.append(snapshot)

    def revoked(self, key_id: str) -> bool | None:
        if not self.snapshots:
            return None
        entry = self.snapshots[-1]["credentials"].get(key_id)
        return None if entry is None else entry["revoked"]


# --- Config -------------------------------------------------------------------------------------


def test_initial_fetch_then_304s_then_a_revoked_key_within_one_interval(world, proxy, loop, tmp_path):
    from subscriptions.services import key_revoke

    got = Recorder()
    source = ConfigSource(portal_url=proxy.url, token=world.token, state_dir=tmp_path, interval=0.3, on_snapshot=got)
    assert loop.run(source.load_initial()) is True
    assert source.version == portal_version() and source.source == "portal"
    assert got.revoked(world.key_id) is False  # the key is in the snapshot the gate got
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["version"] == source.version and world.key_id in saved["credentials"]

    loop.start(source.run())
    wait_for(lambda: proxy.statuses().count(304) >= 3, what="three conditional polls")
    assert proxy.statuses()[0] == 200 and set(proxy.statuses()[1:]) == {304}  # unchanged: no body again
    assert len(got.snapshots) == 1 and source.last_success is not None and time.time() - source.last_success < 1

    key_revoke(actor=world.consumer, key=world.key_obj)
    revoked_at = time.monotonic()
    wait_for(lambda: got.revoked(world.key_id) is True, timeout=5, what="the revoked key in the applied snapshot")
    assert time.monotonic() - revoked_at < 0.3 * 1.1 + 1.0  # one interval (with jitter) and the fetch
    assert source.version == portal_version() == got.snapshots[-1]["version"]
    # The disk copy is written after the swap, off the event loop: it follows within moments.
    wait_for(
        lambda: json.loads((tmp_path / "config.json").read_text())["version"] == source.version,
        timeout=5,
        what="the applied version saved to disk",
    )
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["credentials"][world.key_id]["revoked"] is True


def test_the_saved_snapshot_serves_while_the_portal_is_down_or_answers_garbage(world, proxy, loop, tmp_path):
    first = Recorder()
    online = ConfigSource(portal_url=world.portal, token=world.token, state_dir=tmp_path, on_snapshot=first)
    assert loop.run(online.load_initial()) is True

    # The node restarts while the portal is down: it comes up with the saved snapshot.
    proxy.refuse = True
    got = Recorder()
    source = ConfigSource(portal_url=proxy.url, token=world.token, state_dir=tmp_path, interval=0.2, on_snapshot=got)
    assert loop.run(source.load_initial()) is True
    assert source.version == online.version and source.source == "disk"
    assert got.snapshots == first.snapshots  # the very snapshot the portal gave the first time
    assert loop.run(source.poll()) is False and source.failures == 2 and source.version == online.version

    # Garbage, an error page, a snapshot without a version: the node keeps what it has.
    proxy.refuse = False
    proxy.canned = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nnot json!",
        b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 3\r\n\r\nbad",
        b'HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n{"routes":[]',
        b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
    ]
    for _ in range(4):
        assert loop.run(source.poll()) is False
    assert source.version == online.version and len(got.snapshots) == 1 and source.failures == 6
    assert source.last_error

    # The portal is back: same version, so a 304 and nothing to apply.
    assert loop.run(source.poll()) is False
    assert proxy.statuses()[-1] == 304 and source.last_error == "" and len(got.snapshots) == 1


def test_a_corrupt_or_missing_saved_snapshot_is_not_used(tmp_path, loop):
    closed = f"http://127.0.0.1:{free_port()}"
    got = Recorder()
    source = ConfigSource(portal_url=closed, token="gwn_x_y", state_dir=tmp_path, on_snapshot=got)
    assert loop.run(source.load_initial()) is False  # nothing saved yet
    for corrupt in (b'{"version": 3, "routes": [', b"\x00\xff garbage", b'{"routes": []}', b"[1, 2]"):
        (tmp_path / "config.json").write_bytes(corrupt)
        source = ConfigSource(portal_url=closed, token="gwn_x_y", state_dir=tmp_path, on_snapshot=got)
        assert loop.run(source.load_initial()) is False, corrupt
        assert source.version is None
    assert got.snapshots == []


def test_a_snapshot_the_gate_refuses_or_an_older_one_changes_nothing(world, proxy, loop, tmp_path):
    from subscriptions.services import key_revoke

    got = Recorder()
    source = ConfigSource(portal_url=proxy.url, token=world.token, state_dir=tmp_path, on_snapshot=got)
    assert loop.run(source.load_initial()) is True
    applied = source.version
    saved = (tmp_path / "config.json").read_bytes()

    got.refuse_above = applied
    key_revoke(actor=world.consumer, key=world.key_obj)
    assert loop.run(source.poll()) is False
    assert source.version == applied and source.refused == 1 and "refused" in source.last_error
    assert (tmp_path / "config.json").read_bytes() == saved  # the disk copy stays one the gate took
    # The refused version is not downloaded again on every poll: 304 until the portal moves on.
    assert loop.run(source.poll()) is False and proxy.statuses()[-1] == 304

    older = json.dumps({"version": applied - 1, "routes": [], "credentials": {}}).encode()
    proxy.canned = [b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(older), older)]
    assert loop.run(source.poll()) is False
    assert source.version == applied and source.stale == 1 and len(got.snapshots) == 1


def test_chunked_answers_and_answers_without_length_are_read(loop, tmp_path):
    """Behind nginx or a load balancer the snapshot may come chunked or closed-delimited."""
    snapshot = json.dumps({"version": 7, "routes": [], "credentials": {}}).encode()
    chunked = b"".join(
        b"%x\r\n%s\r\n" % (len(snapshot[i : i + 10]), snapshot[i : i + 10]) for i in range(0, len(snapshot), 10)
    )
    proxy = Proxy("127.0.0.1:9")
    try:
        proxy.canned = [
            b'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nETag: "7"\r\n\r\n'
            + chunked
            + b"0\r\n\r\n",
            b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + snapshot.replace(b"7", b"8"),
        ]
        got = Recorder()
        source = ConfigSource(portal_url=proxy.url, token="gwn_x_y", state_dir=tmp_path, on_snapshot=got)
        assert loop.run(source.load_initial()) is True and source.version == 7 and source.etag == '"7"'
        assert loop.run(source.poll()) is True and source.version == 8
        assert proxy.exchanges[1].headers["if-none-match"] == '"7"'
        assert proxy.exchanges[0].headers["authorization"] == "Bearer gwn_x_y"
    finally:
        proxy.close()


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_https_portal_with_certificate_verification(world, loop, tmp_path, monkeypatch):
    cert, key = _self_signed(tmp_path)
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(cert, key)
    tls_proxy = Proxy(world.portal, tls=server_side)
    try:
        # Not trusted: the certificate is refused, nothing is applied.
        source = ConfigSource(portal_url=tls_proxy.url, token=world.token, state_dir=tmp_path, on_snapshot=Recorder())
        assert loop.run(source.load_initial()) is False and "CERTIFICATE_VERIFY_FAILED" in source.last_error
        # Trusted through the standard SSL_CERT_FILE: the snapshot comes over TLS.
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        got = Recorder()
        source = ConfigSource(portal_url=tls_proxy.url, token=world.token, state_dir=tmp_path, on_snapshot=got)
        assert loop.run(source.load_initial()) is True and got.revoked(world.key_id) is False
    finally:
        tls_proxy.close()


def test_timeouts_and_refused_connections_are_portal_errors(loop):
    silent = socket.create_server(("127.0.0.1", 0))  # accepts (backlog), never answers
    try:
        http = PortalHttp(f"http://127.0.0.1:{silent.getsockname()[1]}", "gwn_x_y", timeout=0.2)
        started = time.monotonic()
        with pytest.raises(PortalError, match="no answer"):
            loop.run(http.request("GET", "/gateway/v1/config"))
        assert time.monotonic() - started < 1.0
    finally:
        silent.close()
    with pytest.raises(PortalError):
        loop.run(PortalHttp(f"http://127.0.0.1:{free_port()}", "gwn_x_y").request("GET", "/"))
    with pytest.raises(ValueError):
        PortalHttp("ftp://portal.example", "gwn_x_y")


# --- Heartbeat ----------------------------------------------------------------------------------


def test_heartbeats_reach_the_portal_and_a_newer_version_wakes_the_poller(world, loop, tmp_path):
    from gateways.models import GatewayNode
    from subscriptions.services import key_revoke

    got = Recorder()
    # A poller that on its own would not look again for a minute ...
    source = ConfigSource(portal_url=world.portal, token=world.token, state_dir=tmp_path, interval=60, on_snapshot=got)
    assert loop.run(source.load_initial()) is True
    loop.start(source.run())
    woken: list[int] = []

    def on_version(version: int) -> None:
        woken.append(version)
        source.poll_soon()

    loop.start(
        heartbeat_loop(
            portal_url=world.portal,
            token=world.token,
            interval=0.2,
            software=SOFTWARE,
            applied_version=lambda: source.version,
            depth=lambda: 42,
            on_config_version=on_version,
        )
    )

    def reported() -> Any:
        node = GatewayNode.objects.get(pk=world.node.pk)
        return node.last_heartbeat_at is not None and node

    node = wait_for(reported, what="a heartbeat at the portal")
    assert (node.software_version, node.buffered_records, node.applied_config_version) == (SOFTWARE, 42, source.version)
    assert woken == []  # nothing newer at the portal yet

    # ... learns of the revocation from the next heartbeat and fetches it at once.
    key_revoke(actor=world.consumer, key=world.key_obj)
    revoked_at = time.monotonic()
    wait_for(lambda: got.revoked(world.key_id) is True, timeout=5, what="the heartbeat to wake the poller")
    assert time.monotonic() - revoked_at < 0.2 * 1.1 + 1.0
    assert woken and woken[0] == source.version == portal_version()
    wait_for(
        lambda: GatewayNode.objects.get(pk=world.node.pk).applied_config_version == source.version,
        what="the new applied version reported",
    )


def test_heartbeat_survives_an_unreachable_portal(world, proxy, loop):
    from gateways.models import GatewayNode

    proxy.refuse = True
    loop.start(
        heartbeat_loop(
            portal_url=proxy.url,
            token=world.token,
            interval=0.1,
            software="portal-gw/test\nsecond line",  # a bad value is made single-line, not sent raw
            applied_version=lambda: None,
            depth=lambda: 7,
            on_config_version=lambda version: None,
        )
    )
    time.sleep(0.3)
    assert GatewayNode.objects.get(pk=world.node.pk).last_heartbeat_at is None
    proxy.refuse = False
    node = wait_for(
        lambda: (n := GatewayNode.objects.get(pk=world.node.pk)).last_heartbeat_at and n, what="a heartbeat"
    )
    assert node.buffered_records == 7 and node.applied_config_version is None
    assert node.software_version == "portal-gw/test second line"
