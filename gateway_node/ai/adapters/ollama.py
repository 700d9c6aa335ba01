"""Ollama (``POST /api/chat``, NDJSON streams) behind the unified OpenAI chat surface.

Requests: messages keep their roles with text content (images → ``images``, base64 only),
sampling → ``options`` (temperature, top_p, num_predict, stop), JSON response formats →
``format``. Tools go as OpenAI sends them (Ollama takes the same shape); assistant
``tool_calls`` carry their arguments as an object (not a JSON string), ``tool`` messages name
the function they answer (``tool_name``). Ollama has no ``tool_choice``: "none" sends no tools,
one named function sends only that one, "required" cannot be enforced (the tools are sent).
A credential, when the provider has one (Ollama behind a proxy), goes as a bearer token.

Answers: usage from the ``done: true`` line (``prompt_eval_count`` / ``eval_count``; Ollama
omits the prompt count when the prompt was fully cached: then it stays unknown),
``done_reason`` stop/length; ``message.tool_calls`` → OpenAI ``tool_calls`` (ids made up when
Ollama gives none) with finish reason ``tool_calls``.
"""

from __future__ import annotations

from typing import Any

from gateway_node.ai.adapters.base import (
    ProviderCall,
    ProviderError,
    TranslatingStream,
    Usage,
    answer_json,
    bearer_headers,
    chat_completion,
    content_part,
    count,
    data_url,
    embedding_inputs,
    embeddings_list,
    json_body,
    new_tool_call_id,
    openai_tool_call,
    parse_json,
    provider_error,
    request_messages,
    request_tools,
    sampling,
    text_of,
    tool_call_parts,
    tool_choice_of,
    tool_finish,
    unreadable,
)
from gateway_node.ai.sse import LineSplitter

__all__ = ["OllamaAdapter", "usage_from"]

DONE_REASONS = {"stop": "stop", "length": "length"}


def usage_from(obj: dict[str, Any]) -> Usage:
    return Usage(count(obj.get("prompt_eval_count")), count(obj.get("eval_count")), None)


def _message(message: dict[str, Any], index: int, names: dict[str, str]) -> dict[str, Any]:
    role, content = message["role"], message.get("content")
    if role == "developer":
        role = "system"
    if role not in ("system", "user", "assistant", "tool"):
        raise ProviderError(400, f"message role {role!r} is not supported by this provider")
    if content is None or isinstance(content, str):
        out: dict[str, Any] = {"role": role, "content": content or ""}
    elif not isinstance(content, list):
        raise ProviderError(400, "message content must be a string or a list of parts")
    elif role == "tool":
        out = {"role": role, "content": text_of(content)}
    else:
        out = _parts(role, content)
    if role == "assistant" and message.get("tool_calls"):
        calls = message["tool_calls"]
        if not isinstance(calls, list):
            raise ProviderError(400, f"messages[{index}].tool_calls must be a list")
        out["tool_calls"] = []
        for number, call in enumerate(calls):
            call_id, name, arguments = tool_call_parts(call, f"messages[{index}].tool_calls[{number}]")
            names[call_id] = name
            out["tool_calls"].append({"function": {"name": name, "arguments": arguments}})
    if role == "tool":
        answering = message.get("tool_call_id")
        answered = names.get(answering) if isinstance(answering, str) else None
        if answered:
            out["tool_name"] = answered
    return out


def _parts(role: str, content: list[Any]) -> dict[str, Any]:
    texts: list[str] = []
    images: list[str] = []
    for part in content:
        kind, value = content_part(part)
        if kind == "text":
            texts.append(value)
            continue
        inline = data_url(value) if isinstance(value, str) else None
        if not inline:
            raise ProviderError(400, "this provider takes images as data: URLs only")
        images.append(inline[1])
    out: dict[str, Any] = {"role": role, "content": "".join(texts)}
    if images:
        out["images"] = images
    return out


def _tools(request: dict[str, Any]) -> list[dict[str, Any]]:
    functions = request_tools(request)
    mode, name = tool_choice_of(request, functions)
    if mode == "none":
        return []
    if mode == "function":
        functions = [f for f in functions if f["name"] == name]
    return [
        {"type": "function", "function": {k: f[k] for k in ("name", "description", "parameters") if k in f}}
        for f in functions
    ]


def _tool_calls(message: Any, first_index: int | None = None) -> list[dict[str, Any]]:
    """The OpenAI tool calls of an Ollama answer message (with stream indexes from ``first_index``)."""
    calls = message.get("tool_calls") if isinstance(message, dict) else None
    out: list[dict[str, Any]] = []
    for call in calls if isinstance(calls, list) else []:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        call_id = call.get("id") if isinstance(call.get("id"), str) and call.get("id") else new_tool_call_id()
        index = None if first_index is None else first_index + len(out)
        out.append(openai_tool_call(call_id, str(function.get("name") or ""), function.get("arguments"), index=index))
    return out


class OllamaStream(TranslatingStream):
    """Translates Ollama's NDJSON chat stream into OpenAI chunks."""

    __slots__ = ("_lines",)

    def __init__(self, public_model: str, include_usage: bool) -> None:
        super().__init__(public_model, include_usage)
        self._lines = LineSplitter()

    def feed(self, data: bytes) -> bytes:
        return b"".join(self._line(line) for line in self._lines.feed(data))

    def close(self) -> bytes:
        rest = self._lines.rest()
        return self._line(rest) if rest else b""

    def _line(self, line: bytes) -> bytes:
        if self._writer.terminated:
            return b""
        obj = parse_json(line)
        if not isinstance(obj, dict):
            return b""
        if "error" in obj:
            return self._failed(obj.get("error"))
        message = obj.get("message")
        text = str(message.get("content") or "") if isinstance(message, dict) else ""
        writer = self._writer
        out = writer.role() + writer.content(text)
        for call in _tool_calls(message, writer.tool_count):
            out += writer.tool_call(call)
        if obj.get("done") is True:
            self.usage = usage_from(obj)
            self.done = True
            reason = DONE_REASONS.get(obj.get("done_reason") or "stop", "stop")
            out += writer.finish(tool_finish(reason, bool(writer.tool_count)))
            out += writer.end(self.usage)
        return out


class OllamaAdapter:
    kind = "ollama"
    supports_embeddings = True

    def chat(self, request: dict[str, Any], model: str, secret: str, *, stream: bool) -> ProviderCall:
        names: dict[str, str] = {}  # tool call id → function name, for the tool messages answering them
        messages = [_message(m, i, names) for i, m in enumerate(request_messages(request))]
        body: dict[str, Any] = {"model": model, "messages": messages, "stream": stream}
        tools = _tools(request)
        if tools:
            body["tools"] = tools
        response_format = request.get("response_format")
        if isinstance(response_format, dict):
            if response_format.get("type") == "json_object":
                body["format"] = "json"
            elif response_format.get("type") == "json_schema":
                schema = (response_format.get("json_schema") or {}).get("schema")
                body["format"] = schema if isinstance(schema, dict) else "json"
        options = sampling(request, top_p="top_p", max_tokens="num_predict", stop="stop")
        if options:
            body["options"] = options
        accept = "application/x-ndjson" if stream else "application/json"
        return ProviderCall("POST", "/api/chat", "", bearer_headers(secret, accept), json_body(body))

    def chat_result(self, status: int, body: bytes, public_model: str) -> tuple[bytes, Usage]:
        obj = answer_json(status, body)
        if not isinstance(obj, dict) or not isinstance(obj.get("message"), dict):
            raise unreadable()
        usage = usage_from(obj)
        text = str(obj["message"].get("content") or "")
        calls = _tool_calls(obj["message"])
        reason = tool_finish(DONE_REASONS.get(obj.get("done_reason") or "stop", "stop"), bool(calls))
        return chat_completion(public_model, text, reason, usage, tool_calls=calls), usage

    def chat_stream(self, public_model: str, *, include_usage: bool) -> OllamaStream:
        return OllamaStream(public_model, include_usage)

    def stream_status_error(self, status: int, body: bytes) -> ProviderError:
        return provider_error(status, body)

    def embeddings(self, request: dict[str, Any], model: str, secret: str) -> ProviderCall:
        texts, many = embedding_inputs(request)
        body: dict[str, Any] = {"model": model, "input": texts if many else texts[0]}
        if isinstance(request.get("dimensions"), int):
            body["dimensions"] = request["dimensions"]
        return ProviderCall("POST", "/api/embed", "", bearer_headers(secret, "application/json"), json_body(body))

    def embeddings_result(self, status: int, body: bytes, public_model: str) -> tuple[bytes, Usage]:
        obj = answer_json(status, body)
        vectors = obj.get("embeddings") if isinstance(obj, dict) else None
        if not isinstance(vectors, list) or not all(isinstance(v, list) for v in vectors):
            raise unreadable()
        tokens = count(obj.get("prompt_eval_count")) if isinstance(obj, dict) else None
        usage = Usage(tokens, 0 if tokens is not None else None, None)
        return embeddings_list(public_model, vectors, usage), usage
