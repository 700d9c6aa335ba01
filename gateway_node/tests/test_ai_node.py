"""AI routes through the node, end to end on loopback: a real gate compiled from a
hand-written snapshot, the node's HTTP server, the fake provider (all four wire formats) and
hand-made provider answers (tests/upstreams.Upstream) for the failures."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from gateway_node.ai.fake_provider import FakeProvider, demo_answer, demo_embedding_usage, demo_usage
from gateway_node.ai.pricing import cost
from gateway_node.ai.tokens import TokenBudget
from gateway_node.balancer import UpstreamRegistry
from gateway_node.contracts import CallRecord
from gateway_node.gate import Gate
from gateway_node.limits import Limiter
from gateway_node.tests.upstreams import NodeThread, RawClient, Reply, Response, Seen, Upstream, refused_url, wait_for

SECRET = "s3cretS3cretS3cretS3cretS3cret12"
KEY = f"apk_KEYID0000001_{SECRET}"
PROVIDER_SECRETS = {
    1: "sk-test-openai-0001",
    2: "sk-test-anthropic-0002",
    3: "sk-test-gemini-0003",
    4: "sk-test-ollama-0004",
    5: "sk-test-flaky-0005",
    6: "sk-test-refused-0006",
    7: "sk-test-flaky-anthropic-0007",
}
PRICES = [
    {"from": "2026-01-01", "input": "0.15", "output": "0.60", "cached_input": "0.075"},
    {"from": "2020-01-01", "input": "9", "output": "9", "cached_input": None},
]
KINDS = {"openai": 1, "anthropic": 2, "gemini": 3, "ollama": 4}
AI = "/acme-ai/v1"
SUMMARISE = "/acme-summarise/v1"
EXTRACT = "/acme-extract/v1"


def build_snapshot(fake: FakeProvider, upstream: Upstream, limits: dict[str, Any] | None = None) -> dict[str, Any]:
    refused = refused_url()

    def provider(pid: int, slug: str, kind: str, base_url: str) -> dict[str, Any]:
        return {
            "slug": slug,
            "kind": kind,
            "base_url": base_url,
            "connect_timeout_ms": 1000,
            "read_timeout_ms": 3000,
            "credentials": [{"id": pid * 10 + 1, "secret": PROVIDER_SECRETS[pid], "priority": 0, "weight": 1}],
        }

    def model(pid: int, name: str, capability: str = "chat") -> dict[str, Any]:
        return {"provider_id": pid, "model": name, "capability": capability, "context_window": 8000, "prices": PRICES}

    def route(name: str, *targets: tuple[int, int], capability: str = "chat") -> dict[str, Any]:
        return {
            "name": name,
            "capability": capability,
            "targets": [{"model_id": m, "position": p, "weight": 1} for m, p in targets],
        }

    routes = {
        "201": route("acme/openai", (101, 0)),
        "202": route("acme/anthropic", (102, 0)),
        "203": route("acme/gemini", (103, 0)),
        "204": route("acme/ollama", (104, 0)),
        "205": route("acme/after-flaky", (105, 0), (101, 1)),
        "206": route("acme/after-refused", (106, 0), (101, 1)),
        "207": route("acme/flaky-only", (105, 0)),
        "208": route("acme/mid-stream", (107, 0), (102, 1)),
        "210": route("acme/embed", (108, 0), capability="embeddings"),
    }
    sub_limits = {"rate_limit_per_second": None, "rate_limit_per_minute": None, "quota_per_day": None}
    sub_limits.update(limits or {})
    return {
        "version": 1,
        "routes": [
            {
                "api_version_id": 9,
                "api_id": 3,
                "kind": "ai",
                "base_path": AI,
                "upstreams": [],
                "endpoints": [],
                "ai": {"models": {r["name"]: int(rid) for rid, r in routes.items()}},
            },
            {
                "api_version_id": 10,
                "api_id": 4,
                "kind": "prompt",
                "base_path": SUMMARISE,
                "upstreams": [],
                "ai": {
                    "prompt": {
                        "template_id": 3,
                        "version": 2,
                        "hash": "9f2c",
                        "messages": [
                            {"role": "system", "content": "You summarise."},
                            {"role": "user", "content": "Summarise in {{words}} words: {{text}}"},
                        ],
                        "variables": [
                            {"name": "text", "type": "string", "required": True},
                            {"name": "words", "type": "integer", "required": False, "default": 50},
                        ],
                        "route": 201,
                        "params": {"temperature": 0.2, "max_tokens": 300},
                        "response_mode": "text",
                        "response_schema": None,
                    }
                },
            },
            {
                "api_version_id": 11,
                "api_id": 5,
                "kind": "prompt",
                "base_path": EXTRACT,
                "upstreams": [],
                "ai": {
                    "prompt": {
                        "template_id": 4,
                        "version": 1,
                        "hash": "abcd",
                        "messages": [{"role": "user", "content": "Extract: {{text}}"}],
                        "variables": [{"name": "text", "type": "string", "required": True}],
                        "route": 207,
                        "params": {},
                        "response_mode": "json",
                        "response_schema": {
                            "type": "object",
                            "required": ["title"],
                            "properties": {"title": {"type": "string"}},
                        },
                    }
                },
            },
        ],
        "credentials": {
            "KEYID0000001": {
                "key_hash": hashlib.sha256(SECRET.encode()).hexdigest(),
                "application_id": 12,
                "consumer_tenant_id": 2,
                "expires_at": None,
                "revoked": False,
                "subscriptions": [
                    {
                        "subscription_id": sid,
                        "status": "active",
                        "api_id": 3,
                        "api_version_id": vid,
                        "plan_id": 4,
                        "limits": sub_limits,
                    }
                    for sid, vid in ((90, 9), (100, 10), (110, 11))
                ],
            }
        },
        "ai": {
            "providers": {
                "1": provider(1, "openai-fake", "openai", fake.base_url("openai")),
                "2": provider(2, "anthropic-fake", "anthropic", fake.base_url("anthropic")),
                "3": provider(3, "gemini-fake", "gemini", fake.base_url("gemini")),
                "4": provider(4, "ollama-fake", "ollama", fake.base_url("ollama")),
                "5": provider(5, "flaky", "openai", upstream.url + "/v1"),
                "6": provider(6, "gone", "openai", refused + "/v1"),
                "7": provider(7, "flaky-anthropic", "anthropic", upstream.url),
            },
            "models": {
                "101": model(1, "gpt-4o-mini"),
                "102": model(2, "claude-haiku"),
                "103": model(3, "gemini-flash"),
                "104": model(4, "llama3"),
                "105": model(5, "flaky-model"),
                "106": model(6, "gone-model"),
                "107": model(7, "claude-flaky"),
                "108": model(1, "text-embedding-3-small", "embeddings"),
            },
            "routes": routes,
        },
    }


class World:
    def __init__(self, fake: FakeProvider, upstream: Upstream) -> None:
        self.fake = fake
        self.upstream = upstream
        self.records: list[CallRecord] = []
        self.tokens = TokenBudget()
        self.gate = Gate(
            balancers=UpstreamRegistry(), limiter=Limiter(redis_url=None), emit=self.records.append, tokens=self.tokens
        )
        self.gate.apply(build_snapshot(fake, upstream))
        self.node = NodeThread(self.gate).start()
        self.answers: list[Response] = []

    def limits(self, **limits: Any) -> None:
        self.gate.apply({**build_snapshot(self.fake, self.upstream, limits), "version": 2})

    def call(self, method: str, path: str, body: Any = None, key: str | None = KEY, headers=()) -> Response:
        raw = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        sent = [("X-API-Key", key)] if key else []
        sent += [("Content-Type", "application/json"), *headers]
        with RawClient(self.node.port, timeout=10) as client:
            answer = client.request(method, path, sent, raw)
        self.answers.append(answer)
        return answer

    def chat(self, model: str, text: str = "hello there friend", **extra: Any) -> Response:
        return self.call("POST", f"{AI}/chat/completions", chat_request(model, text, **extra))

    def record(self, count: int = 1) -> CallRecord:
        wait_for(lambda: len(self.records) >= count, 5, what=f"{count} call records")
        return self.records[count - 1]


def chat_request(model: str, text: str = "hello there friend", **extra: Any) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}],
        **extra,
    }


def events(body: bytes) -> list[str]:
    """The data of each SSE event of a client-bound stream."""
    out = []
    for block in body.decode().split("\n\n"):
        lines = [line[5:].strip() for line in block.splitlines() if line.startswith("data:")]
        if lines:
            out.append("\n".join(lines))
    return out


def streamed_text(body: bytes) -> str:
    text = ""
    for data in events(body):
        if data == "[DONE]":
            continue
        chunk = json.loads(data)
        for choice in chunk.get("choices") or ():
            text += (choice.get("delta") or {}).get("content") or ""
    return text


def today() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d")


@pytest.fixture(name="world")
def world_fixture() -> Iterator[World]:
    with FakeProvider(keys=set(PROVIDER_SECRETS.values())) as fake, Upstream() as upstream:
        world = World(fake, upstream)
        try:
            yield world
        finally:
            world.node.stop()
            # Never a provider secret in anything the client or the portal sees.
            seen = b"".join(a.head + a.body for a in world.answers)
            seen += b"".join(msgspec.json.encode(r) for r in world.records)
            for secret in PROVIDER_SECRETS.values():
                assert secret.encode() not in seen


# --- answers from each wire format -------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_chat_answer_from_each_wire_format_with_exact_usage_and_cost(world, kind):
    answer = world.chat(f"acme/{kind}")
    assert answer.status == 200, answer.body
    completion = answer.json()
    expected_text, _ = demo_answer(chat_request("x"))
    assert completion["choices"][0]["message"]["content"] == expected_text
    # Translated answers name the public model; OpenAI's own bytes pass through unchanged.
    assert completion["model"] == ("gpt-4o-mini" if kind == "openai" else f"acme/{kind}")
    usage = demo_usage(chat_request("x"))
    assert completion["usage"]["prompt_tokens"] == usage.input_tokens
    assert completion["usage"]["completion_tokens"] == usage.output_tokens

    record = world.record()
    assert record.status == 200
    assert record.endpoint == "POST /chat/completions"
    assert record.api_version_id == 9
    assert (record.ai_route, record.ai_provider) == (f"acme/{kind}", f"{kind}-fake")
    assert record.ai_model == {"openai": "gpt-4o-mini", "anthropic": "claude-haiku"}.get(
        kind, {"gemini": "gemini-flash", "ollama": "llama3"}.get(kind)
    )
    assert record.ai_input_tokens == usage.input_tokens
    assert record.ai_output_tokens == usage.output_tokens
    assert record.ai_cost == f"{cost(usage, PRICES, today()):f}"
    assert record.ai_ttft_ms is not None and 0 < record.ai_ttft_ms <= record.latency_ms
    assert record.error == ""


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_streamed_chat_from_each_wire_format(world, kind):
    answer = world.chat(f"acme/{kind}", "one two three four five", stream=True)
    assert answer.status == 200, answer.body
    assert answer.headers["content-type"] == "text/event-stream"
    assert answer.chunked
    request = chat_request("x", "one two three four five")
    assert streamed_text(answer.body) == demo_answer(request)[0]
    datas = events(answer.body)
    assert datas[-1] == "[DONE]" and datas.count("[DONE]") == 1
    # The client did not ask for usage: no usage-only chunk.
    assert not any(d != "[DONE]" and json.loads(d).get("choices") == [] for d in datas)

    usage = demo_usage(request)
    record = world.record()
    assert (record.ai_input_tokens, record.ai_output_tokens) == (usage.input_tokens, usage.output_tokens)
    assert record.ai_cost == f"{cost(usage, PRICES, today()):f}"
    assert record.ai_ttft_ms is not None
    assert record.response_bytes == len(answer.body)


def test_a_stream_with_usage_asked_ends_with_the_usage_chunk(world):
    answer = world.chat("acme/anthropic", stream=True, stream_options={"include_usage": True})
    datas = [d for d in events(answer.body) if d != "[DONE]"]
    last = json.loads(datas[-1])
    usage = demo_usage(chat_request("x"))
    assert last["choices"] == []
    assert last["usage"]["prompt_tokens"] == usage.input_tokens
    assert last["usage"]["completion_tokens"] == usage.output_tokens


def test_the_provider_gets_its_credential_and_never_the_consumers_key(world):
    world.call(
        "POST",
        f"{AI}/chat/completions",
        chat_request("acme/openai"),
        key=None,
        headers=[("Authorization", f"Bearer {KEY}"), ("X-Consumer-Tenant-Id", "666")],
    )
    assert world.record().status == 200
    seen = world.fake.requests[-1]
    assert seen.header("authorization") == f"Bearer {PROVIDER_SECRETS[1]}"
    everything = json.dumps(seen.as_dict())
    assert SECRET not in everything
    assert "x-consumer" not in everything.lower()
    assert json.loads(seen.body)["model"] == "gpt-4o-mini"

    world.chat("acme/anthropic")
    seen = world.fake.requests[-1]
    assert seen.header("x-api-key") == PROVIDER_SECRETS[2]
    assert SECRET not in json.dumps(seen.as_dict())


def test_models_lists_the_versions_public_names(world):
    answer = world.call("GET", f"{AI}/models")
    assert answer.status == 200
    names = [m["id"] for m in answer.json()["data"]]
    assert names == sorted(names) and "acme/openai" in names and "acme/embed" in names
    assert answer.json()["object"] == "list"
    assert world.record().endpoint == "GET /models"


def test_embeddings_through_the_node(world):
    answer = world.call("POST", f"{AI}/embeddings", {"model": "acme/embed", "input": ["a b c", "d e"]})
    assert answer.status == 200, answer.body
    assert len(answer.json()["data"]) == 2
    record = world.record()
    assert record.ai_input_tokens == demo_embedding_usage(["a b c", "d e"]).input_tokens
    assert record.ai_route == "acme/embed"


# --- bad requests ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "code", "says"),
    [
        (b"{not json", 400, "invalid_json", "not valid JSON"),
        (b"", 400, "invalid_json", "empty"),
        (b"[1, 2]", 400, "invalid_request", "JSON object"),
        ({"model": 5, "messages": [{"role": "user", "content": "x"}]}, 400, "invalid_request", "`model`"),
        ({"model": "acme/openai"}, 400, "invalid_request", "`messages`"),
        ({"model": "acme/openai", "messages": ["hi"]}, 400, "invalid_request", "messages[0]"),
        ({"model": "acme/openai", "messages": [{"role": "user"}], "stream": "yes"}, 400, "invalid_request", "stream"),
        ({"model": "acme/nope", "messages": [{"role": "user", "content": "x"}]}, 404, "unknown_model", "acme/nope"),
        ({"model": "acme/embed", "messages": [{"role": "user", "content": "x"}]}, 400, "invalid_request", "embeddings"),
    ],
)
def test_bad_chat_requests_are_told_what_is_wrong(world, body, status, code, says):
    answer = world.call("POST", f"{AI}/chat/completions", body)
    assert answer.status == status
    error = answer.json()["error"]
    assert error["code"] == code
    assert says in error["message"]
    assert world.record().error == code
    assert world.fake.requests == []


def test_unknown_endpoints_and_methods_of_an_ai_api(world):
    assert world.call("POST", f"{AI}/completions", {}).json()["error"]["code"] == "unknown_endpoint"
    answer = world.call("GET", f"{AI}/chat/completions")
    assert answer.status == 405
    assert answer.headers["allow"] == "POST"
    assert world.call("POST", f"{AI}/chat/completions", key=None).status == 401  # keys as for any API


# --- fallback -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        Reply(429, b'{"error": {"message": "slow down", "type": "rate_limit"}}', [("Retry-After", "3")]),
        Reply(503, b'{"error": {"message": "overloaded"}}'),
    ],
    ids=["429", "503"],
)
@pytest.mark.parametrize("stream", [False, True])
def test_fallback_to_the_next_target_before_the_first_byte(world, reply, stream):
    world.upstream.handler = lambda seen: reply
    answer = world.chat("acme/after-flaky", stream=stream)
    assert answer.status == 200
    text = streamed_text(answer.body) if stream else answer.json()["choices"][0]["message"]["content"]
    assert text == demo_answer(chat_request("x"))[0]
    assert len(world.upstream.requests) == 1
    assert world.upstream.requests[0].headers["authorization"] == f"Bearer {PROVIDER_SECRETS[5]}"
    record = world.record()
    assert (record.ai_provider, record.ai_model) == ("openai-fake", "gpt-4o-mini")


def test_fallback_when_the_provider_refuses_connections(world):
    answer = world.chat("acme/after-refused", stream=True)
    assert answer.status == 200
    assert streamed_text(answer.body) == demo_answer(chat_request("x"))[0]
    assert world.record().ai_provider == "openai-fake"


def test_every_candidate_rate_limited_is_a_429_with_retry_after(world):
    world.upstream.handler = lambda seen: Reply(429, b'{"error": {"message": "no"}}', [("Retry-After", "7")])
    answer = world.chat("acme/flaky-only")
    assert answer.status == 429
    assert answer.json()["error"]["code"] == "provider_rate_limited"
    assert answer.headers["retry-after"] == "7"


def test_every_candidate_failing_is_a_502(world):
    world.upstream.handler = lambda seen: Reply(500, b"oops")
    answer = world.chat("acme/flaky-only", stream=True)
    assert answer.status == 502
    assert answer.json()["error"]["code"] == "upstream_unavailable"
    assert world.record().error == "upstream_unavailable"


def test_a_provider_refusing_the_credential_says_nothing_of_it(world):
    world.upstream.handler = lambda seen: Reply(
        401, json.dumps({"error": {"message": f"Incorrect API key provided: {PROVIDER_SECRETS[5]}"}}).encode()
    )
    answer = world.chat("acme/after-flaky")
    assert answer.status == 200  # the next target answered
    answer = world.chat("acme/flaky-only")
    assert answer.status == 502
    assert PROVIDER_SECRETS[5] not in answer.body.decode()


def anthropic_events_then_drop(seen: Seen) -> Reply:
    async def body():
        yield (
            b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message",'
            b'"role":"assistant","model":"claude-flaky","content":[],"usage":{"input_tokens":7,"output_tokens":1}}}\n\n'
        )
        yield (
            b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
            b'"content_block":{"type":"text","text":""}}\n\n'
        )
        yield (
            b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
            b'"delta":{"type":"text_delta","text":"Hello half"}}\n\n'
        )
        raise ConnectionError("the provider drops the connection")

    return Reply(body=body(), framing="chunked", headers=[("Content-Type", "text/event-stream")])


def test_no_fallback_after_the_first_byte_an_error_event_ends_the_stream(world):
    world.upstream.handler = anthropic_events_then_drop
    answer = world.chat("acme/mid-stream", stream=True)
    assert answer.status == 200
    datas = events(answer.body)
    assert streamed_text(answer.body) == "Hello half"
    assert "[DONE]" not in datas
    assert json.loads(datas[-1])["error"]["code"] == "upstream_error"
    assert world.fake.requests == []  # the second target was never asked
    record = world.record()
    assert record.error == "upstream_error"
    assert (record.ai_provider, record.ai_input_tokens, record.ai_output_tokens) == ("flaky-anthropic", 7, 1)


# --- the client going away, back-pressure ---------------------------------------------------------


def test_a_client_leaving_mid_stream_is_recorded_with_what_was_counted(world):
    world.upstream.handler = lambda seen: Reply(
        body=[
            b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","type":"message","role":'
            b'"assistant","model":"c","content":[],"usage":{"input_tokens":5,"output_tokens":1}}}\n\n',
            b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
            b'"delta":{"type":"text_delta","text":"word "}}\n\n',
        ]
        * 1
        + [
            b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
            b'"delta":{"type":"text_delta","text":"more "}}\n\n'
        ]
        * 200,
        framing="chunked",
        chunk_delay=0.02,
        headers=[("Content-Type", "text/event-stream")],
    )
    client = RawClient(world.node.port, timeout=10)
    body = json.dumps(chat_request("acme/mid-stream", stream=True)).encode()
    client.send(
        f"POST {AI}/chat/completions HTTP/1.1\r\nHost: t\r\nX-API-Key: {KEY}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    client._read_until(b"word")
    client.close()
    record = world.record()
    assert record.error == "client_closed"
    assert (record.ai_route, record.ai_input_tokens, record.ai_output_tokens) == ("acme/mid-stream", 5, 1)
    assert world.tokens.counted(90, "td") == 6  # charged with what was counted
    # The node stopped reading the provider: its stream is not played to the end.
    time.sleep(0.3)
    assert world.upstream.bytes_sent < 200 * 100


def test_a_slow_client_does_not_make_the_node_buffer_a_long_stream(world):
    piece = (
        b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,'
        b'"delta":{"content":"' + b"x" * 2000 + b'"},"finish_reason":null}]}\n\n'
    )

    def long_stream(seen: Seen) -> Reply:
        return Reply(
            body=(piece for _ in range(20_000)), framing="chunked", headers=[("Content-Type", "text/event-stream")]
        )

    world.upstream.handler = long_stream  # ~40 MB of events
    body = json.dumps(chat_request("acme/flaky-only", stream=True)).encode()
    with RawClient(world.node.port, timeout=10, rcvbuf=16384) as client:
        client.send(
            f"POST {AI}/chat/completions HTTP/1.1\r\nHost: t\r\nX-API-Key: {KEY}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        client._read_until(b"\r\n\r\n")
        # The client reads nothing: the provider's sending must come to a halt (the kernel's
        # socket buffers hold a few MB; nothing in the node may keep taking).
        stalled, deadline = -1, time.monotonic() + 10
        while time.monotonic() < deadline:
            before = world.upstream.bytes_sent
            time.sleep(0.4)
            if world.upstream.bytes_sent == before:
                stalled = before
                break
        assert stalled >= 0, "the provider never stopped sending to a client reading nothing"
        assert stalled < 16 * 1024 * 1024, f"the provider sent {stalled} bytes to a client reading nothing"
        got = 0
        while world.upstream.bytes_sent <= stalled and got < 40 * 1024 * 1024:  # reading lets it go on
            got += len(client.recv_some(1 << 20))
        assert world.upstream.bytes_sent > stalled


# --- token limits and cost budgets ----------------------------------------------------------------


def test_a_token_limit_is_charged_after_the_answer_and_enforced_on_the_next_call(world):
    world.limits(token_limit_per_minute=8)
    usage = demo_usage(chat_request("x"))
    assert usage.total > 8
    first = world.chat("acme/openai")
    assert first.status == 200  # the call that crosses the limit completes
    assert world.tokens.counted(90, "tm") == usage.total
    second = world.chat("acme/openai")
    assert second.status == 429
    error = second.json()["error"]
    assert error["code"] == "token_limit_exceeded"
    assert "8 tokens per minute" in error["message"]
    assert 1 <= int(second.headers["retry-after"]) <= 60
    assert world.record(2).error == "token_limit_exceeded"
    assert len(world.fake.requests) == 1
    # Other subscriptions are not affected; the model list costs no tokens.
    assert world.call("GET", f"{AI}/models").status == 200


def test_a_cost_budget_refuses_once_spent(world):
    world.limits(cost_budget_per_day=0.000001)
    assert world.chat("acme/openai").status == 200
    refused = world.chat("acme/openai")
    assert refused.status == 429
    assert refused.json()["error"]["code"] == "cost_budget_exceeded"
    assert "USD per day" in refused.json()["error"]["message"]


def test_a_daily_token_quota(world):
    world.limits(token_quota_per_day=1)
    assert world.chat("acme/gemini", stream=True).status == 200
    refused = world.chat("acme/gemini", stream=True)
    assert refused.json()["error"]["code"] == "token_quota_exceeded"


# --- prompt APIs ----------------------------------------------------------------------------------


def test_a_prompt_runs_with_defaults_and_answers_text(world):
    answer = world.call("POST", f"{SUMMARISE}/run", {"variables": {"text": "the cat sat"}})
    assert answer.status == 200, answer.body
    out = answer.json()
    assert out["output"] == "You said: Summarise in 50 words: the cat sat"
    assert out["model"] == "acme/openai"
    sent = world.fake.requests[-1].json()
    assert sent["temperature"] == 0.2 and sent["max_tokens"] == 300
    assert sent["messages"][0] == {"role": "system", "content": "You summarise."}
    assert out["usage"]["prompt_tokens"] == demo_usage(sent).input_tokens
    record = world.record()
    assert record.endpoint == "POST /run"
    assert record.ai_route == "acme/openai"


def test_a_value_holding_a_placeholder_is_not_expanded(world):
    answer = world.call("POST", f"{SUMMARISE}/run", {"variables": {"text": "{{words}} and {{text}}", "words": 7}})
    assert answer.status == 200
    sent = world.fake.requests[-1].json()
    assert sent["messages"][1]["content"] == "Summarise in 7 words: {{words}} and {{text}}"


def test_every_variable_problem_is_listed_in_one_400(world):
    answer = world.call("POST", f"{SUMMARISE}/run", {"variables": {"words": "many", "colour": "red"}})
    assert answer.status == 400
    error = answer.json()["error"]
    assert error["code"] == "invalid_variables"
    problems = {(d["variable"], d["message"].split(",")[0]) for d in error["details"]}
    assert {name for name, _ in problems} == {"text", "words", "colour"}
    assert world.fake.requests == []


def test_a_streamed_prompt_answers_openai_chunks(world):
    answer = world.call("POST", f"{SUMMARISE}/run", {"variables": {"text": "a b"}, "stream": True})
    assert answer.status == 200
    assert streamed_text(answer.body) == "You said: Summarise in 50 words: a b"


def completion(content: str) -> Reply:
    return Reply(
        200,
        json.dumps(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 1,
                "model": "flaky-model",
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
            }
        ).encode(),
        [("Content-Type", "application/json")],
    )


def test_a_json_prompt_validates_the_models_answer(world):
    world.upstream.handler = lambda seen: completion('```json\n{"title": "A title"}\n```')
    answer = world.call("POST", f"{EXTRACT}/run", {"variables": {"text": "x"}})
    assert answer.status == 200, answer.body
    assert answer.json()["output"] == {"title": "A title"}
    assert answer.json()["usage"]["total_tokens"] == 7

    world.upstream.handler = lambda seen: completion('{"title": 5}')
    answer = world.call("POST", f"{EXTRACT}/run", {"variables": {"text": "x"}})
    assert answer.status == 502
    assert answer.json()["error"]["code"] == "invalid_model_output"
    assert "title" in answer.json()["error"]["message"]

    world.upstream.handler = lambda seen: completion("Sure! Here it is: title")
    answer = world.call("POST", f"{EXTRACT}/run", {"variables": {"text": "x"}})
    assert answer.status == 502
    record = world.record(3)
    assert record.error == "invalid_model_output"
    assert record.ai_input_tokens == 3  # the tokens were spent all the same

    answer = world.call("POST", f"{EXTRACT}/run", {"variables": {"text": "x"}, "stream": True})
    assert answer.status == 400
    assert "stream" in answer.json()["error"]["message"]


def test_records_carry_a_cost_only_when_a_price_applies(world):
    snapshot = build_snapshot(world.fake, world.upstream)
    snapshot["version"] = 3
    snapshot["ai"]["models"]["101"]["prices"] = [{"from": "2999-01-01", "input": "1", "output": "1"}]
    world.gate.apply(snapshot)
    assert world.chat("acme/openai").status == 200
    record = world.record()
    assert record.ai_cost is None
    assert record.ai_input_tokens is not None
    assert "ai_cost" not in msgspec.json.decode(msgspec.json.encode(record))


def test_an_ai_call_counts_one_call_of_the_plans_quota_and_a_wrong_path_none(world):
    world.limits(quota_per_day=1)
    assert world.call("POST", f"{AI}/completions", {}).status == 404  # no endpoint: nothing counted
    assert world.chat("acme/openai", stream=True).status == 200
    refused = world.chat("acme/openai")
    assert refused.status == 429
    assert refused.json()["error"]["code"] == "quota_exceeded"
    assert len(world.fake.requests) == 1


def test_a_route_of_an_unknown_kind_is_not_served(world):
    snapshot = build_snapshot(world.fake, world.upstream)
    snapshot["version"] = 4
    snapshot["routes"][0]["kind"] = "quantum"
    world.gate.apply(snapshot)
    answer = world.chat("acme/openai")
    assert answer.status == 404
    assert answer.json()["error"]["code"] == "unknown_route"
