"""Google Gemini (``generativelanguage`` v1beta) behind the unified OpenAI chat surface.

Requests: messages → ``contents`` (assistant → role "model"), system → ``systemInstruction``,
sampling → ``generationConfig`` (temperature, topP, maxOutputTokens, stopSequences; JSON
response formats → ``responseMimeType``, a JSON schema → ``responseSchema``), images →
``inlineData`` / ``fileData``. Tools → ``tools[].functionDeclarations``, ``tool_choice`` →
``toolConfig.functionCallingConfig`` (auto → AUTO, none → NONE, required → ANY, one function →
ANY with ``allowedFunctionNames``), assistant ``tool_calls`` → ``functionCall`` parts, ``tool``
messages → ``functionResponse`` parts (named after the call they answer). Schemas are cut down
to Gemini's OpenAPI subset (:func:`gemini_schema`). The key travels in ``x-goog-api-key``, never
in the URL.

Answers: the first candidate's text parts, ``functionCall`` parts → ``tool_calls`` (Gemini
gives no ids: ``call_…`` ones are made up; finish reason ``tool_calls``), finish reasons
mapped. A call's ``thoughtSignature`` (Gemini 3 wants it back with the call in the next turn)
travels as ``extra_content.google.thought_signature`` of the tool call, as in Google's own
OpenAI-compatible API; a replayed call without one gets Google's documented placeholder.
``usageMetadata`` is cumulative over a stream: each chunk's replaces the last (thinking tokens
are billed as output, so they count as output).

Gemini streams have no end event: a finish reason means the answer is complete, and the
usage chunk and ``[DONE]`` go out when the body ends (the last chunk carries the final counts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

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
from gateway_node.ai.sse import EventSplitter

__all__ = ["GeminiAdapter", "gemini_schema", "usage_from"]

FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}


TOOL_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY", "function": "ANY"}
#: Google's documented stand-in for a function call's thought signature that is not known.
SKIP_SIGNATURE = "skip_thought_signature_validator"


def usage_from(obj: Any) -> Usage | None:
    """Usage from ``usageMetadata`` (None when absent)."""
    if not isinstance(obj, dict):
        return None
    candidates, thoughts = count(obj.get("candidatesTokenCount")), count(obj.get("thoughtsTokenCount"))
    output = None if candidates is None and thoughts is None else (candidates or 0) + (thoughts or 0)
    prompt = count(obj.get("promptTokenCount"))
    cached = count(obj.get("cachedContentTokenCount"))
    if prompt is not None and cached is None:
        cached = 0
    return Usage(prompt, output, cached)


def _model_path(model: str) -> str:
    return "/models/" + quote(model.removeprefix("models/"), safe="-._~")


_SCHEMA_TYPES = {
    "string": "STRING",
    "number": "NUMBER",
    "integer": "INTEGER",
    "boolean": "BOOLEAN",
    "array": "ARRAY",
    "object": "OBJECT",
    "null": "NULL",
}
_SCHEMA_FORMATS = {"STRING": {"enum", "date-time"}, "NUMBER": {"float", "double"}, "INTEGER": {"int32", "int64"}}
_SCHEMA_KEPT = (
    "title",
    "description",
    "nullable",
    "default",
    "example",
    "pattern",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "propertyOrdering",
)
_SCHEMA_DEPTH = 32


def gemini_schema(schema: Any) -> dict[str, Any]:
    """A JSON Schema cut down to the OpenAPI subset Gemini takes (``Schema``): type names in
    capitals, ``["x", "null"]`` and ``anyOf`` with null → ``nullable``, ``oneOf`` → ``anyOf``,
    ``const`` → a one-value enum, local ``$ref``s inlined; what Gemini does not know
    (``additionalProperties``, ``$schema``, formats other than its own …) is left out rather
    than refused; a recursive ``$ref`` ends where it recurs. {} when nothing is left."""
    if not isinstance(schema, dict):
        return {}
    defs: dict[str, Any] = {}
    for key in ("definitions", "$defs"):
        if isinstance(schema.get(key), dict):
            defs.update({f"#/{key}/{name}": value for name, value in schema[key].items()})
    return _schema(schema, defs, (), 0)


def _schema(schema: Any, defs: dict[str, Any], refs: tuple[str, ...], depth: int) -> dict[str, Any]:
    if not isinstance(schema, dict) or depth > _SCHEMA_DEPTH:
        return {}
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = defs.get(ref)
        if not isinstance(target, dict) or ref in refs:
            return {}
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        return _schema({**target, **rest}, defs, (*refs, ref), depth + 1)
    out: dict[str, Any] = {}
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if len(kinds) < len(kind):
            out["nullable"] = True
        kind = kinds[0] if len(kinds) == 1 else None
        if len(kinds) > 1:
            out["anyOf"] = [{"type": _SCHEMA_TYPES[k]} for k in kinds if k in _SCHEMA_TYPES]
    if isinstance(kind, str) and kind in _SCHEMA_TYPES:
        out["type"] = _SCHEMA_TYPES[kind]
    for key in _SCHEMA_KEPT:
        if key in schema:
            out[key] = schema[key]
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in _SCHEMA_FORMATS.get(out.get("type", ""), ()):
        out["format"] = fmt
    enum = [schema["const"]] if "const" in schema else schema.get("enum")
    if isinstance(enum, list) and enum and all(isinstance(v, str) for v in enum):  # Gemini: string enums only
        out["enum"] = enum
        out.setdefault("type", "STRING")
    properties = schema.get("properties")
    if isinstance(properties, dict):
        out["properties"] = {str(k): _schema(v, defs, refs, depth + 1) for k, v in properties.items()}
        required = schema.get("required")
        if isinstance(required, list):
            out["required"] = [r for r in required if isinstance(r, str) and r in properties]
    if isinstance(schema.get("items"), dict):
        out["items"] = _schema(schema["items"], defs, refs, depth + 1)
    choices = schema.get("anyOf", schema.get("oneOf"))
    if isinstance(choices, list):
        options = [c for c in choices if not (isinstance(c, dict) and c.get("type") == "null")]
        if len(options) < len(choices):
            out["nullable"] = True
        converted = [_schema(c, defs, refs, depth + 1) for c in options]
        if len(converted) == 1:  # Optional[X]: X, nullable
            out = {**converted[0], **out}
        elif converted:
            out["anyOf"] = converted
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1:
        out = {**_schema(all_of[0], defs, refs, depth + 1), **out}
    return out


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str) or content is None:
        return [{"text": content or ""}]
    if not isinstance(content, list):
        raise ProviderError(400, "message content must be a string or a list of parts")
    parts: list[dict[str, Any]] = []
    for part in content:
        kind, value = content_part(part)
        if kind == "text":
            parts.append({"text": value})
            continue
        if not isinstance(value, str):
            raise ProviderError(400, "image_url needs a url")
        inline = data_url(value)
        if inline:
            parts.append({"inlineData": {"mimeType": inline[0], "data": inline[1]}})
        else:
            parts.append({"fileData": {"fileUri": value}})
    return parts


def _function_response(content: Any) -> dict[str, Any]:
    """A tool message's content as ``functionResponse.response`` (a JSON object: the content
    itself when it is one, else ``{"result": text}``)."""
    text = text_of(content)
    parsed = parse_json(text.encode()) if text.lstrip().startswith("{") else None
    return parsed if isinstance(parsed, dict) else {"result": text}


def _signature(call: Any) -> str | None:
    extra = call.get("extra_content") if isinstance(call, dict) else None
    google = extra.get("google") if isinstance(extra, dict) else None
    signature = google.get("thought_signature") if isinstance(google, dict) else None
    return signature if isinstance(signature, str) and signature else None


def _contents(request: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """(system texts, contents) of the request's messages."""
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool call id → function name: a functionResponse names its function
    for index, message in enumerate(request_messages(request)):
        role, content = message["role"], message.get("content")
        if role in ("system", "developer"):
            system.append(text_of(content))
        elif role == "user":
            contents.append({"role": "user", "parts": _parts(content)})
        elif role == "assistant":
            calls = message.get("tool_calls") or []
            if not isinstance(calls, list):
                raise ProviderError(400, f"messages[{index}].tool_calls must be a list")
            parts = _parts(content) if content or not calls else []
            for number, call in enumerate(calls):
                call_id, name, arguments = tool_call_parts(call, f"messages[{index}].tool_calls[{number}]")
                names[call_id] = name
                part: dict[str, Any] = {"functionCall": {"name": name, "args": arguments}}
                signature = _signature(call)
                if signature or number == 0:
                    # Gemini 3 refuses a replayed call without its signature; Google documents
                    # this placeholder for calls whose signature is not known.
                    part["thoughtSignature"] = signature or SKIP_SIGNATURE
                parts.append(part)
            contents.append({"role": "model", "parts": parts})
        elif role == "tool":
            answered = message.get("tool_call_id")
            function = names.get(answered) if isinstance(answered, str) else None
            if function is None:
                raise ProviderError(
                    400, f"messages[{index}]: tool_call_id {answered!r} answers no tool call of an earlier message"
                )
            part = {"functionResponse": {"name": function, "response": _function_response(content)}}
            last = contents[-1] if contents else None
            if last and last["role"] == "user" and all("functionResponse" in p for p in last["parts"]):
                last["parts"].append(part)  # the answers to one turn's calls go together
            else:
                contents.append({"role": "user", "parts": [part]})
        else:
            raise ProviderError(400, f"message role {role!r} is not supported by this provider")
    if not contents:
        raise ProviderError(400, "at least one user message is required")
    return system, contents


def _tools(request: dict[str, Any], body: dict[str, Any]) -> None:
    functions = request_tools(request)
    mode, name = tool_choice_of(request, functions)
    if not functions:
        return
    declarations = []
    for function in functions:
        declaration: dict[str, Any] = {"name": function["name"]}
        if function.get("description"):
            declaration["description"] = function["description"]
        parameters = gemini_schema(function.get("parameters"))
        # Gemini refuses an OBJECT without properties: a function without parameters has none.
        if parameters and (parameters.get("type") != "OBJECT" or parameters.get("properties")):
            declaration["parameters"] = parameters
        declarations.append(declaration)
    body["tools"] = [{"functionDeclarations": declarations}]
    if mode is not None:
        config: dict[str, Any] = {"mode": TOOL_MODES[mode]}
        if name is not None:
            config["allowedFunctionNames"] = [name]
        body["toolConfig"] = {"functionCallingConfig": config}


def _translate(request: dict[str, Any]) -> dict[str, Any]:
    system, contents = _contents(request)
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": [{"text": "\n\n".join(system)}]}
    _tools(request, body)
    config = sampling(request, top_p="topP", max_tokens="maxOutputTokens", stop="stopSequences")
    response_format = request.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
        if response_format["type"] == "json_schema":
            described = response_format.get("json_schema")
            schema = gemini_schema(described.get("schema") if isinstance(described, dict) else None)
            if schema:
                config["responseSchema"] = schema
    if config:
        body["generationConfig"] = config
    return body


@dataclass(slots=True)
class _Candidate:
    """What the first candidate of a response holds."""

    text: str = ""
    calls: list[dict[str, Any]] = field(default_factory=list)  # functionCall parts (with their signature)
    reason: str | None = None  # OpenAI finish reason; None: not finished


def _candidate(obj: dict[str, Any]) -> _Candidate:
    candidates = obj.get("candidates")
    if not isinstance(candidates, list) or not candidates:
        feedback = obj.get("promptFeedback")
        blocked = isinstance(feedback, dict) and feedback.get("blockReason")
        return _Candidate(reason="content_filter" if blocked else None)
    first = candidates[0] if isinstance(candidates[0], dict) else {}
    content = first.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    out = _Candidate()
    if isinstance(parts, list):
        # Thought summaries (thought: true) are not part of the answer.
        answer = [p for p in parts if isinstance(p, dict) and not p.get("thought")]
        out.text = "".join(str(p.get("text") or "") for p in answer)
        out.calls = [p for p in answer if isinstance(p.get("functionCall"), dict)]
    reason = first.get("finishReason")
    if isinstance(reason, str) and reason not in ("", "FINISH_REASON_UNSPECIFIED"):
        out.reason = tool_finish(FINISH_REASONS.get(reason, "stop"), bool(out.calls))
    return out


def _tool_call(part: dict[str, Any], index: int | None = None) -> dict[str, Any]:
    """The OpenAI tool call of a ``functionCall`` part."""
    call = part["functionCall"]
    call_id = call.get("id") if isinstance(call.get("id"), str) and call.get("id") else new_tool_call_id()
    signature = part.get("thoughtSignature")
    extra = {"extra_content": {"google": {"thought_signature": signature}}} if isinstance(signature, str) else None
    return openai_tool_call(call_id, str(call.get("name") or ""), call.get("args") or {}, index=index, extra=extra)


def _headers(secret: str, accept: str) -> list[tuple[str, str]]:
    return [("x-goog-api-key", secret), ("content-type", "application/json"), ("accept", accept)]


class GeminiStream(TranslatingStream):
    """Translates Gemini's SSE stream of GenerateContentResponse objects into OpenAI chunks."""

    __slots__ = ("_splitter",)

    def __init__(self, public_model: str, include_usage: bool) -> None:
        super().__init__(public_model, include_usage)
        self._splitter = EventSplitter()

    def feed(self, data: bytes) -> bytes:
        return b"".join(self._event(e.data) for e in self._splitter.feed(data) if e.data is not None)

    def close(self) -> bytes:
        out = b"".join(self._event(e.data) for e in self._splitter.close() if e.data is not None)
        if self.done:
            out += self._writer.end(self.usage)
        return out

    def _event(self, data: str) -> bytes:
        if self._writer.terminated:
            return b""
        obj = parse_json(data.encode())
        if isinstance(obj, list) and len(obj) == 1:
            obj = obj[0]
        if not isinstance(obj, dict):
            return b""
        if "error" in obj:
            return self._failed(obj["error"])
        usage = usage_from(obj.get("usageMetadata"))
        if usage is not None:
            self.usage = usage  # cumulative: replace, never add
        candidate = _candidate(obj)
        writer = self._writer
        out = writer.role() + writer.content(candidate.text)
        for part in candidate.calls:
            out += writer.tool_call(_tool_call(part, writer.tool_count))
        if candidate.reason:
            self.done = True
            out += writer.finish(tool_finish(candidate.reason, bool(writer.tool_count)))
        return out


class GeminiAdapter:
    kind = "gemini"
    supports_embeddings = True

    def chat(self, request: dict[str, Any], model: str, secret: str, *, stream: bool) -> ProviderCall:
        body = json_body(_translate(request))
        if stream:
            path, query, accept = ":streamGenerateContent", "alt=sse", "text/event-stream"
        else:
            path, query, accept = ":generateContent", "", "application/json"
        return ProviderCall("POST", _model_path(model) + path, query, _headers(secret, accept), body)

    def chat_result(self, status: int, body: bytes, public_model: str) -> tuple[bytes, Usage]:
        obj = answer_json(status, body)
        if not isinstance(obj, dict) or not ("candidates" in obj or "promptFeedback" in obj):
            raise unreadable()
        candidate = _candidate(obj)
        usage = usage_from(obj.get("usageMetadata")) or Usage()
        calls = [_tool_call(part) for part in candidate.calls]
        reason = candidate.reason or ("tool_calls" if calls else "stop")
        answer = chat_completion(
            public_model, candidate.text, reason, usage, provider_id=obj.get("responseId"), tool_calls=calls
        )
        return answer, usage

    def chat_stream(self, public_model: str, *, include_usage: bool) -> GeminiStream:
        return GeminiStream(public_model, include_usage)

    def stream_status_error(self, status: int, body: bytes) -> ProviderError:
        return provider_error(status, body)

    def embeddings(self, request: dict[str, Any], model: str, secret: str) -> ProviderCall:
        texts, many = embedding_inputs(request)
        dimensions = request.get("dimensions")
        extra: dict[str, Any] = {"outputDimensionality": dimensions} if isinstance(dimensions, int) else {}
        headers = _headers(secret, "application/json")
        if not many:
            body = {"content": {"parts": [{"text": texts[0]}]}, **extra}
            return ProviderCall("POST", _model_path(model) + ":embedContent", "", headers, json_body(body))
        name = "models/" + model.removeprefix("models/")
        requests = [{"model": name, "content": {"parts": [{"text": text}]}, **extra} for text in texts]
        return ProviderCall(
            "POST", _model_path(model) + ":batchEmbedContents", "", headers, json_body({"requests": requests})
        )

    def embeddings_result(self, status: int, body: bytes, public_model: str) -> tuple[bytes, Usage]:
        obj = answer_json(status, body)
        if not isinstance(obj, dict):
            raise unreadable()
        if isinstance(obj.get("embedding"), dict):
            items = [obj["embedding"]]
        elif isinstance(obj.get("embeddings"), list):
            items = obj["embeddings"]
        else:
            raise unreadable()
        vectors: list[list[float]] = []
        for item in items:
            values = item.get("values") if isinstance(item, dict) else None
            if not isinstance(values, list):
                raise unreadable()
            vectors.append(values)
        # Gemini's embedding answers carry no token counts: the tokens stay unknown.
        meta = usage_from(obj.get("usageMetadata"))
        usage = Usage(meta.input_tokens, 0, None) if meta and meta.input_tokens is not None else Usage()
        return embeddings_list(public_model, vectors, usage), usage
