"""A small asyncio HTTP/1.1 client for the model providers.

Plain on purpose: one request per connection at a time, a keep-alive pool per
(scheme, host, port), http or https (the default SSL context: certificates and the host name
are checked, SNI sent), Content-Length, chunked or close-delimited answers (httptools parses
them). The answer's body is read on demand (:meth:`ProviderResponse.chunks`), so a streamed
answer is relayed as it comes and the provider's socket is only read as fast as the client
takes the relayed bytes (TCP back-pressure, the reader's buffer is bounded).

Failures are :class:`ProviderUnreachable` (connect, TLS), :class:`ProviderTimeout` (connect
timeout, or no byte within the read timeout: to the first byte of the answer and between two
reads of its body) and :class:`ProviderBroken` (the connection broke or the answer is not
HTTP). None of their messages holds a request header: credentials travel in headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httptools

from gateway_node import SOFTWARE
from gateway_node.ai.adapters.base import ProviderCall, retry_after

#: Bytes asked of the socket per read; also the stream reader's buffer limit.
READ_SIZE = 64 * 1024
#: The biggest non-streamed answer body read whole (an embeddings answer for a large batch).
MAX_BODY_BYTES = 64 * 1024 * 1024


class ProviderFailure(Exception):
    """The provider could not be used (what kind: the subclass)."""


class ProviderUnreachable(ProviderFailure):
    pass


class ProviderTimeout(ProviderFailure):
    pass


class ProviderBroken(ProviderFailure):
    def __init__(self, message: str, *, nothing_received: bool = False) -> None:
        super().__init__(message)
        #: The connection failed before any byte of an answer: a reused keep-alive
        #: connection the provider had closed (the request may be sent again on a new one).
        self.nothing_received = nothing_received


@dataclass(slots=True, frozen=True)
class Origin:
    """A provider's base URL, split once (from the snapshot's ``base_url``)."""

    scheme: str
    host: str
    port: int
    prefix: str  # the URL's path without a trailing slash: "/v1" or ""
    authority: str  # the Host header

    @classmethod
    def parse(cls, base_url: str) -> Origin:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"a provider base URL must be http(s)://host[:port][/path], got {base_url!r}")
        tls = parts.scheme == "https"
        port = parts.port or (443 if tls else 80)
        host = parts.hostname
        shown = f"[{host}]" if ":" in host else host
        authority = shown if port == (443 if tls else 80) else f"{shown}:{port}"
        return cls(parts.scheme, host, port, parts.path.rstrip("/"), authority)

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)


class _Conn:
    """One open connection to a provider."""

    __slots__ = ("idle_since", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0

    def usable(self) -> bool:
        return not self.writer.is_closing() and not self.reader.at_eof()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


@dataclass(slots=True)
class _Parse:
    """httptools callbacks: the head, then body pieces as they come."""

    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    head_done: bool = False
    done: bool = False
    keep_alive: bool = False  # asked of the parser at the message's end (it forgets afterwards)
    body: list[bytes] = field(default_factory=list)
    parser: Any = None

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.head_done = True

    def on_body(self, data: bytes) -> None:
        self.body.append(data)

    def on_message_complete(self) -> None:
        self.done = True
        self.keep_alive = bool(self.parser is not None and self.parser.should_keep_alive())


class ProviderResponse:
    """A provider's answer: status and headers are here; the body is read on demand."""

    def __init__(
        self,
        client: ProviderClient,
        origin: Origin,
        conn: _Conn,
        parser: httptools.HttpResponseParser,
        state: _Parse,
        read_timeout: float,
        head_request: bool,
    ) -> None:
        self._client = client
        self._origin = origin
        self._conn: _Conn | None = conn
        self._parser = parser
        self._state = state
        self._read_timeout = read_timeout
        self._head_request = head_request
        self.status = state.status
        self.headers = state.headers
        #: Seconds the provider asked us to wait (Retry-After), if it said.
        self.retry_after = retry_after(state.headers)

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body, piece by piece as it arrives (de-chunked). Raises ProviderTimeout /
        ProviderBroken when it stops coming or the connection breaks before its end."""
        state = self._state
        try:
            while True:
                if state.body:
                    pieces, state.body = state.body, []
                    for piece in pieces:
                        yield piece
                if state.done or self._head_request:
                    self._release()
                    return
                conn = self._conn
                if conn is None:
                    raise ProviderBroken("the answer was abandoned")
                try:
                    data = await asyncio.wait_for(conn.reader.read(READ_SIZE), self._read_timeout)
                except TimeoutError as exc:
                    raise ProviderTimeout(f"no data from the provider for {self._read_timeout:g} s") from exc
                except OSError as exc:
                    raise ProviderBroken(f"the provider connection broke ({exc.__class__.__name__})") from exc
                if not data:
                    # The close ends a body without length; anything else is a cut answer.
                    if not state.done and self.header(b"content-length") is None and not self._chunked():
                        state.done = True
                        continue
                    if state.done:
                        continue
                    raise ProviderBroken("the provider closed the connection before the end of its answer")
                try:
                    self._parser.feed_data(data)
                except httptools.HttpParserError as exc:
                    raise ProviderBroken("the provider's answer is not valid HTTP") from exc
        finally:
            if not state.done:
                self.close()

    async def read(self, limit: int = MAX_BODY_BYTES) -> bytes:
        """The whole body (at most ``limit`` bytes, else ProviderBroken)."""
        parts: list[bytes] = []
        size = 0
        async for piece in self.chunks():
            size += len(piece)
            if size > limit:
                self.close()
                raise ProviderBroken(f"the provider's answer is larger than {limit} bytes")
            parts.append(piece)
        return b"".join(parts)

    def close(self) -> None:
        """Abandon the answer: the connection is closed, not reused."""
        conn = self._conn
        self._conn = None
        if conn is not None:
            conn.close()

    def _chunked(self) -> bool:
        value = self.header(b"transfer-encoding")
        return value is not None and b"chunked" in value.lower()

    def _release(self) -> None:
        conn = self._conn
        self._conn = None
        if conn is None:
            return
        if self._state.keep_alive and self._state.done and conn.usable():
            self._client._put(self._origin, conn)
        else:
            conn.close()


class ProviderClient:
    """Keep-alive pools per (scheme, host, port); one request per connection at a time."""

    def __init__(
        self, *, max_idle: int = 32, idle_timeout: float = 30.0, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        """``ssl_context``: the default context (system CAs, host name checked) unless given."""
        self.max_idle = max_idle
        self.idle_timeout = idle_timeout
        self._idle: dict[tuple[str, str, int], list[_Conn]] = {}
        self._ssl: ssl.SSLContext | None = ssl_context
        #: Figures for the tests: connections opened so far.
        self.opened = 0

    def _context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    async def request(
        self,
        base_url: str | Origin,
        call: ProviderCall,
        *,
        connect_timeout: float,
        read_timeout: float,
    ) -> ProviderResponse:
        """Send ``call`` and wait for the answer's head (status, headers)."""
        origin = base_url if isinstance(base_url, Origin) else Origin.parse(base_url)
        target = origin.prefix + call.path + ("?" + call.query if call.query else "")
        lines = [f"{call.method} {target} HTTP/1.1", f"host: {origin.authority}", f"user-agent: {SOFTWARE}"]
        names = set()
        for name, value in call.headers:
            names.add(name.lower())
            lines.append(f"{name}: {value}")
        if call.body or call.method in ("POST", "PUT", "PATCH"):
            lines.append(f"content-length: {len(call.body)}")
        if "accept" not in names:
            lines.append("accept: application/json")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        payload = head + call.body
        conn = self._take(origin)
        if conn is not None:
            try:
                return await self._exchange(origin, conn, payload, call.method, read_timeout)
            except ProviderBroken as exc:
                if not exc.nothing_received:
                    raise
                # The keep-alive race: the provider closed the idle connection as we reused
                # it; it got nothing it could act on, so a fresh connection is safe.
        conn = await self._connect(origin, connect_timeout)
        return await self._exchange(origin, conn, payload, call.method, read_timeout)

    async def close(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()

    # -- internals

    def _take(self, origin: Origin) -> _Conn | None:
        conns = self._idle.get(origin.key)
        now = time.monotonic()
        while conns:
            conn = conns.pop()
            if conn.usable() and now - conn.idle_since < self.idle_timeout:
                return conn
            conn.close()
        return None

    def _put(self, origin: Origin, conn: _Conn) -> None:
        conns = self._idle.setdefault(origin.key, [])
        if len(conns) >= self.max_idle:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        conns.append(conn)

    async def _connect(self, origin: Origin, timeout: float) -> _Conn:
        tls = origin.scheme == "https"
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    origin.host,
                    origin.port,
                    ssl=self._context() if tls else None,
                    server_hostname=origin.host if tls else None,
                    limit=READ_SIZE,
                ),
                timeout,
            )
        except TimeoutError as exc:
            raise ProviderTimeout(f"no connection to {origin.authority} within {timeout:g} s") from exc
        except (OSError, ssl.SSLError) as exc:
            raise ProviderUnreachable(f"cannot connect to {origin.authority} ({exc.__class__.__name__})") from exc
        self.opened += 1
        return _Conn(reader, writer)

    async def _exchange(
        self, origin: Origin, conn: _Conn, payload: bytes, method: str, read_timeout: float
    ) -> ProviderResponse:
        state = _Parse()
        state.parser = parser = httptools.HttpResponseParser(state)
        received = False
        try:
            conn.writer.write(payload)
            await asyncio.wait_for(conn.writer.drain(), read_timeout)
            while not state.head_done:
                data = await asyncio.wait_for(conn.reader.read(READ_SIZE), read_timeout)
                if not data:
                    raise ProviderBroken(
                        f"{origin.authority} closed the connection without an answer", nothing_received=not received
                    )
                received = True
                parser.feed_data(data)
        except TimeoutError as exc:
            conn.close()
            raise ProviderTimeout(f"no answer from {origin.authority} within {read_timeout:g} s") from exc
        except httptools.HttpParserError as exc:
            conn.close()
            raise ProviderBroken(f"the answer of {origin.authority} is not valid HTTP") from exc
        except OSError as exc:
            conn.close()
            raise ProviderBroken(
                f"the connection to {origin.authority} broke ({exc.__class__.__name__})", nothing_received=not received
            ) from exc
        except BaseException:
            conn.close()
            raise
        state.status = parser.get_status_code()
        return ProviderResponse(self, origin, conn, parser, state, read_timeout, method == "HEAD")
