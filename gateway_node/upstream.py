"""The upstream side of the proxy: keep-alive connections to one target and their pool.

An :class:`UpstreamConnection` is an ``asyncio.Protocol`` with httptools' response parser. It
carries one exchange at a time and reports to that exchange (a :class:`ResponseListener`,
``http11.Exchange``) through plain method calls: no task, no future, no queue per request.
Response bytes are handed on as the parser yields them; the listener relays them.

A :class:`Pool` keeps the idle connections of one target (LIFO: the most recently used one is
the least likely to have been closed by the upstream), closes them after ``idle_timeout`` and
keeps at most ``max_idle``. Opening a connection is the only step here that needs a task.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol, cast

import httptools

from gateway_node.contracts import Headers

#: Hop-by-hop headers (RFC 9110 §7.6.1, plus the older Keep-Alive / Proxy-Connection): they
#: describe one connection and never cross the proxy, in either direction.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-authenticate",
        b"proxy-authorization",
    }
)
#: ``Connection`` tokens that name no header (they only say what to do with the connection).
CONNECTION_OPTIONS = frozenset({b"close", b"keep-alive"})
#: Response headers the upstream may not set on the client's answer: the node states the
#: request id itself (one value, the same the upstream was sent).
_RESPONSE_DROP = HOP_BY_HOP | {b"x-request-id"}
#: Request headers never forwarded as the client sent them: the node states Host (the
#: target's authority) and answers Expect itself.
_REQUEST_DROP = frozenset({b"host", b"expect"})

# Failure kinds reported to a listener.
STALE = "stale"  # a reused connection closed before any byte of the answer: the keep-alive race
RESET = "reset"  # closed or reset by the upstream before the answer was complete
TIMEOUT = "timeout"  # read timeout: no byte of the answer for ``read_timeout`` seconds
PROTOCOL = "protocol"  # the upstream's answer is not valid HTTP/1.1 (or is framed unsafely)


class ResponseListener(Protocol):
    """What an :class:`UpstreamConnection` reports to (``http11.Exchange`` implements it)."""

    def on_response_head(self, status: int, headers: Headers, length_known: bool) -> None:
        """The final answer's head (1xx interim answers are skipped). ``headers`` are lower-cased
        and free of hop-by-hop fields; ``length_known`` is True when the body is framed by
        Content-Length or absent (HEAD, 204, 304), False when it is chunked or close-delimited."""
        ...

    def on_response_body(self, data: bytes) -> None: ...

    def on_response_flush(self) -> None:
        """End of one read from the upstream (answer not complete yet): write what was gathered."""
        ...

    def on_response_end(self, reusable: bool) -> None:
        """The answer is complete (write what was gathered and end it); ``reusable``: the
        upstream keeps the connection open. The connection has no listener any more."""
        ...

    def on_upstream_error(self, kind: str) -> None:
        """The connection failed (``STALE``, ``RESET``, ``TIMEOUT``, ``PROTOCOL``); it is closed."""
        ...

    def on_upstream_writable(self, writable: bool) -> None:
        """The upstream stopped (False) or resumed (True) taking the request body."""
        ...

    def waiting_for_client(self) -> bool:
        """True while the request body is still arriving from the client (the upstream cannot
        be blamed for silence then)."""
        ...


@dataclass(frozen=True, slots=True)
class PoolSettings:
    """Keep-alive pool of one target."""

    #: Idle connections kept per target; more are closed when released.
    max_idle: int = 256
    #: An idle connection is closed after this many seconds.
    idle_timeout: float = 30.0
    #: A request that must not be sent twice (POST, PATCH) only reuses a connection that has
    #: been idle for less than this: the upstream closing an idle connection while our request
    #: is on its way (the keep-alive race) is then very unlikely, and such a request cannot be
    #: retried when it happens.
    safe_reuse: float = 2.0


class _Refused(Exception):
    """Raised in a parser callback to stop at an answer we will not relay."""


class UpstreamConnection(asyncio.Protocol):
    """One connection to a target; carries one request/response at a time."""

    __slots__ = (
        "_conn_tokens",
        "_head_request",
        "_interim",
        "_te",
        "broken",
        "chunked",
        "closed",
        "complete",
        "got_bytes",
        "head_done",
        "headers",
        "idle_since",
        "keep_alive",
        "last_activity",
        "length",
        "listener",
        "parser",
        "pool",
        "reading_paused",
        "reused",
        "status",
        "timeout",
        "timer",
        "timer_at",
        "transport",
        "write_paused",
    )

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.listener: ResponseListener | None = None
        self.reused = False
        self.idle_since = 0.0
        self.closed = False
        self.broken = False
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0
        self.timeout = 0.0
        self.last_activity = 0.0
        self.reading_paused = False
        self.write_paused = False
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: Headers = []
        self.length = False
        self.chunked = False
        self.head_done = False
        self.complete = False
        self.keep_alive = False
        self.got_bytes = False
        self._te: bytes | None = None
        self._conn_tokens: list[bytes] | None = None
        self._interim = False
        self._head_request = False

    # -- the exchange's side --------------------------------------------------------------------

    def begin(self, listener: ResponseListener, *, head_request: bool, timeout: float) -> None:
        """Start carrying one exchange; the read timeout runs from now (see :meth:`_on_timer`).

        The timer outlives the exchange: a busy connection keeps one timer that wakes once per
        ``timeout`` instead of a new one per request. It is replaced only when this request's
        deadline comes before the one it is set for."""
        self._reset()
        self.listener = listener
        self._head_request = head_request
        self.timeout = timeout
        now = time.monotonic()
        self.last_activity = now
        deadline = now + timeout
        timer = self.timer
        if timer is None or self.timer_at > deadline:
            if timer is not None:
                timer.cancel()
            self.timer = self.pool.loop.call_later(timeout, self._on_timer)
            self.timer_at = deadline

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None:
            transport.write(data)

    def writelines(self, parts: list[bytes]) -> None:
        """Several buffers in one system call (no copy of a large body into one bytes)."""
        transport = self.transport
        if transport is not None:
            transport.writelines(parts)

    def pause_reading(self) -> None:
        if not self.reading_paused and self.transport is not None:
            self.reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.reading_paused and self.transport is not None:
            self.reading_paused = False
            self.last_activity = time.monotonic()
            self.transport.resume_reading()

    def release(self, reuse: bool) -> None:
        """The exchange is done with this connection: back to the pool, or closed."""
        self.listener = None
        if reuse and not self.broken and not self.closed:
            if self.reading_paused:
                self.resume_reading()
            self.reused = True
            self.pool.put(self)
        else:
            self.close()

    def close(self) -> None:
        """Close at once, without telling a listener (the caller is the listener)."""
        self.listener = None
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.transport is not None:
            self.transport.abort()

    # -- asyncio.Protocol --------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = transport = cast(asyncio.Transport, transport)
        limits = self.pool.write_limits
        transport.set_write_buffer_limits(high=limits[0], low=limits[1])

    def data_received(self, data: bytes) -> None:
        listener = self.listener
        if listener is None:
            # Bytes on an idle connection: nobody asked, so nothing after them can be trusted.
            self.closed = True
            self.pool.discard(self)
            if self.transport is not None:
                self.transport.abort()
            return
        self.got_bytes = True
        self.last_activity = time.monotonic()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._fail(PROTOCOL)
            return
        if self.listener is None:
            return
        if not self.complete:
            listener.on_response_flush()
        else:
            reusable = self.keep_alive and not self.broken
            if self._head_request:
                # httptools cannot be told that the answer to HEAD has no body; a fresh parser
                # for the next answer does it.
                self.parser = httptools.HttpResponseParser(self)
            self.listener = None
            listener.on_response_end(reusable)

    def eof_received(self) -> bool | None:
        return None  # close; connection_lost tells what it meant

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        listener = self.listener
        if listener is None:
            self.pool.discard(self)
            return
        if self.head_done and not self.complete and not self.length and not self.chunked:
            # A close-delimited body (no Content-Length, not chunked) ends with the connection.
            self.listener = None
            listener.on_response_end(False)
            return
        self._fail(STALE if self.reused and not self.got_bytes else RESET)

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.listener is not None:
            self.listener.on_upstream_writable(False)

    def resume_writing(self) -> None:
        self.write_paused = False
        self.last_activity = time.monotonic()
        if self.listener is not None:
            self.listener.on_upstream_writable(True)

    # -- httptools callbacks -------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.head_done:
            return  # trailer fields of a chunked answer are not relayed
        name = name.lower()
        if name in _RESPONSE_DROP:
            if name == b"transfer-encoding":
                self._te = value
            elif name == b"connection":
                self._conn_tokens = [t.strip().lower() for t in value.split(b",")]
            return
        if name == b"content-length":
            self.length = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:
            if status == 101:
                # We never ask for an upgrade (Upgrade is hop-by-hop), so a 101 is a broken peer.
                raise _Refused
            self._interim = True  # 100 / 102 / 103: wait for the final answer
            self.headers = []
            self.length = False
            self._te = None
            self._conn_tokens = None
            return
        te = self._te
        if te is not None:
            # Only a plain "chunked" can be re-framed safely: any other coding would reach the
            # client undecoded and unannounced once Transfer-Encoding is dropped.
            if te.strip().lower() != b"chunked":
                raise _Refused
            self.chunked = True
        tokens = self._conn_tokens
        if tokens:
            named = [t for t in tokens if t not in CONNECTION_OPTIONS]
            if named:
                self.headers = [(n, v) for n, v in self.headers if n not in named]
        self.status = status
        self.head_done = True
        no_body = self._head_request or status == 204 or status == 304
        if no_body:
            self.chunked = False
        listener = self.listener
        if listener is not None:
            listener.on_response_head(status, self.headers, no_body or self.length)
        if self._head_request:
            self.complete = True
            self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, data: bytes) -> None:
        if self.complete:
            self.broken = True  # a body after the answer to HEAD: do not reuse
            return
        listener = self.listener
        if listener is not None:
            listener.on_response_body(data)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        if self.complete:
            return
        self.complete = True
        # Asked now: once the parser returns it has reset for the next message.
        self.keep_alive = self.parser.should_keep_alive()

    # -- timeouts and failures ------------------------------------------------------------------

    def _on_timer(self) -> None:
        """Read timeout, checked lazily: the deadline moves with every byte, the timer does not.

        Silence does not count while the client holds things up: its body is still arriving,
        or it reads the answer slower than the upstream sends (reading is paused)."""
        self.timer = None
        listener = self.listener
        if listener is None:
            return  # idle in the pool: the next exchange sets a new timer
        now = time.monotonic()
        if self.reading_paused or (not self.write_paused and listener.waiting_for_client()):
            self.last_activity = now
        deadline = self.last_activity + self.timeout
        if now >= deadline - 0.001:
            self._fail(TIMEOUT)
            return
        self.timer = self.pool.loop.call_later(deadline - now, self._on_timer)
        self.timer_at = deadline

    def _fail(self, kind: str) -> None:
        listener = self.listener
        self.close()
        if listener is not None:
            listener.on_upstream_error(kind)


class Pool:
    """Idle keep-alive connections of one target, and how to open new ones."""

    __slots__ = (
        "_sweeper",
        "closed",
        "host",
        "idle",
        "loop_",
        "port",
        "server_hostname",
        "settings",
        "ssl",
        "write_limits",
    )

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None = None,
        settings: PoolSettings | None = None,
        write_limits: tuple[int, int] = (64 * 1024, 16 * 1024),
    ) -> None:
        self.host = host
        self.port = port
        self.ssl = ssl_context
        self.server_hostname = host if ssl_context is not None else None
        self.settings = settings or PoolSettings()
        self.write_limits = write_limits
        self.idle: list[UpstreamConnection] = []
        self.closed = False
        self._sweeper: asyncio.TimerHandle | None = None
        self.loop_: asyncio.AbstractEventLoop | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        loop = self.loop_
        if loop is None:
            loop = self.loop_ = asyncio.get_running_loop()
        return loop

    def take(self, max_idle_age: float | None = None) -> UpstreamConnection | None:
        """The most recently used idle connection, or None.

        ``max_idle_age``: only one idle for less than that (requests that cannot be retried)."""
        idle = self.idle
        if not idle:
            return None
        now = time.monotonic()
        timeout = self.settings.idle_timeout
        while idle:
            conn = idle[-1]
            age = now - conn.idle_since
            if conn.closed or age >= timeout:
                idle.pop()
                conn.close()
                continue
            if max_idle_age is not None and age >= max_idle_age:
                return None  # the others are older still; leave them to requests that can retry
            return idle.pop()
        return None

    def put(self, conn: UpstreamConnection) -> None:
        if self.closed or len(self.idle) >= self.settings.max_idle:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        self.idle.append(conn)
        if self._sweeper is None:
            self._sweeper = self.loop.call_later(self.settings.idle_timeout, self._sweep)

    def discard(self, conn: UpstreamConnection) -> None:
        """Forget a connection the upstream closed while it was idle."""
        if conn in self.idle:
            self.idle.remove(conn)

    def _sweep(self) -> None:
        self._sweeper = None
        now = time.monotonic()
        timeout = self.settings.idle_timeout
        keep = []
        for conn in self.idle:
            if conn.closed:
                continue
            if now - conn.idle_since >= timeout:
                conn.close()
            else:
                keep.append(conn)
        self.idle = keep
        if keep:
            oldest = min(conn.idle_since for conn in keep)
            self._sweeper = self.loop.call_later(max(0.01, oldest + timeout - now), self._sweep)

    def connect(self, timeout: float) -> asyncio.Task[UpstreamConnection]:
        """Open a new connection (TCP, and TLS for https targets) within ``timeout`` seconds.

        The task raises ``TimeoutError`` or an ``OSError`` (refused, unreachable, TLS)."""
        return self.loop.create_task(self._connect(timeout))

    async def _connect(self, timeout: float) -> UpstreamConnection:
        loop = self.loop
        async with asyncio.timeout(timeout):
            _, conn = await loop.create_connection(
                lambda: UpstreamConnection(self),
                self.host,
                self.port,
                ssl=self.ssl,
                server_hostname=self.server_hostname,
                ssl_handshake_timeout=timeout if self.ssl is not None else None,
            )
        return conn

    def close(self) -> None:
        """Close every idle connection; connections in use close when released."""
        self.closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        idle, self.idle = self.idle, []
        for conn in idle:
            conn.close()


def request_head(
    method: bytes,
    target: bytes,
    authority: bytes,
    headers: Headers,
    skip: Collection[bytes],
    add: Headers,
    framing: bytes,
) -> bytes:
    """The request head for the upstream.

    ``headers`` are the client's (hop-by-hop already removed); Host, Expect and those named in
    ``skip`` or in ``add`` are left out (``add`` replaces, so a client cannot smuggle its own
    copy of a header the gate sets). ``framing`` is the Content-Length or Transfer-Encoding
    line, or b""."""
    parts = [method, b" ", target, b" HTTP/1.1\r\nhost: ", authority, b"\r\n"]
    drop = _REQUEST_DROP
    if add:
        replaced = {name for name, _ in add}
        for name, value in headers:
            if name in drop or name in skip or name in replaced:
                continue
            parts += (name, b": ", value, b"\r\n")
        for name, value in add:
            parts += (name, b": ", value, b"\r\n")
    else:
        for name, value in headers:
            if name in drop or name in skip:
                continue
            parts += (name, b": ", value, b"\r\n")
    parts.append(framing)
    parts.append(b"\r\n")
    return b"".join(parts)
