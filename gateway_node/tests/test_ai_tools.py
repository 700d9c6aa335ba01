"""Tool calls and embeddings through the node, in every wire format, end to end on loopback:
the node's HTTP server, a gate compiled from the hand-written snapshot of test_ai_node and the
fake provider answering tool calls (its "call <rest>" rule) and embeddings in its own format."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from gateway_node.ai.fake_provider import (
    FAKE_THOUGHT_SIGNATURE,
    FakeProvider,
    demo_answer,
    demo_tool_call,
    demo_usage,
    demo_vector,
)
from gateway_node.tests.test_ai_node import AI, KINDS, PRICES, PROVIDER_SECRETS, World, build_snapshot, events
from gateway_node.tests.upstreams import Upstream

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather of a city",
        "parameters": {
            "type": "object",
            "properties": {"q": {"type": "string"}},
            "required": ["q"],
            "additionalProperties": False,
        },
    },
}
CLOCK = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}


@pytest.fixture(name="world")
def world_fixture() -> Iterator[World]:
    with FakeProvider(keys=set(PROVIDER_SECRETS.values())) as fake, Upstream() as upstream:
        world = World(fake, upstream)
        try:
            yield world
        finally:
            world.node.stop()
            seen = b"".join(a.head + a.body for a in world.answers)
            seen += b"".join(msgspec.json.encode(r) for r in world.records)
            for secret in PROVIDER_SECRETS.values():
                assert secret.encode() not in seen


def tool_request(model: str, text: str = "call Paris in June", **extra: Any) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "system", "content": "Use the tools."}, {"role": "user", "content": text}],
        "tools": [WEATHER, CLOCK],
        **extra,
    }


def streamed_calls(body: bytes) -> tuple[list[dict[str, Any]], str | None]:
    """(tool calls put together from the deltas, as an OpenAI client does; last finish reason)."""
    calls: dict[int, dict[str, Any]] = {}
    finish = None
    for data in events(body):
        if data == "[DONE]":
            continue
        for choice in json.loads(data).get("choices") or ():
            finish = choice.get("finish_reason") or finish
            for delta in (choice.get("delta") or {}).get("tool_calls") or ():
                call = calls.setdefault(delta["index"], {"function": {"name": "", "arguments": ""}})
                for key in ("id", "type", "extra_content"):
                    if key in delta:
                        call[key] = delta[key]
                function = delta.get("function") or {}
                call["function"]["name"] += function.get("name") or ""
                call["function"]["arguments"] += function.get("arguments") or ""
    return [calls[i] for i in sorted(calls)], finish


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_a_tool_call_from_each_wire_format(world, kind, stream):
    request = tool_request(f"acme/{kind}", stream=stream)
    answer = world.call("POST", f"{AI}/chat/completions", request)
    assert answer.status == 200, answer.body
    if stream:
        calls, finish = streamed_calls(answer.body)
        assert events(answer.body).count("[DONE]") == 1
    else:
        choice = answer.json()["choices"][0]
        calls, finish = choice["message"]["tool_calls"], choice["finish_reason"]
        assert choice["message"]["content"] is None
    assert finish == "tool_calls"
    assert len(calls) == 1
    call = calls[0]
    assert call["type"] == "function"
    assert call["id"].startswith(("call_", "toolu_"))
    expected = demo_tool_call(request)
    assert expected is not None
    name, arguments = expected
    assert (call["function"]["name"], json.loads(call["function"]["arguments"])) == (name, arguments)
    assert arguments == {"q": "Paris in June"}
    if kind == "gemini":  # the signature Gemini wants back with the call
        assert call["extra_content"] == {"google": {"thought_signature": FAKE_THOUGHT_SIGNATURE}}

    # The provider got the tools in its own format.
    sent = world.fake.requests[-1].json()
    if kind == "gemini":
        declared = sent["tools"][0]["functionDeclarations"]
        assert declared[0] == {
            "name": "get_weather",
            "description": "The weather of a city",
            "parameters": {"type": "OBJECT", "properties": {"q": {"type": "STRING"}}, "required": ["q"]},
        }
        assert declared[1] == {"name": "get_time"}
    elif kind == "anthropic":
        assert [t["name"] for t in sent["tools"]] == ["get_weather", "get_time"]
    else:
        assert [t["function"]["name"] for t in sent["tools"]] == ["get_weather", "get_time"]

    usage = demo_usage(request)
    record = world.record()
    assert (record.ai_input_tokens, record.ai_output_tokens) == (usage.input_tokens, usage.output_tokens)
    assert record.ai_output_tokens == 4  # the tool name and the three words of the arguments
    assert record.ai_cost is not None
    assert record.error == ""


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_tool_result_goes_back_to_the_provider_in_its_format(world, kind):
    first = world.call("POST", f"{AI}/chat/completions", tool_request(f"acme/{kind}"))
    assistant = first.json()["choices"][0]["message"]
    call = assistant["tool_calls"][0]
    follow_up = tool_request(f"acme/{kind}")
    follow_up["messages"] += [
        assistant,  # as the client got it (with Gemini's extra_content)
        {"role": "tool", "tool_call_id": call["id"], "content": "Sunny, 24 degrees"},
    ]
    answer = world.call("POST", f"{AI}/chat/completions", follow_up)
    assert answer.status == 200, answer.body
    choice = answer.json()["choices"][0]
    # After a tool result the fake answers text again (no endless calls).
    assert (choice["message"]["content"], choice["finish_reason"]) == demo_answer(follow_up)
    assert choice["message"]["content"] == "You said: call Paris in June"

    sent = world.fake.requests[-1].json()
    if kind == "openai":
        assert sent["messages"][-1] == {"role": "tool", "tool_call_id": call["id"], "content": "Sunny, 24 degrees"}
    elif kind == "anthropic":
        assert sent["messages"][-2]["content"] == [
            {"type": "tool_use", "id": call["id"], "name": "get_weather", "input": {"q": "Paris in June"}}
        ]
        assert sent["messages"][-1] == {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call["id"], "content": "Sunny, 24 degrees"}],
        }
    elif kind == "gemini":
        assert sent["contents"][-2] == {
            "role": "model",
            "parts": [
                {
                    "functionCall": {"name": "get_weather", "args": {"q": "Paris in June"}},
                    "thoughtSignature": FAKE_THOUGHT_SIGNATURE,
                }
            ],
        }
        assert sent["contents"][-1] == {
            "role": "user",
            "parts": [{"functionResponse": {"name": "get_weather", "response": {"result": "Sunny, 24 degrees"}}}],
        }
    else:
        assert sent["messages"][-2] == {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "get_weather", "arguments": {"q": "Paris in June"}}}],
        }
        assert sent["messages"][-1] == {"role": "tool", "content": "Sunny, 24 degrees", "tool_name": "get_weather"}


@pytest.mark.parametrize("kind", ["gemini", "ollama"])
def test_tool_choice_none_gets_text(world, kind):
    answer = world.call("POST", f"{AI}/chat/completions", tool_request(f"acme/{kind}", tool_choice="none"))
    assert answer.status == 200
    sent = world.fake.requests[-1].json()
    if kind == "gemini":
        assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "NONE"}}
    else:
        assert "tools" not in sent  # Ollama has no tool_choice: no tools offered, no call possible
        assert answer.json()["choices"][0]["message"]["content"] == "You said: call Paris in June"


@pytest.mark.parametrize("kind", ["gemini", "ollama"])
def test_a_bad_tool_request_is_a_clear_400_and_reaches_no_provider(world, kind):
    request = tool_request(f"acme/{kind}", tool_choice={"type": "function", "function": {"name": "nope"}})
    answer = world.call("POST", f"{AI}/chat/completions", request)
    assert answer.status == 400
    error = answer.json()["error"]
    assert error["code"] == "provider_rejected_request"
    assert "'nope'" in error["message"]
    assert world.fake.requests == []


# --- embeddings -----------------------------------------------------------------------------------


def with_embedding_routes(world: World) -> None:
    snapshot = build_snapshot(world.fake, world.upstream)
    snapshot["version"] = 5
    models = snapshot["ai"]["models"]
    for model_id, provider_id, name in (("121", 3, "text-embedding-004"), ("122", 4, "nomic-embed-text")):
        models[model_id] = {
            "provider_id": provider_id,
            "model": name,
            "capability": "embeddings",
            "context_window": 8000,
            "prices": PRICES,
        }
    snapshot["ai"]["routes"]["221"] = {
        "name": "acme/embed-gemini",
        "capability": "embeddings",
        "targets": [{"model_id": 121, "position": 0, "weight": 1}],
    }
    snapshot["ai"]["routes"]["222"] = {
        "name": "acme/embed-ollama",
        "capability": "embeddings",
        "targets": [{"model_id": 122, "position": 0, "weight": 1}],
    }
    snapshot["routes"][0]["ai"]["models"].update({"acme/embed-gemini": 221, "acme/embed-ollama": 222})
    world.gate.apply(snapshot)


@pytest.mark.parametrize("inputs", ["one two three", ["a b c", "d e", "f"]], ids=["one", "many"])
@pytest.mark.parametrize("kind", ["gemini", "ollama"])
def test_embeddings_from_gemini_and_ollama(world, kind, inputs):
    with_embedding_routes(world)
    answer = world.call("POST", f"{AI}/embeddings", {"model": f"acme/embed-{kind}", "input": inputs})
    assert answer.status == 200, answer.body
    texts = [inputs] if isinstance(inputs, str) else inputs
    out = answer.json()
    assert out["object"] == "list"
    assert out["model"] == f"acme/embed-{kind}"
    assert out["data"] == [
        {"object": "embedding", "index": i, "embedding": demo_vector(text)} for i, text in enumerate(texts)
    ]
    words = sum(len(t.split()) for t in texts)
    record = world.record()
    assert (record.ai_route, record.ai_provider) == (f"acme/embed-{kind}", f"{kind}-fake")
    assert record.endpoint == "POST /embeddings"
    if kind == "ollama":
        assert out["usage"] == {"prompt_tokens": words, "total_tokens": words}
        assert (record.ai_input_tokens, record.ai_output_tokens) == (words, 0)
        assert record.ai_cost is not None
    else:
        # Gemini reports no counts for embeddings: unknown, never invented (and no cost).
        assert out["usage"] == {"prompt_tokens": 0, "total_tokens": 0}
        assert (record.ai_input_tokens, record.ai_output_tokens, record.ai_cost) == (None, None, None)
    sent = world.fake.requests[-1]
    if kind == "gemini":
        assert sent.path.endswith(":embedContent" if isinstance(inputs, str) else ":batchEmbedContents")
        assert sent.header("x-goog-api-key") == PROVIDER_SECRETS[3]
    else:
        assert (sent.path, sent.json()["model"]) == ("/api/embed", "nomic-embed-text")


@pytest.mark.parametrize("kind", ["gemini", "ollama"])
def test_bad_embedding_input_is_a_400(world, kind):
    with_embedding_routes(world)
    answer = world.call("POST", f"{AI}/embeddings", {"model": f"acme/embed-{kind}", "input": [1, 2]})
    assert answer.status == 400
    assert "input" in answer.json()["error"]["message"]
    assert world.fake.requests == []
