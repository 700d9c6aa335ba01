"""Real servers and clients on loopback for the node's tests.

- :class:`Upstream`: an HTTP/1.1 upstream in a background thread (its own asyncio loop, its
  own small parser, independent of the node's), on an ephemeral port. It records every
  request (:class:`Seen`: method, target, headers, body, which connection) and answers with
  what its handler returns (:class:`Reply`): a fixed body, chunks, server-sent events, a
  close-delimited body, a slow answer, raw bytes, a dropped connection. ``close_after=N``
  drops a keep-alive connection on its N+1-th request (read, never answered): from the
  proxy's side that is exactly the keep-alive race.
- :class:`Blackhole` (connects hang) and :func:`refused_url` (connects are refused).
- :class:`NodeThread`: ``gateway_node.http11.serve`` with a given gate, in a background thread
  with its own uvloop loop.
- :class:`RawClient` / :func:`read_response`: a client over a plain socket, to send exactly
  the bytes a test wants (smuggling attempts, pipelining) and read answers strictly.
- :func:`free_port` and :func:`wait_for`, for tests that start processes and wait on them.

Typical use::

    with Upstream() as upstream:                       # echoes the request as JSON
        upstream.handler = sse(["a", "b"], interval=0.2)
        ...
        assert upstream.requests[-1].headers["x-request-id"]
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import uvloop

from gateway_node.loop_thread import LoopThread

__all__ = [
    "Blackhole",
    "NodeThread",
    "RawClient",
    "Reply",
    "Response",
    "Seen",
    "Upstream",
    "big",
    "chunked",
    "close_delimited",
    "echo",
    "free_port",
    "json_reply",
    "read_response",
    "refused_url",
    "self_signed",
    "slow",
    "sse",
    "status",
    "wait_for",
]


# --- The upstream --------------------------------------------------------------------------------


@dataclass
class Seen:
    """One request as the upstream received it."""

    method: str
    target: str  # as received, e.g. "/orders/7?expand=1"
    version: str  # "HTTP/1.1"
    headers: dict[str, str]  # names lower-cased; repeated fields joined with ", "
    raw_headers: list[tuple[str, str]]  # as received, in order
    body: bytes
    chunked: bool  # the body came chunked
    connection: int  # serial number of the TCP connection it came on (1, 2, ...)
    answered: bool = True  # False: read, then the connection was dropped without an answer
    received: float = 0.0  # time.monotonic() when the whole request was read

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]


Body = bytes | Iterable[bytes] | AsyncIterable[bytes]


@dataclass
class Reply:
    """What the upstream answers."""

    status: int = 200
    body: Body = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    #: "length" (Content-Length; give ``length`` for an iterable body), "chunked", or "close"
    #: (no length: the body ends when the connection closes).
    framing: str = "length"
    length: int | None = None
    delay: float = 0.0  # seconds before the head is sent
    chunk_delay: float = 0.0  # seconds between body parts
    close: bool = False  # close the connection after this answer (without saying so)
    reason: str | None = None
    raw: bytes | None = None  # send these bytes instead of an answer, then close
    drop: bool = False  # close the connection without sending a byte
    reset: bool = False  # like drop, but with a TCP reset
    hang: bool = False  # never answer (the connection stays open until stop())


Handler = Callable[[Seen], Reply | Awaitable[Reply]]


def echo(seen: Seen) -> Reply:
    """The default handler: the request as JSON (``method``, ``path`` = the full target,
    ``headers``, ``body`` as text, ``body_length``, ``chunked``)."""
    return json_reply(
        {
            "method": seen.method,
            "path": seen.target,
            "headers": seen.headers,
            "body": seen.body.decode("utf-8", "replace"),
            "body_length": len(seen.body),
            "chunked": seen.chunked,
        }
    )


def json_reply(obj: Any, status: int = 200, headers: Iterable[tuple[str, str]] = ()) -> Reply:
    return Reply(status=status, body=json.dumps(obj).encode(), headers=[("Content-Type", "application/json"), *headers])


def status(code: int, body: bytes = b"", headers: Iterable[tuple[str, str]] = ()) -> Handler:
    """Always answer ``code``."""
    return lambda seen: Reply(status=code, body=body, headers=list(headers))


def slow(seconds: float, then: Handler = echo) -> Handler:
    """Answer like ``then``, ``seconds`` late."""

    async def handler(seen: Seen) -> Reply:
        await asyncio.sleep(seconds)
        reply = then(seen)
        return await reply if isinstance(reply, Awaitable) else reply

    return handler


def chunked(parts: list[bytes], delay: float = 0.0, headers: Iterable[tuple[str, str]] = ()) -> Handler:
    """A chunked answer, one chunk per part, ``delay`` seconds apart."""
    return lambda seen: Reply(body=list(parts), framing="chunked", chunk_delay=delay, headers=list(headers))


def sse(events: list[str], interval: float = 0.1) -> Handler:
    """A ``text/event-stream`` answer: one ``data:`` event per item, ``interval`` apart."""
    body = [f"data: {event}\n\n".encode() for event in events]
    return lambda seen: Reply(
        body=body,
        framing="chunked",
        chunk_delay=interval,
        headers=[("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")],
    )


def close_delimited(parts: list[bytes], delay: float = 0.0) -> Handler:
    """An answer without Content-Length or chunks: the body ends when the connection closes."""
    return lambda seen: Reply(body=list(parts), framing="close", chunk_delay=delay)


def big(total: int, part: int = 64 * 1024, framing: str = "length") -> Handler:
    """``total`` bytes of body, generated ``part`` bytes at a time (never held whole)."""

    def parts() -> Iterable[bytes]:
        block = b"x" * part
        left = total
        while left > 0:
            yield block if left >= part else block[:left]
            left -= part

    return lambda seen: Reply(body=parts(), framing=framing, length=total if framing == "length" else None)


class Upstream:
    """An HTTP/1.1 server on 127.0.0.1 (ephemeral port) in a background thread."""

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        close_after: int | None = None,
        host: str = "127.0.0.1",
        tls: ssl.SSLContext | None = None,
    ):
        self.handler: Handler = handler or echo
        self.tls = tls  # a server context (see self_signed()): the upstream speaks https
        #: After answering this many requests on one connection, the next one is read and
        #: the connection dropped without an answer (None: keep-alive forever).
        self.close_after = close_after
        self.host = host
        self.port = 0
        self.requests: list[Seen] = []
        self.connections = 0  # TCP connections accepted so far
        self.bytes_sent = 0  # body bytes written to sockets so far
        self._serial = itertools.count(1)
        self._runner = LoopThread(f"upstream-{id(self):x}")
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._stopping: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def __enter__(self) -> Upstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> Upstream:
        self._runner.start(self._listen)
        return self

    async def _listen(self) -> None:
        self._stopping = asyncio.Event()
        self._server = await asyncio.start_server(self._serve, self.host, 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        self._runner.stop(self._shutdown)

    async def _shutdown(self) -> None:
        assert self._server is not None and self._stopping is not None
        self._stopping.set()
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await asyncio.sleep(0)

    def drop_connections(self) -> None:
        """Close every open connection now (as an upstream restarting would)."""

        def drop() -> None:
            for writer in list(self._writers):
                writer.transport.abort()

        self._runner.call_soon(drop)

    def wait_requests(self, count: int, timeout: float = 5.0) -> list[Seen]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.requests

    # -- serving ----------------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        serial = next(self._serial)
        self.connections += 1
        self._writers.add(writer)
        answered = 0
        try:
            while True:
                seen = await self._read_request(reader, writer, serial)
                if seen is None:
                    return
                if self.close_after is not None and answered >= self.close_after:
                    seen.answered = False
                    self.requests.append(seen)
                    return  # closed below without an answer
                self.requests.append(seen)
                reply = self.handler(seen)
                if isinstance(reply, Awaitable):
                    reply = await reply
                if reply.drop or reply.reset:
                    seen.answered = False
                    if reply.reset:
                        _reset(writer)
                    return
                if reply.hang:
                    assert self._stopping is not None
                    await self._stopping.wait()
                    return
                if reply.delay:
                    await asyncio.sleep(reply.delay)
                keep = await self._answer(writer, seen, reply)
                answered += 1
                if not keep:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    async def _read_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, serial: int
    ) -> Seen | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        lines = head[:-4].decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        raw_headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            raw_headers.append((name, value.strip()))
        headers: dict[str, str] = {}
        for name, value in raw_headers:
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        is_chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if is_chunked:
            parts = []
            while True:
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while (await reader.readuntil(b"\r\n")) != b"\r\n":
                        pass  # trailer fields
                    break
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
            body = b"".join(parts)
        else:
            body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
        return Seen(method, target, version, headers, raw_headers, body, is_chunked, serial, received=time.monotonic())

    async def _answer(self, writer: asyncio.StreamWriter, seen: Seen, reply: Reply) -> bool:
        """Write the answer; True when the connection stays open for another request."""
        if reply.raw is not None:
            writer.write(reply.raw)
            await writer.drain()
            return False
        from http import HTTPStatus

        try:
            reason = reply.reason or HTTPStatus(reply.status).phrase
        except ValueError:
            reason = "Whatever"
        head = [f"HTTP/1.1 {reply.status} {reason}"]
        head += [f"{name}: {value}" for name, value in reply.headers]
        no_body = seen.method == "HEAD" or reply.status in (204, 304) or reply.status < 200
        body = reply.body
        if reply.framing == "length":
            if isinstance(body, bytes):
                head.append(f"Content-Length: {len(body)}")
            elif reply.length is not None:
                head.append(f"Content-Length: {reply.length}")
        elif reply.framing == "chunked":
            head.append("Transfer-Encoding: chunked")
        wants_close = seen.headers.get("connection", "").lower() == "close" or seen.version == "HTTP/1.0"
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if not no_body:
            first = True
            async for part in _parts(body):
                if not first and reply.chunk_delay:
                    await asyncio.sleep(reply.chunk_delay)
                first = False
                if not part:
                    continue
                if reply.framing == "chunked":
                    writer.write(b"%x\r\n%s\r\n" % (len(part), part))
                else:
                    writer.write(part)
                self.bytes_sent += len(part)
                await writer.drain()
            if reply.framing == "chunked":
                writer.write(b"0\r\n\r\n")
        await writer.drain()
        return not (reply.close or wants_close or reply.framing == "close")


async def _parts(body: Body) -> AsyncIterable[bytes]:
    if isinstance(body, bytes):
        yield body
    elif isinstance(body, AsyncIterable):
        async for part in body:
            yield part
    else:
        for part in body:
            yield part


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    writer.transport.abort()


def self_signed(directory: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A throwaway certificate for 127.0.0.1 and localhost (made with the openssl command):
    (server context for ``Upstream(tls=...)``, client context that trusts it)."""
    cert, key = f"{directory}/cert.pem", f"{directory}/key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    client = ssl.create_default_context(cafile=cert)
    return server, client


# --- Addresses that fail -----------------------------------------------------------------------


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for a child process that needs a number up front)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05, what: str = "condition") -> Any:
    """Call ``check`` until it returns something truthy (and return that); fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def refused_url() -> str:
    """An http URL on loopback where nothing listens: connects are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class Blackhole:
    """An address whose connects hang: a listening socket that never accepts, with its accept
    queue filled, so the kernel drops further SYNs (a connect timeout, not a refusal)."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(0)
        self.port = self._listener.getsockname()[1]
        self._fillers: list[socket.socket] = []
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", self.port))
            self._fillers.append(filler)
        time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        for sock in [*self._fillers, self._listener]:
            sock.close()

    def __enter__(self) -> Blackhole:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- The node in a thread ----------------------------------------------------------------------


class NodeThread:
    """``http11.serve(gate, registry)`` on 127.0.0.1 (ephemeral port) in a background thread.

    ``gate`` is any GateLike; ``registry`` defaults to a fresh UpstreamRegistry. ``run(fn)``
    calls ``fn()`` on the node's loop and returns its result (to look at pools or breakers
    without racing the loop)."""

    def __init__(self, gate: Any, registry: Any = None, *, limits: Any = None, on_event: Any = None) -> None:
        from gateway_node.balancer import UpstreamRegistry
        from gateway_node.http11 import HttpLimits

        self.gate = gate
        self.registry = registry or UpstreamRegistry()
        self.limits = limits or HttpLimits()
        self.on_event = on_event
        self.port = 0
        self.events: list[tuple[str, BaseException | None]] = []
        self._runner = LoopThread(f"node-{id(self):x}", uvloop.new_event_loop)
        self._server: asyncio.AbstractServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> NodeThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> NodeThread:
        self._runner.start(self._serve)
        return self

    async def _serve(self) -> None:
        from gateway_node.http11 import serve

        def record(name: str, exc: BaseException | None) -> None:
            self.events.append((name, exc))
            if self.on_event is not None:
                self.on_event(name, exc)

        self._server = await serve(
            self.gate, self.registry, host="127.0.0.1", port=0, limits=self.limits, on_event=record
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def run(self, fn: Callable[[], Any], timeout: float = 5.0) -> Any:
        return self._runner.call(fn, timeout)

    def stop(self) -> None:
        self._runner.stop(self._shutdown)

    async def _shutdown(self) -> None:
        from gateway_node.http11 import shutdown

        assert self._server is not None
        await shutdown(self._server, timeout=0.5)
        await self.registry.close()


# --- A strict client over a plain socket -------------------------------------------------------


@dataclass
class Response:
    status: int
    reason: str
    headers: dict[str, str]  # lower-cased names; repeated fields joined with ", "
    raw_headers: list[tuple[str, str]]
    body: bytes
    chunked: bool
    head: bytes  # the status line and header fields as received

    def json(self) -> Any:
        return json.loads(self.body)

    def count(self, name: str) -> int:
        """How many times a header field appears."""
        return sum(1 for key, _ in self.raw_headers if key.lower() == name.lower())


class RawClient:
    """One TCP connection to ``port``; send exact bytes, read answers one by one."""

    def __init__(self, port: int, timeout: float = 5.0, rcvbuf: int | None = None) -> None:
        self.sock = socket.socket()
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.buffer = b""

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv_some(self, size: int = 65536) -> bytes:
        """Buffered bytes first, else one read from the socket (b"" at EOF)."""
        if self.buffer:
            data, self.buffer = self.buffer[:size], self.buffer[size:]
            return data
        return self.sock.recv(size)

    def read_response(self, head_request: bool = False) -> Response:
        return read_response(self, head_request=head_request)

    def request(self, method: str, target: str, headers: Iterable[tuple[str, str]] = (), body: bytes = b"") -> Response:
        lines = [f"{method} {target} HTTP/1.1", "Host: test"]
        lines += [f"{name}: {value}" for name, value in headers]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        return self.read_response(head_request=method == "HEAD")

    def closed(self, timeout: float = 2.0) -> bool:
        """True when the server closes the connection within ``timeout`` (any bytes before
        the close are discarded)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.recv_some()
                if not data:
                    return True
        except TimeoutError:
            return False
        except ConnectionError:
            return True

    def close(self) -> None:
        self.sock.close()

    # -- reading ------------------------------------------------------------------------------

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buffer += data
        return True

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            if not self._fill():
                raise ConnectionError(f"closed before {marker!r}; got {self.buffer[:200]!r}")
        data, _, self.buffer = self.buffer.partition(marker)
        return data

    def _read_exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not self._fill():
                raise ConnectionError(f"closed after {len(self.buffer)} of {size} body bytes")
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def _read_to_close(self) -> bytes:
        while self._fill():
            pass
        data, self.buffer = self.buffer, b""
        return data


def read_response(client: RawClient, head_request: bool = False) -> Response:
    """Read one answer strictly: interim 1xx answers are skipped only if the caller does not
    look (use ``client._read_until`` to see them); the body by Content-Length, chunks, or the
    close."""
    head = client._read_until(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    _, code, *rest = lines[0].split(" ", 2)
    raw_headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        raw_headers.append((name, value.strip()))
    headers: dict[str, str] = {}
    for name, value in raw_headers:
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    status_code = int(code)
    is_chunked = headers.get("transfer-encoding", "").lower() == "chunked"
    if head_request or status_code in (204, 304) or status_code < 200:
        body = b""
    elif is_chunked:
        parts = []
        while True:
            size = int(client._read_until(b"\r\n").split(b";")[0], 16)
            if size == 0:
                while client._read_until(b"\r\n"):
                    pass
                break
            parts.append(client._read_exactly(size))
            assert client._read_exactly(2) == b"\r\n", "chunk not followed by CRLF"
        body = b"".join(parts)
    elif "content-length" in headers:
        body = client._read_exactly(int(headers["content-length"]))
    else:
        body = client._read_to_close()
    return Response(status_code, rest[0] if rest else "", headers, raw_headers, body, is_chunked, head)
