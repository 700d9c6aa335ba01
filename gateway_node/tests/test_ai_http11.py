"""The HTTP layer's Handle path: the node answers a request itself (AI routes use it).

A tiny gate hands out Handles whose ``run`` is chosen by path; real sockets throughout."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from gateway_node.contracts import Handle, Outcome, Refuse, RequestHead, Responder, error_body
from gateway_node.http11 import HttpLimits
from gateway_node.tests.upstreams import NodeThread, RawClient, wait_for


@dataclass
class Call:
    head: RequestHead
    decision: Handle | Refuse
    outcome: Outcome


class HandleGate:
    """Every path under /h/<name> is answered by the handler ``name`` below."""

    def __init__(self, max_body: int = 1024) -> None:
        self.max_body = max_body
        self.calls: list[Call] = []
        self.seen_bodies: list[bytes] = []
        self.events: dict[str, threading.Event] = {}
        self.notes: dict[str, object] = {}

    def admit(self, head: RequestHead) -> Handle | Refuse:
        name = head.path.rsplit("/", 1)[-1]
        run = getattr(self, f"run_{name}", None)
        if run is None:
            return Refuse(404, error_body("unknown_route", "No."), "unknown_route")
        return Handle(run=run, max_body=self.max_body, response_headers=[(b"x-extra", b"1")], context=name)

    def finish(self, head: RequestHead, decision: Handle | Refuse, outcome: Outcome) -> None:
        self.calls.append(Call(head, decision, outcome))

    def wait_calls(self, count: int, timeout: float = 5.0) -> list[Call]:
        wait_for(lambda: len(self.calls) >= count, timeout, what=f"{count} finished calls")
        return self.calls

    # -- handlers

    async def run_echo(self, head: RequestHead, body: bytes, responder: Responder) -> None:
        self.seen_bodies.append(body)
        answer = b"you sent " + body
        responder.start(200, [(b"content-type", b"text/plain")], len(answer))
        await responder.send(answer)
        responder.end()

    async def run_chunks(self, head: RequestHead, body: bytes, responder: Responder) -> None:
        responder.start(200, [(b"content-type", b"text/event-stream")])
        for i in range(3):
            await responder.send(b"data: %d\n\n" % i)
            await asyncio.sleep(0.01)
        responder.error = "noted"
        responder.end()

    async def run_forever(self, head: RequestHead, body: bytes, responder: Responder) -> None:
        """Streams until the client goes away; notes how it learnt it."""
        responder.start(200, [(b"content-type", b"text/event-stream")])
        sent = 0
        try:
            while True:
                await responder.send(b"data: tick\n\n")
                sent += 1
                await asyncio.sleep(0.01)
        except ConnectionError:
            self.notes["forever"] = ("connection_error", sent, responder.closed)
        except asyncio.CancelledError:
            self.notes["forever"] = ("cancelled", sent, responder.closed)
            raise

    async def run_flood(self, head: RequestHead, body: bytes, responder: Responder) -> None:
        """Writes 64 KiB pieces as fast as send() lets it: send must wait for a slow client."""
        responder.start(200, [(b"content-type", b"application/octet-stream")])
        piece = b"x" * 65536
        self.notes["flood"] = 0
        try:
            for _ in range(2000):  # 128 MiB if nothing held it back
                await responder.send(piece)
                self.notes["flood"] = int(self.notes["flood"]) + len(piece)  # type: ignore[call-overload]
        finally:
            responder.end()

    async def run_boom(self, head: RequestHead, body: bytes, responder: Responder) -> None:
        raise RuntimeError("a handler bug")

    async def run_halfway(self, head: RequestHead, body: bytes, responder: Responder) -> None:
        responder.start(200, [(b"content-type", b"text/plain")])
        await responder.send(b"half")
        raise RuntimeError("broke after the head")


@pytest.fixture(name="node")
def node_fixture() -> Iterator[tuple[NodeThread, HandleGate]]:
    gate = HandleGate()
    node = NodeThread(gate, limits=HttpLimits(send_timeout=3.0)).start()
    yield node, gate
    node.stop()


def test_the_handler_gets_the_whole_body_and_answers_with_a_length(node):
    node, gate = node
    with RawClient(node.port) as client:
        answer = client.request("POST", "/h/echo", body=b"hello world")
        assert answer.status == 200
        assert answer.body == b"you sent hello world"
        assert answer.headers["content-length"] == "20"
        assert answer.headers["x-extra"] == "1"
        assert answer.headers["x-request-id"]
    call = gate.wait_calls(1)[0]
    assert call.outcome.status == 200
    assert call.outcome.request_bytes == 11
    assert call.outcome.response_bytes == 20
    assert call.outcome.error == ""


def test_a_chunked_request_body_arrives_whole(node):
    node, _gate = node
    with RawClient(node.port) as client:
        client.send(
            b"POST /h/echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        )
        answer = client.read_response()
    assert answer.body == b"you sent hello world"


def test_a_streamed_answer_is_chunked_and_the_handlers_error_is_recorded(node):
    node, gate = node
    with RawClient(node.port) as client:
        answer = client.request("GET", "/h/chunks")
    assert answer.chunked
    assert answer.body == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
    call = gate.wait_calls(1)[0]
    assert call.outcome.error == "noted"
    assert call.outcome.response_bytes == len(answer.body)


def test_keep_alive_and_pipelining_go_on_after_a_handled_exchange(node):
    node, gate = node
    with RawClient(node.port) as client:
        client.send(
            b"POST /h/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nA"
            b"GET /h/chunks HTTP/1.1\r\nHost: a\r\n\r\n"
            b"POST /h/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nB"
            b"GET /h/nothing HTTP/1.1\r\nHost: a\r\n\r\n"
        )
        first, second, third, fourth = (client.read_response() for _ in range(4))
        assert (first.body, third.body) == (b"you sent A", b"you sent B")
        assert second.body.count(b"data:") == 3
        assert fourth.status == 404
        again = client.request("POST", "/h/echo", body=b"C")  # the same connection still works
        assert again.body == b"you sent C"
    assert [c.outcome.status for c in gate.wait_calls(5)] == [200, 200, 200, 404, 200]


def test_a_body_over_the_handles_limit_is_refused_413(node):
    node, gate = node
    with RawClient(node.port) as client:
        answer = client.request("POST", "/h/echo", body=b"x" * 2000)  # Content-Length says so: at once
        assert answer.status == 413
    with RawClient(node.port) as client:  # chunked: found while reading
        client.send(b"POST /h/echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(3):
            client.send(b"200\r\n" + b"y" * 512 + b"\r\n")
        answer = client.read_response()
        assert answer.status == 413
        assert answer.json()["error"]["code"] == "body_too_large"
    assert gate.seen_bodies == []
    assert [c.outcome.status for c in gate.wait_calls(2)] == [413, 413]


def test_a_client_going_away_mid_stream_stops_the_handler_and_is_recorded(node):
    node, gate = node
    client = RawClient(node.port)
    client.send(b"GET /h/forever HTTP/1.1\r\nHost: a\r\n\r\n")
    client._read_until(b"data: tick")
    client.close()
    call = gate.wait_calls(1)[0]
    assert call.outcome.error == "client_closed"
    assert call.outcome.status == 200
    wait_for(lambda: "forever" in gate.notes, 3)
    _how, sent, closed = gate.notes["forever"]  # type: ignore[misc]
    assert closed is True
    assert sent >= 1


def test_send_waits_for_a_slow_client_instead_of_buffering(node):
    node, gate = node
    with RawClient(node.port, timeout=10, rcvbuf=16384) as client:
        client.send(b"GET /h/flood HTTP/1.1\r\nHost: a\r\n\r\n")
        client._read_until(b"\r\n\r\n")
        # The client reads nothing: the handler must be held back, not buffered for.
        written, deadline = -1, time.monotonic() + 10
        while time.monotonic() < deadline:
            before = int(gate.notes["flood"])  # type: ignore[call-overload]
            time.sleep(0.3)
            if int(gate.notes["flood"]) == before:  # type: ignore[call-overload]
                written = before
                break
        assert 0 <= written < 16 * 1024 * 1024, f"{written} bytes written to a client that reads nothing"
        # Reading lets it go on.
        got = 0
        while got < 8 * 1024 * 1024:
            got += len(client.recv_some(1 << 20))
        assert int(gate.notes["flood"]) > written  # type: ignore[call-overload]


def test_a_failing_handler_answers_500_before_its_head_and_cuts_the_answer_after(node):
    node, gate = node
    with RawClient(node.port) as client:
        answer = client.request("GET", "/h/boom")
        assert answer.status == 500
        assert answer.json()["error"]["code"] == "internal_error"
    with RawClient(node.port) as client:
        client.send(b"GET /h/halfway HTTP/1.1\r\nHost: a\r\n\r\n")
        head = client._read_until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        assert client.closed()  # no chunk terminator: the client sees the answer was cut
    calls = gate.wait_calls(2)
    assert [c.outcome.error for c in calls] == ["internal_error", "internal_error"]
    assert any(name == "handler_error" for name, _ in node.events)


def test_an_http10_client_gets_a_close_delimited_stream(node):
    node, _gate = node
    with socket.create_connection(("127.0.0.1", node.port), timeout=5) as sock:
        sock.sendall(b"GET /h/chunks HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"transfer-encoding" not in head.lower()
    assert b"connection: close" in head.lower()
    assert body == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
