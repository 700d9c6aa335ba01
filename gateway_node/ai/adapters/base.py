"""What every provider adapter shares: the call it asks the node to make, usage, errors, and
the OpenAI chunk writer the translating adapters stream through.

An adapter is pure: it turns the client's OpenAI-shaped request into a :class:`ProviderCall`
(the node sends it), and the provider's answer back into client-bound bytes. It never does
I/O, so the node's request handler and the portal's prompt playground share it.

Error messages are shown to API consumers, so they never carry the provider's words about
credentials (OpenAI echoes part of the key: "Incorrect API key provided: sk-ab***"): 401/403
get a fixed text, and anything that looks like key material is masked in the rest.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import orjson

__all__ = [
    "CREDENTIAL_REFUSED",
    "Adapter",
    "ChunkWriter",
    "ProviderCall",
    "ProviderError",
    "StreamTranslator",
    "TranslatingStream",
    "Usage",
    "answer_json",
    "bearer_headers",
    "content_part",
    "count",
    "error_event",
    "json_body",
    "new_tool_call_id",
    "openai_tool_call",
    "openai_usage",
    "parse_json",
    "provider_error",
    "request_messages",
    "request_tools",
    "retry_after",
    "safe_message",
    "sampling",
    "stream_error",
    "text_of",
    "tool_call_parts",
    "tool_choice_of",
    "tool_finish",
]

CREDENTIAL_REFUSED = "the provider refused the gateway's credential"
DONE = b"data: [DONE]\n\n"
RETRYABLE_STATUSES = frozenset({408, 409, 425, 429, 529})


@dataclass(slots=True)
class Usage:
    """Token counts as the provider reported them; None = not reported (never invented)."""

    input_tokens: int | None = None  # prompt total: input + cache creation + cache read
    output_tokens: int | None = None
    cached_tokens: int | None = None  # cache-read part of input

    @property
    def total(self) -> int:
        return (self.input_tokens or 0) + (self.output_tokens or 0)


@dataclass(slots=True)
class ProviderCall:
    """One HTTP request for the node to send to the provider."""

    method: str  # "POST" / "GET"
    path: str  # appended to the provider base URL's path: "/chat/completions"
    query: str  # "" or "alt=sse"
    headers: list[tuple[str, str]]  # credential header, content-type, accept, anthropic-version ...
    body: bytes


class ProviderError(Exception):
    """The provider's answer (or the request for it) is unusable.

    ``status``: the provider's HTTP status (400 for a request the adapter cannot translate,
    502 for an unreadable answer); ``message``: safe to show (no credential); ``retryable``:
    another target or credential may do better (408/409/429/5xx/529, overload, unreadable).
    """

    def __init__(self, status: int, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retryable = retryable

    def __repr__(self) -> str:
        return f"ProviderError({self.status}, {self.message!r}, retryable={self.retryable})"


class StreamTranslator(Protocol):
    """Turns one streamed provider answer into client-bound OpenAI SSE bytes.

    ``feed`` takes raw upstream body bytes in any split and returns only complete events
    (b"" when none yet). ``close`` is called when the upstream body ended: it returns the rest
    and ``data: [DONE]`` (exactly once overall) when the answer completed normally; when it
    returns with ``done`` still False the answer was cut short and the caller ends the stream
    with ``abort``. ``abort`` returns one error event (never ``[DONE]``; b"" when the stream
    already ended). ``usage`` holds the counts seen so far at any time.
    """

    usage: Usage
    done: bool  # the provider signalled a normal end of the answer
    error: str  # "" or the provider's mid-stream error message (no credential in it)

    def feed(self, data: bytes) -> bytes: ...

    def close(self) -> bytes: ...

    def abort(self, message: str) -> bytes: ...


class Adapter(Protocol):
    """One provider wire format."""

    kind: str  # "openai" | "anthropic" | "gemini" | "ollama"
    supports_embeddings: bool

    def chat(self, request: dict[str, Any], model: str, secret: str, *, stream: bool) -> ProviderCall: ...

    def chat_result(self, status: int, body: bytes, public_model: str) -> tuple[bytes, Usage]: ...

    def chat_stream(self, public_model: str, *, include_usage: bool) -> StreamTranslator: ...

    def stream_status_error(self, status: int, body: bytes) -> ProviderError: ...

    def embeddings(self, request: dict[str, Any], model: str, secret: str) -> ProviderCall: ...

    def embeddings_result(self, status: int, body: bytes, public_model: str) -> tuple[bytes, Usage]: ...


# --- Errors --------------------------------------------------------------------------------------

# Things that look like key material: OpenAI/Anthropic style prefixes, Google API keys,
# masked keys ("sk-ab***1234", "0123***cdef"), and long unbroken tokens mixing letters and
# digits (ordinary long words stay).
_KEYISH = re.compile(
    r"\b(?:sk|pk|rk|key|api|sess)[-_][A-Za-z0-9_\-*.]{3,}"
    r"|\bAIza[0-9A-Za-z_\-]{6,}"
    r"|[A-Za-z0-9_\-.]*\*{2,}[A-Za-z0-9_\-.*]*"
    r"|(?=[A-Za-z0-9_\-]*\d)(?=[A-Za-z0-9_\-]*[A-Za-z])[A-Za-z0-9_\-]{20,}",
    re.IGNORECASE,
)
_MAX_MESSAGE = 300


def safe_message(message: str) -> str:
    """``message`` without anything that looks like key material, on one line, bounded."""
    text = " ".join(str(message).split())
    text = _KEYISH.sub("[redacted]", text)
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 1] + "…"
    return text


def parse_json(body: bytes) -> Any:
    """The body as JSON, or None when it is not JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _error_fields(body: bytes) -> tuple[str, str]:
    """(message, type/status) from the usual provider error shapes."""
    data = parse_json(body)
    if isinstance(data, list) and data and isinstance(data[0], dict):  # Gemini sometimes wraps in a list
        data = data[0]
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, str):
            return err, ""
        if isinstance(err, dict):
            message = err.get("message")
            kind = err.get("type") or err.get("status") or err.get("code") or ""
            return (str(message) if message is not None else ""), str(kind)
    return "", ""


def provider_error(status: int, body: bytes) -> ProviderError:
    """The :class:`ProviderError` for a non-2xx provider answer, classified."""
    message, kind = _error_fields(body)
    lowered = f"{kind} {message}".lower()
    if status in (401, 403) or "api_key_invalid" in lowered or "api key not valid" in lowered:
        return ProviderError(status, CREDENTIAL_REFUSED, retryable=False)
    overloaded = "overloaded" in lowered or kind in ("UNAVAILABLE", "RESOURCE_EXHAUSTED")
    retryable = status in RETRYABLE_STATUSES or status >= 500 or overloaded
    text = safe_message(message) if message else f"the provider answered HTTP {status}"
    return ProviderError(status, text, retryable=retryable)


def unreadable(what: str = "answer") -> ProviderError:
    return ProviderError(502, f"the provider's {what} could not be read", retryable=True)


def answer_json(status: int, body: bytes) -> Any:
    """A successful provider answer as JSON (None when it is not JSON); the classified
    :class:`ProviderError` for a non-2xx one."""
    if not 200 <= status < 300:
        raise provider_error(status, body)
    return parse_json(body)


def stream_error(error: Any) -> str:
    """The safe message of an error a provider sent mid-stream (its ``message`` or the text itself)."""
    message = error.get("message") if isinstance(error, dict) else error
    return safe_message(str(message or "")) or "upstream error"


def count(value: Any) -> int | None:
    """A token count as the provider reported it: a non-negative integer, else None (unknown)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def retry_after(headers: list[tuple[bytes, bytes]] | list[tuple[str, str]]) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date), or None."""
    for name, value in headers:
        key = name.decode("latin-1") if isinstance(name, bytes) else name
        if key.lower() != "retry-after":
            continue
        text = (value.decode("latin-1") if isinstance(value, bytes) else value).strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                when = parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                return None
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return max(0.0, (when - datetime.now(UTC)).total_seconds())
        if seconds != seconds or seconds < 0 or seconds == float("inf"):  # NaN, negative, inf
            return None
        return seconds
    return None


# --- Requests ------------------------------------------------------------------------------------


def json_body(obj: Any) -> bytes:
    return orjson.dumps(obj)


def bearer_headers(secret: str, accept: str) -> list[tuple[str, str]]:
    """JSON request headers, with the credential (when there is one) as a bearer token."""
    headers = [("content-type", "application/json"), ("accept", accept)]
    if secret:
        headers.insert(0, ("authorization", f"Bearer {secret}"))
    return headers


def request_messages(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The request's messages, checked enough to translate (400 otherwise)."""
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ProviderError(400, "messages must be a non-empty list")
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise ProviderError(400, "each message needs a role")
    return messages


def text_of(content: Any) -> str:
    """The text of an OpenAI message content: a string, or the text parts of a list."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text") or "") for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    raise ProviderError(400, "message content must be a string or a list of parts")


def max_tokens_of(request: dict[str, Any]) -> int | None:
    value = request.get("max_completion_tokens")
    if value is None:
        value = request.get("max_tokens")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ProviderError(400, "max_tokens must be a positive integer")
    return value


def stop_list(request: dict[str, Any]) -> list[str] | None:
    stop = request.get("stop")
    if stop is None:
        return None
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        return list(stop)
    raise ProviderError(400, "stop must be a string or a list of strings")


def sampling(request: dict[str, Any], *, top_p: str, max_tokens: str, stop: str) -> dict[str, Any]:
    """The request's temperature, top_p, max tokens and stop sequences under the provider's
    names for them (only those given)."""
    out: dict[str, Any] = {}
    if request.get("temperature") is not None:
        out["temperature"] = request["temperature"]
    if request.get("top_p") is not None:
        out[top_p] = request["top_p"]
    limit = max_tokens_of(request)
    if limit is not None:
        out[max_tokens] = limit
    stops = stop_list(request)
    if stops:
        out[stop] = stops
    return out


def content_part(part: Any) -> tuple[str, Any]:
    """("text", its text) or ("image_url", its URL, unchecked) of an OpenAI content part; 400
    for any other part."""
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text":
        return kind, str(part.get("text") or "")
    if kind == "image_url":
        image = part.get("image_url")
        return kind, image.get("url") if isinstance(image, dict) else image
    raise ProviderError(400, f"content part type {kind!r} is not supported by this provider")


def data_url(url: str) -> tuple[str, str] | None:
    """(media type, base64 data) of a ``data:`` URL, or None."""
    if not url.startswith("data:"):
        return None
    head, comma, data = url[5:].partition(",")
    if not comma or not head.endswith(";base64"):
        return None
    return head[: -len(";base64")] or "application/octet-stream", data


# --- Tools (OpenAI function calling) -------------------------------------------------------------


def request_tools(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``function`` objects of the request's ``tools`` (name, description, parameters),
    checked (400 otherwise); [] when there are none."""
    tools = request.get("tools")
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise ProviderError(400, "tools must be a list")
    functions = []
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            raise ProviderError(400, f"tools[{index}]: only function tools are supported by this provider")
        function = tool.get("function")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
            raise ProviderError(400, f"tools[{index}].function needs a name")
        if function.get("parameters") is not None and not isinstance(function["parameters"], dict):
            raise ProviderError(400, f"tools[{index}].function.parameters must be a JSON Schema object")
        if function.get("description") is not None and not isinstance(function["description"], str):
            raise ProviderError(400, f"tools[{index}].function.description must be a string")
        functions.append(function)
    return functions


def tool_choice_of(request: dict[str, Any], functions: list[dict[str, Any]]) -> tuple[str | None, str | None]:
    """(mode, function name) of the request's ``tool_choice``: mode None (not given), "auto",
    "none", "required" or "function" (then the name is one of ``functions``); 400 otherwise."""
    choice = request.get("tool_choice")
    if choice is None:
        return None, None
    if choice in ("auto", "none", "required"):
        return choice, None
    function = choice.get("function") if isinstance(choice, dict) and choice.get("type") == "function" else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str) or not name:
        raise ProviderError(
            400, 'tool_choice must be "auto", "none", "required" or {"type": "function", "function": {"name": …}}'
        )
    if not any(f["name"] == name for f in functions):
        raise ProviderError(400, f"tool_choice names the function {name!r}, which is not among the tools")
    return "function", name


def tool_call_parts(call: Any, where: str) -> tuple[str, str, dict[str, Any]]:
    """(id, function name, arguments as an object) of an assistant message's tool call;
    ``arguments`` is the JSON string OpenAI sends (an object is taken as well)."""
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
        raise ProviderError(400, f"{where} needs a function with a name")
    arguments = function.get("arguments")
    if arguments is None or arguments == "":
        parsed: Any = {}
    elif isinstance(arguments, str):
        parsed = parse_json(arguments.encode())
    else:
        parsed = arguments
    if not isinstance(parsed, dict):
        raise ProviderError(400, f"{where}.function.arguments must be a JSON object")
    call_id = call.get("id")
    return (call_id if isinstance(call_id, str) else ""), function["name"], parsed


def new_tool_call_id() -> str:
    """An id for a tool call the provider gave none: unique, because a conversation carries the
    calls of every turn and some providers (Anthropic) refuse two calls with the same id."""
    return "call_" + uuid.uuid4().hex[:24]


def openai_tool_call(
    call_id: str, name: str, arguments: Any, *, index: int | None = None, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An OpenAI tool call (``arguments`` as a JSON string); with ``index`` for a stream delta."""
    if arguments is None:
        arguments = {}
    text = arguments if isinstance(arguments, str) else orjson.dumps(arguments).decode()
    out: dict[str, Any] = {} if index is None else {"index": index}
    out.update({"id": call_id, "type": "function", "function": {"name": name, "arguments": text}})
    if extra:
        out.update(extra)
    return out


# --- Answers -------------------------------------------------------------------------------------


def openai_usage(usage: Usage) -> dict[str, Any]:
    """OpenAI's usage object for a translated answer (absent counts as 0: the shape is fixed)."""
    out: dict[str, Any] = {
        "prompt_tokens": usage.input_tokens or 0,
        "completion_tokens": usage.output_tokens or 0,
        "total_tokens": usage.total,
    }
    if usage.cached_tokens is not None:
        out["prompt_tokens_details"] = {"cached_tokens": usage.cached_tokens}
    return out


def tool_finish(reason: str, called: bool) -> str:
    """The OpenAI finish reason of an answer that ``called`` tools: "stop" becomes "tool_calls"."""
    return "tool_calls" if reason == "stop" and called else reason


def completion_id(provider_id: Any = None) -> str:
    if isinstance(provider_id, str) and provider_id:
        return "chatcmpl-" + provider_id
    return "chatcmpl-" + uuid.uuid4().hex


def chat_completion(
    public_model: str,
    content: str,
    finish_reason: str | None,
    usage: Usage,
    *,
    provider_id: Any = None,
    tool_calls: list[dict[str, Any]] | None = None,
) -> bytes:
    """A client-bound OpenAI ``chat.completion`` object."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
        if not content:
            message["content"] = None
    return orjson.dumps(
        {
            "id": completion_id(provider_id),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": public_model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
            "usage": openai_usage(usage),
        }
    )


def embeddings_list(public_model: str, vectors: list[list[float]], usage: Usage) -> bytes:
    """A client-bound OpenAI embeddings list."""
    return orjson.dumps(
        {
            "object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
            "model": public_model,
            "usage": {"prompt_tokens": usage.input_tokens or 0, "total_tokens": usage.input_tokens or 0},
        }
    )


def embedding_inputs(request: dict[str, Any]) -> tuple[list[str], bool]:
    """(texts, was a list) of an embeddings request's ``input`` (texts only: 400 otherwise)."""
    value = request.get("input")
    if isinstance(value, str):
        return [value], False
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value), True
    raise ProviderError(400, "input must be a string or a non-empty list of strings")


def error_event(message: str) -> bytes:
    """The one event that ends a stream the provider failed midway."""
    payload = {"error": {"code": "upstream_error", "message": safe_message(message) or "upstream error"}}
    return b"data: " + orjson.dumps(payload) + b"\n\n"


class ChunkWriter:
    """Writes OpenAI ``chat.completion.chunk`` events for a translated stream and keeps the
    translator's bookkeeping (role sent, finish sent, [DONE] sent, error sent)."""

    __slots__ = ("created", "finished", "id", "include_usage", "model", "role_sent", "terminated", "tool_count")

    def __init__(self, public_model: str, include_usage: bool) -> None:
        self.id = completion_id()
        self.created = int(time.time())
        self.model = public_model
        self.include_usage = include_usage
        self.role_sent = False
        self.finished = False
        self.terminated = False  # [DONE] or an error event went out: nothing more
        self.tool_count = 0

    def _chunk(self, choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> bytes:
        obj: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }
        if usage is not None:
            obj["usage"] = usage
        return b"data: " + orjson.dumps(obj) + b"\n\n"

    def delta(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        out = b""
        if not self.role_sent:
            self.role_sent = True
            out = self._chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
            if not delta and finish_reason is None:
                return out
        return out + self._chunk([{"index": 0, "delta": delta, "finish_reason": finish_reason}])

    def role(self) -> bytes:
        return b"" if self.role_sent else self.delta({})

    def tool_call(self, call: dict[str, Any]) -> bytes:
        """The delta of one more tool call (``call["index"]`` is :attr:`tool_count` before it)."""
        self.tool_count += 1
        return self.delta({"tool_calls": [call]})

    def content(self, text: str) -> bytes:
        return self.delta({"content": text}) if text else b""

    def finish(self, reason: str) -> bytes:
        if self.finished:
            return b""
        self.finished = True
        return self.delta({}, reason)

    def end(self, usage: Usage) -> bytes:
        """Usage chunk (when the client asked) and [DONE], once."""
        if self.terminated:
            return b""
        self.terminated = True
        out = self.role()
        if self.include_usage:
            out += self._chunk([], openai_usage(usage))
        return out + DONE

    def error(self, message: str) -> bytes:
        if self.terminated:
            return b""
        self.terminated = True
        return error_event(message)


class TranslatingStream:
    """What the streams of the translating adapters share: the :class:`StreamTranslator`
    state, the chunk writer, and the end by an error the provider sent."""

    __slots__ = ("_writer", "done", "error", "usage")

    def __init__(self, public_model: str, include_usage: bool) -> None:
        self.usage = Usage()
        self.done = False
        self.error = ""
        self._writer = ChunkWriter(public_model, include_usage)

    def abort(self, message: str) -> bytes:
        return self._writer.error(message)

    def _failed(self, error: Any) -> bytes:
        """The error event for an error the provider sent mid-stream (see :func:`stream_error`)."""
        self.error = stream_error(error)
        return self._writer.error(self.error)
