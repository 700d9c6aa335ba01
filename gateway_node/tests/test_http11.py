"""The client-facing HTTP/1.1 layer, through raw sockets, against a real upstream on loopback.

Each test starts ``http11.serve`` in a thread with a tiny gate (routes by path prefix, refuses
some paths) and speaks bytes to it: what the client gets back, what reached the upstream, and
what the gate was told in ``finish``.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from gateway_node.balancer import UpstreamRegistry
from gateway_node.contracts import Forward, Headers, Outcome, Refuse, RequestHead, error_body
from gateway_node.http11 import HttpLimits
from gateway_node.tests.upstreams import (
    NodeThread,
    RawClient,
    Reply,
    Upstream,
    big,
    chunked,
    close_delimited,
    slow,
    sse,
)

# --- The tiny gate --------------------------------------------------------------------------------


@dataclass
class Call:
    head: RequestHead
    decision: Refuse | Forward
    outcome: Outcome


class TinyGate:
    """Routes by path prefix (the prefix is cut off, as the real gate cuts the base path);
    ``refuse`` maps prefixes to (status, code); prefixes in ``slow_admit`` are decided after
    ``admit_delay`` seconds (an awaitable, as when the real gate waits for Redis)."""

    def __init__(
        self,
        registry: UpstreamRegistry,
        routes: dict[str, list[tuple[str, int]]],
        *,
        refuse: dict[str, tuple[int, str]] | None = None,
        slow_admit: tuple[str, ...] = (),
        admit_delay: float = 0.2,
        connect_timeout: float = 1.0,
        read_timeout: float = 2.0,
        response_headers: Headers | None = None,
    ) -> None:
        self.routes = {prefix: registry.balancer(upstreams) for prefix, upstreams in routes.items()}
        self.refuse = refuse or {}
        self.slow_admit = slow_admit
        self.admit_delay = admit_delay
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.response_headers = response_headers or []
        self.admitted: list[RequestHead] = []
        self.calls: list[Call] = []

    def admit(self, head: RequestHead):
        self.admitted.append(head)
        decision = self._decide(head)
        if head.path.startswith(self.slow_admit) and self.slow_admit:
            return self._later(decision)
        return decision

    async def _later(self, decision: Refuse | Forward) -> Refuse | Forward:
        await asyncio.sleep(self.admit_delay)
        return decision

    def _decide(self, head: RequestHead) -> Refuse | Forward:
        for prefix, (status, code) in self.refuse.items():
            if head.path.startswith(prefix):
                return Refuse(status, error_body(code, "No."), code, headers=[(b"retry-after", b"7")])
        for prefix in sorted(self.routes, key=len, reverse=True):
            if head.path == prefix or head.path.startswith(prefix.rstrip("/") + "/"):
                return Forward(
                    balancer=self.routes[prefix],
                    path=head.target[len(prefix.rstrip("/")) :] or b"/",
                    connect_timeout=self.connect_timeout,
                    read_timeout=self.read_timeout,
                    strip=frozenset({b"x-api-key"}),
                    add=[(b"x-request-id", head.request_id.encode()), (b"x-forwarded-for", head.client_ip.encode())],
                    response_headers=list(self.response_headers),
                )
        return Refuse(404, error_body("unknown_route", "No route."), "unknown_route")

    def finish(self, head: RequestHead, decision: Refuse | Forward, outcome: Outcome) -> None:
        self.calls.append(Call(head, decision, outcome))

    def wait_calls(self, count: int, timeout: float = 5.0) -> list[Call]:
        deadline = time.monotonic() + timeout
        while len(self.calls) < count and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.calls


Proxy = Callable[..., tuple[NodeThread, TinyGate]]


@pytest.fixture(name="upstream")
def upstream_fixture() -> Iterator[Upstream]:
    with Upstream() as server:
        yield server


@pytest.fixture(name="proxy")
def proxy_fixture() -> Iterator[Proxy]:
    """``proxy(routes, limits=..., **gate options)`` → (node, gate), stopped after the test."""
    nodes: list[NodeThread] = []

    def start(
        routes: dict[str, list[tuple[str, int]]],
        *,
        limits: HttpLimits | None = None,
        registry: UpstreamRegistry | None = None,
        **options,
    ) -> tuple[NodeThread, TinyGate]:
        registry = registry or UpstreamRegistry()
        gate = TinyGate(registry, routes, **options)
        node = NodeThread(gate, registry, limits=limits).start()
        nodes.append(node)
        return node, gate

    yield start
    for node in nodes:
        node.stop()


def one_route(upstream: Upstream) -> dict[str, list[tuple[str, int]]]:
    return {"/api": [(upstream.url, 1)], "/": [(upstream.url, 1)]}


def exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send ``data`` on a new connection and read until the node closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
        return b"".join(chunks)


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


# --- Framing: no request smuggling ------------------------------------------------------------


SMUGGLING = {
    "content-length and transfer-encoding": (
        b"POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\nGET /api/smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
        400,
    ),
    "transfer-encoding and content-length": (
        b"POST /api/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"
        b"0\r\n\r\nGET /api/smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
        400,
    ),
    "two differing content-lengths": (
        b"POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\n"
        b"abcdGET /api/smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
        400,
    ),
    "a content-length list": (
        b"POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 40\r\n\r\nabcd",
        400,
    ),
    "transfer-encoding not chunked": (
        b"POST /api/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nabcd",
        400,
    ),
    "chunked not last": (
        b"POST /api/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
        400,
    ),
    "a coding before chunked": (
        b"POST /api/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        501,
    ),
    "chunked twice": (
        b"POST /api/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    "chunked in HTTP/1.0": (
        b"POST /api/x HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    "an invalid chunk size": (
        b"POST /api/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        400,
    ),
    "a negative chunk size": (
        b"POST /api/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
        400,
    ),
    "an overflowing chunk size": (
        b"POST /api/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\nhello\r\n",
        400,
    ),
    "obsolete line folding": (b"GET /api/x HTTP/1.1\r\nHost: a\r\nX-A: one\r\n two\r\n\r\n", 400),
    "bare LF line ends": (b"GET /api/x HTTP/1.1\nHost: a\n\n", 400),
    "bare CR in a header": (b"GET /api/x HTTP/1.1\r\nHost: a\rX-A: 1\r\n\r\n", 400),
    "space before the colon": (b"GET /api/x HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    "HTTP/2.0 on the request line": (b"GET /api/x HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    "a dot-dot segment": (b"GET /api/../admin HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    "an encoded dot-dot segment": (b"GET /api/%2e%2E/admin HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    "CONNECT": (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 405),
    "an upgrade with a body": (
        b"POST /api/x HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\nContent-Length: 3\r\n\r\nabc",
        501,
    ),
    "a relative target": (b"GET api/x HTTP/1.1\r\nHost: a\r\n\r\n", 400),
}


@pytest.mark.parametrize("name", list(SMUGGLING))
def test_ambiguous_or_broken_framing_is_refused_and_the_connection_closed(name, upstream, proxy):
    node, _ = proxy(one_route(upstream))
    data, expected = SMUGGLING[name]
    raw = exchange(node.port, data)
    assert status_of(raw) == expected, raw
    assert raw.count(b"HTTP/1.1 ") == 1  # one answer, then the close: nothing smuggled through
    assert b"connection: close" in raw.lower()
    body = raw.partition(b"\r\n\r\n")[2]
    assert json.loads(body)["error"]["code"]
    time.sleep(0.05)
    assert upstream.requests == []  # nothing reached the upstream


def test_an_over_long_head_is_431_and_an_over_long_target_414(upstream, proxy):
    node, gate = proxy(one_route(upstream), limits=HttpLimits(max_head_bytes=2048, max_target_bytes=1024))
    raw = exchange(node.port, b"GET /api/x HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 3000 + b"\r\n\r\n")
    assert status_of(raw) == 431
    assert json.loads(raw.partition(b"\r\n\r\n")[2])["error"]["code"] == "headers_too_large"
    many = b"".join(b"X-H%d: 1\r\n" % i for i in range(150))
    assert status_of(exchange(node.port, b"GET /api/x HTTP/1.1\r\nHost: a\r\n" + many + b"\r\n")) == 431
    raw = exchange(node.port, b"GET /api/" + b"a" * 2000 + b" HTTP/1.1\r\nHost: a\r\n\r\n")
    assert status_of(raw) == 414
    assert upstream.requests == []
    assert {name for name, _ in node.events} >= {"headers_too_large", "target_too_long"}
    assert gate.calls == []  # no request existed to record
    # Just under the limits goes through.
    with RawClient(node.port) as client:
        assert client.request("GET", "/api/" + "a" * 900, [("X-Big", "b" * 900)]).status == 200


def test_a_body_over_the_limit_is_413_before_it_is_read_or_sent(upstream, proxy):
    node, gate = proxy(one_route(upstream), limits=HttpLimits(max_body_bytes=1000))
    with RawClient(node.port) as client:
        client.send(b"POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n" + b"a" * 100)
        answer = client.read_response()
        assert answer.status == 413 and answer.json()["error"]["code"] == "body_too_large"
        assert answer.headers["connection"] == "close"
        assert client.closed()
    # Chunked: found out while reading.
    with RawClient(node.port) as client:
        client.send(b"POST /api/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(3):
            client.send(b"200\r\n" + b"b" * 512 + b"\r\n")
            time.sleep(0.02)
        answer = client.read_response()
        assert answer.status == 413
        assert client.closed()
    calls = gate.wait_calls(2)
    assert [c.outcome.status for c in calls] == [413, 413]
    assert all(not r.answered or len(r.body) <= 1000 for r in upstream.requests)


# --- Hop-by-hop headers ----------------------------------------------------------------------------


def test_hop_by_hop_headers_are_dropped_both_ways(upstream, proxy):
    node, gate = proxy(one_route(upstream))
    upstream.handler = lambda seen: Reply(
        body=b"ok",
        headers=[
            ("Connection", "X-Upstream-Hop"),
            ("X-Upstream-Hop", "1"),
            ("Keep-Alive", "timeout=5"),
            ("Proxy-Authenticate", "Basic"),
            ("Trailer", "X-T"),
            ("Upgrade", "h2c"),
            ("Proxy-Connection", "keep-alive"),
            ("X-Request-Id", "upstream-made-this-up"),
            ("X-Kept", "yes"),
        ],
    )
    with RawClient(node.port) as client:
        answer = client.request(
            "GET",
            "/api/x",
            [
                ("Connection", "keep-alive, X-Client-Hop"),
                ("X-Client-Hop", "secret"),
                ("Keep-Alive", "timeout=5"),
                ("Proxy-Connection", "keep-alive"),
                ("TE", "trailers"),
                ("Trailer", "X-T"),
                ("Proxy-Authorization", "Basic Zm9vOmJhcg=="),
                ("X-API-Key", "apk_secret"),  # the gate's strip
                ("X-Kept", "yes"),
            ],
        )
        assert answer.status == 200 and answer.body == b"ok"
        for name in ("x-upstream-hop", "keep-alive", "proxy-authenticate", "trailer", "upgrade", "proxy-connection"):
            assert name not in answer.headers, name
        assert answer.headers["x-kept"] == "yes"
        assert answer.count("x-request-id") == 1 and re.fullmatch(r"[0-9a-f]{32}", answer.headers["x-request-id"])
    seen = upstream.requests[-1]
    for name in ("connection", "x-client-hop", "keep-alive", "proxy-connection", "te", "trailer"):
        assert name not in seen.headers, name
    assert "proxy-authorization" not in seen.headers and "x-api-key" not in seen.headers
    assert seen.headers["x-kept"] == "yes"
    assert seen.headers["host"] == f"127.0.0.1:{upstream.port}"  # the target's, not the client's
    assert seen.headers["x-request-id"] == answer.headers["x-request-id"]
    # The gate saw the client's headers minus hop-by-hop ones.
    names = {name for name, _ in gate.calls[-1].head.headers}
    assert b"x-api-key" in names and b"x-client-hop" not in names and b"connection" not in names


def test_an_upgrade_request_without_body_is_proxied_as_a_plain_one(upstream, proxy):
    node, _ = proxy(one_route(upstream))
    with RawClient(node.port) as client:
        client.send(
            b"GET /api/one HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
            b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\nGET /api/two HTTP/1.1\r\nHost: a\r\n\r\n"
        )
        first, second = client.read_response(), client.read_response()
    assert (first.status, first.json()["path"], second.json()["path"]) == (200, "/one", "/two")
    assert "upgrade" not in upstream.requests[0].headers and "http2-settings" not in upstream.requests[0].headers


# --- Bodies both ways ----------------------------------------------------------------------------


def test_a_chunked_request_body_reaches_the_upstream_whole(upstream, proxy):
    node, gate = proxy(one_route(upstream))
    with RawClient(node.port) as client:
        # All at once: the node knows the length before it sends, so it sends Content-Length.
        client.send(
            b"POST /api/a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: dropped\r\n\r\n"
        )
        answer = client.read_response()
        assert answer.json()["body"] == "hello world"
        assert upstream.requests[-1].headers["content-length"] == "11"
        # Arriving slowly: relayed as it comes, re-framed as chunks.
        client.send(b"POST /api/b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        time.sleep(0.15)
        client.send(b"6\r\n world\r\n")
        time.sleep(0.15)
        client.send(b"0\r\n\r\n")
        answer = client.read_response()
        seen = upstream.requests[-1]
        assert (answer.status, seen.body, seen.chunked) == (200, b"hello world", True)
        assert "x-trailer" not in seen.headers
    assert [c.outcome.request_bytes for c in gate.wait_calls(2)] == [11, 11]


def test_a_large_request_body_is_streamed_not_buffered(proxy):
    """A raw upstream sees the body's first megabyte while the client still holds the rest."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    node, _ = proxy({"/api": [(url, 1)]}, limits=HttpLimits(max_body_bytes=50_000_000))
    # Large against every buffer on the way (client and node socket buffers, the node's own
    # flow-control window: a few MB on loopback), so "the upstream saw its first 1.5 MB before
    # the client had sent half" holds however slowly a loaded machine schedules the upstream.
    total = 40_000_000
    received = bytearray()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            while len(received) < 1_500_000:
                received.extend(conn.recv(65536))
            gate_open.set()
            while len(received) < total and (data := conn.recv(1 << 20)):
                received.extend(data)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    gate_open = threading.Event()
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with RawClient(node.port, timeout=10) as client:
        client.send(b"PUT /api/upload HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % total)
        sent = 0
        block = b"z" * 65536
        while not gate_open.is_set():
            client.send(block)
            sent += len(block)
            assert sent < total // 2, "the node held the body back"
        while sent < total:
            client.send(block[: min(len(block), total - sent)])
            sent += min(len(block), total - sent)
        assert client.read_response().body == b"ok"
    thread.join(5)
    listener.close()
    assert received.endswith(b"z" * 100) and received.count(b"z") == total


def test_answers_framed_every_way_reach_http11_and_http10_clients(upstream, proxy):
    node, gate = proxy(one_route(upstream))
    cases = {
        "/api/length": Reply(body=b"fixed body"),
        "/api/chunked": Reply(body=[b"fixed", b" ", b"body"], framing="chunked"),
        "/api/close": Reply(body=[b"fixed ", b"body"], framing="close"),
    }
    upstream.handler = lambda seen: cases["/api" + seen.path]  # the route cut "/api" off
    for path in cases:
        with RawClient(node.port) as client:
            answer = client.request("GET", path)
            assert (answer.status, answer.body) == (200, b"fixed body"), path
            if path == "/api/length":
                assert answer.headers["content-length"] == "10"
            else:  # re-framed as chunks for an HTTP/1.1 client; the connection stays
                assert answer.chunked and "content-length" not in answer.headers
            assert client.request("GET", "/api/length").body == b"fixed body"  # kept alive
        # HTTP/1.0: no chunks; an unknown length ends with the close.
        with RawClient(node.port) as client:
            client.send(f"GET {path} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".encode())
            answer = client.read_response()
            assert (answer.status, answer.body, answer.chunked) == (200, b"fixed body", False), path
            if path == "/api/length":
                assert answer.headers["connection"] == "keep-alive"
                client.send(b"GET /api/length HTTP/1.0\r\n\r\n")  # no keep-alive asked: closed after
                assert client.read_response().body == b"fixed body"
            else:
                assert answer.headers["connection"] == "close"
            assert client.closed()
    assert all(c.outcome.response_bytes == 10 and c.outcome.status == 200 for c in gate.calls)


def test_head_204_and_304_answers_carry_no_body_and_keep_the_connections(upstream, proxy):
    node, gate = proxy(one_route(upstream))

    def handler(seen):
        if seen.path == "/204":
            return Reply(status=204)
        if seen.path == "/304":
            return Reply(status=304, headers=[("ETag", '"v1"')])
        return Reply(body=b"x" * 50)  # HEAD gets the length, not the bytes

    upstream.handler = handler
    with RawClient(node.port) as client:
        for _ in range(2):
            answer = client.request("HEAD", "/api/thing")
            assert (answer.status, answer.headers["content-length"], answer.body) == (200, "50", b"")
            assert (client.request("GET", "/api/204").status, client.request("GET", "/api/304").status) == (204, 304)
        assert client.request("GET", "/api/thing").body == b"x" * 50  # the stream is still in step
        client.sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            client.sock.recv(1)  # nothing stray after those answers
    assert upstream.connections == 1  # HEAD, 204 and 304 left the upstream connection reusable
    assert {c.outcome.response_bytes for c in gate.calls if c.head.method == "HEAD"} == {0}


def test_server_sent_events_arrive_one_by_one(upstream, proxy):
    node, _ = proxy(one_route(upstream))
    upstream.handler = sse(["one", "two", "three"], interval=0.3)
    with RawClient(node.port) as client:
        client.send(b"GET /api/events HTTP/1.1\r\nHost: a\r\nAccept: text/event-stream\r\n\r\n")
        client._read_until(b"\r\n\r\n")
        arrivals = []
        started = time.monotonic()
        while len(arrivals) < 3:
            size = int(client._read_until(b"\r\n"), 16)
            event = client._read_exactly(size)
            client._read_exactly(2)
            arrivals.append((event, time.monotonic() - started))
    assert [event for event, _ in arrivals] == [b"data: one\n\n", b"data: two\n\n", b"data: three\n\n"]
    # Each came while the upstream was still producing the next: not buffered to the end.
    assert arrivals[0][1] < 0.25
    assert 0.2 < arrivals[1][1] - arrivals[0][1] < 0.6
    assert 0.2 < arrivals[2][1] - arrivals[1][1] < 0.6


def rss_bytes() -> int:
    with open("/proc/self/status") as status_file:
        for line in status_file:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def test_a_large_answer_to_a_slow_client_keeps_the_node_memory_bounded(upstream, proxy):
    total = 50 * 1024 * 1024
    node, gate = proxy(one_route(upstream))
    upstream.handler = big(total, framing="chunked")
    before = rss_bytes()
    peak = before
    with RawClient(node.port, timeout=10, rcvbuf=16384) as client:
        client.send(b"GET /api/big HTTP/1.1\r\nHost: a\r\n\r\n")
        client._read_until(b"\r\n\r\n")
        received = 0
        time.sleep(0.5)  # the client reads nothing for a while: everything must stall
        stalled_at = upstream.bytes_sent
        assert stalled_at < 20 * 1024 * 1024, "the upstream kept sending: something buffered the answer"
        assert rss_bytes() - before < 30 * 1024 * 1024
        while True:  # then it reads, slowly at first
            data = client.recv_some(16384)
            if not data:
                break
            received += len(data)
            if received < 2 * 1024 * 1024:
                time.sleep(0.0005)
            if received % (4 * 1024 * 1024) < 16384:
                peak = max(peak, rss_bytes())
            if client.buffer == b"" and data.endswith(b"0\r\n\r\n"):
                break
    assert received > total  # the body plus the chunk framing
    assert peak - before < 30 * 1024 * 1024
    assert gate.wait_calls(1)[0].outcome.response_bytes == total


# --- 100-continue ----------------------------------------------------------------------------------


def test_expect_100_continue_lets_the_gate_decide_before_the_body(upstream, proxy):
    node, _ = proxy(one_route(upstream), refuse={"/api/closed": (403, "no_subscription")})
    with RawClient(node.port) as client:
        client.send(b"PUT /api/closed HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n")
        answer = client.read_response()  # the final status, with no 100 before it
        assert answer.status == 403 and answer.json()["error"]["code"] == "no_subscription"
        assert answer.headers["retry-after"] == "7" and answer.headers["x-request-id"]
        assert client.closed()  # the body was never read
    with RawClient(node.port) as client:
        client.send(b"PUT /api/open HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        interim = client._read_until(b"\r\n\r\n")
        assert interim == b"HTTP/1.1 100 Continue"
        client.send(b"hello")
        answer = client.read_response()
        assert answer.status == 200 and answer.json()["body"] == "hello"
        assert "expect" not in upstream.requests[-1].headers
    with RawClient(node.port) as client:
        client.send(b"PUT /api/open HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: something-else\r\n\r\n")
        assert client.read_response().status == 417
    assert len(upstream.requests) == 1


def test_expect_100_continue_waits_for_a_gate_that_decides_later(upstream, proxy):
    node, _ = proxy(one_route(upstream), slow_admit=("/api",), admit_delay=0.2)
    with RawClient(node.port) as client:
        client.send(b"POST /api/later HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        started = time.monotonic()
        assert client._read_until(b"\r\n\r\n") == b"HTTP/1.1 100 Continue"
        assert time.monotonic() - started >= 0.15
        client.send(b"abc")
        assert client.read_response().json()["body"] == "abc"


# --- Pipelining and keep-alive ----------------------------------------------------------------


def test_pipelined_requests_are_answered_in_order_each_proxied(upstream, proxy):
    node, gate = proxy(one_route(upstream), refuse={"/api/refused": (429, "rate_limited")}, slow_admit=("/api/slow",))
    upstream.handler = lambda seen: slow(0.2 if seen.path == "/first" else 0.0)(seen)
    with RawClient(node.port) as client:
        client.send(
            b"GET /api/first HTTP/1.1\r\nHost: a\r\n\r\n"
            b"POST /api/second HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
            b"GET /api/refused HTTP/1.1\r\nHost: a\r\n\r\n"
            b"GET /api/slow/fourth HTTP/1.1\r\nHost: a\r\n\r\n"
            b"GET /api/fifth HTTP/1.1\r\nHost: a\r\n\r\n"
        )
        answers = [client.read_response() for _ in range(5)]
    assert [a.status for a in answers] == [200, 200, 429, 200, 200]
    assert [a.json()["path"] for i, a in enumerate(answers) if i != 2] == [
        "/first",
        "/second",
        "/slow/fourth",
        "/fifth",
    ]
    assert answers[1].json()["body"] == "abc"
    assert [s.target for s in upstream.requests] == ["/first", "/second", "/slow/fourth", "/fifth"]
    ids = [a.headers["x-request-id"] for a in answers]
    assert len(set(ids)) == 5
    assert [c.head.request_id for c in gate.wait_calls(5)] == ids  # finished in order, once each


def test_many_pipelined_refusals_in_one_packet(upstream, proxy):
    node, gate = proxy(one_route(upstream), refuse={"/api/no": (401, "missing_key")})
    with RawClient(node.port) as client:
        client.send(b"GET /api/no HTTP/1.1\r\nHost: a\r\n\r\n" * 2000)
        answers = [client.read_response() for _ in range(2000)]
    assert {a.status for a in answers} == {401}
    assert len(gate.wait_calls(2000)) == 2000


def test_keep_alive_to_the_client_ends_after_the_idle_timeout(upstream, proxy):
    node, _ = proxy(one_route(upstream), limits=HttpLimits(keepalive_timeout=0.3))
    with RawClient(node.port) as client:
        assert client.request("GET", "/api/a").status == 200
        time.sleep(0.1)
        assert client.request("GET", "/api/b").status == 200  # still open: the clock restarted
        started = time.monotonic()
        assert client.closed(timeout=2)
        assert 0.2 < time.monotonic() - started < 1.0


def test_a_client_that_sends_half_a_head_gets_408(upstream, proxy):
    node, _ = proxy(one_route(upstream), limits=HttpLimits(head_timeout=0.3))
    with RawClient(node.port) as client:
        client.send(b"GET /api/x HTTP/1.1\r\nHost: a\r\n")
        answer = client.read_response()
        assert answer.status == 408
        assert client.closed()
    assert ("head_timeout", None) in node.events


def test_a_client_that_stops_sending_its_body_gets_408(upstream, proxy):
    node, gate = proxy(one_route(upstream), limits=HttpLimits(body_timeout=0.3))
    with RawClient(node.port) as client:
        client.send(b"POST /api/x HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nonly a part")
        answer = client.read_response()
        assert answer.status == 408
        assert client.closed()
    call = gate.wait_calls(1)[0]
    assert (call.outcome.status, call.outcome.request_bytes) == (408, 11)


# --- Requests ids, addresses, targets -------------------------------------------------------


def test_the_request_id_is_the_clients_when_sane_else_a_new_one(upstream, proxy):
    node, gate = proxy(one_route(upstream))
    with RawClient(node.port) as client:
        kept = client.request("GET", "/api/x", [("X-Request-Id", "client-id-123")])
        too_long = client.request("GET", "/api/x", [("X-Request-Id", "a" * 201)])
        spaced = client.request("GET", "/api/x", [("X-Request-Id", "has space")])
    assert kept.headers["x-request-id"] == "client-id-123"
    assert upstream.requests[0].headers["x-request-id"] == "client-id-123"
    for answer in (too_long, spaced):
        assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["x-request-id"])
    assert gate.calls[0].head.client_ip == "127.0.0.1"


def test_an_absolute_form_target_is_routed_by_its_path(upstream, proxy):
    node, gate = proxy(one_route(upstream))
    with RawClient(node.port) as client:
        client.send(b"GET http://api.example.com/api/abs?q=1 HTTP/1.1\r\nHost: other\r\n\r\n")
        answer = client.read_response()
    assert answer.json()["path"] == "/abs?q=1"
    head = gate.calls[0].head
    assert (head.target, head.path, head.query, head.header(b"host")) == (
        b"/api/abs?q=1",
        "/api/abs",
        b"q=1",
        b"api.example.com",
    )


# --- What the gate is told ----------------------------------------------------------------


def test_the_outcome_reports_what_happened(upstream, proxy):
    node, gate = proxy(
        one_route(upstream), refuse={"/api/no": (401, "missing_key")}, response_headers=[(b"x-gate", b"1")]
    )
    upstream.handler = lambda seen: slow(0.05, lambda s: Reply(body=b"y" * 1234))(seen)
    with RawClient(node.port) as client:
        answer = client.request("POST", "/api/ok", body=b"q" * 77)
        assert answer.headers["x-gate"] == "1"
        refused = client.request("GET", "/api/no")
    ok, no = gate.wait_calls(2)
    assert isinstance(ok.decision, Forward)
    assert (ok.outcome.status, ok.outcome.request_bytes, ok.outcome.response_bytes) == (200, 77, 1234)
    assert ok.outcome.error == "" and ok.outcome.target == upstream.url
    assert 45 < ok.outcome.upstream_latency_ms < 1000
    assert ok.head.started <= ok.outcome.finished
    assert ok.head.has_body and not no.head.has_body
    assert (no.outcome.status, no.outcome.response_bytes, no.outcome.upstream_latency_ms) == (
        401,
        len(refused.body),
        None,
    )
    assert no.outcome.target == ""


def test_a_client_gone_mid_call_is_recorded_once_as_client_closed(upstream, proxy):
    node, gate = proxy(one_route(upstream), read_timeout=5.0)
    upstream.handler = slow(0.5)
    client = RawClient(node.port)
    client.send(b"GET /api/slow HTTP/1.1\r\nHost: a\r\n\r\n")
    upstream.wait_requests(1)
    client.close()
    call = gate.wait_calls(1)[0]
    assert (call.outcome.status, call.outcome.error) == (0, "client_closed")
    # Mid-answer: the status went out, then the client left.
    upstream.handler = sse(["a", "b", "c", "d"], interval=0.2)
    client = RawClient(node.port)
    client.send(b"GET /api/stream HTTP/1.1\r\nHost: a\r\n\r\n")
    client._read_until(b"data: a")
    client.close()
    call = gate.wait_calls(2)[1]
    assert (call.outcome.status, call.outcome.error) == (200, "client_closed")
    time.sleep(0.5)
    assert len(gate.calls) == 2


def test_a_gate_that_decides_later_and_one_that_fails(upstream, proxy):
    node, gate = proxy(one_route(upstream), slow_admit=("/api/later",), admit_delay=0.05)
    with RawClient(node.port) as client:
        assert client.request("GET", "/api/later/x").json()["path"] == "/later/x"

        def broken(head):
            raise RuntimeError("gate bug")

        gate.admit = broken
        answer = client.request("GET", "/api/x")
        assert answer.status == 500 and answer.json()["error"]["code"] == "internal_error"
    assert any(name == "gate_error" for name, _ in node.events)
    assert gate.wait_calls(2)[1].outcome.status == 500


def test_a_close_delimited_answer_through_keep_alive_client(upstream, proxy):
    node, _ = proxy(one_route(upstream))
    upstream.handler = close_delimited([b"part one, ", b"part two"], delay=0.05)
    with RawClient(node.port) as client:
        assert client.request("GET", "/api/x").body == b"part one, part two"
        upstream.handler = chunked([b"a", b"b"])
        assert client.request("GET", "/api/y").body == b"ab"
    assert upstream.connections == 2  # the close-delimited one could not be reused


def test_a_client_that_stops_reading_is_dropped_after_the_send_timeout(upstream, proxy):
    node, gate = proxy(one_route(upstream), limits=HttpLimits(send_timeout=0.3), read_timeout=5.0)
    upstream.handler = big(40 * 1024 * 1024, framing="chunked")
    with RawClient(node.port, rcvbuf=16384) as client:
        client.send(b"GET /api/big HTTP/1.1\r\nHost: a\r\n\r\n")
        time.sleep(1.0)  # reads nothing: the node's buffer and both TCP windows fill up
        call = gate.wait_calls(1, timeout=3)[0]
        assert (call.outcome.status, call.outcome.error) == (200, "client_closed")
        assert call.outcome.response_bytes < 40 * 1024 * 1024
        assert client.closed(timeout=3)
