"""The providers' HTTP client, against real loopback servers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from gateway_node.ai.adapters.base import ProviderCall
from gateway_node.ai.client import (
    Origin,
    ProviderBroken,
    ProviderClient,
    ProviderTimeout,
    ProviderUnreachable,
)
from gateway_node.tests.upstreams import Blackhole, Reply, Upstream, refused_url, self_signed, slow

T = TypeVar("T")


def run(fn: Callable[[ProviderClient], Awaitable[T]], client: ProviderClient | None = None) -> T:
    async def main() -> T:
        own = client or ProviderClient()
        try:
            return await fn(own)
        finally:
            await own.close()

    return asyncio.run(main())


def post(path: str = "/chat/completions", body: bytes = b'{"x": 1}', query: str = "") -> ProviderCall:
    return ProviderCall(
        "POST", path, query, [("authorization", "Bearer sk-1"), ("content-type", "application/json")], body
    )


async def fetch(
    client: ProviderClient, base: str, call: ProviderCall | None = None, **timeouts: Any
) -> tuple[int, bytes]:
    answer = await client.request(
        base, call or post(), connect_timeout=timeouts.get("connect", 1.0), read_timeout=timeouts.get("read", 2.0)
    )
    return answer.status, await answer.read()


def test_the_request_goes_out_under_the_base_urls_path_with_its_headers_and_body():
    with Upstream() as upstream:
        status, _body = run(lambda c: fetch(c, upstream.url + "/v1beta/", post("/models/m:stream", b"{}", "alt=sse")))
        assert status == 200
        seen = upstream.requests[0]
        assert seen.target == "/v1beta/models/m:stream?alt=sse"
        assert seen.headers["host"] == f"127.0.0.1:{upstream.port}"
        assert seen.headers["authorization"] == "Bearer sk-1"
        assert seen.headers["content-length"] == "2"
        assert seen.body == b"{}"


@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
def test_every_body_framing_is_read_whole(framing):
    parts = [b"one ", b"two ", b"three"]
    with Upstream(lambda seen: Reply(body=list(parts), framing=framing, length=13)) as upstream:
        assert run(lambda c: fetch(c, upstream.url)) == (200, b"one two three")


def test_a_streamed_body_comes_piece_by_piece_as_it_arrives():
    with Upstream(lambda seen: Reply(body=[b"a", b"b", b"c"], framing="chunked", chunk_delay=0.2)) as upstream:

        async def stream(client: ProviderClient) -> list[tuple[bytes, float]]:
            answer = await client.request(upstream.url, post(), connect_timeout=1, read_timeout=2)
            started = time.monotonic()
            return [(piece, time.monotonic() - started) async for piece in answer.chunks()]

        pieces = run(stream)
    assert b"".join(p for p, _ in pieces) == b"abc"
    assert pieces[0][1] < 0.15  # the first piece did not wait for the rest


def test_connections_are_kept_alive_and_reused():
    with Upstream() as upstream:
        client = ProviderClient()

        async def three(client: ProviderClient) -> None:
            for _ in range(3):
                assert (await fetch(client, upstream.url))[0] == 200

        run(three, client)
        assert upstream.connections == 1
        assert client.opened == 1


def test_a_pooled_connection_the_provider_closed_is_replaced_transparently():
    with Upstream(close_after=1) as upstream:

        async def two(client: ProviderClient) -> list[int]:
            return [(await fetch(client, upstream.url))[0] for _ in range(2)]

        assert run(two) == [200, 200]
        assert upstream.connections == 2


def test_refused_and_hanging_connects():
    with pytest.raises(ProviderUnreachable, match="cannot connect"):
        run(lambda c: fetch(c, refused_url()))
    with Blackhole() as hole:
        started = time.monotonic()
        with pytest.raises(ProviderTimeout):
            run(lambda c: fetch(c, hole.url, connect=0.3))
        assert time.monotonic() - started < 2


def test_read_timeouts_to_the_first_byte_and_between_pieces():
    with Upstream(slow(1.0)) as upstream, pytest.raises(ProviderTimeout, match="no answer"):
        run(lambda c: fetch(c, upstream.url, read=0.3))
    stall = Reply(body=[b"first", b"late"], framing="chunked", chunk_delay=1.0)
    with Upstream(lambda seen: stall) as upstream, pytest.raises(ProviderTimeout, match="no data"):
        run(lambda c: fetch(c, upstream.url, read=0.3))


def test_an_answer_cut_short_is_broken():
    cut = Reply(raw=b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")
    with Upstream(lambda seen: cut) as upstream, pytest.raises(ProviderBroken, match="before the end"):
        run(lambda c: fetch(c, upstream.url))
    with Upstream(lambda seen: Reply(raw=b"garbage\r\n\r\n")) as upstream, pytest.raises(ProviderBroken):
        run(lambda c: fetch(c, upstream.url))


def test_retry_after_is_passed_up():
    with Upstream(lambda seen: Reply(429, b"{}", [("Retry-After", "12")])) as upstream:

        async def once(client: ProviderClient) -> float | None:
            answer = await client.request(upstream.url, post(), connect_timeout=1, read_timeout=1)
            await answer.read()
            return answer.retry_after

        assert run(once) == 12


def test_https_checks_the_certificate(tmp_path):
    server_ctx, client_ctx = self_signed(str(tmp_path))
    with Upstream(tls=server_ctx) as upstream:
        assert upstream.url.startswith("https://")
        with pytest.raises(ProviderUnreachable):  # the system CAs do not know this certificate
            run(lambda c: fetch(c, upstream.url))
        assert run(lambda c: fetch(c, upstream.url), ProviderClient(ssl_context=client_ctx))[0] == 200
        # The host name is checked too: the certificate is for 127.0.0.1 / localhost only.
        assert Origin.parse(upstream.url).authority == f"127.0.0.1:{upstream.port}"


def test_a_bad_base_url_is_refused():
    with pytest.raises(ValueError, match="http"):
        Origin.parse("ftp://example.com/v1")
