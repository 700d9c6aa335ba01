"""Anthropic Messages API (``POST /v1/messages``) behind the unified OpenAI chat surface.

Requests: system (and developer) messages become the top-level ``system`` string (joined by
a blank line); ``max_tokens`` is always set (Anthropic requires it: default 4096); ``stop``
becomes ``stop_sequences``; images, tools, tool calls and tool results are translated.
Answers: text blocks joined, tool_use blocks → ``tool_calls``, stop reasons mapped, usage
with the prompt total = input + cache creation + cache read (cached = cache read).
Streams: message_start → the role chunk (and the input counts), text deltas → content chunks,
tool blocks → tool_call chunks, message_delta → the finish chunk (its output count is
cumulative: it replaces), message_stop → usage chunk (if asked) and ``[DONE]``, an ``error``
event → the gateway's error event; ``ping`` is ignored.
"""

from __future__ import annotations

from typing import Any

from gateway_node.ai.adapters.base import (
    ProviderCall,
    ProviderError,
    TranslatingStream,
    Usage,
    answer_json,
    chat_completion,
    content_part,
    count,
    data_url,
    json_body,
    max_tokens_of,
    openai_tool_call,
    parse_json,
    provider_error,
    request_messages,
    stop_list,
    text_of,
    unreadable,
)
from gateway_node.ai.sse import EventSplitter

__all__ = ["AnthropicAdapter", "usage_from"]

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def _count(value: Any) -> int:
    return count(value) or 0  # Anthropic always sends its counts: an odd one counts as none


def usage_from(obj: Any, previous: Usage | None = None) -> Usage:
    """Usage from an Anthropic ``usage`` object; counts it lacks keep their ``previous`` value."""
    usage = (
        Usage() if previous is None else Usage(previous.input_tokens, previous.output_tokens, previous.cached_tokens)
    )
    if not isinstance(obj, dict):
        return usage
    if "input_tokens" in obj:
        cache_read = _count(obj.get("cache_read_input_tokens"))
        usage.input_tokens = (
            _count(obj.get("input_tokens")) + _count(obj.get("cache_creation_input_tokens")) + cache_read
        )
        usage.cached_tokens = cache_read
    if "output_tokens" in obj:
        usage.output_tokens = _count(obj.get("output_tokens"))
    return usage


def _blocks(content: Any) -> str | list[dict[str, Any]]:
    """A user message's content as Anthropic content (a string stays a string)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise ProviderError(400, "message content must be a string or a list of parts")
    blocks: list[dict[str, Any]] = []
    for part in content:
        kind, value = content_part(part)
        if kind == "text":
            blocks.append({"type": "text", "text": value})
            continue
        if not isinstance(value, str):
            raise ProviderError(400, "image_url needs a url")
        inline = data_url(value)
        if inline:
            source = {"type": "base64", "media_type": inline[0], "data": inline[1]}
        else:
            source = {"type": "url", "url": value}
        blocks.append({"type": "image", "source": source})
    return blocks


def _tool_use(call: Any) -> dict[str, Any]:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict):
        raise ProviderError(400, "tool_calls entries need a function")
    arguments = function.get("arguments") or "{}"
    parsed = parse_json(arguments.encode()) if isinstance(arguments, str) else arguments
    return {
        "type": "tool_use",
        "id": str(call.get("id") or ""),
        "name": str(function.get("name") or ""),
        "input": parsed if isinstance(parsed, dict) else {},
    }


def _tools(request: dict[str, Any], body: dict[str, Any]) -> None:
    tools = request.get("tools")
    if tools:
        if not isinstance(tools, list):
            raise ProviderError(400, "tools must be a list")
        out = []
        for tool in tools:
            function = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(function, dict) or not function.get("name"):
                raise ProviderError(400, "tools entries need a function with a name")
            entry: dict[str, Any] = {"name": function["name"]}
            if function.get("description"):
                entry["description"] = function["description"]
            entry["input_schema"] = function.get("parameters") or {"type": "object", "properties": {}}
            out.append(entry)
        body["tools"] = out
    choice = request.get("tool_choice")
    if choice in ("auto", "none"):
        body["tool_choice"] = {"type": choice}
    elif choice == "required":
        body["tool_choice"] = {"type": "any"}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        body["tool_choice"] = {"type": "tool", "name": choice["function"].get("name")}


def _translate(request: dict[str, Any], model: str, stream: bool) -> dict[str, Any]:
    system: list[str] = []
    messages: list[dict[str, Any]] = []
    for message in request_messages(request):
        role, content = message["role"], message.get("content")
        if role in ("system", "developer"):
            system.append(text_of(content))
        elif role == "user":
            messages.append({"role": "user", "content": _blocks(content)})
        elif role == "assistant":
            calls = message.get("tool_calls") or []
            text = text_of(content)
            if calls:
                blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
                blocks += [_tool_use(call) for call in calls]
                messages.append({"role": "assistant", "content": blocks})
            else:
                messages.append({"role": "assistant", "content": text})
        elif role == "tool":
            result = {
                "type": "tool_result",
                "tool_use_id": str(message.get("tool_call_id") or ""),
                "content": text_of(content),
            }
            last = messages[-1] if messages else None
            if (
                last
                and last["role"] == "user"
                and isinstance(last["content"], list)
                and last["content"]
                and all(block.get("type") == "tool_result" for block in last["content"])
            ):
                last["content"].append(result)  # results of one assistant turn go together
            else:
                messages.append({"role": "user", "content": [result]})
        else:
            raise ProviderError(400, f"message role {role!r} is not supported")
    if not messages:
        raise ProviderError(400, "at least one user message is required")
    body: dict[str, Any] = {"model": model}
    if system:
        body["system"] = "\n\n".join(system)
    body["messages"] = messages
    body["max_tokens"] = max_tokens_of(request) or DEFAULT_MAX_TOKENS
    stops = stop_list(request)
    if stops:
        body["stop_sequences"] = stops
    for name in ("temperature", "top_p"):
        if request.get(name) is not None:
            body[name] = request[name]
    _tools(request, body)
    if stream:
        body["stream"] = True
    return body


def _headers(secret: str, accept: str) -> list[tuple[str, str]]:
    return [
        ("x-api-key", secret),
        ("anthropic-version", API_VERSION),
        ("content-type", "application/json"),
        ("accept", accept),
    ]


class AnthropicStream(TranslatingStream):
    """Translates Anthropic message events into OpenAI chunks."""

    __slots__ = ("_splitter", "_tools")

    def __init__(self, public_model: str, include_usage: bool) -> None:
        super().__init__(public_model, include_usage)
        self._splitter = EventSplitter()
        self._tools: dict[int, int] = {}  # content block index → tool call index

    def feed(self, data: bytes) -> bytes:
        out = []
        for event in self._splitter.feed(data):
            if self._writer.terminated:
                break
            if event.data is not None:
                out.append(self._event(event.data))
        return b"".join(out)

    def close(self) -> bytes:
        out = [self._event(event.data) for event in self._splitter.close() if event.data is not None]
        return b"".join(out)

    def _event(self, data: str) -> bytes:
        if self._writer.terminated:
            return b""
        obj = parse_json(data.encode())
        if not isinstance(obj, dict):
            return b""
        kind = obj.get("type")
        writer = self._writer
        if kind == "content_block_delta":
            delta = obj.get("delta") or {}
            if delta.get("type") == "text_delta":
                return writer.content(str(delta.get("text") or ""))
            if delta.get("type") == "input_json_delta" and obj.get("index") in self._tools:
                call = {
                    "index": self._tools[obj["index"]],
                    "function": {"arguments": str(delta.get("partial_json") or "")},
                }
                return writer.delta({"tool_calls": [call]})
            return b""  # thinking, signatures, citations: not part of the OpenAI answer
        if kind == "message_start":
            message = obj.get("message") or {}
            self.usage = usage_from(message.get("usage"), self.usage)
            return writer.role()
        if kind == "content_block_start":
            block = obj.get("content_block") or {}
            if block.get("type") == "tool_use":
                index = self._tools[obj.get("index", -1)] = writer.tool_count
                return writer.tool_call(openai_tool_call(block.get("id", ""), block.get("name", ""), "", index=index))
            if block.get("type") == "text":
                return writer.content(str(block.get("text") or ""))
            return b""
        if kind == "message_delta":
            self.usage = usage_from(obj.get("usage"), self.usage)
            reason = (obj.get("delta") or {}).get("stop_reason")
            return writer.finish(STOP_REASONS.get(reason, "stop")) if reason else b""
        if kind == "message_stop":
            self.done = True
            return writer.finish("stop") + writer.end(self.usage)
        if kind == "error":
            err = obj.get("error")
            return self._failed(err if isinstance(err, dict) else None)
        return b""  # ping, content_block_stop, unknown future events


class AnthropicAdapter:
    kind = "anthropic"
    supports_embeddings = False

    def chat(self, request: dict[str, Any], model: str, secret: str, *, stream: bool) -> ProviderCall:
        body = _translate(request, model, stream)
        accept = "text/event-stream" if stream else "application/json"
        return ProviderCall("POST", "/v1/messages", "", _headers(secret, accept), json_body(body))

    def chat_result(self, status: int, body: bytes, public_model: str) -> tuple[bytes, Usage]:
        obj = answer_json(status, body)
        if not isinstance(obj, dict):
            raise unreadable()
        if obj.get("type") == "error":
            raise provider_error(529 if "overloaded" in str(obj).lower() else 502, body)
        content = obj.get("content")
        if not isinstance(content, list):
            raise unreadable()
        text = "".join(str(b.get("text") or "") for b in content if isinstance(b, dict) and b.get("type") == "text")
        calls = [
            openai_tool_call(b.get("id", ""), b.get("name", ""), b.get("input") or {})
            for b in content
            if isinstance(b, dict) and b.get("type") == "tool_use"
        ]
        usage = usage_from(obj.get("usage"))
        reason = STOP_REASONS.get(obj.get("stop_reason") or "end_turn", "stop")
        return chat_completion(public_model, text, reason, usage, provider_id=obj.get("id"), tool_calls=calls), usage

    def chat_stream(self, public_model: str, *, include_usage: bool) -> AnthropicStream:
        return AnthropicStream(public_model, include_usage)

    def stream_status_error(self, status: int, body: bytes) -> ProviderError:
        return provider_error(status, body)

    def embeddings(self, request: dict[str, Any], model: str, secret: str) -> ProviderCall:
        raise ProviderError(400, "this provider has no embeddings")

    def embeddings_result(self, status: int, body: bytes, public_model: str) -> tuple[bytes, Usage]:
        raise ProviderError(400, "this provider has no embeddings")
