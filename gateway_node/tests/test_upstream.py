"""The upstream side: keep-alive pool, stale connections, timeouts, retries, broken upstreams.

Real upstreams on loopback (``upstreams.Upstream``), addresses that refuse or hang, and the
node in a thread with the tiny gate of test_http11; the client is a raw socket.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from gateway_node.balancer import UpstreamRegistry
from gateway_node.http11 import HttpLimits
from gateway_node.tests.test_http11 import one_route, proxy_fixture, upstream_fixture  # noqa: F401 - fixtures
from gateway_node.tests.upstreams import (
    Blackhole,
    RawClient,
    Reply,
    Upstream,
    refused_url,
    self_signed,
    slow,
    sse,
)
from gateway_node.upstream import PoolSettings


def pooled(node, target_url: str) -> int:
    """Idle connections the node holds to ``target_url``."""
    return node.run(lambda: len(node.registry.target(target_url).pool.idle))


# --- The keep-alive pool ---------------------------------------------------------------------------


def test_sequential_calls_share_one_upstream_connection(upstream, proxy):
    node, _ = proxy(one_route(upstream))
    with RawClient(node.port) as first, RawClient(node.port) as second:
        for _ in range(5):
            assert first.request("GET", "/api/a").status == 200
            assert second.request("POST", "/api/b", body=b"x").status == 200
    assert upstream.connections == 1
    assert {seen.connection for seen in upstream.requests} == {1}
    assert pooled(node, upstream.url) == 1


def test_concurrent_calls_open_more_connections_and_the_pool_keeps_max_idle(proxy):
    with Upstream(slow(0.2)) as upstream:
        registry = UpstreamRegistry(pool=PoolSettings(max_idle=2))
        node, _ = proxy(one_route(upstream), registry=registry)
        clients = [RawClient(node.port) for _ in range(4)]
        for client in clients:
            client.send(b"GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n")
        assert {client.read_response().status for client in clients} == {200}
        for client in clients:
            client.close()
        assert upstream.connections == 4
        assert pooled(node, upstream.url) == 2  # two kept idle, two closed


def test_idle_upstream_connections_are_closed_after_the_idle_timeout(upstream, proxy):
    registry = UpstreamRegistry(pool=PoolSettings(idle_timeout=0.3))
    node, _ = proxy(one_route(upstream), registry=registry)
    with RawClient(node.port) as client:
        assert client.request("GET", "/api/a").status == 200
        assert pooled(node, upstream.url) == 1
        time.sleep(0.6)
        assert pooled(node, upstream.url) == 0
        assert client.request("GET", "/api/b").status == 200
    assert upstream.connections == 2


def test_an_upstream_closing_an_idle_connection_is_noticed_before_reuse(upstream, proxy):
    node, _ = proxy(one_route(upstream))
    with RawClient(node.port) as client:
        assert client.request("POST", "/api/a", body=b"1").status == 200
        upstream.drop_connections()  # the upstream restarts: FIN on the idle connection
        time.sleep(0.1)
        assert pooled(node, upstream.url) == 0
        assert client.request("POST", "/api/b", body=b"2").status == 200  # on a new connection
    assert [seen.body for seen in upstream.requests] == [b"1", b"2"]


# --- The keep-alive race -----------------------------------------------------------------------


def test_a_stale_connection_is_retried_fresh_for_an_idempotent_request(proxy):
    # The upstream answers one request per connection, then drops the next one unanswered:
    # from the node's side exactly an upstream that closed the idle connection as the request
    # went out.
    with Upstream(close_after=1) as upstream:
        node, gate = proxy(one_route(upstream))
        with RawClient(node.port) as client:
            assert client.request("GET", "/api/one").status == 200
            answer = client.request("PUT", "/api/two", body=b"same again")
            assert answer.status == 200 and answer.json()["body"] == "same again"
        seen = [(s.method, s.target, s.answered, s.connection) for s in upstream.requests]
        assert seen == [
            ("GET", "/one", True, 1),
            ("PUT", "/two", False, 1),  # lost with the stale connection
            ("PUT", "/two", True, 2),  # resent on a fresh one
        ]
        assert gate.wait_calls(2)[1].outcome.error == ""


def test_a_post_on_a_stale_connection_gets_502_never_a_second_send(proxy):
    with Upstream(close_after=1) as upstream:
        node, gate = proxy(one_route(upstream))
        with RawClient(node.port) as client:
            assert client.request("GET", "/api/one").status == 200
            answer = client.request("POST", "/api/order", body=b"buy one")
            assert answer.status == 502 and answer.json()["error"]["code"] == "upstream_error"
            assert answer.headers["x-request-id"]
        time.sleep(0.1)
        posts = [s for s in upstream.requests if s.method == "POST"]
        assert len(posts) == 1 and not posts[0].answered
        assert gate.wait_calls(2)[1].outcome.error == "upstream_error"


def test_an_idempotent_request_with_a_large_body_is_not_resent(proxy):
    with Upstream(close_after=1) as upstream:
        node, _ = proxy(one_route(upstream), limits=HttpLimits(replay_body_bytes=1000))
        with RawClient(node.port) as client:
            assert client.request("GET", "/api/one").status == 200
            assert client.request("PUT", "/api/big", body=b"b" * 5000).status == 502
        assert [s.answered for s in upstream.requests if s.method == "PUT"] == [False]


# --- Connect failures -------------------------------------------------------------------------------


def test_a_refused_connect_is_502_and_a_hanging_one_504(proxy):
    with Blackhole() as hole:
        node, gate = proxy({"/refused": [(refused_url(), 1)], "/hanging": [(hole.url, 1)]}, connect_timeout=0.3)
        with RawClient(node.port) as client:
            refused = client.request("GET", "/refused/x")
            started = time.monotonic()
            hanging = client.request("GET", "/hanging/x")
            waited = time.monotonic() - started
    assert (refused.status, refused.json()["error"]["code"]) == (502, "upstream_error")
    assert (hanging.status, hanging.json()["error"]["code"]) == (504, "upstream_timeout")
    assert 0.25 < waited < 1.5
    assert [c.outcome.error for c in gate.wait_calls(2)] == ["upstream_error", "upstream_timeout"]
    assert all(c.outcome.upstream_latency_ms is None for c in gate.calls)


def test_a_connect_failure_moves_on_to_the_next_target_for_any_method(upstream, proxy):
    with Blackhole() as hole:
        targets = [(refused_url(), 1), (hole.url, 1), (upstream.url, 1)]
        node, gate = proxy({"/api": targets}, connect_timeout=0.2)
        with RawClient(node.port) as client:
            for _ in range(3):
                answer = client.request("POST", "/api/order", body=b"once")
                assert answer.status == 200, answer.body
    assert [s.body for s in upstream.requests] == [b"once"] * 3
    assert {c.outcome.target for c in gate.wait_calls(3)} == {upstream.url}


def test_tries_are_bounded(proxy):
    urls = [refused_url() for _ in range(5)]
    node, _gate = proxy({"/api": [(url, 1) for url in urls]}, limits=HttpLimits(max_tries=3))
    with RawClient(node.port) as client:
        assert client.request("GET", "/api/x").status == 502
    tried = node.run(lambda: [node.registry.target(url).failures for url in urls])
    assert sum(tried) == 3


# --- Read timeouts and failures mid-call -----------------------------------------------------------


def test_no_answer_in_time_is_504_and_an_idempotent_call_tries_the_next_target(proxy):
    with Upstream(slow(1.0)) as sleepy, Upstream() as quick:
        node, gate = proxy({"/api": [(sleepy.url, 1), (quick.url, 1)]}, read_timeout=0.3)
        with RawClient(node.port) as client:
            answers = [client.request("GET", "/api/x") for _ in range(2)]
            assert [a.status for a in answers] == [200, 200]  # one of them tried sleepy first
            post = client.request("POST", "/api/x", body=b"p")
            post2 = client.request("POST", "/api/x", body=b"p")
        statuses = sorted([post.status, post2.status])
        assert statuses == [200, 504]  # POST: whichever went to sleepy is not resent
        assert len([s for s in sleepy.requests if s.method == "POST"]) == 1
        assert len([s for s in quick.requests if s.method == "POST"]) == 1
        timed_out = next(c for c in gate.wait_calls(4) if c.outcome.status == 504)
        assert timed_out.outcome.error == "upstream_timeout"


def test_a_stall_in_the_middle_of_an_answer_cuts_the_client_off(proxy):
    def stalls(seen):
        async def parts():
            yield b"first part "
            await __import__("asyncio").sleep(2)
            yield b"too late"

        return Reply(body=parts(), framing="length", length=19)

    with Upstream(stalls) as upstream:
        node, gate = proxy(one_route(upstream), read_timeout=0.3)
        with RawClient(node.port) as client:
            client.send(b"GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n")
            client._read_until(b"\r\n\r\n")
            assert client._read_exactly(11) == b"first part "
            assert client.closed(timeout=2)  # cut off, not a complete-looking answer
        call = gate.wait_calls(1)[0]
        assert (call.outcome.status, call.outcome.error, call.outcome.response_bytes) == (200, "upstream_timeout", 11)


def test_a_reset_in_the_middle_of_an_answer_cuts_the_client_off(proxy):
    def resets(seen):
        return Reply(raw=b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly forty bytes of a hundred, then gone")

    with Upstream(resets) as upstream:
        node, gate = proxy(one_route(upstream))
        with RawClient(node.port) as client:
            client.send(b"GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n")
            assert client._read_until(b"\r\n\r\n").startswith(b"HTTP/1.1 200")
            assert client.closed()
        assert gate.wait_calls(1)[0].outcome.error == "upstream_error"


def test_a_reset_before_any_answer_is_502(proxy):
    with Upstream(lambda seen: Reply(reset=True)) as upstream:
        node, _ = proxy(one_route(upstream))
        with RawClient(node.port) as client:
            answer = client.request("POST", "/api/x", body=b"z")
        assert answer.status == 502 and answer.json()["error"]["code"] == "upstream_error"
        assert len(upstream.requests) == 1


BROKEN = {
    "not HTTP": b"SSH-2.0-OpenSSH_9.0\r\n\r\n",
    "content-length and chunked": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    ),
    "two content-lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
    "a transfer coding it cannot relay": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
    "an unasked-for upgrade": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
    "a bad chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n",
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_a_broken_answer_is_502_not_relayed(name, proxy):
    with Upstream(lambda seen: Reply(raw=BROKEN[name])) as upstream:
        node, gate = proxy(one_route(upstream))
        with RawClient(node.port) as client:
            answer = client.request("POST", "/api/x", body=b"z")
        assert answer.status == 502
        assert answer.json()["error"]["code"] == "upstream_error"
        assert gate.wait_calls(1)[0].outcome.error == "upstream_error"


def test_interim_answers_are_skipped(proxy):
    raw = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    with Upstream(lambda seen: Reply(raw=raw)) as upstream:
        node, _ = proxy(one_route(upstream))
        with RawClient(node.port) as client:
            answer = client.request("GET", "/api/x")
        assert (answer.status, answer.body) == (200, b"ok")
        assert "link" not in answer.headers


def test_an_early_answer_to_a_streaming_upload_is_relayed_and_the_connection_closed(proxy):
    """An upstream that refuses an upload before reading it (413 from the upstream itself)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"

    def refuse_early() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope")
            time.sleep(0.3)

    thread = threading.Thread(target=refuse_early, daemon=True)
    thread.start()
    node, gate = proxy({"/api": [(url, 1)]})
    with RawClient(node.port) as client:
        client.send(b"PUT /api/up HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n" + b"a" * 1000)
        answer = client.read_response()
        assert (answer.status, answer.body, answer.headers["connection"]) == (413, b"nope", "close")
        assert client.closed()
    thread.join(2)
    listener.close()
    assert gate.wait_calls(1)[0].outcome.status == 413


def test_reading_from_the_upstream_pauses_while_the_client_reads_nothing(proxy):
    """The upstream is held back while the client reads nothing, and the read timeout does
    not blame it for the silence that follows."""
    events = 800  # 40 MB in 50 kB events: well over what the kernel's socket buffers hold
    with Upstream(sse([str(i % 10) * 50_000 for i in range(events)], interval=0.0)) as upstream:
        node, gate = proxy(one_route(upstream), read_timeout=0.3)
        with RawClient(node.port, timeout=5, rcvbuf=8192) as client:
            client.send(b"GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n")
            client._read_until(b"\r\n\r\n")
            time.sleep(0.8)  # well past the read timeout, while the node cannot write
            assert upstream.bytes_sent < 30_000_000
            body = bytearray()
            while not body.endswith(b"0\r\n\r\n"):
                body += client.recv_some()
        assert body.count(b"data: ") == events
        assert gate.wait_calls(1)[0].outcome.error == ""


# --- https targets and shutdown ------------------------------------------------------------------


def test_an_https_target_is_reached_over_verified_tls(proxy, tmp_path):
    server_tls, client_tls = self_signed(str(tmp_path))
    with Upstream(tls=server_tls) as secure:
        registry = UpstreamRegistry(ssl_context=client_tls)
        node, _ = proxy({"/api": [(secure.url + "/base", 1)]}, registry=registry)
        with RawClient(node.port) as client:
            for _ in range(2):
                answer = client.request("GET", "/api/x?y=1")
                assert answer.status == 200 and answer.json()["path"] == "/base/x?y=1"
        assert secure.connections == 1  # kept alive over TLS too
        assert secure.requests[0].headers["host"] == f"127.0.0.1:{secure.port}"
    # A certificate nobody vouches for is an upstream error, not a silent downgrade.
    with Upstream(tls=server_tls) as untrusted:
        node, _ = proxy({"/api": [(untrusted.url, 1)]})  # default trust store
        with RawClient(node.port) as client:
            assert client.request("GET", "/api/x").status == 502
        assert untrusted.requests == []


def test_shutdown_closes_idle_connections_and_lets_calls_in_flight_finish(upstream):
    from gateway_node.tests.test_http11 import TinyGate
    from gateway_node.tests.upstreams import NodeThread

    registry = UpstreamRegistry()
    upstream.handler = slow(0.3)
    node = NodeThread(TinyGate(registry, one_route(upstream)), registry).start()
    idle = RawClient(node.port)
    busy = RawClient(node.port)
    busy.send(b"GET /api/slow HTTP/1.1\r\nHost: a\r\n\r\n")
    upstream.wait_requests(1)
    stopper = threading.Thread(target=node.stop)
    stopper.start()
    assert idle.closed(timeout=1)
    answer = busy.read_response()
    assert answer.status == 200 and answer.headers["connection"] == "close"
    stopper.join(5)
    idle.close()
    busy.close()
