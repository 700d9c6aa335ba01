"""OpenAI and OpenAI-compatible providers: pass-through.

The request goes out as the client wrote it, with the provider's model id; streams get
``stream_options.include_usage`` so the gateway always learns the counts. Answers go back
with the provider's own bytes: each stream event as soon as it is complete, keep-alive
comments and ``\\r\\n`` framing included, except the usage-only chunk when the client did
not ask for it, anything after ``[DONE]``, and provider error events (replaced by the
gateway's one error event, with the message cleaned of key material).
"""

from __future__ import annotations

from typing import Any

from gateway_node.ai.adapters.base import (
    ProviderCall,
    ProviderError,
    Usage,
    answer_json,
    bearer_headers,
    count,
    error_event,
    json_body,
    parse_json,
    provider_error,
    request_messages,
    stream_error,
    unreadable,
)
from gateway_node.ai.sse import Event, EventSplitter

__all__ = ["OpenAIAdapter", "usage_from"]


def usage_from(obj: Any) -> Usage | None:
    """Usage from an OpenAI ``usage`` object (None when absent)."""
    if not isinstance(obj, dict):
        return None
    details = obj.get("prompt_tokens_details")
    cached = count(details.get("cached_tokens")) if isinstance(details, dict) else None
    return Usage(count(obj.get("prompt_tokens")), count(obj.get("completion_tokens")), cached)


class OpenAIStream:
    """Relays an OpenAI stream event by event, with the original bytes."""

    __slots__ = ("_ended", "_splitter", "done", "error", "include_usage", "usage")

    def __init__(self, include_usage: bool) -> None:
        self.include_usage = include_usage
        self.usage = Usage()
        self.done = False
        self.error = ""
        self._splitter = EventSplitter()
        self._ended = False  # [DONE] or an error event went out

    def feed(self, data: bytes) -> bytes:
        return self._relay(self._splitter.feed(data))

    def close(self) -> bytes:
        return self._relay(self._splitter.close())

    def abort(self, message: str) -> bytes:
        if self._ended:
            return b""
        self._ended = True
        return error_event(message)

    def _relay(self, events: list[Event]) -> bytes:
        out = []
        for event in events:
            if self._ended:
                break
            data = event.data
            if data is None:
                out.append(event.raw)  # keep-alive comments, stray blank lines
                continue
            if data.strip() == "[DONE]":
                self.done = True
                self._ended = True
                out.append(event.raw)
                continue
            obj = parse_json(data.encode())
            if isinstance(obj, dict):
                if "error" in obj and "choices" not in obj:
                    self.error = stream_error(obj["error"])
                    self._ended = True
                    out.append(error_event(self.error))
                    continue
                usage = usage_from(obj.get("usage"))
                if usage is not None:
                    self.usage = usage
                    if obj.get("choices") == [] and not self.include_usage:
                        continue
            out.append(event.raw)
        return b"".join(out)


class OpenAIAdapter:
    kind = "openai"
    supports_embeddings = True

    def chat(self, request: dict[str, Any], model: str, secret: str, *, stream: bool) -> ProviderCall:
        request_messages(request)
        body = dict(request)
        body["model"] = model
        body["stream"] = stream
        if stream:
            options = request.get("stream_options")
            body["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
        else:
            body.pop("stream_options", None)  # refused by OpenAI unless streaming
        accept = "text/event-stream" if stream else "application/json"
        return ProviderCall("POST", "/chat/completions", "", bearer_headers(secret, accept), json_body(body))

    def chat_result(self, status: int, body: bytes, public_model: str) -> tuple[bytes, Usage]:
        obj = answer_json(status, body)
        if not isinstance(obj, dict) or not isinstance(obj.get("choices"), list):
            raise unreadable()
        return body, usage_from(obj.get("usage")) or Usage()

    def chat_stream(self, public_model: str, *, include_usage: bool) -> OpenAIStream:
        return OpenAIStream(include_usage)

    def stream_status_error(self, status: int, body: bytes) -> ProviderError:
        return provider_error(status, body)

    def embeddings(self, request: dict[str, Any], model: str, secret: str) -> ProviderCall:
        if request.get("input") in (None, "", []):
            raise ProviderError(400, "input is required")
        body = dict(request)
        body["model"] = model
        return ProviderCall("POST", "/embeddings", "", bearer_headers(secret, "application/json"), json_body(body))

    def embeddings_result(self, status: int, body: bytes, public_model: str) -> tuple[bytes, Usage]:
        obj = answer_json(status, body)
        if not isinstance(obj, dict) or not isinstance(obj.get("data"), list):
            raise unreadable()
        usage = usage_from(obj.get("usage")) or Usage()
        if usage.input_tokens is not None and usage.output_tokens is None:
            usage.output_tokens = 0  # embeddings have no output tokens
        return body, usage
