"""The client-facing HTTP/1.1 server: parse, ask the gate, proxy, relay, report.

One :class:`HttpConnection` (an ``asyncio.Protocol`` with httptools' request parser, reused
for every request of the connection) per client connection, one :class:`Exchange` per
request. A request's way, all in callbacks:

    head parsed → RequestHead → gate.admit → Refuse: answer it
                                           → Forward: pick a target, take a pooled connection
                                             (or open one: the only task), send the head and
                                             the body as it arrives, relay the answer as it
                                             arrives → gate.finish (exactly once)
                                           → Handle: read the whole body, run the node's own
                                             handler as a task with a Responder (AI routes)
                                             → gate.finish when the task ends

Pipelined requests are queued and answered in order; reading from the client pauses while
one waits, while a request body has nowhere to go yet, and while the upstream does not take
the body (its transport's ``pause_writing``); reading from the upstream pauses while the
client does not take the answer. Nothing is buffered whole. docs/gateway-node-http.md is the
operator's account of these rules.

The hot path does no logging and creates no task or coroutine unless the gate must wait or a
new upstream connection must be opened; writes gathered during one read go out in one call.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import socket
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from typing import cast

import httptools

from gateway_node.balancer import HALF_OPEN, Target, UpstreamRegistry
from gateway_node.contracts import (
    IDEMPOTENT_METHODS,
    Decision,
    Forward,
    GateLike,
    Handle,
    Headers,
    Outcome,
    Refuse,
    RequestHead,
    error_body,
)
from gateway_node.upstream import (
    CONNECTION_OPTIONS,
    HOP_BY_HOP,
    STALE,
    TIMEOUT,
    UpstreamConnection,
    request_head,
)

#: Called for what happens outside any request the gate saw: ``("bad_request", exc)``,
#: ``("head_too_large", None)``, ``("head_timeout", None)``, ``("gate_error", exc)``, …
EventHook = Callable[[str, BaseException | None], None]


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """Limits and timeouts of the client side (the upstream's come with each ``Forward``)."""

    #: Request line + header fields, in bytes → 431.
    max_head_bytes: int = 16 * 1024
    #: Request-target, in bytes → 414.
    max_target_bytes: int = 8 * 1024
    #: Header fields per request → 431.
    max_headers: int = 100
    #: Request body, in bytes → 413 (before reading it when Content-Length says so).
    max_body_bytes: int = 10 * 1024 * 1024
    #: An idle keep-alive connection is closed after this many seconds.
    keepalive_timeout: float = 75.0
    #: From a request's first byte to the end of its head → 408 and close.
    head_timeout: float = 30.0
    #: Between two reads of a request body → 408 (or close, once the answer has begun).
    body_timeout: float = 60.0
    #: The client takes no byte of its answer for this long → the connection is dropped.
    send_timeout: float = 60.0
    #: After an answer that leaves a request body unread: how long to keep reading (and
    #: discarding) before closing, so the client sees the answer rather than a reset.
    linger_timeout: float = 2.0
    #: Upstream attempts per request (connect failures included).
    max_tries: int = 3
    #: An idempotent request's body is kept up to this size so a retry can resend it.
    replay_body_bytes: int = 64 * 1024
    #: Request body held while no upstream connection is ready; past it reading pauses.
    body_buffer_bytes: int = 64 * 1024
    #: Write buffer of a client connection before the upstream's reading pauses.
    write_buffer_high: int = 64 * 1024


# Why reading from the client is paused (bit flags; reading resumes when none is left).
_P_PIPELINE = 1  # a request waits behind the one in progress
_P_BODY = 2  # the body has nowhere to go yet
_P_UPSTREAM = 4  # the upstream does not take the body as fast as it arrives
_P_CLOSING = 8  # no more requests on this connection

# Exchange states.
_NEW, _ADMITTING, _CONNECTING, _SENT, _RESPONDING, _DONE, _HANDLING = range(7)

_REASONS = {status.value: status.phrase.encode() for status in HTTPStatus}
_STATUS_LINES = {code: b"HTTP/1.1 %d %s\r\n" % (code, reason) for code, reason in _REASONS.items()}
_METHODS = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")}
_SANE_ID = re.compile(rb"[\x21-\x7e]{1,200}")
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_DECISIONS = (Forward, Refuse, Handle)
# Request header names read_head must look at; everything else passes straight through.
_H_HOP, _H_CONNECTION, _H_TRANSFER_ENCODING, _H_CONTENT_LENGTH, _H_REQUEST_ID, _H_EXPECT = range(6)
_SPECIAL = {
    **dict.fromkeys(HOP_BY_HOP, _H_HOP),
    b"connection": _H_CONNECTION,
    b"transfer-encoding": _H_TRANSFER_ENCODING,
    b"content-length": _H_CONTENT_LENGTH,
    b"x-request-id": _H_REQUEST_ID,
    b"expect": _H_EXPECT,
}
_TERMINATOR = b"0\r\n\r\n"

_MESSAGES = {
    400: ("bad_request", "The request is not valid HTTP/1.1."),
    405: ("method_not_allowed", "CONNECT is not supported: this is not a forward proxy."),
    408: ("request_timeout", "The request did not arrive in time."),
    413: ("body_too_large", "The request body is larger than this gateway accepts."),
    414: ("target_too_long", "The request-target is longer than this gateway accepts."),
    417: ("expectation_failed", "Only Expect: 100-continue is supported."),
    431: ("headers_too_large", "The request header fields are larger than this gateway accepts."),
    500: ("internal_error", "The gateway failed to handle the request."),
    501: ("not_implemented", "This request framing or upgrade is not supported."),
    502: ("upstream_error", "The upstream failed to answer."),
    503: ("upstream_unavailable", "No upstream is available for this API right now."),
    504: ("upstream_timeout", "The upstream did not answer in time."),
    505: ("http_version_not_supported", "Only HTTP versions 1.0 and 1.1 are supported."),
}
_BODIES = {status: error_body(code, message) for status, (code, message) in _MESSAGES.items()}


class _RequestIds:
    """New request ids, shaped like uuid4 hex, without uuid4's 1.5 µs of urandom per call: a
    random uuid4 per process XOR a counter in its low 48 bits (which hold no version or variant
    bit). Unique across processes and nodes as long as random uuid4s are; not secret, which a
    request id need not be."""

    base = uuid.uuid4().int
    counter = itertools.count(1)

    @classmethod
    def reseed(cls) -> None:
        cls.base = uuid.uuid4().int
        cls.counter = itertools.count(1)

    @classmethod
    def new(cls) -> str:
        return "%032x" % (cls.base ^ next(cls.counter))


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_RequestIds.reseed)


class _Date:
    """The Date header line, made once a second."""

    second = 0
    line = b""

    @classmethod
    def get(cls) -> bytes:
        now = int(time.time())
        if now != cls.second:
            cls.second = now
            cls.line = b"date: " + formatdate(now, usegmt=True).encode() + b"\r\n"
        return cls.line


class _Reject(Exception):
    """Raised in a parser callback: stop parsing, answer ``status``, close."""

    def __init__(self, status: int) -> None:
        self.status = status


class _Server:
    """What every connection of one server shares."""

    __slots__ = ("connections", "gate", "limits", "loop", "on_event", "registry", "tick")

    def __init__(
        self,
        gate: GateLike,
        registry: UpstreamRegistry,
        limits: HttpLimits,
        on_event: EventHook | None,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.gate = gate
        self.registry = registry
        self.limits = limits
        self.on_event = on_event
        self.loop = loop
        self.connections: set[HttpConnection] = set()
        #: The connection timer never sleeps longer than the shortest client timeout, so a
        #: deadline that moves earlier (a new request on an idle connection) is never missed.
        self.tick = min(limits.keepalive_timeout, limits.head_timeout, limits.body_timeout, limits.send_timeout)

    def event(self, name: str, exc: BaseException | None = None) -> None:
        if self.on_event is not None:
            # A metrics hook must not break a connection.
            with contextlib.suppress(Exception):
                self.on_event(name, exc)


_servers: weakref.WeakKeyDictionary[asyncio.AbstractServer, _Server] = weakref.WeakKeyDictionary()


async def serve(
    gate: GateLike,
    registry: UpstreamRegistry,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    reuse_port: bool = False,
    sock: socket.socket | None = None,
    limits: HttpLimits = HttpLimits(),
    on_event: EventHook | None = None,
    backlog: int = 1024,
) -> asyncio.Server:
    """Listen on ``host:port`` (or ``sock``) and proxy every request as ``gate`` decides."""
    loop = asyncio.get_running_loop()
    shared = _Server(gate, registry, limits, on_event, loop)

    def factory() -> HttpConnection:
        return HttpConnection(shared)

    if sock is not None:
        server = await loop.create_server(factory, sock=sock, backlog=backlog)
    else:
        server = await loop.create_server(factory, host, port, reuse_port=reuse_port or None, backlog=backlog)
    _servers[server] = shared
    return server


async def shutdown(server: asyncio.AbstractServer, timeout: float = 10.0) -> int:
    """Stop accepting, close idle keep-alive connections at once, let requests in flight end
    (each connection closes after its current answer) for up to ``timeout`` seconds, then drop
    what is left. Returns how many connections had to be dropped."""
    server.close()
    shared = _servers.get(server)
    if shared is None:
        return 0
    for conn in list(shared.connections):
        conn.stop_accepting_requests()
    deadline = time.monotonic() + timeout
    while shared.connections and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    left = list(shared.connections)
    for conn in left:
        conn.abort()
    return len(left)


class HttpConnection(asyncio.Protocol):
    """One client connection: parser, queue of exchanges, flow control, timeouts."""

    __slots__ = (
        "_closing",
        "_cork",
        "_ex",
        "_head_bytes",
        "_head_started",
        "_headers",
        "_in_head",
        "_lingering",
        "_out",
        "_pumping",
        "_timer",
        "_url",
        "client_ip",
        "idle_since",
        "last_body",
        "linger_until",
        "parser",
        "paused",
        "queue",
        "server",
        "transport",
        "write_paused",
        "write_paused_at",
    )

    def __init__(self, server: _Server) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.client_ip = ""
        self.queue: deque[Exchange] = deque()
        self.paused = 0
        self.write_paused = False
        self.write_paused_at = 0.0
        self._cork = False
        self._out: list[bytes] = []
        self._pumping = False
        self._closing = False
        self._lingering = False
        self.linger_until = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self.idle_since = 0.0
        self.last_body = 0.0
        self._ex: Exchange | None = None
        self._in_head = False
        self._head_started = 0.0
        self._head_bytes = 0
        self._url = b""
        self._headers: Headers = []

    # -- asyncio.Protocol --------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.client_ip = peer[0] if isinstance(peer, tuple) else ""
        high = self.server.limits.write_buffer_high
        transport.set_write_buffer_limits(high=high, low=high // 4)
        self.server.connections.add(self)
        now = time.monotonic()
        self.idle_since = now
        self._timer = self.server.loop.call_later(self.server.tick, self._on_timer)

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return  # the answer is out; this is the rest of a body nobody will read
        if self._closing:
            return
        self._cork = True
        try:
            self._feed(data)
        finally:
            self._cork = False
        self._after_read()

    def _feed(self, data: bytes) -> None:
        parser = self.parser
        while True:
            try:
                parser.feed_data(data)
                return
            except httptools.HttpParserUpgrade as upgrade:
                # llhttp stops at a request with "Connection: upgrade" (and at CONNECT). We do
                # not upgrade: the headers are dropped and the request is proxied as a plain
                # one, which needs it to have no body (llhttp treats what follows the head as
                # the upgraded stream). Parsing goes on after it.
                ex = self.queue[-1] if self.queue else None
                if ex is None or ex.reject or ex.has_body:
                    if ex is not None and not ex.finished:
                        ex.reject = ex.reject or 501
                        ex.body_done = not ex.has_body  # an unread body: linger before closing
                    self._stop_reading()
                    return
                self._ex = None
                data = data[upgrade.args[0] :]
                if not data:
                    return
            except httptools.HttpParserError as exc:
                cause = exc.__context__
                if isinstance(cause, _Reject):
                    status = cause.status
                else:
                    status = 400
                    if cause is not None:
                        # Our own callback raised: a bug, not the client's fault. Still 400
                        # (the parser cannot go on), but said out loud.
                        self.server.event("internal_error", cause)
                self._parse_failed(status, exc)
                return

    def _after_read(self) -> None:
        queue = self.queue
        if queue:
            active = queue[0]
            if active.state == _NEW:
                self._pump()
            elif not active.sent_complete:
                active.flush_body()
            if len(queue) > 1 and not self.paused & _P_PIPELINE:
                self.pause(_P_PIPELINE)
        self.flush()

    def eof_received(self) -> bool | None:
        # A client that half-closes is treated as gone, as nginx does: the upstream call is
        # abandoned and the call recorded as client_closed.
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._closing = True
        queue = self.queue
        self.queue = deque()
        for ex in queue:
            ex.client_gone()
        self.transport = None

    def pause_writing(self) -> None:
        self.write_paused = True
        self.write_paused_at = time.monotonic()
        if self.queue:
            upstream = self.queue[0].upstream
            if upstream is not None:
                upstream.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.queue:
            ex = self.queue[0]
            upstream = ex.upstream
            if upstream is not None:
                upstream.resume_reading()
            elif ex.responder is not None:
                ex.responder.wake()

    # -- httptools callbacks -------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._in_head = True
        self._head_started = time.monotonic()
        self._head_bytes = 0
        self._url = b""
        self._headers = []

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > self.server.limits.max_target_bytes:
            raise _Reject(414)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._in_head:
            return  # trailer fields of a chunked body are not forwarded
        self._head_bytes += len(name) + len(value) + 4
        headers = self._headers
        limits = self.server.limits
        if self._head_bytes > limits.max_head_bytes or len(headers) >= limits.max_headers:
            raise _Reject(431)
        headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._ex = ex = Exchange(self)
        self.queue.append(ex)
        ex.read_head(self.parser, self._url, self._headers)
        self.last_body = ex.head.started if ex.head is not None else time.monotonic()

    def on_body(self, data: bytes) -> None:
        ex = self._ex
        if ex is None:
            return
        self.last_body = time.monotonic()
        ex.body_in += len(data)
        if ex.body_in > self.server.limits.max_body_bytes:
            raise _Reject(413)
        if ex.discard_body:
            return
        ex.pending.append(data)
        ex.pending_bytes += len(data)

    def on_message_complete(self) -> None:
        ex = self._ex
        if ex is None:
            return
        ex.body_done = True
        self._ex = None

    # -- errors of the client's side ------------------------------------------------------------

    def _parse_failed(self, status: int, exc: BaseException) -> None:
        """The bytes are not a request we accept: answer ``status`` in turn, then close."""
        self._stop_reading()
        ex = self._ex
        if ex is None or ex.head is None:
            # The head itself is bad: no request exists to give the gate.
            ex = Exchange(self)
            ex.reject = status
            self.queue.append(ex)
            self.server.event(_MESSAGES.get(status, ("bad_request", ""))[0], exc)
            return
        # The head was fine, the body is not (a bad chunk, too large).
        if ex.finished:
            return
        if ex.state == _NEW or ex.state == _ADMITTING:
            ex.reject = status  # the parser's verdict on the framing comes first
        else:
            ex.fail_from_client(status)

    def _stop_reading(self) -> None:
        """No more requests on this connection: those queued are answered, then it closes."""
        self._closing = True
        self.pause(_P_CLOSING)

    def stop_accepting_requests(self) -> None:
        """Server shutdown: close now when idle, else after the answer in progress."""
        if not self.queue:
            self.close()
        else:
            for ex in self.queue:
                if not ex.head_sent:
                    ex.keep_alive = False  # its answer says "connection: close"
            self._stop_reading()

    # -- flow control and output -------------------------------------------------------------------

    def pause(self, reason: int) -> None:
        if not self.paused and self.transport is not None:
            self.transport.pause_reading()
        self.paused |= reason

    def resume(self, reason: int) -> None:
        if not self.paused & reason:
            return
        self.paused &= ~reason
        if not self.paused and self.transport is not None:
            self.last_body = time.monotonic()
            self.transport.resume_reading()

    def write(self, data: bytes) -> None:
        if self._cork:
            self._out.append(data)
        elif self.transport is not None:
            self.transport.write(data)

    def writelines(self, parts: list[bytes]) -> None:
        if self._cork:
            self._out += parts
        elif self.transport is not None:
            self.transport.writelines(parts)

    def flush(self) -> None:
        out = self._out
        if out:
            self._out = []
            if self.transport is not None:
                if len(out) == 1:
                    self.transport.write(out[0])
                else:
                    self.transport.writelines(out)

    def close(self) -> None:
        if self.transport is not None:
            self.flush()
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self._out = []
            self.transport.abort()

    # -- the queue ---------------------------------------------------------------------------------

    def _pump(self) -> None:
        """Start the exchange at the head of the queue. Refusals finish at once and the next
        one starts: a loop here, not a recursion through exchange_done (a packet can hold
        thousands of pipelined requests)."""
        if self._pumping:
            return
        self._pumping = True
        try:
            queue = self.queue
            while queue and queue[0].state == _NEW:
                queue[0].start()
        finally:
            self._pumping = False

    def exchange_done(self, ex: Exchange) -> None:
        """``ex`` (the head of the queue) has sent its last byte."""
        queue = self.queue
        if not queue or queue[0] is not ex:
            return  # the connection is gone
        queue.popleft()
        self.resume(_P_UPSTREAM | _P_BODY)
        if not ex.keep_alive or self.transport is None:
            self.queue = deque()
            self._closing = True
            if ex.body_done and ex.head is not None:
                self.close()
            else:
                self._linger()
            return
        if queue:
            if len(queue) == 1:
                self.resume(_P_PIPELINE)
            if queue[0].state == _NEW:
                self._pump()
        else:
            self.idle_since = time.monotonic()
            if self._closing:
                self.close()
                return
            self.resume(_P_PIPELINE)

    def _linger(self) -> None:
        """Close after an answer that left a request body unread.

        Closing at once would make the kernel answer the client's next body bytes with a
        reset, which can destroy our answer before the client reads it. So: send FIN, keep
        reading (and discarding) for a moment, then close."""
        transport = self.transport
        if transport is None:
            return
        self.flush()
        self._lingering = True
        self.linger_until = time.monotonic() + self.server.limits.linger_timeout
        if transport.can_write_eof():
            transport.write_eof()
        self.paused = 0
        transport.resume_reading()
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.server.loop.call_later(self.server.limits.linger_timeout, self._on_timer)

    # -- client timeouts -------------------------------------------------------------------------------

    def _on_timer(self) -> None:
        """One lazy timer per connection: find the deadline of the current state; act if it
        passed, else sleep until it (never longer than the shortest client timeout)."""
        self._timer = None
        transport = self.transport
        if transport is None:
            return
        now = time.monotonic()
        limits = self.server.limits
        deadline = now + self.server.tick
        if self._lingering:
            if now >= self.linger_until - 0.001:
                transport.abort()
                return
            deadline = self.linger_until
        elif self.write_paused and self.queue:
            deadline = self.write_paused_at + limits.send_timeout
            if now >= deadline:
                self.abort()  # the client reads nothing: connection_lost records client_closed
                return
        elif not self.queue:
            if self._in_head:
                deadline = self._head_started + limits.head_timeout
                if now >= deadline:
                    self.server.event("head_timeout", None)
                    self._in_head = False
                    ex = Exchange(self)
                    ex.reject = 408
                    self._stop_reading()
                    self.queue.append(ex)
                    self._pump()
                    return
            else:
                deadline = self.idle_since + limits.keepalive_timeout
                if now >= deadline:
                    self.close()
                    return
        else:
            ex = self.queue[0]
            if not ex.body_done and ex.head is not None and not self.paused:
                deadline = self.last_body + limits.body_timeout
                if now >= deadline:
                    ex.fail_from_client(408)
                    self.flush()
                    return
        delay = max(0.001, min(deadline, now + self.server.tick) - now)
        self._timer = self.server.loop.call_later(delay, self._on_timer)


class Exchange:
    """One request and its answer; the upstream connection reports to it."""

    __slots__ = (
        "body_done",
        "body_in",
        "bytes_out",
        "chunked_in",
        "chunked_out",
        "conn",
        "connecting",
        "decision",
        "discard_body",
        "error",
        "expect",
        "finished",
        "has_body",
        "head",
        "head_sent",
        "http10",
        "keep_alive",
        "keep_alive_asked",
        "latency_ms",
        "length_in",
        "method",
        "out",
        "out_chunks",
        "pending",
        "pending_bytes",
        "probe",
        "reject",
        "replay",
        "replay_bytes",
        "responder",
        "retried_stale",
        "sent_complete",
        "state",
        "status",
        "target",
        "task",
        "tried",
        "try_started",
        "upstream",
    )

    def __init__(self, conn: HttpConnection) -> None:
        self.conn = conn
        self.head: RequestHead | None = None
        self.method = b""
        self.decision: Decision | None = None
        self.state = _NEW
        self.reject = 0
        self.keep_alive = False
        self.keep_alive_asked = False
        self.http10 = False
        self.expect = False
        self.has_body = False
        self.chunked_in = False
        self.length_in = -1
        self.body_in = 0
        self.body_done = False
        self.discard_body = False
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.replay: list[bytes] | None = None
        self.replay_bytes = 0
        self.sent_complete = False
        self.upstream: UpstreamConnection | None = None
        self.connecting: asyncio.Task[UpstreamConnection] | None = None
        self.target: Target | None = None
        self.probe = False
        self.tried: list[Target] = []
        self.retried_stale = False
        self.try_started = 0.0
        self.latency_ms: float | None = None
        self.status = 0
        self.bytes_out = 0
        self.chunked_out = False
        self.head_sent = False
        self.out: list[bytes] = []
        self.out_chunks: list[bytes] = []
        self.error = ""
        self.finished = False
        self.responder: _Responder | None = None
        self.task: asyncio.Task[None] | None = None

    # -- the head -----------------------------------------------------------------------------------

    def read_head(self, parser: httptools.HttpRequestParser, url: bytes, raw: Headers) -> None:
        """Build the RequestHead, and note what the node must refuse before asking the gate."""
        conn = self.conn
        now = time.monotonic()
        wall = time.time()
        method = parser.get_method()
        self.method = method
        version = parser.get_http_version()
        self.http10 = version == "1.0"
        self.keep_alive = self.keep_alive_asked = parser.should_keep_alive()
        headers: Headers = []
        tokens: list[bytes] | None = None
        te: bytes | None = None
        length: bytes | None = None
        request_id: bytes | None = None
        special = _SPECIAL
        for item in raw:
            kind = special.get(item[0])
            if kind is None:
                headers.append(item)
            elif kind == _H_HOP:
                continue
            elif kind == _H_CONNECTION:
                tokens = (tokens or []) + [t.strip().lower() for t in item[1].split(b",")]
            elif kind == _H_TRANSFER_ENCODING:
                te = item[1]
            elif kind == _H_CONTENT_LENGTH:
                length = item[1]  # llhttp refused duplicates and non-digits; the node re-frames
            elif kind == _H_REQUEST_ID:
                if request_id is None:
                    request_id = item[1]
                headers.append(item)
            else:  # Expect
                self.expect = True
                if item[1].strip().lower() != b"100-continue":
                    self.reject = 417
                headers.append(item)
        if tokens:
            named = {t for t in tokens if t not in CONNECTION_OPTIONS}
            if named:
                headers = [(n, v) for n, v in headers if n not in named]
        if version != "1.1" and version != "1.0":
            self.reject = 505
            self.keep_alive = False
        if method == b"CONNECT":
            self.reject = 405
            self.keep_alive = False
        if te is not None:
            self.chunked_in = True
            self.has_body = True
            if self.http10:
                self.reject = 400  # RFC 9112 §6.1: chunked framing in HTTP/1.0 is faulty framing
            else:
                codings = [c.strip() for c in te.lower().split(b",")]
                if codings[-1] != b"chunked":
                    self.reject = 400  # no length to go by: the framing is unknowable
                elif len(codings) > 1:
                    self.reject = 501  # llhttp takes "gzip, chunked"; the node cannot pass a coding on
        elif length is not None:
            self.length_in = int(length)
            self.has_body = self.length_in > 0
            if self.length_in > conn.server.limits.max_body_bytes:
                self.reject = 413
        if not self.has_body:
            self.body_done = True  # set again by on_message_complete; the timer needs it now
        if self.expect and self.http10:
            self.expect = False  # RFC 9110 §10.1.1: ignore 100-continue from HTTP/1.0 clients

        # The request-target: origin-form, or absolute-form (RFC 9112 §3.2.2: its authority
        # replaces Host), or "*" (OPTIONS; no route will match it).
        if url[:1] != b"/":
            lowered = url[:8].lower()
            if lowered.startswith(b"http://") or lowered.startswith(b"https://"):
                rest = url.split(b"//", 1)[1]
                slash = rest.find(b"/")
                query_at = rest.find(b"?")
                cut = slash if slash >= 0 and (query_at < 0 or slash < query_at) else query_at
                authority = rest if cut < 0 else rest[:cut]
                url = b"/" if cut < 0 else (rest[cut:] if rest[cut:cut + 1] == b"/" else b"/" + rest[cut:])  # fmt: skip
                headers = [(n, v) for n, v in headers if n != b"host"]
                headers.append((b"host", authority))
            elif not (url == b"*" and method == b"OPTIONS"):
                self.reject = self.reject or 400
        path, _, query = url.partition(b"?")
        if (b"/." in path or b"%2" in path) and _has_dot_segment(path):
            # "/api/v1/../../admin" must not leave the route's base path or the target's prefix.
            self.reject = self.reject or 400
        if request_id is not None and _SANE_ID.fullmatch(request_id):
            rid = request_id.decode("ascii")
        else:
            rid = _RequestIds.new()
        # Positional: the dataclass's fields are method, target, path, query, headers,
        # client_ip, request_id, started, started_wall, has_body.
        self.head = RequestHead(
            _METHODS.get(method) or method.decode("latin-1"),
            url,
            path.decode("latin-1"),
            query,
            headers,
            conn.client_ip,
            rid,
            now,
            wall,
            self.has_body,
        )
        if self.reject:
            self.keep_alive = False
            self.discard_body = True
        elif self.head.method in IDEMPOTENT_METHODS:
            self.replay = []

    # -- the decision -------------------------------------------------------------------------------

    def start(self) -> None:
        conn = self.conn
        if self.head is None:
            # The bytes never made a request: answer and close, nothing to record.
            self._answer(self.reject or 400, _BODIES.get(self.reject or 400, _BODIES[400]), (), close=True)
            self.finished = True
            self.state = _DONE
            conn.exchange_done(self)
            return
        if self.reject:
            self._refuse_locally(self.reject)
            return
        self.state = _ADMITTING
        try:
            decision = conn.server.gate.admit(self.head)
        except Exception as exc:  # noqa: BLE001 - a gate bug answers 500, the node keeps serving
            conn.server.event("gate_error", exc)
            self._refuse_locally(500)
            return
        if isinstance(decision, _DECISIONS):
            self._decided(decision)
            return
        try:
            future = asyncio.ensure_future(decision)
        except TypeError as exc:
            conn.server.event("gate_error", exc)
            self._refuse_locally(500)
            return
        future.add_done_callback(self._admitted)

    def _admitted(self, future: asyncio.Future[Decision]) -> None:
        conn = self.conn
        if future.cancelled():
            exc: BaseException | None = asyncio.CancelledError()
        else:
            exc = future.exception()
        if exc is not None:
            conn.server.event("gate_error", exc)
            if self.finished:
                return
            if conn.transport is None:
                self._finish_gone(Refuse(500, _BODIES[500], "internal_error"))
                return
            self._refuse_locally(500)
            conn.flush()
            return
        self._decided(future.result())
        conn.flush()

    def _decided(self, decision: Decision) -> None:
        self.decision = decision
        conn = self.conn
        if conn.transport is None or self.finished:
            self._finish_gone(decision)
            return
        if self.reject:
            # Found wrong while the gate was deciding (a bad chunk, a body over the limit).
            self._answer_error(self.reject)
            return
        if isinstance(decision, Refuse):
            self.discard_body = True
            self._answer(decision.status, decision.body, decision.headers, error=decision.error)
            return
        if isinstance(decision, Handle) and self.length_in > decision.max_body:
            self.discard_body = True
            self._answer_error(413, close=True)
            return
        if self.expect and not self.body_done:
            conn.write(_CONTINUE)
        if isinstance(decision, Handle):
            self.state = _HANDLING
            self._collect(decision)
            return
        self._dispatch()

    def _refuse_locally(self, status: int) -> None:
        """A refusal the node makes itself; recorded through the gate like the gate's own."""
        code, _ = _MESSAGES[status]
        self.decision = Refuse(status=status, body=_BODIES[status], error=code)
        self.discard_body = True
        self._answer(status, _BODIES[status], (), error=code, close=True)

    # -- the upstream -------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        forward = self.decision
        assert isinstance(forward, Forward)
        target = forward.balancer.pick(self.tried)
        if target is None:
            if not self.tried:
                self._answer_error(503, error="upstream_unavailable")
            else:
                self._answer_error(504 if self.error == "upstream_timeout" else 502, error=self.error)
            return
        self.target = target
        self.probe = target.state == HALF_OPEN  # only the probe's pick leaves it half-open
        self.tried.append(target)
        self.try_started = time.monotonic()
        idempotent = self.replay is not None
        upstream = target.pool.take(None if idempotent else target.pool.settings.safe_reuse)
        if upstream is not None:
            self._attach(upstream)
        else:
            self._connect(target)

    def _connect(self, target: Target) -> None:
        forward = self.decision
        assert isinstance(forward, Forward)
        self.state = _CONNECTING
        self.connecting = task = target.pool.connect(forward.connect_timeout)
        task.add_done_callback(self._connected)

    def _connected(self, task: asyncio.Task[UpstreamConnection]) -> None:
        self.connecting = None
        if task.cancelled():
            return  # the client went away and cancelled it
        exc = task.exception()
        target = self.target
        assert target is not None
        if self.finished:
            if exc is None:
                target.pool.put(task.result())
            return
        if exc is not None:
            target.failure()
            self.error = "upstream_timeout" if isinstance(exc, TimeoutError) else "upstream_error"
            # Nothing was sent: trying the next target is safe for any method.
            if len(self.tried) < self.conn.server.limits.max_tries:
                self._dispatch()
            else:
                self._answer_error(504 if self.error == "upstream_timeout" else 502, error=self.error)
            self.conn.flush()
            return
        self._attach(task.result())
        self.conn.flush()

    def _attach(self, upstream: UpstreamConnection) -> None:
        """Send the request (head and whatever body is at hand) on ``upstream``."""
        forward = self.decision
        target = self.target
        head = self.head
        assert isinstance(forward, Forward) and target is not None and head is not None
        self.state = _SENT
        self.upstream = upstream
        upstream.begin(self, head_request=self.method == b"HEAD", timeout=forward.read_timeout)
        if self.conn.write_paused:
            upstream.pause_reading()
        pending = self.pending
        body = self.replay + pending if self.replay else pending  # a retry resends what went before
        size = self.replay_bytes + self.pending_bytes
        if self.body_done:
            # All of it is here: a Content-Length, even if the client sent chunks (some
            # upstreams do not take chunked requests).
            framing = b"content-length: %d\r\n" % size if (size or self.length_in >= 0 or self.chunked_in) else b""
            self.chunked_out = False
        elif self.length_in >= 0:
            framing = b"content-length: %d\r\n" % self.length_in
            self.chunked_out = False
        else:
            framing = b"transfer-encoding: chunked\r\n"
            self.chunked_out = True
        parts = [
            request_head(
                self.method,
                target.path_prefix + forward.path,
                target.authority,
                head.headers,
                forward.strip,
                forward.add,
                framing,
            )
        ]
        if body:
            if self.chunked_out:
                parts.append(b"%x\r\n" % size)
                parts += body
                parts.append(b"\r\n")
            else:
                parts += body
        self._keep_sent(pending, self.pending_bytes)
        self.pending = []
        self.pending_bytes = 0
        self.sent_complete = self.body_done
        if len(parts) == 1:
            upstream.write(parts[0])
        else:
            upstream.writelines(parts)
        self.conn.resume(_P_BODY)

    def _keep_sent(self, chunks: list[bytes], size: int) -> None:
        replay = self.replay
        if replay is None or not size:
            return
        self.replay_bytes += size
        if self.replay_bytes > self.conn.server.limits.replay_body_bytes:
            self.replay = None  # too large to keep: this request can no longer be retried
            self.replay_bytes = 0
        else:
            replay.extend(chunks)

    def flush_body(self) -> None:
        """Body bytes gathered during one read: to the upstream, or held (and reading paused
        when too many are held)."""
        upstream = self.upstream
        if upstream is None or self.finished:
            if self.state == _HANDLING and not self.finished:
                decision = self.decision
                assert isinstance(decision, Handle)
                self._collect(decision)
                return
            if self.discard_body or self.finished:
                self.pending = []
                self.pending_bytes = 0
            elif self.pending_bytes > self.conn.server.limits.body_buffer_bytes:
                self.conn.pause(_P_BODY)
            return
        pending = self.pending
        if pending:
            if self.chunked_out:
                parts = [b"%x\r\n" % self.pending_bytes, *pending, b"\r\n"]
                if self.body_done:
                    parts.append(_TERMINATOR)
                upstream.writelines(parts)
            elif len(pending) == 1:
                upstream.write(pending[0])
            else:
                upstream.writelines(pending)
            self._keep_sent(pending, self.pending_bytes)
            self.pending = []
            self.pending_bytes = 0
        elif self.chunked_out and self.body_done:
            upstream.write(_TERMINATOR)
        self.sent_complete = self.body_done

    # -- ResponseListener ----------------------------------------------------------------------------

    def waiting_for_client(self) -> bool:
        return not self.sent_complete

    def on_upstream_writable(self, writable: bool) -> None:
        if writable:
            self.conn.resume(_P_UPSTREAM)
        else:
            self.conn.pause(_P_UPSTREAM)

    def on_response_head(self, status: int, headers: Headers, length_known: bool) -> None:
        target = self.target
        forward = self.decision
        head = self.head
        assert target is not None and isinstance(forward, Forward) and head is not None
        if status == 502 or status == 503 or status == 504:
            target.failure()
        else:
            target.success()
        self.latency_ms = (time.monotonic() - self.try_started) * 1000.0
        self.state = _RESPONDING
        self.status = status
        if not self.body_done:
            self.keep_alive = False  # the answer came before the whole body: close after it
        out = [_STATUS_LINES.get(status) or b"HTTP/1.1 %d Unknown\r\n" % status]
        for name, value in headers:
            out += (name, b": ", value, b"\r\n")
        request_id = True
        for name, value in forward.response_headers:
            if name == b"x-request-id":
                request_id = False
            out += (name, b": ", value, b"\r\n")
        if request_id:
            out += (b"x-request-id: ", head.request_id.encode(), b"\r\n")
        if length_known:
            self.chunked_out = False
        elif self.http10:
            self.chunked_out = False
            self.keep_alive = False  # an HTTP/1.0 client knows no chunks: the close ends the body
        else:
            self.chunked_out = True
            out.append(b"transfer-encoding: chunked\r\n")
        if not self.keep_alive:
            out.append(b"connection: close\r\n")
        elif self.http10:
            out.append(b"connection: keep-alive\r\n")
        out.append(b"\r\n")
        self.out.append(b"".join(out))

    def on_response_body(self, data: bytes) -> None:
        self.bytes_out += len(data)
        if self.chunked_out:
            self.out_chunks.append(data)
        else:
            self.out.append(data)

    def on_response_flush(self) -> None:
        self._write_out(False)

    def _write_out(self, final: bool) -> None:
        """Everything gathered during one read from the upstream, in one write to the client."""
        out = self.out
        chunks = self.out_chunks
        if chunks:
            self.out_chunks = []
            size = 0
            for chunk in chunks:
                size += len(chunk)
            out.append(b"%x\r\n" % size)
            out += chunks
            out.append(b"\r\n")
        if final and self.chunked_out:
            out.append(_TERMINATOR)
        if out:
            self.out = []
            self.head_sent = True
            conn = self.conn
            if len(out) == 1:
                conn.write(out[0])
            elif len(out[-1]) < 65536:
                conn.write(b"".join(out))  # a small copy costs less than a vector write
            else:
                conn.writelines(out)

    def on_response_end(self, reusable: bool) -> None:
        self._write_out(True)
        upstream = self.upstream
        self.upstream = None
        if upstream is not None:
            upstream.release(reusable and self.sent_complete)
        self._finish("")

    def on_upstream_error(self, kind: str) -> None:
        self.upstream = None
        target = self.target
        assert target is not None
        error = "upstream_timeout" if kind == TIMEOUT else "upstream_error"
        if self.state == _RESPONDING and not self.head_sent:
            # The head was parsed but the answer broke within the same read: the client has
            # seen nothing, so it can still get a clean 502.
            self.state = _SENT
            self.out = []
            self.out_chunks = []
            self.status = self.bytes_out = 0
            self.latency_ms = None
            self.chunked_out = False
            self.keep_alive = self.keep_alive_asked and not self.conn._closing
        if self.state == _RESPONDING:
            # Part of the answer is with the client: all we can do is cut the connection, so
            # it sees a truncated answer instead of a complete-looking one.
            target.failure()
            self.error = error
            self._write_out(False)
            self.conn.abort()
            return  # connection_lost → client_gone finishes the exchange with this error
        replayable = self.replay is not None
        if kind == STALE:
            if replayable and not self.retried_stale:
                # The keep-alive race: the upstream closed the idle connection just as our
                # request went out. Resending is safe only because the method is idempotent.
                self.retried_stale = True
                self.try_started = time.monotonic()
                self._connect(target)
                return
            target.release(self.probe)  # says nothing about the upstream's health
        else:
            target.failure()
        self.error = error
        if replayable and len(self.tried) < self.conn.server.limits.max_tries:
            self._dispatch()
        else:
            self._answer_error(504 if kind == TIMEOUT else 502, error=error)
        self.conn.flush()

    # -- the node answers itself (Handle) ---------------------------------------------------------

    def _collect(self, handle: Handle) -> None:
        """Gather the request body; once whole, run the handler as a task."""
        if self.body_in > handle.max_body:
            self.fail_from_client(413)
            return
        if not self.body_done or self.task is not None:
            return
        head = self.head
        assert head is not None
        body = b"".join(self.pending)
        self.pending = []
        self.pending_bytes = 0
        self.sent_complete = True  # nothing more to read for this request
        self.responder = responder = _Responder(self)
        self.task = task = asyncio.ensure_future(handle.run(head, body, responder))
        task.add_done_callback(self._handled)

    def _handled(self, task: asyncio.Task[None]) -> None:
        """The handler's task ended (answered, failed, or cancelled for a client gone)."""
        self.task = None
        responder = self.responder
        conn = self.conn
        if self.finished or responder is None:
            return
        exc = None if task.cancelled() else task.exception()
        if exc is not None:
            conn.server.event("handler_error", exc)
        self.latency_ms = responder.upstream_latency_ms
        if responder.closed or conn.transport is None:
            self._finish("client_closed")
        elif not responder.started:
            self._answer_error(500, error=responder.error or "internal_error")
        elif not responder.ended:
            # Part of an answer went out and the handler stopped: close, so the client sees
            # a truncated answer rather than a complete-looking one.
            self.keep_alive = False
            self._finish(responder.error or "internal_error")
        else:
            self._finish(responder.error)
        conn.flush()

    # -- the client's side failing -----------------------------------------------------------

    def fail_from_client(self, status: int) -> None:
        """The client's body broke the rules (bad chunk, too large) or stopped coming."""
        if self.finished:
            return
        self.discard_body = True
        self.pending = []
        self._drop_upstream()
        conn = self.conn
        if self.state == _RESPONDING:
            self.error = "client_closed" if status == 408 else _MESSAGES[status][0]
            conn.abort()
            return
        self._answer_error(status, close=True)

    def client_gone(self) -> None:
        """The client connection closed (or was aborted) before this exchange ended."""
        if self.finished:
            return
        self._drop_upstream()
        if self.state == _NEW:
            self.finished = True  # never reached the gate: nothing to record
            return
        if self.state == _ADMITTING:
            return  # _decided records it once the gate has spoken
        self.error = self.error or "client_closed"
        if self.task is not None and self.responder is not None:
            # The handler learns it (send raises, ``closed``) and is cancelled; _handled
            # records the call once it has noted what it counted.
            self.responder.gone()
            self.task.cancel()
            return
        self._finish(self.error)

    def _drop_upstream(self) -> None:
        upstream = self.upstream
        if upstream is not None:
            self.upstream = None
            upstream.close()
            if self.target is not None and self.state != _RESPONDING:
                self.target.release(self.probe)
        task = self.connecting
        if task is not None:
            self.connecting = None
            task.cancel()
            if self.target is not None:
                self.target.release(self.probe)

    def _finish_gone(self, decision: Decision) -> None:
        self.decision = decision
        self.error = "client_closed"
        self._finish("client_closed")

    # -- answers the node makes -----------------------------------------------------------------

    def _answer_error(self, status: int, error: str = "", close: bool = False) -> None:
        """An error answer in the one JSON shape (502 / 503 / 504, or a client error)."""
        code = _MESSAGES[status][0]
        if self.decision is None:
            self.decision = Refuse(status=status, body=_BODIES[status], error=code)
        self._drop_upstream()
        self._answer(status, _BODIES[status], (), error=error or code, close=close)

    def _answer(
        self,
        status: int,
        body: bytes,
        headers: Headers | tuple[()],
        error: str = "",
        close: bool = False,
    ) -> None:
        conn = self.conn
        if close or not self.body_done:
            self.keep_alive = False  # an unread body: close (lingering) after the answer
        parts = [
            _STATUS_LINES.get(status) or b"HTTP/1.1 %d Unknown\r\n" % status,
            _Date.get(),
            b"content-type: application/json\r\ncontent-length: %d\r\n" % len(body),
        ]
        if self.head is not None:
            parts += (b"x-request-id: ", self.head.request_id.encode(), b"\r\n")
        for name, value in headers:
            parts += (name, b": ", value, b"\r\n")
        if not self.keep_alive:
            parts.append(b"connection: close\r\n")
        elif self.http10:
            parts.append(b"connection: keep-alive\r\n")
        parts.append(b"\r\n")
        if self.method != b"HEAD":
            parts.append(body)
            self.bytes_out = len(body)
        conn.write(b"".join(parts))
        self.status = status
        self.error = error
        if self.head is not None:
            self._finish(error)

    def _finish(self, error: str) -> None:
        """Report the call to the gate (exactly once) and let the connection go on."""
        if self.finished:
            return
        self.finished = True
        self.state = _DONE
        conn = self.conn
        decision = self.decision
        head = self.head
        if head is not None and decision is not None:
            target = self.target
            # Positional: status, request_bytes, response_bytes, upstream_latency_ms, error,
            # target, finished.
            outcome = Outcome(
                self.status,
                self.body_in,
                self.bytes_out,
                self.latency_ms,
                error,
                target.url if target is not None and self.latency_ms is not None else "",
                time.monotonic(),
            )
            try:
                conn.server.gate.finish(head, decision, outcome)
            except Exception as exc:  # noqa: BLE001 - a record lost beats a connection lost
                conn.server.event("finish_error", exc)
        conn.exchange_done(self)


class _Responder:
    """What a :class:`~gateway_node.contracts.Handle`'s task answers through (the
    ``contracts.Responder`` protocol)."""

    __slots__ = (
        "chunked",
        "closed",
        "ended",
        "error",
        "ex",
        "first_byte_at",
        "started",
        "status",
        "upstream_latency_ms",
        "waiter",
    )

    def __init__(self, ex: Exchange) -> None:
        self.ex = ex
        self.closed = False
        self.started = False
        self.status = 0
        self.ended = False
        self.chunked = False
        self.first_byte_at: float | None = None
        self.error = ""
        self.upstream_latency_ms: float | None = None
        self.waiter: asyncio.Future[None] | None = None

    def start(self, status: int, headers: Headers, length: int | None = None) -> None:
        if self.started:
            raise RuntimeError("the answer's head was already sent")
        if self.closed:
            raise ConnectionError("the client went away")
        ex = self.ex
        head = ex.head
        decision = ex.decision
        assert head is not None and isinstance(decision, Handle)
        self.started = True
        self.status = ex.status = status
        out = [_STATUS_LINES.get(status) or b"HTTP/1.1 %d Unknown\r\n" % status, _Date.get()]
        request_id = True
        for name, value in (*headers, *decision.response_headers):
            if name == b"x-request-id":
                request_id = False
            out += (name, b": ", value, b"\r\n")
        if request_id:
            out += (b"x-request-id: ", head.request_id.encode(), b"\r\n")
        if length is not None:
            out.append(b"content-length: %d\r\n" % length)
        elif ex.http10:
            ex.keep_alive = False  # no chunks in HTTP/1.0: the close ends the body
        else:
            self.chunked = True
            out.append(b"transfer-encoding: chunked\r\n")
        if not ex.keep_alive:
            out.append(b"connection: close\r\n")
        elif ex.http10:
            out.append(b"connection: keep-alive\r\n")
        out.append(b"\r\n")
        ex.head_sent = True
        ex.conn.write(b"".join(out))

    async def send(self, data: bytes) -> None:
        if self.closed:
            raise ConnectionError("the client went away")
        if not self.started:
            raise RuntimeError("start() the answer first")
        if not data:
            return
        ex = self.ex
        conn = ex.conn
        if self.first_byte_at is None:
            self.first_byte_at = time.monotonic()
        if ex.method != b"HEAD":
            ex.bytes_out += len(data)
            if self.chunked:
                conn.writelines([b"%x\r\n" % len(data), data, b"\r\n"])
            else:
                conn.write(data)
        # Back-pressure: while the client's transport buffer is above its high-water mark,
        # wait (resume_writing or the connection's loss wakes us). The send timeout of the
        # connection's timer drops a client that reads nothing.
        while conn.write_paused and not self.closed:
            self.waiter = waiter = conn.server.loop.create_future()
            try:
                await waiter
            finally:
                self.waiter = None
        if self.closed:
            raise ConnectionError("the client went away")

    def end(self) -> None:
        if self.ended or not self.started:
            return
        self.ended = True
        if self.chunked and not self.closed and self.ex.method != b"HEAD":
            self.ex.conn.write(_TERMINATOR)

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def gone(self) -> None:
        self.closed = True
        self.wake()


def _has_dot_segment(path: bytes) -> bool:
    """True when ``path`` has a ``.`` or ``..`` segment, literally or percent-encoded."""
    if b"/." not in path and b"%2" not in path:
        return False
    decoded = path.replace(b"%2e", b".").replace(b"%2E", b".").replace(b"%2f", b"/").replace(b"%2F", b"/")
    return any(segment in (b".", b"..") for segment in decoded.split(b"/"))
