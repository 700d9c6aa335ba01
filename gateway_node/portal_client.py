"""The node's link to the portal: a small HTTP/1.1 client, the config poller and the heartbeat.

Everything here is off the hot path: a poll every couple of seconds, a heartbeat every few
seconds, a log batch now and then (``gateway_node.shipper``). So the client is deliberately
plain: one asyncio-streams connection per request (``Connection: close``), http or https,
one deadline per request, no dependency beyond the stdlib. See docs/gateway-node-shipping.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import ssl
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec

from gateway_node import SOFTWARE
from gateway_node.ai import seal

CONFIG_PATH = "/gateway/v1/config"
HEARTBEAT_PATH = "/gateway/v1/heartbeat"
CONFIG_FILE = "config.json"
#: The biggest answer body the client reads (a snapshot of 10,000 keys is a few MB).
MAX_BODY_BYTES = 512 * 1024 * 1024
#: A poll or heartbeat interval is stretched or shrunk by up to this fraction, so that the
#: workers and nodes started together do not hit the portal in lockstep.
JITTER = 0.1


def say(message: str) -> None:
    """Operator messages go to stderr (the node never uses ``logging``)."""
    print(f"[gateway-node] {message}", file=sys.stderr, flush=True)


class PortalError(Exception):
    """The portal could not be reached in time, or what came back was not an HTTP answer."""


@dataclass(slots=True)
class Answer:
    """One HTTP answer: status, headers (names lower-case; repeated ones joined with ``, ``), body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class PortalHttp:
    """A minimal HTTP/1.1 client bound to one portal base URL and one node token.

    A fresh connection per request: the node makes a few requests a second at most, and a
    new connection never trips over one the portal (or a load balancer) closed while idle.
    """

    def __init__(self, portal_url: str, token: str, *, timeout: float = 5.0) -> None:
        parts = urlsplit(portal_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the portal URL must be http(s)://host[:port][/prefix], got {portal_url!r}")
        self.host = parts.hostname
        self.tls = parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        self.prefix = parts.path.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        default_port = 443 if self.tls else 80
        self.host_header = host if self.port == default_port else f"{host}:{self.port}"
        self.token = token
        self.timeout = timeout
        self._ssl: ssl.SSLContext | None = None

    def _context(self) -> ssl.SSLContext:
        # Created once, lazily: loading the CA bundle takes milliseconds.
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> Answer:
        """Send one request and read the whole answer, all within ``timeout`` seconds.

        Raises :class:`PortalError` on a refused or broken connection, a TLS failure, a
        timeout or an answer that is not HTTP/1.x; any status code is returned as is.
        """
        lines = [
            f"{method} {self.prefix}{path} HTTP/1.1",
            f"Host: {self.host_header}",
            f"User-Agent: {SOFTWARE}",
            f"Authorization: Bearer {self.token}",
            "Accept: application/json",
            "Connection: close",
        ]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            async with asyncio.timeout(self.timeout if timeout is None else timeout):
                return await self._exchange(method, head, body)
        except TimeoutError as exc:
            raise PortalError(f"no answer from {self.host_header} within {timeout or self.timeout:g} s") from exc
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            # ssl.SSLError and ConnectionError are OSErrors; ValueError is a malformed answer.
            raise PortalError(f"{self.host_header}: {exc.__class__.__name__}: {exc}") from exc

    async def _exchange(self, method: str, head: bytes, body: bytes) -> Answer:
        reader, writer = await asyncio.open_connection(
            self.host,
            self.port,
            ssl=self._context() if self.tls else None,
            server_hostname=self.host if self.tls else None,
        )
        try:
            writer.write(head + body if len(body) < 65536 else head)
            if len(body) >= 65536:
                writer.write(body)  # no copy of a big body just to prepend the head
            await writer.drain()
            status, headers = await _read_head(reader)
            while status < 200:  # 1xx (e.g. 100 Continue) are interim: the real answer follows
                status, headers = await _read_head(reader)
            if method == "HEAD" or status in (204, 304):
                return Answer(status, headers)
            return Answer(status, headers, await _read_body(reader, headers))
        finally:
            writer.close()


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code = rest[:3]
    if not version.startswith("HTTP/1.") or not code.isdigit():
        raise ValueError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"malformed header line: {line[:80]!r}")
        key = name.strip().lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return int(code), headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass  # trailers: nothing of ours is in them
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                raise ValueError(f"answer body over {MAX_BODY_BYTES} bytes")
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    length = headers.get("content-length")
    if length is not None:
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            raise ValueError(f"unusable Content-Length {length[:20]!r}")
        return await reader.readexactly(int(length))
    parts: list[bytes] = []  # no length: the body ends with the connection
    total = 0
    while chunk := await reader.read(65536):
        total += len(chunk)
        if total > MAX_BODY_BYTES:
            raise ValueError(f"answer body over {MAX_BODY_BYTES} bytes")
        parts.append(chunk)
    return b"".join(parts)


class _Reporter:
    """Says a condition on stderr when it changes, not on every poll that finds it unchanged."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.state = "ok"

    def ok(self) -> None:
        if self.state != "ok":
            say(f"{self.what}: working again")
        self.state = "ok"

    def fail(self, state: str, message: str) -> None:
        if state != self.state:
            say(f"{self.what}: {message}")
        self.state = state


def _jittered(interval: float) -> float:
    return interval * random.uniform(1 - JITTER, 1 + JITTER)


# --- Config -------------------------------------------------------------------------------------


class ConfigSource:
    """Fetches the portal's config snapshot, hands new versions to ``on_snapshot``, keeps a copy on disk.

    ``on_snapshot(snapshot)`` gets the parsed JSON of each newer version; it compiles and swaps
    it in, or raises to refuse it (the old config stays). Only an accepted snapshot is written
    to ``state_dir/config.json`` (temp file + ``os.replace``), so the disk copy is always one
    the node could run with: :meth:`load_initial` falls back to it when the portal is away.
    AI provider secrets are sealed in that copy (``gateway_node.ai.seal``, key derived from
    the node token); a copy whose seals do not open (the token changed) is used without AI
    credentials until the portal answers again.
    """

    def __init__(
        self,
        *,
        portal_url: str,
        token: str,
        state_dir: Path,
        interval: float = 2.0,
        on_snapshot: Callable[[dict[str, Any]], None],
        timeout: float = 5.0,
    ) -> None:
        self.http = PortalHttp(portal_url, token, timeout=timeout)
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / CONFIG_FILE
        self.interval = interval
        self.on_snapshot = on_snapshot
        #: The version applied (from the portal or the disk copy), None before any.
        self.version: int | None = None
        #: time.time() of the last poll the portal answered usefully (200 with a snapshot, or 304).
        self.last_success: float | None = None
        #: Sent as If-None-Match: the ETag of the last full snapshot received, even one that was
        #: refused or older than the applied one, so the portal answers 304 until it moves on.
        self.etag: str | None = None
        self.source = ""  # "portal" or "disk": where the applied version came from
        #: The applied snapshot came from disk without its AI credentials (seals that did not
        #: open): the same version is taken again from the portal, whole.
        self.degraded = False
        self.last_error = ""
        # Counters, for /metrics and the tests.
        self.polls = 0
        self.not_modified = 0
        self.applied = 0
        self.refused = 0  # snapshots on_snapshot raised on
        self.stale = 0  # snapshots older than the applied version, ignored
        self.failures = 0  # polls that got no usable answer
        self._wake = asyncio.Event()
        self._report = _Reporter("config poll")

    # -- public

    async def load_initial(self) -> bool:
        """Fetch the snapshot once; if that fails, apply ``state_dir/config.json``. True if any config is applied."""
        if await self.poll():
            return True
        if self.version is not None:
            return True  # the portal answered with a version already applied (a second call)
        return self._load_disk()

    async def run(self) -> None:
        """Poll every ``interval`` (± 10 %) or sooner when :meth:`poll_soon` is called, forever."""
        while True:
            try:
                async with asyncio.timeout(_jittered(self.interval)):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.poll()
            except Exception as exc:  # noqa: BLE001 - a bug in one poll must not end polling for good
                self._failed("error", f"config poll failed: {exc.__class__.__name__}: {exc}")

    def poll_soon(self) -> None:
        """Wake the poller now (the heartbeat learnt of a newer version)."""
        self._wake.set()

    async def poll(self) -> bool:
        """One conditional GET; True if a new version was applied. Never raises for portal trouble."""
        self.polls += 1
        headers = {"If-None-Match": self.etag} if self.etag else None
        try:
            answer = await self.http.request("GET", CONFIG_PATH, headers=headers)
        except PortalError as exc:
            return self._failed("unreachable", f"portal unreachable ({exc}); serving config version {self.version}")
        if answer.status == 304:
            self.not_modified += 1
            self._succeeded()
            return False
        if answer.status != 200:
            detail = answer.body[:200].decode("utf-8", "replace")
            return self._failed(
                f"http {answer.status}",
                f"the portal answered {answer.status} ({detail}); serving config version {self.version}",
            )
        return await self._offer(answer.body, answer.headers.get("etag"))

    # -- internals

    async def _offer(self, body: bytes, etag: str | None) -> bool:
        try:
            snapshot = msgspec.json.decode(body)
        except msgspec.DecodeError as exc:
            return self._failed("garbage", f"the portal's snapshot is not JSON ({exc}); keeping version {self.version}")
        version = snapshot.get("version") if isinstance(snapshot, dict) else None
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            return self._failed("garbage", f"the portal's snapshot has no version; keeping version {self.version}")
        self.etag = etag or f'"{version}"'
        if self.version is not None and version <= self.version and not (self.degraded and version == self.version):
            if version < self.version:
                # A lagging portal replica behind a load balancer must not roll keys back.
                self.stale += 1
                self._report.fail(
                    f"stale {version}",
                    f"the portal sent version {version}, older than the applied {self.version}: ignored "
                    "(after a portal restore, restart the node to accept it)",
                )
            else:
                self._succeeded()
            return False
        if not self._apply(snapshot, version, "portal"):
            return False
        if self.degraded:
            self.degraded = False
            say(f"config version {version} from the portal: AI provider credentials are back")
        self._succeeded()
        await asyncio.to_thread(self._save, self._sealed(snapshot, body))
        return True

    def _sealed(self, snapshot: dict[str, Any], body: bytes) -> bytes:
        """What goes to disk: the portal's bytes, or a re-encoding with the secrets sealed."""
        if not seal.has_secrets(snapshot):
            return body
        return msgspec.json.encode(seal.seal(snapshot, self.http.token))

    def _apply(self, snapshot: dict[str, Any], version: int, source: str) -> bool:
        try:
            self.on_snapshot(snapshot)
        except Exception as exc:  # noqa: BLE001 - whatever the compiler objects to, the old config must stay
            self.refused += 1
            self.last_error = f"snapshot version {version} refused: {exc}"
            self._report.fail(f"refused {version}", f"{self.last_error}; keeping version {self.version}")
            return False
        self.version = version
        self.source = source
        self.applied += 1
        return True

    def _save(self, body: bytes) -> None:
        """Write the accepted snapshot atomically (several workers share the file: unique temp names)."""
        tmp = self.state_dir / f".{CONFIG_FILE}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as out:
                out.write(body)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            say(
                f"cannot save the config snapshot to {self.path}: {exc} (the node runs on; a restart "
                "without the portal would find no or an older snapshot)"
            )
            with contextlib.suppress(OSError):
                tmp.unlink()

    def _load_disk(self) -> bool:
        try:
            body = self.path.read_bytes()
        except FileNotFoundError:
            return False
        except OSError as exc:
            say(f"cannot read the saved config {self.path}: {exc}")
            return False
        try:
            snapshot = msgspec.json.decode(body)
        except msgspec.DecodeError as exc:
            say(f"the saved config {self.path} is not valid JSON ({exc}); not using it")
            return False
        version = snapshot.get("version") if isinstance(snapshot, dict) else None
        if not isinstance(version, int) or isinstance(version, bool):
            say(f"the saved config {self.path} has no version; not using it")
            return False
        snapshot, unopened = seal.unseal(snapshot, self.http.token)
        if not self._apply(snapshot, version, "disk"):
            return False
        if unopened:
            # Another token sealed them: run without those credentials, and take this very
            # version again from the portal (no If-None-Match) as soon as it answers.
            self.degraded = True
            say(
                f"the saved config {self.path} holds {unopened} AI provider credential(s) sealed with another "
                "node token: AI calls have no provider credentials until the portal answers"
            )
        else:
            self.etag = f'"{version}"'
        say(f"portal unreachable: serving the saved config version {version} until it answers")
        return True

    def _succeeded(self) -> None:
        self.last_success = time.time()
        self.last_error = ""
        self._report.ok()

    def _failed(self, state: str, message: str) -> bool:
        self.failures += 1
        self.last_error = message
        self._report.fail(state, message)
        return False


# --- Heartbeat ----------------------------------------------------------------------------------


async def heartbeat_loop(
    *,
    portal_url: str,
    token: str,
    interval: float,
    software: str,
    applied_version: Callable[[], int | None],
    depth: Callable[[], int],
    on_config_version: Callable[[int], None],
    timeout: float = 5.0,
) -> None:
    """Report the node's state every ``interval`` seconds (the first at once), forever.

    When the portal's current config version is newer than the applied one,
    ``on_config_version(version)`` is called (e.g. ``ConfigSource.poll_soon``).
    """
    http = PortalHttp(portal_url, token, timeout=timeout)
    report = _Reporter("heartbeat")
    software = software.replace("\r", " ").replace("\n", " ")[:100]
    while True:
        try:
            applied = applied_version()
            body = msgspec.json.encode(
                {"software_version": software, "applied_config_version": applied, "buffered_records": max(0, depth())}
            )
            answer = await http.request("POST", HEARTBEAT_PATH, body=body, headers={"Content-Type": "application/json"})
            if answer.status == 200:
                report.ok()
                current = msgspec.json.decode(answer.body).get("config_version")
                if isinstance(current, int) and (applied is None or current > applied):
                    on_config_version(current)
            else:
                detail = answer.body[:200].decode("utf-8", "replace")
                report.fail(f"http {answer.status}", f"the portal answered {answer.status} ({detail})")
        except PortalError as exc:
            report.fail("unreachable", f"portal unreachable ({exc})")
        except Exception as exc:  # noqa: BLE001 - a bad answer or callback must not end the heartbeats
            report.fail(f"error {exc.__class__.__name__}", f"{exc.__class__.__name__}: {exc}")
        await asyncio.sleep(_jittered(interval))
