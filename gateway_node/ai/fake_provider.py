"""A fake model provider speaking the four wire formats on one port: for tests, the demo and
the benchmark.

``python -m gateway_node.ai.fake_provider --host 127.0.0.1 --port 9110 [--key K] [--chunk-delay-ms 0]``

Paths (so the provider base URLs are ``http://HOST:PORT/v1`` for openai, ``http://HOST:PORT``
for anthropic and ollama, ``http://HOST:PORT/v1beta`` for gemini):

- openai: ``POST /v1/chat/completions``, ``POST /v1/embeddings``, ``GET /v1/models``
- anthropic: ``POST /v1/messages``
- gemini: ``POST /v1beta/models/{m}:generateContent | :streamGenerateContent?alt=sse |
  :embedContent | :batchEmbedContents``
- ollama: ``POST /api/chat``, ``POST /api/embed``
- ``GET /_fake/requests`` (what it received, JSON) and ``POST /_fake/reset``

The demo answer is deterministic: ``"You said: <last user message>"``, at most 64 words (fewer
when ``max_tokens`` says so: then the finish reason is "length"), streamed one word per chunk
(each word with the space after it). Input tokens = whitespace-separated words over all message
contents, output tokens = words of the answer, reported in each format's own usage fields and
framing (:func:`demo_usage` gives the exact counts for a request). Embeddings: 8 floats from a
hash of each text, tokens = words.

Tools: when the request offers tools and its last message is a user message ``"call <rest>"``,
the answer is one call of the first tool with the arguments ``{"q": "<rest>"}`` (output tokens
= 1 + words of rest), in the format's own shape, streamed too (:func:`demo_tool_call`). Tool
results do not count as the last user message: the turn after them gets the usual answer.

A model id ``scenario/<name>`` plays ``<scenario dir>/<name>.json`` instead (status, headers,
body or chunks with per-chunk delay, a dropped connection after chunk N, a stall): see
``gateway_node/tests/ai_scenarios/README.md``.

Credentials: with ``keys`` (``--key``, repeatable) every call must carry one of them in its
format's header (``Authorization: Bearer``, ``x-api-key``, ``x-goog-api-key``), else 401 in
that format (OpenAI's echoes part of the key, as the real one does); without keys anything
goes. It is a test tool: it listens on loopback by default and trusts its callers otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import itertools
import re
import sys
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import orjson

from gateway_node.ai.adapters.base import Usage
from gateway_node.loop_thread import LoopThread

__all__ = [
    "FAKE_THOUGHT_SIGNATURE",
    "SCENARIO_DIR",
    "FakeProvider",
    "Received",
    "demo_answer",
    "demo_embedding_usage",
    "demo_tool_call",
    "demo_usage",
    "demo_vector",
    "load_scenario",
    "main",
]

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "tests" / "ai_scenarios"
MAX_WORDS = 64
SCENARIO_PREFIX = "scenario/"
_SCENARIO_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
_GEMINI_PATH = re.compile(
    r"/v1beta/models/(.+):(generateContent|streamGenerateContent|embedContent|batchEmbedContents)"
)
_MAX_HEAD = 64 * 1024
_MAX_BODY = 32 * 1024 * 1024
_CREATED_AT = "2026-01-01T00:00:00Z"
#: The thoughtSignature of the fake's Gemini function calls (base64, as Google's are).
FAKE_THOUGHT_SIGNATURE = "ZmFrZS10aG91Z2h0LXNpZ25hdHVyZQ=="

Json = dict[str, Any]


@dataclass
class Received:
    """One request as the fake provider received it."""

    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]  # as received, in order (names lower-cased)
    body: bytes

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((value for key, value in self.headers if key == name), None)

    def json(self) -> Any:
        return orjson.loads(self.body)

    def as_dict(self) -> Json:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": [list(pair) for pair in self.headers],
            "body": self.body.decode("utf-8", "replace"),
        }


# --- The demo answer -----------------------------------------------------------------------------


def _words(text: str) -> int:
    return len(text.split())


def _text(content: Any) -> str:
    """Text of a message content in any of the four formats (parts/blocks joined without space,
    as the adapters join them)."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return _text(content.get("parts"))
    if isinstance(content, list):
        return "".join(str(p.get("text") or "") for p in content if isinstance(p, dict) and "text" in p)
    return ""


def _tool_result(content: Any) -> bool:
    """Whether a user message's content is only tool results (Anthropic ``tool_result`` blocks,
    Gemini ``functionResponse`` parts): the user did not say anything there."""
    if isinstance(content, dict):
        content = content.get("parts")
    return (
        isinstance(content, list)
        and bool(content)
        and all(isinstance(p, dict) and (p.get("type") == "tool_result" or "functionResponse" in p) for p in content)
    )


def _last_user(messages: list[Json]) -> str:
    """Text of the last user message that is not only tool results."""
    return next(
        (
            _text(m.get("content"))
            for m in reversed(messages)
            if m.get("role") == "user" and not _tool_result(m.get("content"))
        ),
        "",
    )


def _called(first_tool: str | None, last: Json | None) -> tuple[str, str] | None:
    """(tool, rest) when the request offers tools and its last message is a user's "call <rest>"."""
    if not first_tool or last is None or last.get("role") != "user":
        return None
    content = last.get("content")
    if _tool_result(content):
        return None
    text = _text(content)
    return (first_tool, text[5:].strip()) if text.startswith("call ") else None


def _first_tool(tools: Any) -> str | None:
    """Name of the first tool, in any of the formats (OpenAI/Ollama, Anthropic, Gemini)."""
    if not isinstance(tools, list) or not tools or not isinstance(tools[0], dict):
        return None
    tool = tools[0]
    if isinstance(tool.get("function"), dict):
        tool = tool["function"]
    elif isinstance(tool.get("functionDeclarations"), list) and tool["functionDeclarations"]:
        tool = tool["functionDeclarations"][0] if isinstance(tool["functionDeclarations"][0], dict) else {}
    name = tool.get("name")
    return name if isinstance(name, str) and name else None


def _call_tokens(rest: str) -> int:
    return 1 + _words(rest)


def _answer_words(last_user: str, max_tokens: int | None) -> tuple[list[str], bool]:
    """(words of the answer, cut by max_tokens)."""
    words = f"You said: {last_user}".split()[:MAX_WORDS]
    if max_tokens is not None and 0 < max_tokens < len(words):
        return words[:max_tokens], True
    return words, False


def _pieces(words: list[str]) -> list[str]:
    return [word + " " for word in words[:-1]] + words[-1:]


def _max_tokens(request: Json) -> int | None:
    value = request.get("max_completion_tokens", request.get("max_tokens"))
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def demo_tool_call(request: Json) -> tuple[str, Json] | None:
    """(tool name, arguments) of the call the fake answers an OpenAI chat request with, or None
    when it answers text."""
    messages = [m for m in request.get("messages") or [] if isinstance(m, dict)]
    called = _called(_first_tool(request.get("tools")), messages[-1] if messages else None)
    return None if called is None else (called[0], {"q": called[1]})


def demo_answer(request: Json) -> tuple[str, str]:
    """(answer text, OpenAI finish reason) the fake gives to an OpenAI chat request ("" and
    "tool_calls" when it calls a tool: :func:`demo_tool_call`)."""
    if demo_tool_call(request) is not None:
        return "", "tool_calls"
    messages = [m for m in request.get("messages") or [] if isinstance(m, dict)]
    words, cut = _answer_words(_last_user(messages), _max_tokens(request))
    return " ".join(words), ("length" if cut else "stop")


def demo_usage(request: Json) -> Usage:
    """The exact usage the fake reports for an OpenAI chat request (whichever wire format the
    gateway translates it to): words of every message, words of the answer, nothing cached.
    (Tool results and earlier tool calls are counted as each format carries them: exact for
    conversations without them.)"""
    messages = [m for m in request.get("messages") or [] if isinstance(m, dict)]
    prompt = sum(_words(_text(m.get("content"))) for m in messages)
    call = demo_tool_call(request)
    if call is not None:
        return Usage(prompt, _call_tokens(call[1]["q"]), 0)
    answer, _ = demo_answer(request)
    return Usage(prompt, _words(answer), 0)


def demo_embedding_usage(inputs: str | list[str]) -> Usage:
    """The usage the fake reports for embeddings of ``inputs`` (words; no output tokens). The
    Gemini format carries no counts, as the real one: there the tokens stay unknown."""
    texts = [inputs] if isinstance(inputs, str) else inputs
    return Usage(sum(_words(t) for t in texts), 0, None)


def demo_vector(text: str) -> list[float]:
    """The fake's embedding of ``text``: 8 floats in [-1, 1) from its SHA-256."""
    digest = hashlib.sha256(text.encode()).digest()
    return [round((b - 128) / 128, 6) for b in digest[:8]]


# --- What the server answers ---------------------------------------------------------------------


@dataclass
class Plan:
    """An answer to send: the head, then the body parts (one write each)."""

    status: int
    headers: list[tuple[str, str]]
    parts: list[bytes]
    framing: str = "length"  # "length", "chunked" or "close"
    chunk_delay: float = 0.0  # seconds between parts
    delay: float = 0.0  # seconds before the head
    disconnect_after: int | None = None  # abort the connection after this many parts
    stall: float = 0.0  # seconds of silence ...
    stall_after: int = 0  # ... after this many parts


def _json_plan(status: int, obj: Any, headers: Iterable[tuple[str, str]] = ()) -> Plan:
    return Plan(status, [("content-type", "application/json"), *headers], [orjson.dumps(obj)])


def _sse(obj: Any, event: str | None = None, *, crlf: bool = False) -> bytes:
    line = b"data: " + orjson.dumps(obj)
    if event:
        line = b"event: " + event.encode() + b"\n" + line
    return line + (b"\r\n\r\n" if crlf else b"\n\n")


@dataclass
class _Chat:
    """A chat request, whatever its wire format."""

    model: str
    stream: bool
    texts: list[str]
    last_user: str
    max_tokens: int | None
    include_usage: bool = False
    call: tuple[str, str] | None = None  # (tool, rest): answer a tool call (see the module doc)

    def usage(self, words: list[str]) -> tuple[int, int]:
        return sum(_words(t) for t in self.texts), len(words)

    def call_usage(self) -> tuple[int, int]:
        assert self.call is not None
        return sum(_words(t) for t in self.texts), _call_tokens(self.call[1])


def _chat_openai(body: Json) -> _Chat:
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    options = body.get("stream_options")
    return _Chat(
        str(body.get("model") or ""),
        body.get("stream") is True,
        [_text(m.get("content")) for m in messages],
        _last_user(messages),
        _max_tokens(body),
        isinstance(options, dict) and options.get("include_usage") is True,
        _called(_first_tool(body.get("tools")), messages[-1] if messages else None),
    )


def _chat_anthropic(body: Json) -> _Chat:
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    texts = [_text(body["system"])] if body.get("system") else []
    texts += [_text(m.get("content")) for m in messages]
    return _Chat(
        str(body.get("model") or ""),
        body.get("stream") is True,
        texts,
        _last_user(messages),
        _max_tokens(body),
        call=_called(_first_tool(body.get("tools")), messages[-1] if messages else None),
    )


def _chat_gemini(body: Json, model: str, stream: bool) -> _Chat:
    contents = [c for c in body.get("contents") or [] if isinstance(c, dict)]
    texts = [_text(body["systemInstruction"])] if isinstance(body.get("systemInstruction"), dict) else []
    texts += [_text(c) for c in contents]
    config = body.get("generationConfig") or {}
    max_tokens = config.get("maxOutputTokens") if isinstance(config, dict) else None
    return _Chat(
        model,
        stream,
        texts,
        _last_user([{"role": c.get("role", "user"), "content": c} for c in contents]),
        max_tokens if isinstance(max_tokens, int) else None,
        call=_called(
            _first_tool(body.get("tools")),
            {"role": contents[-1].get("role", "user"), "content": contents[-1]} if contents else None,
        ),
    )


def _chat_ollama(body: Json) -> _Chat:
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    options = body.get("options") or {}
    max_tokens = options.get("num_predict") if isinstance(options, dict) else None
    return _Chat(
        str(body.get("model") or ""),
        body.get("stream", True) is not False,  # Ollama streams unless told not to
        [_text(m.get("content")) for m in messages],
        _last_user(messages),
        max_tokens if isinstance(max_tokens, int) else None,
        call=_called(_first_tool(body.get("tools")), messages[-1] if messages else None),
    )


class _Answers:
    """The demo answers of each wire format: the text answer and the tool call (see the module
    doc) go through the same envelope of their format."""

    def __init__(self, chunk_delay: float) -> None:
        self.chunk_delay = chunk_delay
        self.serial = itertools.count(1)

    def _stream(self, parts: list[bytes], content_type: str) -> Plan:
        return Plan(200, [("content-type", content_type)], parts, "chunked", self.chunk_delay)

    # -- OpenAI

    def openai(self, chat: _Chat) -> Plan:
        serial = next(self.serial)
        if chat.call is not None:
            tool, rest = chat.call
            prompt, completion = chat.call_usage()
            arguments = orjson.dumps({"q": rest}).decode()
            call = {"id": f"call_fake{serial}", "type": "function", "function": {"name": tool, "arguments": arguments}}
            opening = {**call, "index": 0, "function": {"name": tool, "arguments": ""}}
            half = len(arguments) // 2
            return self._openai(
                chat,
                serial,
                (prompt, completion),
                {"role": "assistant", "content": None, "tool_calls": [call], "refusal": None},
                [{"role": "assistant", "content": None, "tool_calls": [opening], "refusal": None}]
                # arguments arrive in pieces, as OpenAI sends them
                + [
                    {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
                    for piece in (arguments[:half], arguments[half:])
                ],
                "tool_calls",
            )
        words, cut = _answer_words(chat.last_user, chat.max_tokens)
        return self._openai(
            chat,
            serial,
            chat.usage(words),
            {"role": "assistant", "content": " ".join(words), "refusal": None},
            [{"role": "assistant", "content": "", "refusal": None}] + [{"content": p} for p in _pieces(words)],
            "length" if cut else "stop",
        )

    def _openai(
        self, chat: _Chat, serial: int, counts: tuple[int, int], message: Json, deltas: list[Json], finish: str
    ) -> Plan:
        """A chat completion (``message``), or its stream: the ``deltas``, the finish, the usage."""
        prompt, completion = counts
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0},
        }
        base: Json = {
            "id": f"chatcmpl-fake{serial}",
            "object": "chat.completion.chunk" if chat.stream else "chat.completion",
            "created": int(time.time()),
            "model": chat.model,
        }
        if not chat.stream:
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            return _json_plan(200, {**base, "choices": [choice], "usage": usage})
        extra: Json = {"usage": None} if chat.include_usage else {}

        def chunk(delta: Json, reason: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}
            return _sse({**base, "choices": [choice], **extra})

        parts = [chunk(delta) for delta in deltas]
        parts.append(chunk({}, finish))
        if chat.include_usage:
            parts.append(_sse({**base, "choices": [], "usage": usage}))
        parts.append(b"data: [DONE]\n\n")
        return self._stream(parts, "text/event-stream; charset=utf-8")

    # -- Anthropic

    def anthropic(self, chat: _Chat) -> Plan:
        serial = next(self.serial)
        if chat.call is not None:
            tool, rest = chat.call
            block = {"type": "tool_use", "id": f"toolu_fake{serial}", "name": tool, "input": {"q": rest}}
            arguments = orjson.dumps({"q": rest}).decode()
            half = len(arguments) // 2
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in (arguments[:half], arguments[half:])]
            return self._anthropic(chat, serial, chat.call_usage(), block, {**block, "input": {}}, deltas, "tool_use")
        words, cut = _answer_words(chat.last_user, chat.max_tokens)
        return self._anthropic(
            chat,
            serial,
            chat.usage(words),
            {"type": "text", "text": " ".join(words)},
            {"type": "text", "text": ""},
            [{"type": "text_delta", "text": piece} for piece in _pieces(words)],
            "max_tokens" if cut else "end_turn",
        )

    def _anthropic(
        self,
        chat: _Chat,
        serial: int,
        counts: tuple[int, int],
        block: Json,
        opening: Json,
        deltas: list[Json],
        reason: str,
    ) -> Plan:
        """A message of one content ``block``, or its stream: the block ``opening``, its ``deltas``."""
        prompt, completion = counts
        usage = {"input_tokens": prompt, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        message: Json = {
            "id": f"msg_fake{serial}",
            "type": "message",
            "role": "assistant",
            "model": chat.model,
            "content": [block],
            "stop_reason": reason,
            "stop_sequence": None,
            "usage": {**usage, "output_tokens": completion},
        }
        if not chat.stream:
            return _json_plan(200, message)
        start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
        parts = [
            _sse({"type": "message_start", "message": start}, "message_start"),
            _sse({"type": "content_block_start", "index": 0, "content_block": opening}, "content_block_start"),
            _sse({"type": "ping"}, "ping"),
        ]
        parts += [
            _sse({"type": "content_block_delta", "index": 0, "delta": delta}, "content_block_delta") for delta in deltas
        ]
        parts += [
            _sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
            _sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": reason, "stop_sequence": None},
                    "usage": {"output_tokens": completion},
                },
                "message_delta",
            ),
            _sse({"type": "message_stop"}, "message_stop"),
        ]
        return self._stream(parts, "text/event-stream; charset=utf-8")

    # -- Gemini

    def gemini(self, chat: _Chat) -> Plan:
        ident = f"fake{next(self.serial)}"
        if chat.call is not None:
            tool, rest = chat.call
            prompt, completion = chat.call_usage()
            part = {"functionCall": {"name": tool, "args": {"q": rest}}, "thoughtSignature": FAKE_THOUGHT_SIGNATURE}
            response = _gemini_response(chat, ident, prompt, [part], completion, "STOP")
            if not chat.stream:
                return _json_plan(200, response)
            return self._stream([_sse(response, crlf=True)], "text/event-stream")  # Gemini sends a call whole
        words, cut = _answer_words(chat.last_user, chat.max_tokens)
        prompt, completion = chat.usage(words)
        reason = "MAX_TOKENS" if cut else "STOP"
        if not chat.stream:
            return _json_plan(
                200, _gemini_response(chat, ident, prompt, [{"text": " ".join(words)}], completion, reason)
            )
        pieces = _pieces(words)
        parts = [
            _sse(
                _gemini_response(
                    chat, ident, prompt, [{"text": piece}], i + 1, reason if i + 1 == len(pieces) else None
                ),
                crlf=True,
            )
            for i, piece in enumerate(pieces)
        ]
        return self._stream(parts, "text/event-stream")

    # -- Ollama

    def ollama(self, chat: _Chat) -> Plan:
        if chat.call is not None:
            tool, rest = chat.call
            message = {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"function": {"name": tool, "arguments": {"q": rest}}}],
            }
            return self._ollama(chat, chat.call_usage(), message, [message], "stop")
        words, cut = _answer_words(chat.last_user, chat.max_tokens)
        return self._ollama(
            chat,
            chat.usage(words),
            {"role": "assistant", "content": " ".join(words)},
            [{"role": "assistant", "content": piece} for piece in _pieces(words)],
            "length" if cut else "stop",
        )

    def _ollama(self, chat: _Chat, counts: tuple[int, int], message: Json, pieces: list[Json], reason: str) -> Plan:
        """An answer ``message``, or its stream: a line per piece, then the final line with the counts."""
        prompt, completion = counts
        head = {"model": chat.model, "created_at": _CREATED_AT}
        final = {
            "done_reason": reason,
            "total_duration": 1000000,
            "load_duration": 1000,
            "prompt_eval_count": prompt,
            "prompt_eval_duration": 1000,
            "eval_count": completion,
            "eval_duration": 1000,
        }
        if not chat.stream:
            return _json_plan(200, {**head, "message": message, "done": True, **final})
        parts = [orjson.dumps({**head, "message": piece, "done": False}) + b"\n" for piece in pieces]
        parts.append(
            orjson.dumps({**head, "message": {"role": "assistant", "content": ""}, "done": True, **final}) + b"\n"
        )
        return self._stream(parts, "application/x-ndjson")


def _gemini_response(chat: _Chat, ident: str, prompt: int, parts: list[Json], output: int, finish: str | None) -> Json:
    """A GenerateContentResponse of one candidate (``finish``: its finishReason, None while streaming)."""
    candidate: Json = {"content": {"parts": parts, "role": "model"}}
    if finish:
        candidate["finishReason"] = finish
    candidate["index"] = 0
    return {
        "candidates": [candidate],
        "usageMetadata": {
            "promptTokenCount": prompt,
            "candidatesTokenCount": output,
            "totalTokenCount": prompt + output,
        },
        "modelVersion": chat.model,
        "responseId": ident,
    }


def _errors(wire: str, status: int, message: str, kind: str) -> Plan:
    """An error answer in ``wire``'s own shape."""
    if wire == "anthropic":
        return _json_plan(status, {"type": "error", "error": {"type": kind, "message": message}})
    if wire == "gemini":
        google = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 404: "NOT_FOUND"}.get(status, "INTERNAL")
        return _json_plan(status, {"error": {"code": status, "message": message, "status": google}})
    if wire == "ollama":
        return _json_plan(status, {"error": message})
    return _json_plan(status, {"error": {"message": message, "type": kind, "param": None, "code": None}})


def _unauthorized(wire: str, presented: str) -> Plan:
    if wire == "openai":
        shown = f"{presented[:5]}***{presented[-4:]}" if len(presented) > 9 else presented
        message = f"Incorrect API key provided: {shown}. You can find your API key at the provider's site."
        return _json_plan(
            401,
            {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}},
        )
    if wire == "anthropic":
        return _errors(wire, 401, "invalid x-api-key", "authentication_error")
    if wire == "gemini":
        return _errors(wire, 401, "API key not valid. Please pass a valid API key.", "")
    return _errors(wire, 401, "unauthorized", "")


# --- Scenarios -----------------------------------------------------------------------------------


def _bytes(value: Any) -> bytes:
    """A scenario chunk or body: text, ``{"b64": ...}`` (exact bytes) or a JSON value."""
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    return orjson.dumps(value)


def load_scenario(name: str, directory: Path | str | None = None) -> Json | None:
    """The scenario ``name`` (``<dir>/<name>.json``), or None when there is none."""
    if not _SCENARIO_NAME.fullmatch(name) or name.startswith("."):
        return None
    path = Path(directory or SCENARIO_DIR) / f"{name}.json"
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def scenario_bytes(scenario: Json) -> bytes:
    """Everything a scenario's body sends, joined (what a reader of the whole body gets)."""
    if "chunks" in scenario:
        return b"".join(_bytes(chunk) for chunk in scenario["chunks"])
    return _bytes(scenario["body"]) if "body" in scenario else b""


def _scenario_plan(scenario: Json) -> Plan:
    headers = [(str(k), str(v)) for k, v in scenario.get("headers") or []]
    if "chunks" in scenario:
        parts = [_bytes(chunk) for chunk in scenario["chunks"]]
        framing = scenario.get("framing", "chunked")
    else:
        parts = [_bytes(scenario["body"])] if "body" in scenario else []
        framing = scenario.get("framing", "length")
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.insert(0, ("content-type", "text/event-stream" if "chunks" in scenario else "application/json"))
    return Plan(
        int(scenario.get("status", 200)),
        headers,
        parts,
        framing,
        float(scenario.get("chunk_delay_ms", 0)) / 1000,
        float(scenario.get("delay_ms", 0)) / 1000,
        scenario.get("disconnect_after"),
        float(scenario.get("stall_ms", 0)) / 1000,
        int(scenario.get("stall_after", 0)),
    )


# --- The server ----------------------------------------------------------------------------------


@dataclass
class _Head:
    method: str
    target: str
    headers: list[tuple[str, str]] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key == name), None)


class FakeProvider:
    """The fake provider: in a background thread (:meth:`start` / :meth:`stop`, or ``with``)
    or in the current loop (:meth:`serve_forever`)."""

    def __init__(
        self,
        keys: Iterable[str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        chunk_delay_ms: float = 0.0,
        scenario_dir: Path | str | None = None,
    ) -> None:
        self.keys = set(keys or ())
        self.host = host
        self.port = port
        self.scenario_dir = Path(scenario_dir or SCENARIO_DIR)
        self.requests: list[Received] = []
        self._answers = _Answers(chunk_delay_ms / 1000)
        self._runner = LoopThread(f"fake-provider-{id(self):x}")
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- addresses

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def base_url(self, kind: str) -> str:
        """The provider base URL to configure for a wire format."""
        return self.url + {"openai": "/v1", "gemini": "/v1beta"}.get(kind, "")

    @property
    def chunk_delay_ms(self) -> float:
        return self._answers.chunk_delay * 1000

    @chunk_delay_ms.setter
    def chunk_delay_ms(self, value: float) -> None:
        self._answers.chunk_delay = value / 1000

    def reset(self) -> None:
        self.requests.clear()

    def wait_requests(self, count: int, timeout: float = 5.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.requests

    # -- running

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> FakeProvider:
        self._runner.start(self._listen)
        return self

    def stop(self) -> None:
        self._runner.stop(self._shutdown)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        tasks = [task for task in self._tasks if not task.done()]
        if tasks:  # aborted connections end at once; a sleeping stream is cut short
            _, pending = await asyncio.wait(tasks, timeout=0.2)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1)

    async def serve_forever(self) -> None:
        await self._listen()
        assert self._server is not None
        async with self._server:
            await self._server.serve_forever()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._connection, self.host, self.port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    # -- HTTP/1.1

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            while True:
                request = await self._read(reader)
                if request is None:
                    return
                head, body = request
                plan = self._handle(head, body)
                keep = (head.get("connection") or "").lower() != "close"
                if not await self._send(writer, plan, keep):
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            return
        except asyncio.CancelledError:
            return  # stopping
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    async def _read(self, reader: asyncio.StreamReader) -> tuple[_Head, bytes] | None:
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        if len(raw) > _MAX_HEAD:
            raise ValueError("head too large")
        lines = raw.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        head = _Head(method, target)
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                head.headers.append((name.strip().lower(), value.strip()))
        if (head.get("transfer-encoding") or "").lower() == "chunked":
            body = bytearray()
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    while (await reader.readuntil(b"\r\n")) != b"\r\n":
                        pass
                    break
                body += await reader.readexactly(size)
                await reader.readexactly(2)
                if len(body) > _MAX_BODY:
                    raise ValueError("body too large")
            return head, bytes(body)
        length = int(head.get("content-length") or 0)
        if length > _MAX_BODY:
            raise ValueError("body too large")
        return head, await reader.readexactly(length) if length else b""

    async def _send(self, writer: asyncio.StreamWriter, plan: Plan, keep: bool) -> bool:
        """Send the answer; False when the connection is done for."""
        if plan.delay:
            await asyncio.sleep(plan.delay)
        keep = keep and plan.framing != "close"
        try:
            reason = HTTPStatus(plan.status).phrase
        except ValueError:
            reason = {529: "Overloaded"}.get(plan.status, "Status")
        lines = [f"HTTP/1.1 {plan.status} {reason}"]
        lines += [f"{name}: {value}" for name, value in plan.headers]
        if plan.framing == "chunked":
            lines.append("transfer-encoding: chunked")
        elif plan.framing == "length":
            lines.append(f"content-length: {sum(len(p) for p in plan.parts)}")
        if not keep:
            lines.append("connection: close")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        for index, part in enumerate(plan.parts):
            if plan.disconnect_after is not None and index >= plan.disconnect_after:
                break
            if plan.stall and index == plan.stall_after:
                await writer.drain()
                await asyncio.sleep(plan.stall)
            elif index and plan.chunk_delay:
                await asyncio.sleep(plan.chunk_delay)
            if plan.framing == "chunked":
                if part:
                    writer.write(b"%x\r\n%b\r\n" % (len(part), part))
            else:
                writer.write(part)
            await writer.drain()
        if plan.disconnect_after is not None and plan.disconnect_after <= len(plan.parts):
            await writer.drain()
            writer.transport.abort()
            return False
        if plan.stall and plan.stall_after >= len(plan.parts):
            await writer.drain()
            await asyncio.sleep(plan.stall)
        if plan.framing == "chunked":
            writer.write(b"0\r\n\r\n")
        await writer.drain()
        return keep

    # -- routing

    def _handle(self, head: _Head, body: bytes) -> Plan:
        path, _, query = head.target.partition("?")
        if path == "/_fake/requests" and head.method == "GET":
            return _json_plan(200, [r.as_dict() for r in self.requests])
        if path == "/_fake/reset" and head.method == "POST":
            self.reset()
            return _json_plan(200, {"ok": True})
        self.requests.append(Received(head.method, path, query, list(head.headers), body))
        wire, action, model = self._route(head.method, path)
        if wire is None:
            return _json_plan(404, {"error": {"message": f"no such endpoint: {head.method} {path}"}})
        refused = self._check_key(wire, head, query)
        if refused is not None:
            return refused
        if action == "models":
            names = ["fake-chat", "fake-embed"]
            return _json_plan(
                200,
                {
                    "object": "list",
                    "data": [{"id": n, "object": "model", "created": 0, "owned_by": "fake"} for n in names],
                },
            )
        parsed = None
        with contextlib.suppress(orjson.JSONDecodeError):
            parsed = orjson.loads(body)
        if not isinstance(parsed, dict):
            return _errors(wire, 400, "the request body is not a JSON object", "invalid_request_error")
        model = model if wire == "gemini" else str(parsed.get("model") or "")
        if model.startswith(SCENARIO_PREFIX):
            scenario = load_scenario(model[len(SCENARIO_PREFIX) :], self.scenario_dir)
            if scenario is None:
                return _errors(wire, 404, f"no scenario named {model!r}", "not_found_error")
            return _scenario_plan(scenario)
        if action == "chat":
            if wire == "openai":
                return self._answers.openai(_chat_openai(parsed))
            if wire == "anthropic":
                return self._answers.anthropic(_chat_anthropic(parsed))
            if wire == "ollama":
                return self._answers.ollama(_chat_ollama(parsed))
            return self._answers.gemini(_chat_gemini(parsed, model, path.endswith(":streamGenerateContent")))
        return self._embeddings(wire, path, parsed)

    @staticmethod
    def _route(method: str, path: str) -> tuple[str | None, str, str]:
        """(wire format, action, model in the path) of an endpoint; wire None: unknown."""
        routes = {
            ("POST", "/v1/chat/completions"): ("openai", "chat"),
            ("POST", "/v1/embeddings"): ("openai", "embeddings"),
            ("GET", "/v1/models"): ("openai", "models"),
            ("POST", "/v1/messages"): ("anthropic", "chat"),
            ("POST", "/api/chat"): ("ollama", "chat"),
            ("POST", "/api/embed"): ("ollama", "embeddings"),
        }
        found = routes.get((method, path))
        if found:
            return found[0], found[1], ""
        match = _GEMINI_PATH.fullmatch(path)
        if match and method == "POST":
            action = "chat" if match.group(2).endswith("enerateContent") else "embeddings"
            return "gemini", action, unquote(match.group(1))
        return None, "", ""

    def _check_key(self, wire: str, head: _Head, query: str) -> Plan | None:
        if not self.keys:
            return None
        if wire == "anthropic":
            presented = head.get("x-api-key") or ""
        elif wire == "gemini":
            presented = head.get("x-goog-api-key") or ""
            if not presented:
                params = dict(p.partition("=")[::2] for p in query.split("&") if p)
                presented = unquote(params.get("key", ""))
        else:
            authorization = head.get("authorization") or ""
            presented = authorization[7:].strip() if authorization[:7].lower() == "bearer " else ""
        return None if presented in self.keys else _unauthorized(wire, presented)

    def _embeddings(self, wire: str, path: str, body: Json) -> Plan:
        if wire == "gemini":
            if path.endswith(":batchEmbedContents"):
                requests = body.get("requests")
                items = requests if isinstance(requests, list) else []
                texts = [_text(r.get("content")) for r in items if isinstance(r, dict)]
                return _json_plan(200, {"embeddings": [{"values": demo_vector(t)} for t in texts]})
            return _json_plan(200, {"embedding": {"values": demo_vector(_text(body.get("content")))}})
        value = body.get("input")
        texts = [value] if isinstance(value, str) else [str(v) for v in value] if isinstance(value, list) else []
        if not texts:
            return _errors(wire, 400, "input is required", "invalid_request_error")
        tokens = sum(_words(t) for t in texts)
        if wire == "ollama":
            return _json_plan(
                200,
                {
                    "model": body.get("model"),
                    "embeddings": [demo_vector(t) for t in texts],
                    "total_duration": 1000,
                    "load_duration": 100,
                    "prompt_eval_count": tokens,
                },
            )
        return _json_plan(
            200,
            {
                "object": "list",
                "data": [{"object": "embedding", "index": i, "embedding": demo_vector(t)} for i, t in enumerate(texts)],
                "model": body.get("model"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )


# --- Command line --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m gateway_node.ai.fake_provider",
        description="A fake AI model provider (OpenAI, Anthropic, Gemini and Ollama wire formats on one port).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9110)
    parser.add_argument("--key", action="append", default=[], help="an accepted credential (repeatable; none: any)")
    parser.add_argument(
        "--chunk-delay-ms", type=float, default=20.0, help="pause between streamed words (0 for benchmarks)"
    )
    parser.add_argument("--scenario-dir", default=None, help="where scenario/<name> models are read from")
    args = parser.parse_args(argv)
    fake = FakeProvider(
        args.key, host=args.host, port=args.port, chunk_delay_ms=args.chunk_delay_ms, scenario_dir=args.scenario_dir
    )
    runner: Callable[[Coroutine[Any, Any, None]], None] = asyncio.run
    with contextlib.suppress(ImportError):  # the node's loop: hundreds of streams for the benchmark
        import uvloop

        runner = uvloop.run
    print(
        f"fake provider on http://{args.host}:{args.port}  (openai …/v1, anthropic …, gemini …/v1beta, ollama …)",
        file=sys.stderr,
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):
        runner(fake.serve_forever())


if __name__ == "__main__":
    main()
