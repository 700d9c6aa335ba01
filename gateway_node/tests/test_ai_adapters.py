"""Provider adapters: what each sends (golden translations), what the client gets back (every
scenario under ai_scenarios/, in every split), usage, cost and error classification."""

from __future__ import annotations

import itertools
import random
import re
import time
from decimal import Decimal
from email.utils import formatdate
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway_node.ai.adapters import KINDS, ProviderError, Usage, adapter_for, retry_after
from gateway_node.ai.adapters.base import CREDENTIAL_REFUSED
from gateway_node.ai.fake_provider import SCENARIO_DIR, load_scenario, scenario_bytes
from gateway_node.ai.pricing import cost

PUBLIC = "acme/chat"
PRICES = [{"from": "2026-01-01", "input": "3", "output": "15", "cached_input": "0.3"}]
DAY = "2026-06-01"

SCENARIOS = sorted(p.stem for p in Path(SCENARIO_DIR).glob("*.json"))
STREAMS = [n for n in SCENARIOS if (load_scenario(n) or {}).get("stream") and "chunks" in (load_scenario(n) or {})]
ERRORS = [n for n in SCENARIOS if "provider_error" in (load_scenario(n) or {}).get("expect", {})]
ANSWERS = [n for n in SCENARIOS if n not in STREAMS and n not in ERRORS]


# --- Helpers shared with test_ai_fake_provider -----------------------------------------------------


def usage_dict(usage: Usage) -> dict[str, int | None]:
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cached_tokens": usage.cached_tokens,
    }


def cost_text(usage: Usage) -> str | None:
    value = cost(usage, PRICES, DAY)
    return None if value is None else format(value, "f")


def stream_bytes(scenario: dict[str, Any]) -> bytes:
    """What the provider's body delivers (up to the drop, for disconnect scenarios)."""
    chunks = scenario["chunks"][: scenario.get("disconnect_after")]
    return scenario_bytes({"chunks": chunks})


def play(scenario: dict[str, Any], pieces: list[bytes], *, include_usage: bool) -> tuple[Any, bytes]:
    """Feed ``pieces`` to a fresh translator; end as the node would (close, or nothing after a drop)."""
    translator = adapter_for(scenario["wire"]).chat_stream(PUBLIC, include_usage=include_usage)
    out = b"".join(translator.feed(piece) for piece in pieces)
    if scenario.get("disconnect_after") is None:
        out += translator.close()
    return translator, out


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    edges = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def events_of(out: bytes) -> list[Any]:
    """Client-bound translated events: payloads, chunk ids/created/model checked and removed."""
    assert out.endswith(b"\n\n") or out == b""
    events: list[Any] = []
    ids = set()
    for raw in out.split(b"\n\n")[:-1]:
        assert raw.startswith(b"data: "), raw
        payload = raw[len(b"data: ") :]
        if payload == b"[DONE]":
            events.append("[DONE]")
            continue
        obj = orjson.loads(payload)
        assert orjson.dumps(obj) == payload  # compact JSON, one line
        if "error" not in obj:
            ids.add(obj.pop("id"))
            assert obj.pop("object") == "chat.completion.chunk"
            assert isinstance(obj.pop("created"), int)
            assert obj.pop("model") == PUBLIC
            for choice in obj["choices"]:
                generated_ids((choice.get("delta") or {}).get("tool_calls"))
        events.append(obj)
    assert len(ids) <= 1 and all(i.startswith("chatcmpl-") for i in ids)
    return events


GENERATED = "call_<generated>"


def generated_ids(calls: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Tool call ids the gateway made up (the provider gave none) → "call_<generated>", in place."""
    for call in calls or []:
        if re.fullmatch(r"call_[0-9a-f]{24}", call.get("id") or ""):
            call["id"] = GENERATED
    return calls


def answer_of(out: bytes) -> tuple[str, str | None]:
    """(content, last finish reason) of client-bound SSE bytes, any framing."""
    content, finish = [], None
    for block in re.split(rb"\r\n\r\n|\n\n|\r\r", out):
        for line in re.split(rb"\r\n|\n|\r", block):
            if not line.startswith(b"data: ") or line == b"data: [DONE]":
                continue
            obj = orjson.loads(line[6:])
            for choice in obj.get("choices") or []:
                content.append(choice["delta"].get("content") or "")
                finish = choice.get("finish_reason") or finish
    return "".join(content), finish


def without_usage(events: list[Any]) -> list[Any]:
    return [e for e in events if not (isinstance(e, dict) and e.get("choices") == [])]


def check_stream(scenario: dict[str, Any], translator: Any, out: bytes, *, include_usage: bool) -> None:
    """The client-bound bytes and the translator's state are what the scenario expects."""
    expect = scenario["expect"]
    if scenario["wire"] == "openai":
        assert out.decode() == expect["client" if include_usage else "client_without_usage"]
    else:
        events = expect["events"] if include_usage else without_usage(expect["events"])
        assert events_of(out) == events
    content, finish = answer_of(out)
    assert content == expect["content"]
    assert finish == expect["finish_reason"]
    assert translator.done is expect["done"]
    assert translator.error == expect["error"]
    assert usage_dict(translator.usage) == expect["usage"]
    assert cost_text(translator.usage) == expect["cost"]


# --- Streams: every scenario, every split --------------------------------------------------------


@pytest.mark.parametrize("name", STREAMS)
@pytest.mark.parametrize("include_usage", [True, False])
def test_stream_scenario_whole_and_as_sent(name, include_usage):
    scenario = load_scenario(name)
    data = stream_bytes(scenario)
    for pieces in (
        [data],
        [scenario_bytes({"chunks": [c]}) for c in scenario["chunks"]][: scenario.get("disconnect_after")],
    ):
        translator, out = play(scenario, pieces, include_usage=include_usage)
        check_stream(scenario, translator, out, include_usage=include_usage)


@pytest.mark.parametrize("name", STREAMS)
def test_stream_scenario_in_every_split(name):
    """Byte by byte, every cut in two, and random cuts (fixed seed): identical client bytes."""
    scenario = load_scenario(name)
    data = stream_bytes(scenario)
    reference = play(scenario, [data], include_usage=True)[1]
    # Chunk ids and made-up tool call ids differ from one translation to the next.
    normal = re.compile(
        rb'"id":"chatcmpl-[0-9a-f]+","object":"chat.completion.chunk","created":\d+|"call_[0-9a-f]{24}"'
    )

    def same(pieces: list[bytes]) -> None:
        translator, out = play(scenario, pieces, include_usage=True)
        assert normal.sub(b"", out) == normal.sub(b"", reference)
        check_stream(scenario, translator, out, include_usage=True)

    same([data[i : i + 1] for i in range(len(data))])
    for cut in range(1, len(data)):
        same(split(data, [cut]))
    rng = random.Random(20260101)
    for _ in range(200):
        same(split(data, sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(2, 40))))))


@pytest.mark.parametrize("name", [n for n in STREAMS if "disconnect" in n])
def test_a_dropped_stream_ends_with_one_error_event(name):
    scenario = load_scenario(name)
    translator, out = play(scenario, [stream_bytes(scenario)], include_usage=True)
    assert not translator.done
    assert translator.close() == b""  # what was left is no complete event
    ending = translator.abort("the provider closed the connection")
    assert ending == b'data: {"error":{"code":"upstream_error","message":"the provider closed the connection"}}\n\n'
    assert translator.abort("again") == b""  # once
    assert b"[DONE]" not in out + ending


@pytest.mark.parametrize("name", [n for n in STREAMS if n.endswith("_error")])
def test_after_a_provider_error_event_nothing_more_goes_out(name):
    scenario = load_scenario(name)
    translator, out = play(scenario, [stream_bytes(scenario)], include_usage=True)
    assert out.count(b'"upstream_error"') == 1
    assert out.endswith(b"\n\n") and b"[DONE]" not in out
    assert translator.abort("late") == b""


@pytest.mark.parametrize("kind", KINDS)
def test_abort_after_done_adds_nothing(kind):
    name = {"openai": "openai_stream_normal", "anthropic": "anthropic_stream_normal"}.get(kind)
    name = name or f"{kind}_stream_normal"
    scenario = load_scenario(name)
    translator, out = play(scenario, [stream_bytes(scenario)], include_usage=True)
    assert out.endswith(b"data: [DONE]\n\n") and out.count(b"[DONE]") == 1
    assert translator.close() == b""
    assert translator.abort("late") == b""


def test_openai_relays_events_as_soon_as_they_are_complete():
    translator = adapter_for("openai").chat_stream(PUBLIC, include_usage=False)
    first = b'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'
    assert translator.feed(first[:-1]) == b""
    assert translator.feed(first[-1:] + b"data: {") == first
    assert translator.feed(b'"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1}}\n\n') == b""
    assert translator.usage == Usage(1, 1, None)
    assert translator.feed(b"data: [DONE]\n\ndata: [DONE]\n\n: late\n\n") == b"data: [DONE]\n\n"


# --- Non-stream answers --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ANSWERS)
def test_answer_scenario(name):
    scenario = load_scenario(name)
    expect = scenario["expect"]
    body, usage = adapter_for(scenario["wire"]).chat_result(scenario["status"], scenario_bytes(scenario), PUBLIC)
    answer = orjson.loads(body)
    if scenario["wire"] == "openai":
        assert body.decode() == expect["client"]  # the provider's bytes, unchanged
    else:
        assert answer["object"] == "chat.completion"
        assert answer["model"] == PUBLIC
        assert answer["id"].startswith("chatcmpl-")
        reported = answer["usage"]
        assert reported["prompt_tokens"] == (usage.input_tokens or 0)
        assert reported["completion_tokens"] == (usage.output_tokens or 0)
        assert reported["total_tokens"] == usage.total
    assert answer["choices"][0]["message"]["content"] == expect["content"]
    assert answer["choices"][0]["finish_reason"] == expect["finish_reason"]
    assert generated_ids(answer["choices"][0]["message"].get("tool_calls")) == expect.get("tool_calls")
    assert usage_dict(usage) == expect["usage"]
    assert cost_text(usage) == expect["cost"]


def test_anthropic_cached_answer_reports_cached_tokens_to_the_client():
    scenario = load_scenario("anthropic_cached")
    body, _ = adapter_for("anthropic").chat_result(200, scenario_bytes(scenario), PUBLIC)
    assert orjson.loads(body)["usage"] == {
        "prompt_tokens": 3050,
        "completion_tokens": 120,
        "total_tokens": 3170,
        "prompt_tokens_details": {"cached_tokens": 2000},
    }


def test_anthropic_tool_use_answer_becomes_tool_calls():
    body = {
        "id": "msg_3",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "png"}}],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 10, "output_tokens": 4},
    }
    answer = orjson.loads(adapter_for("anthropic").chat_result(200, orjson.dumps(body), PUBLIC)[0])
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "toolu_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q":"png"}'}}
        ],
    }


def test_anthropic_streamed_tool_use_becomes_tool_call_chunks():
    events = [
        {"type": "message_start", "message": {"usage": {"input_tokens": 10, "output_tokens": 1}}},
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "toolu_1", "name": "f"},
        },
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": '{"a":'}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "1}"}},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}},
        {"type": "message_stop"},
    ]
    data = b"".join(b"event: x\ndata: " + orjson.dumps(e) + b"\n\n" for e in events)
    translator = adapter_for("anthropic").chat_stream(PUBLIC, include_usage=False)
    got = events_of(translator.feed(data) + translator.close())
    assert got == [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "toolu_1",
                                "type": "function",
                                "function": {"name": "f", "arguments": ""},
                            }
                        ]
                    },
                    "finish_reason": None,
                }
            ]
        },
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]},
                    "finish_reason": None,
                }
            ]
        },
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]},
                    "finish_reason": None,
                }
            ]
        },
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        "[DONE]",
    ]
    assert translator.usage == Usage(10, 9, 0)


@pytest.mark.parametrize("kind", KINDS)
def test_an_unreadable_success_answer_is_a_retryable_error(kind):
    with pytest.raises(ProviderError) as caught:
        adapter_for(kind).chat_result(200, b"<html>gateway timeout</html>", PUBLIC)
    assert caught.value.status == 502 and caught.value.retryable


# --- Errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ERRORS)
def test_error_scenario_classification(name):
    scenario = load_scenario(name)
    expect = scenario["expect"]
    adapter = adapter_for(scenario["wire"])
    body = scenario_bytes(scenario)
    with pytest.raises(ProviderError) as caught:
        adapter.chat_result(scenario["status"], body, PUBLIC)
    for error in (caught.value, adapter.stream_status_error(scenario["status"], body)):
        got = {"status": error.status, "retryable": error.retryable, "message": error.message}
        assert got == expect["provider_error"]
    assert retry_after([tuple(h) for h in scenario["headers"]]) == expect["retry_after"]


@pytest.mark.parametrize(
    ("kind", "status", "body", "retryable"),
    [
        ("openai", 408, b"", True),
        ("openai", 409, b"{}", True),
        ("openai", 500, b"oops", True),
        ("openai", 502, b"", True),
        ("openai", 404, b'{"error": {"message": "The model does not exist"}}', False),
        ("openai", 422, b"{}", False),
        ("anthropic", 400, b'{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}', False),
        ("anthropic", 400, b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}', True),
        ("anthropic", 403, b'{"type":"error","error":{"type":"permission_error","message":"no"}}', False),
        ("gemini", 400, b'{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}', False),
        ("gemini", 400, b'[{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}]', True),
        ("ollama", 500, b'{"error":"llama runner process has terminated"}', True),
    ],
)
def test_status_classification(kind, status, body, retryable):
    assert adapter_for(kind).stream_status_error(status, body).retryable is retryable


KEYS = [
    "sk-proj-Q3x9v7LmN2pR8sT4uW6yZ0aB1cD3eF5g",
    "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
    "AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUv",
    "0123456789abcdef0123456789abcdef01234567",
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500, 503, 529])
def test_no_credential_in_any_error_message(kind, status):
    for key in KEYS:
        for body in (
            orjson.dumps({"error": {"message": f"Incorrect API key provided: {key}", "type": "x"}}),
            orjson.dumps({"type": "error", "error": {"type": "x", "message": f"key {key} refused"}}),
            orjson.dumps({"error": f"bad key {key[:12]}***{key[-4:]}"}),
        ):
            with pytest.raises(ProviderError) as caught:
                adapter_for(kind).chat_result(status, body, PUBLIC)
            for error in (caught.value, adapter_for(kind).stream_status_error(status, body)):
                for text in (error.message, str(error), repr(error)):
                    assert key not in text and key[:12] not in text and key[-8:] not in text, text
                if status in (401, 403):
                    assert error.message == CREDENTIAL_REFUSED


@pytest.mark.parametrize("kind", ["openai", "anthropic", "gemini", "ollama"])
def test_no_credential_in_mid_stream_errors(kind):
    key = KEYS[0]
    translator = adapter_for(kind).chat_stream(PUBLIC, include_usage=False)
    line = orjson.dumps({"type": "error", "error": {"type": "x", "message": f"key {key} revoked"}})
    data = line + b"\n" if kind == "ollama" else b"data: " + line + b"\n\n"
    if kind == "ollama":
        data = orjson.dumps({"error": f"key {key} revoked"}) + b"\n"
    out = translator.feed(data)
    assert b"upstream_error" in out
    assert key.encode() not in out and key not in translator.error
    assert key not in translator.abort(f"failed with {key}").decode()


def test_retry_after_forms():
    assert retry_after([(b"Retry-After", b"7")]) == 7.0
    assert retry_after([("retry-after", "1.5")]) == 1.5
    assert retry_after([("content-type", "x")]) is None
    assert retry_after([("retry-after", "soon")]) is None
    assert retry_after([("retry-after", "-3")]) is None
    assert retry_after([("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]) == 0.0  # in the past
    later = retry_after([("retry-after", formatdate(time.time() + 120, usegmt=True))])
    assert later is not None and 117 <= later <= 121


# --- Golden request translations -----------------------------------------------------------------

SIMPLE = {
    "model": PUBLIC,
    "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}],
    "max_tokens": 50,
    "stop": "END",
    "temperature": 0.3,
}

RICH = {
    "model": PUBLIC,
    "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "png"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "A PNG header."},
        {"role": "user", "content": "Thanks"},
    ],
    "max_completion_tokens": 200,
    "stop": ["\n\n", "END"],
    "temperature": 0.5,
    "top_p": 0.9,
    "user": "u-1",
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "description": "Look things up",
                "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
            },
        }
    ],
    "tool_choice": "required",
}

CONVERSATION = {
    "model": PUBLIC,
    "messages": [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Describe"},
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
            ],
        },
    ],
    "max_tokens": 100,
    "stop": "END",
    "temperature": 0,
    "top_p": 1,
    "response_format": {"type": "json_object"},
}


def sent(kind: str, request: dict[str, Any], *, stream: bool, model: str = "m-1", secret: str = "key-1") -> Any:
    call = adapter_for(kind).chat(request, model, secret, stream=stream)
    return call.method, call.path, call.query, call.headers, orjson.loads(call.body)


def test_openai_golden():
    assert sent("openai", SIMPLE, stream=True) == (
        "POST",
        "/chat/completions",
        "",
        [("authorization", "Bearer key-1"), ("content-type", "application/json"), ("accept", "text/event-stream")],
        {
            "model": "m-1",
            "messages": SIMPLE["messages"],
            "max_tokens": 50,
            "stop": "END",
            "temperature": 0.3,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    )
    with_options = {**SIMPLE, "stream": False, "stream_options": {"include_usage": False}}
    assert sent("openai", with_options, stream=False)[3:] == (
        [("authorization", "Bearer key-1"), ("content-type", "application/json"), ("accept", "application/json")],
        {
            "model": "m-1",
            "messages": SIMPLE["messages"],
            "max_tokens": 50,
            "stop": "END",
            "temperature": 0.3,
            "stream": False,
        },
    )
    assert SIMPLE["model"] == PUBLIC  # the client's request is not changed


def test_anthropic_golden():
    assert sent("anthropic", SIMPLE, stream=True) == (
        "POST",
        "/v1/messages",
        "",
        [
            ("x-api-key", "key-1"),
            ("anthropic-version", "2023-06-01"),
            ("content-type", "application/json"),
            ("accept", "text/event-stream"),
        ],
        {
            "model": "m-1",
            "system": "Be brief.",
            "messages": [{"role": "user", "content": "Hello there"}],
            "max_tokens": 50,
            "stop_sequences": ["END"],
            "temperature": 0.3,
            "stream": True,
        },
    )
    assert sent("anthropic", RICH, stream=False)[4] == {
        "model": "m-1",
        "system": "You are terse.\n\nAnswer in French.",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                ],
            },
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "call_1", "name": "lookup", "input": {"q": "png"}}],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "A PNG header."}]},
            {"role": "user", "content": "Thanks"},
        ],
        "max_tokens": 200,
        "stop_sequences": ["\n\n", "END"],
        "temperature": 0.5,
        "top_p": 0.9,
        "tools": [
            {
                "name": "lookup",
                "description": "Look things up",
                "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
            }
        ],
        "tool_choice": {"type": "any"},
    }
    no_limit = {"model": PUBLIC, "messages": [{"role": "user", "content": "Hi"}]}
    assert sent("anthropic", no_limit, stream=False)[4] == {
        "model": "m-1",
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 4096,
    }


def test_gemini_golden():
    assert sent("gemini", SIMPLE, stream=True, model="gemini-2.5-flash") == (
        "POST",
        "/models/gemini-2.5-flash:streamGenerateContent",
        "alt=sse",
        [("x-goog-api-key", "key-1"), ("content-type", "application/json"), ("accept", "text/event-stream")],
        {
            "contents": [{"role": "user", "parts": [{"text": "Hello there"}]}],
            "systemInstruction": {"parts": [{"text": "Be brief."}]},
            "generationConfig": {"temperature": 0.3, "maxOutputTokens": 50, "stopSequences": ["END"]},
        },
    )
    assert sent("gemini", CONVERSATION, stream=False, model="models/gemini-2.5-flash") == (
        "POST",
        "/models/gemini-2.5-flash:generateContent",
        "",
        [("x-goog-api-key", "key-1"), ("content-type", "application/json"), ("accept", "application/json")],
        {
            "contents": [
                {"role": "user", "parts": [{"text": "Hi"}]},
                {"role": "model", "parts": [{"text": "Hello!"}]},
                {
                    "role": "user",
                    "parts": [{"text": "Describe"}, {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQ"}}],
                },
            ],
            "systemInstruction": {"parts": [{"text": "Be kind."}]},
            "generationConfig": {
                "temperature": 0,
                "topP": 1,
                "maxOutputTokens": 100,
                "stopSequences": ["END"],
                "responseMimeType": "application/json",
            },
        },
    )
    # A model id cannot reach another path of the API.
    assert sent("gemini", SIMPLE, stream=False, model="../files/x?y")[1] == "/models/..%2Ffiles%2Fx%3Fy:generateContent"


def test_ollama_golden():
    assert sent("ollama", CONVERSATION, stream=False, model="llama3.2", secret="") == (
        "POST",
        "/api/chat",
        "",
        [("content-type", "application/json"), ("accept", "application/json")],
        {
            "model": "llama3.2",
            "messages": [
                {"role": "system", "content": "Be kind."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": "Describe", "images": ["/9j/4AAQ"]},
            ],
            "stream": False,
            "format": "json",
            "options": {"temperature": 0, "top_p": 1, "num_predict": 100, "stop": ["END"]},
        },
    )
    assert sent("ollama", SIMPLE, stream=True, model="llama3.2")[3][0] == ("authorization", "Bearer key-1")


def test_embeddings_golden():
    one = {"model": "acme/embed", "input": "hello world"}
    many = {"model": "acme/embed", "input": ["a b", "c"], "dimensions": 4}
    openai = adapter_for("openai").embeddings(many, "text-embedding-3-small", "k")
    assert (openai.path, orjson.loads(openai.body)) == (
        "/embeddings",
        {"model": "text-embedding-3-small", "input": ["a b", "c"], "dimensions": 4},
    )
    gemini = adapter_for("gemini").embeddings(one, "text-embedding-004", "k")
    assert (gemini.path, orjson.loads(gemini.body)) == (
        "/models/text-embedding-004:embedContent",
        {"content": {"parts": [{"text": "hello world"}]}},
    )
    batch = adapter_for("gemini").embeddings(many, "text-embedding-004", "k")
    assert (batch.path, orjson.loads(batch.body)) == (
        "/models/text-embedding-004:batchEmbedContents",
        {
            "requests": [
                {
                    "model": "models/text-embedding-004",
                    "content": {"parts": [{"text": "a b"}]},
                    "outputDimensionality": 4,
                },
                {
                    "model": "models/text-embedding-004",
                    "content": {"parts": [{"text": "c"}]},
                    "outputDimensionality": 4,
                },
            ]
        },
    )
    ollama = adapter_for("ollama").embeddings(one, "nomic-embed-text", "")
    assert (ollama.path, orjson.loads(ollama.body)) == (
        "/api/embed",
        {"model": "nomic-embed-text", "input": "hello world"},
    )
    with pytest.raises(ProviderError) as caught:
        adapter_for("anthropic").embeddings(one, "claude", "k")
    assert caught.value.status == 400 and not adapter_for("anthropic").supports_embeddings


def test_embeddings_results_become_openai_lists():
    gemini = adapter_for("gemini").embeddings_result(
        200, b'{"embeddings":[{"values":[0.1,0.2]},{"values":[0.3]}]}', "acme/embed"
    )
    assert orjson.loads(gemini[0]) == {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": [0.1, 0.2]},
            {"object": "embedding", "index": 1, "embedding": [0.3]},
        ],
        "model": "acme/embed",
        "usage": {"prompt_tokens": 0, "total_tokens": 0},
    }
    assert gemini[1] == Usage(None, None, None)  # Gemini reports no counts: unknown, not zero
    ollama = adapter_for("ollama").embeddings_result(200, b'{"embeddings":[[1.0]],"prompt_eval_count":3}', "acme/embed")
    assert ollama[1] == Usage(3, 0, None)
    assert orjson.loads(ollama[0])["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    raw = orjson.dumps(
        {
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.5]}],
            "usage": {"prompt_tokens": 2, "total_tokens": 2},
        }
    )
    assert adapter_for("openai").embeddings_result(200, raw, "acme/embed") == (raw, Usage(2, 0, None))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "request_",
    [
        {"model": PUBLIC},
        {"model": PUBLIC, "messages": []},
        {"model": PUBLIC, "messages": ["hi"]},
        {"model": PUBLIC, "messages": [{"content": "no role"}]},
    ],
)
def test_untranslatable_requests_are_400(kind, request_):
    with pytest.raises(ProviderError) as caught:
        adapter_for(kind).chat(request_, "m", "k", stream=False)
    assert caught.value.status == 400 and not caught.value.retryable


@pytest.mark.parametrize("kind", ["anthropic", "gemini", "ollama"])
def test_bad_fields_are_400(kind):
    for bad in (
        {"max_tokens": "many"},
        {"max_tokens": 0},
        {"stop": 3},
        {"messages": [{"role": "user", "content": 42}]},
        {"messages": [{"role": "user", "content": [{"type": "audio"}]}]},
    ):
        request = {"model": PUBLIC, "messages": [{"role": "user", "content": "hi"}], **bad}
        with pytest.raises(ProviderError) as caught:
            adapter_for(kind).chat(request, "m", "k", stream=False)
        assert caught.value.status == 400, bad


def test_costs_are_decimals():
    assert cost(Usage(1, 1, 0), PRICES, DAY) == Decimal("0.00001800")


# --- Tools and schemas for Gemini and Ollama -------------------------------------------------------


def test_gemini_tools_golden():
    assert sent("gemini", RICH, stream=False)[4] == {
        "contents": [
            {
                "role": "user",
                "parts": [{"text": "What is this?"}, {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}],
            },
            {
                "role": "model",
                "parts": [
                    {
                        "functionCall": {"name": "lookup", "args": {"q": "png"}},
                        "thoughtSignature": "skip_thought_signature_validator",
                    }
                ],
            },
            {
                "role": "user",
                "parts": [{"functionResponse": {"name": "lookup", "response": {"result": "A PNG header."}}}],
            },
            {"role": "user", "parts": [{"text": "Thanks"}]},
        ],
        "systemInstruction": {"parts": [{"text": "You are terse.\n\nAnswer in French."}]},
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "lookup",
                        "description": "Look things up",
                        "parameters": {"type": "OBJECT", "properties": {"q": {"type": "STRING"}}},
                    }
                ]
            }
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
        "generationConfig": {"temperature": 0.5, "topP": 0.9, "maxOutputTokens": 200, "stopSequences": ["\n\n", "END"]},
    }


def test_ollama_tools_golden():
    assert sent("ollama", RICH, stream=True, model="llama3.2")[4] == {
        "model": "llama3.2",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "system", "content": "Answer in French."},
            {"role": "user", "content": "What is this?", "images": ["iVBORw0KGgo="]},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"function": {"name": "lookup", "arguments": {"q": "png"}}}],
            },
            {"role": "tool", "content": "A PNG header.", "tool_name": "lookup"},
            {"role": "user", "content": "Thanks"},
        ],
        "stream": True,
        "tools": RICH["tools"],
        "options": {"temperature": 0.5, "top_p": 0.9, "num_predict": 200, "stop": ["\n\n", "END"]},
    }


TWO_TOOLS = [
    {"type": "function", "function": {"name": "a", "parameters": {"type": "object", "properties": {}}}},
    {"type": "function", "function": {"name": "b", "description": "Bee"}},
]


@pytest.mark.parametrize(
    ("choice", "gemini", "ollama"),
    [
        (None, None, ["a", "b"]),
        ("auto", {"mode": "AUTO"}, ["a", "b"]),
        ("none", {"mode": "NONE"}, []),
        ("required", {"mode": "ANY"}, ["a", "b"]),  # Ollama cannot be made to call: the tools go as they are
        ({"type": "function", "function": {"name": "b"}}, {"mode": "ANY", "allowedFunctionNames": ["b"]}, ["b"]),
    ],
)
def test_tool_choice(choice, gemini, ollama):
    request = {"model": PUBLIC, "messages": [{"role": "user", "content": "hi"}], "tools": TWO_TOOLS}
    if choice is not None:
        request["tool_choice"] = choice
    body = sent("gemini", request, stream=False)[4]
    # A function without parameters declares none (Gemini refuses an OBJECT without properties).
    assert body["tools"] == [{"functionDeclarations": [{"name": "a"}, {"name": "b", "description": "Bee"}]}]
    assert body.get("toolConfig") == (None if gemini is None else {"functionCallingConfig": gemini})
    body = sent("ollama", request, stream=False)[4]
    assert [t["function"]["name"] for t in body.get("tools", [])] == ollama


def test_gemini_sends_back_the_thought_signature_of_each_call():
    calls = [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "f", "arguments": "{}"},
            "extra_content": {"google": {"thought_signature": "c2ln"}},
        },
        {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": '{"x": [1]}'}},
    ]
    request = {
        "model": PUBLIC,
        "messages": [
            {"role": "user", "content": "do both"},
            {"role": "assistant", "content": "Sure.", "tool_calls": calls},
            {"role": "tool", "tool_call_id": "call_2", "content": '{"ok": true}'},
            {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "done"}]},
        ],
    }
    contents = sent("gemini", request, stream=False)[4]["contents"]
    assert contents[1] == {
        "role": "model",
        "parts": [
            {"text": "Sure."},
            {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "c2ln"},
            {"functionCall": {"name": "g", "args": {"x": [1]}}},  # parallel calls: only the first is signed
        ],
    }
    # Both answers in one turn, named after their calls; a JSON object answer goes as it is.
    assert contents[2] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "g", "response": {"ok": True}}},
            {"functionResponse": {"name": "f", "response": {"result": "done"}}},
        ],
    }


@pytest.mark.parametrize("kind", ["gemini", "ollama"])
@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ({"tools": {"type": "function"}}, "tools must be a list"),
        ({"tools": [{"type": "web_search"}]}, "only function tools"),
        ({"tools": [{"type": "function", "function": {"description": "x"}}]}, "needs a name"),
        ({"tools": [{"type": "function", "function": {"name": "f", "parameters": "x"}}]}, "parameters"),
        ({"tool_choice": "sometimes"}, "tool_choice must be"),
        ({"tool_choice": {"type": "function", "function": {"name": "other"}}}, "not among the tools"),
        (
            {
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{oops"}}]},
                ]
            },
            "arguments must be a JSON object",
        ),
        (
            {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "tool_calls": [{"id": "c"}]}]},
            "needs a function with a name",
        ),
    ],
)
def test_bad_tools_are_400(kind, bad, says):
    request = {
        "model": PUBLIC,
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "f"}}],
        **bad,
    }
    with pytest.raises(ProviderError) as caught:
        adapter_for(kind).chat(request, "m", "k", stream=False)
    assert caught.value.status == 400 and not caught.value.retryable
    assert says in caught.value.message


def test_a_tool_answer_gemini_cannot_name_is_400():
    request = {
        "model": PUBLIC,
        "messages": [{"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "call_9", "content": "x"}],
    }
    with pytest.raises(ProviderError) as caught:
        adapter_for("gemini").chat(request, "m", "k", stream=False)
    assert caught.value.status == 400
    assert "'call_9' answers no tool call" in caught.value.message
    # Ollama does not need the name: the answer goes without it.
    assert sent("ollama", request, stream=False)[4]["messages"][1] == {"role": "tool", "content": "x"}


def test_made_up_tool_call_ids_are_unique():
    body = orjson.dumps(
        {
            "candidates": [
                {
                    "content": {"parts": [{"functionCall": {"name": "f", "args": {}}}] * 2, "role": "model"},
                    "finishReason": "STOP",
                }
            ]
        }
    )
    ids = [
        call["id"]
        for _ in range(2)
        for call in orjson.loads(adapter_for("gemini").chat_result(200, body, PUBLIC)[0])["choices"][0]["message"][
            "tool_calls"
        ]
    ]
    assert len(set(ids)) == 4 and all(re.fullmatch(r"call_[0-9a-f]{24}", i) for i in ids)


def test_gemini_json_schema_becomes_a_response_schema_it_accepts():
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "title": {"type": "string", "format": "uri", "maxLength": 80},
            "when": {"type": "string", "format": "date-time"},
            "tags": {"type": "array", "items": {"$ref": "#/$defs/Tag"}},
            "score": {"anyOf": [{"type": "number"}, {"type": "null"}], "default": None},
            "kind": {"const": "note"},
            "size": {"type": ["integer", "null"], "minimum": 0, "examples": [3]},
            "either": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            "next": {"$ref": "#/$defs/Node"},
        },
        "required": ["title", "missing"],
        "$defs": {
            "Tag": {
                "type": "object",
                "properties": {"name": {"type": "string", "enum": ["a", "b"]}},
                "required": ["name"],
                "additionalProperties": False,
            },
            "Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}},
        },
    }
    request = {
        "model": PUBLIC,
        "messages": [{"role": "user", "content": "hi"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "note", "strict": True, "schema": schema}},
    }
    config = sent("gemini", request, stream=False)[4]["generationConfig"]
    assert config == {
        "responseMimeType": "application/json",
        "responseSchema": {
            "type": "OBJECT",
            "properties": {
                "title": {"type": "STRING", "maxLength": 80},
                "when": {"type": "STRING", "format": "date-time"},
                "tags": {
                    "type": "ARRAY",
                    "items": {
                        "type": "OBJECT",
                        "properties": {"name": {"type": "STRING", "enum": ["a", "b"]}},
                        "required": ["name"],
                    },
                },
                "score": {"type": "NUMBER", "nullable": True, "default": None},
                "kind": {"type": "STRING", "enum": ["note"]},
                "size": {"type": "INTEGER", "nullable": True, "minimum": 0},
                "either": {"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}]},
                "next": {"type": "OBJECT", "properties": {"next": {}}},  # the recursion stops where it recurs
            },
            "required": ["title"],
        },
    }
    # No usable schema: JSON all the same.
    request["response_format"] = {"type": "json_schema", "json_schema": {"name": "x"}}
    assert sent("gemini", request, stream=False)[4]["generationConfig"] == {"responseMimeType": "application/json"}


@pytest.mark.parametrize("kind", ["gemini", "ollama"])
@pytest.mark.parametrize("odd", [["x"], {"a": 1}, 5, None])
def test_an_odd_tool_call_id_is_no_crash(kind, odd):
    request = {
        "model": PUBLIC,
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": odd, "content": "x"},
        ],
    }
    if kind == "ollama":
        assert sent(kind, request, stream=False)[4]["messages"][2] == {"role": "tool", "content": "x"}
    else:
        with pytest.raises(ProviderError) as caught:
            adapter_for(kind).chat(request, "m", "k", stream=False)
        assert caught.value.status == 400
