"""The small types the node's parts hand each other.

The HTTP layer (``http11``, ``upstream``) knows nothing of keys or plans: for each request it
asks the gate (``gate.Gate``) for a :class:`Refuse`, a :class:`Forward` or a :class:`Handle`
(the node answers itself: AI routes), carries the call out, and reports an :class:`Outcome`.
The gate knows nothing of sockets.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

if TYPE_CHECKING:
    from gateway_node.balancer import Balancer

Headers = list[tuple[bytes, bytes]]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


@dataclass(slots=True)
class RequestHead:
    """One parsed request, before its body."""

    method: str  # "GET"
    target: bytes  # the raw request-target: b"/orders/v1/orders/7?x=1"
    path: str  # the path part of target as sent (not percent-decoded), latin-1 text, no query
    query: bytes  # b"x=1" or b"" (without the "?")
    headers: Headers  # as received, names lower-cased, hop-by-hop headers already removed
    client_ip: str
    request_id: str  # X-Request-Id as received (sanitised) or a new uuid4
    started: float  # time.monotonic() when the head was complete
    started_wall: float  # time.time() at the same moment
    has_body: bool = False  # Content-Length > 0 or chunked

    def header(self, name: bytes) -> bytes | None:
        """The first value of a header (``name`` lower-case), or None."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


@dataclass(slots=True)
class Refuse:
    """Answer the client from the node; the request never reaches an upstream."""

    status: int  # 401, 403, 404, 429, 503, ...
    body: bytes  # a JSON document: {"error": {"code": ..., "message": ...}}
    error: str  # the call record's ``error``: "bad_key", "rate_limited", "unknown_route", ...
    headers: Headers = field(default_factory=list)  # extra response headers (Retry-After, RateLimit-*)
    context: Any = None  # opaque to the HTTP layer; handed back in Gate.finish


@dataclass(slots=True)
class Forward:
    """Send the request upstream."""

    balancer: Balancer  # picks the target (weighted round-robin, circuit breaker)
    path: bytes  # the request-target for the upstream *after* the target URL's own path prefix:
    # the HTTP layer sends ``target.path_prefix + path`` (the base path is already cut off)
    connect_timeout: float  # seconds
    read_timeout: float  # seconds: between bytes of the upstream's answer, and to its first byte
    strip: frozenset[bytes]  # request header names (lower-case) to drop: the credential
    add: Headers  # request headers to add (x-request-id, x-forwarded-for, x-forwarded-proto, ...)
    response_headers: Headers  # headers to add to the answer (x-request-id, ratelimit-*)
    context: Any = None  # opaque to the HTTP layer; handed back in Gate.finish


class Responder(Protocol):
    """How a :class:`Handle` answers its client (``http11`` implements it).

    ``start`` sends the status line and headers: with ``length`` a Content-Length answer,
    without it chunked transfer encoding (an HTTP/1.0 client gets a close-delimited body).
    ``send`` writes body bytes and waits while the client's transport is paused (the client
    reads slower than the answer comes); it raises ``ConnectionError`` once the client is
    gone. ``end`` finishes the body. The handler may set ``error`` (the call record's
    ``error``) and ``upstream_latency_ms``.
    """

    closed: bool  # the client went away: stop working for it
    started: bool  # the head went out
    status: int  # the status sent (0 before start)
    first_byte_at: float | None  # time.monotonic() of the first body byte handed to the client
    error: str
    upstream_latency_ms: float | None

    def start(self, status: int, headers: Headers, length: int | None = None) -> None: ...

    async def send(self, data: bytes) -> None: ...

    def end(self) -> None: ...


@dataclass(slots=True)
class Handle:
    """The node answers this request itself (AI routes: ``gateway_node.ai.handler``).

    The HTTP layer reads the whole request body (up to ``max_body`` bytes, else 413), then
    runs ``run(head, body, responder)`` as a task. Exactly one :meth:`GateLike.finish` follows
    the task's end, whether it answered, failed or the client went away (the task is then
    cancelled; what it counted so far is in ``context`` for the record).
    """

    run: Callable[[RequestHead, bytes, Responder], Awaitable[None]]
    max_body: int
    response_headers: Headers  # added to whatever the handler answers (x-request-id, ratelimit-*)
    context: Any = None  # opaque to the HTTP layer; handed back in Gate.finish


@dataclass(slots=True)
class Outcome:
    """What happened to one call, for its call record and the metrics."""

    status: int  # the status the client got (0 when the client went away before any answer)
    request_bytes: int  # bytes of the request body read from the client
    response_bytes: int  # bytes of the response body sent to the client
    upstream_latency_ms: float | None  # first try's connect+send to the upstream's response head; None if none
    error: str = ""  # "" or upstream_timeout / upstream_error / upstream_unavailable / client_closed
    target: str = ""  # the upstream URL that answered ("" when none)
    finished: float = 0.0  # time.monotonic() when the last byte went to the client


@dataclass(slots=True, frozen=True)
class Limits:
    """A plan's limits as the snapshot gives them; None means unlimited."""

    rate_per_second: int | None = None
    rate_per_minute: int | None = None
    quota_per_day: int | None = None  # UTC calendar day
    quota_per_month: int | None = None  # UTC calendar month

    @property
    def unlimited(self) -> bool:
        return not (self.rate_per_second or self.rate_per_minute or self.quota_per_day or self.quota_per_month)


class CallRecord(msgspec.Struct, omit_defaults=True):
    """A native call record (docs/gateway-protocol.md, "Native records"), as shipped in NDJSON."""

    request_id: str
    ts: str  # RFC 3339, UTC, with microseconds and "Z"
    method: str
    path: str
    status: int
    latency_ms: float
    api_version_id: int | None = None
    endpoint: str = ""
    key_id: str = ""
    application_id: int | None = None
    upstream_latency_ms: float | None = None
    request_bytes: int = 0
    response_bytes: int = 0
    client_ip: str = ""
    user_agent: str = ""
    error: str = ""
    # AI calls (docs/ai-gateway.md, "Call records"); omitted when unset.
    ai_route: str = ""  # the public model name asked for
    ai_provider: str = ""  # slug of the provider that answered (or was tried last)
    ai_model: str = ""  # the provider's model id
    ai_input_tokens: int | None = None
    ai_output_tokens: int | None = None
    ai_cached_tokens: int | None = None
    ai_cost: str | None = None  # USD, decimal string
    ai_ttft_ms: float | None = None


Decision = Refuse | Forward | Handle


class GateLike(Protocol):
    """What the HTTP layer needs of the gate (``gateway_node.gate.Gate`` implements it)."""

    def admit(self, head: RequestHead) -> Decision | Awaitable[Decision]:
        """Decide about one request from its head alone. Usually returns at once; it returns an
        awaitable only when it must wait (e.g. for a quota lease from Redis)."""
        ...

    def finish(self, head: RequestHead, decision: Decision, outcome: Outcome) -> None:
        """Called exactly once per admitted-or-refused request, after its last byte was sent
        to the client (or the client went away). Builds the call record; must not block."""
        ...


def error_body(code: str, message: str) -> bytes:
    """The one JSON error shape, as the portal answers it."""
    return msgspec.json.encode({"error": {"code": code, "message": message}})
