"""The node answers AI calls itself: model routes (OpenAI-compatible) and prompt APIs.

The gate admits the call (key, subscription, rate limit, quota, token limits and cost
budgets) and hands the HTTP layer a :class:`~gateway_node.contracts.Handle` whose ``run`` is
:meth:`AiHandler.serve`. This module then:

1. reads the JSON body (400 ``invalid_json`` / ``invalid_request`` saying what is wrong);
2. resolves the public model name among the version's routes (404 ``unknown_model``), or
   renders the prompt version (400 ``invalid_variables`` listing every problem);
3. tries the route's candidates (:func:`gateway_node.ai.routing.candidates`) through the
   provider's adapter, falling back to the next one on connection errors, timeouts, 429,
   5xx and overload answers **only while nothing was sent to the client**; after the first
   byte, an upstream failure ends the stream with one error event;
4. relays the answer: a stream event by event as it comes (the provider is read only as fast
   as the client takes the answer), a whole answer with Content-Length;
5. notes for the call record what answered (provider, model, route), the usage, the cost and
   the time to the first byte, and charges the subscription's token and cost budget, also
   when the client went away or the stream broke (what was counted so far).

The consumer's key never reaches a provider: each provider request is built from scratch by
its adapter with the provider's credential, and that credential appears in no answer, log
line or record. Request and answer bodies are never logged.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

import msgspec

from gateway_node.ai.adapters import KINDS, ProviderError, StreamTranslator, Usage, adapter_for
from gateway_node.ai.client import ProviderBroken, ProviderClient, ProviderFailure, ProviderTimeout
from gateway_node.ai.pricing import cost as price_of
from gateway_node.ai.routing import AiConfig, AiRoute, Candidate, Cooldowns, candidates
from gateway_node.ai.tokens import TokenBudget
from gateway_node.contracts import Headers, RequestHead, Responder
from protocol import prompts

T = TypeVar("T")

CHAT = "POST /chat/completions"
MODELS = "GET /models"
EMBEDDINGS = "POST /embeddings"
RUN = "POST /run"
#: (surface kind, path after the base path) → (method, endpoint name)
ENDPOINTS: dict[tuple[str, str], tuple[str, str]] = {
    ("ai", "/chat/completions"): ("POST", CHAT),
    ("ai", "/models"): ("GET", MODELS),
    ("ai", "/embeddings"): ("POST", EMBEDDINGS),
    ("prompt", "/run"): ("POST", RUN),
}

#: Upper bound of a provider's error answer read to classify it.
ERROR_BODY_BYTES = 256 * 1024
#: At most this many candidates are tried for one call.
MAX_TRIES = 6

_JSON = (b"content-type", b"application/json")
_SSE_HEADERS: Headers = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
# Provider statuses that say the request itself is wrong: the client hears about it (another
# provider would refuse it just the same).
_CLIENT_FAULTS = frozenset({400, 413, 422})


@dataclass(slots=True)
class AiSurface:
    """An AI version's ``ai`` object, compiled."""

    kind: str  # "ai" | "prompt"
    models: dict[str, int] = field(default_factory=dict)  # public name → route id
    prompt: dict[str, Any] | None = None
    _validator: Any = None  # the response schema's jsonschema validator, built on first use

    @classmethod
    def from_snapshot(cls, kind: str, raw: dict[str, Any] | None) -> AiSurface:
        raw = raw or {}
        models = {str(name): int(route) for name, route in (raw.get("models") or {}).items()}
        prompt = raw.get("prompt")
        if kind == "prompt" and not isinstance(prompt, dict):
            raise ValueError("a prompt version's route has no prompt")
        return cls(kind=kind, models=models, prompt=prompt if isinstance(prompt, dict) else None)

    def validator(self) -> Any:
        if self._validator is None and self.prompt is not None:
            import jsonschema

            schema = self.prompt.get("response_schema") or {}
            self._validator = jsonschema.validators.validator_for(schema)(schema)
        return self._validator


@dataclass(slots=True)
class AiCall:
    """One AI call: what the gate decided, then what the handler learnt (for the record)."""

    surface: AiSurface
    config: AiConfig
    endpoint: str
    subscription_id: int
    route_name: str = ""
    provider: str = ""
    model: str = ""
    usage: Usage | None = None
    cost: Decimal | None = None
    ttft_ms: float | None = None
    # the prices of the model that answered (for the cost)
    prices: list[dict[str, Any]] = field(default_factory=list)


class _Refusal(Exception):
    """Answer the client with an error (only before anything of an answer went out)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: Headers | None = None,
        details: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or []
        self.details = details


class _Retry(Exception):
    """This candidate failed before the answer began: try the next one."""


@dataclass(slots=True)
class _Try:
    """What the current attempt learnt that the fallback loop needs."""

    retry_after: float | None = None
    translator: StreamTranslator | None = None


class AiHandler:
    """Serves the AI endpoints; one per worker (it holds the provider pools and cool-downs)."""

    def __init__(
        self,
        client: ProviderClient | None = None,
        tokens: TokenBudget | None = None,
        *,
        rng: random.Random | None = None,
        cooldowns: Cooldowns | None = None,
        max_tries: int = MAX_TRIES,
    ) -> None:
        self.client = client or ProviderClient()
        self.tokens = tokens or TokenBudget()
        self.rng = rng or random.Random()
        self.cooldowns = cooldowns or Cooldowns()
        self.max_tries = max_tries

    async def serve(self, call: AiCall, head: RequestHead, body: bytes, responder: Responder) -> None:
        """The Handle's ``run``: answer one AI call."""
        try:
            if call.endpoint == MODELS:
                await self._models(call, responder)
            elif call.endpoint == CHAT:
                await self._chat(call, _parse(body), responder)
            elif call.endpoint == EMBEDDINGS:
                await self._embeddings(call, _parse(body), responder)
            elif call.endpoint == RUN:
                await self._run(call, _parse(body), responder)
            else:  # the gate only admits the endpoints above
                raise _Refusal(404, "unknown_endpoint", "This AI API has no such endpoint.")
        except _Refusal as refusal:
            if not responder.started and not responder.closed:
                await _error(responder, refusal)
        except ConnectionError:
            responder.error = "client_closed"
        finally:
            self._account(call, head, responder)

    # -- endpoints

    async def _models(self, call: AiCall, responder: Responder) -> None:
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": name.partition("/")[0]}
            for name in sorted(call.surface.models)
            if call.surface.models[name] in call.config.routes
        ]
        await _send_json(responder, 200, msgspec.json.encode({"object": "list", "data": data}))

    async def _chat(self, call: AiCall, request: dict[str, Any], responder: Responder) -> None:
        _check_messages(request)
        stream = _flag(request, "stream")
        route = self._route(call, request, "chat")
        if stream:
            options = request.get("stream_options")
            include_usage = isinstance(options, dict) and options.get("include_usage") is True
            await self._stream(call, route, request, include_usage, responder)
        else:
            data = await self._complete(call, route, request, responder)
            await _send_json(responder, 200, data)

    async def _embeddings(self, call: AiCall, request: dict[str, Any], responder: Responder) -> None:
        given = request.get("input")
        if not isinstance(given, str | list) or not given:
            raise _Refusal(400, "invalid_request", "`input` must be a non-empty string or list of strings.")
        route = self._route(call, request, "embeddings")
        public = route.name

        async def attempt(candidate: Candidate, note: _Try, responder: Responder) -> bytes:
            adapter = adapter_for(candidate.provider.kind)
            provider_call = adapter.embeddings(request, candidate.model.model, candidate.credential.secret)
            status, body = await self._fetch(candidate, provider_call, note, responder)
            data, usage = adapter.embeddings_result(status, body, public)
            call.usage = usage
            return data

        data = await self._fallback(
            call, route, attempt, responder, usable=lambda c: adapter_for(c.provider.kind).supports_embeddings
        )
        await _send_json(responder, 200, data)

    async def _run(self, call: AiCall, request: dict[str, Any], responder: Responder) -> None:
        prompt = call.surface.prompt
        assert prompt is not None
        values = request.get("variables", {})
        stream = _flag(request, "stream")
        mode = str(prompt.get("response_mode") or "text")
        if stream and mode == "json":
            raise _Refusal(
                400, "invalid_request", "This prompt answers JSON, which cannot be streamed: send stream false."
            )
        try:
            messages = prompts.render(prompt.get("messages") or [], prompt.get("variables") or [], values)
        except prompts.VariableErrors as exc:
            count = len(exc.problems)
            raise _Refusal(
                400,
                "invalid_variables",
                f"The variables do not fit this prompt ({count} problem{'s' if count != 1 else ''}).",
                details=exc.problems,
            ) from None
        route = call.config.routes.get(int(prompt.get("route") or 0))
        if route is None:
            raise _Refusal(502, "upstream_unavailable", "This prompt's model route is not available right now.")
        call.route_name = route.name
        params = prompt.get("params") if isinstance(prompt.get("params"), dict) else {}
        chat: dict[str, Any] = {**(params or {}), "model": route.name, "messages": messages}
        if stream:
            chat["stream"] = True
            await self._stream(call, route, chat, False, responder)
            return
        data = await self._complete(call, route, chat, responder)
        if mode == "openai":
            await _send_json(responder, 200, data)
            return
        try:
            completion = json.loads(data)
        except ValueError:
            raise _Refusal(502, "invalid_model_output", "The provider's answer is not valid JSON.") from None
        content = _content(completion)
        usage = completion.get("usage") if isinstance(completion, dict) else None
        output = self._json_output(call, content) if mode == "json" else content
        answer = {"output": output, "model": route.name, "usage": usage or _usage_json(call.usage)}
        await _send_json(responder, 200, msgspec.json.encode(answer))

    def _json_output(self, call: AiCall, content: str) -> Any:
        text = content.strip()
        if text.startswith("```"):
            # Models like to wrap JSON in a Markdown fence; the fence is not part of the answer.
            text = text.split("\n", 1)[1] if "\n" in text else ""
            text = text.rsplit("```", 1)[0]
        try:
            output = json.loads(text)
        except ValueError:
            raise _Refusal(502, "invalid_model_output", "The model's answer is not valid JSON.") from None
        validator = call.surface.validator()
        if validator is not None:
            error = next(iter(validator.iter_errors(output)), None)
            if error is not None:
                where = "/".join(str(part) for part in error.absolute_path) or "(root)"
                raise _Refusal(
                    502,
                    "invalid_model_output",
                    f"The model's answer does not match the response schema at {where}: {error.message[:200]}",
                )
        return output

    # -- calling providers

    def _route(self, call: AiCall, request: dict[str, Any], capability: str) -> AiRoute:
        name = request.get("model")
        if not isinstance(name, str) or not name:
            raise _Refusal(
                400, "invalid_request", "`model` must be a string: a model name of this API (GET models lists them)."
            )
        route_id = call.surface.models.get(name)
        route = call.config.routes.get(route_id) if route_id is not None else None
        if route is None:
            raise _Refusal(404, "unknown_model", f"This API has no model named {name[:200]!r}.")
        if route.capability != capability:
            raise _Refusal(
                400, "invalid_request", f"The model {name!r} is a {route.capability} model, not a {capability} model."
            )
        call.route_name = route.name
        return route

    async def _complete(self, call: AiCall, route: AiRoute, request: dict[str, Any], responder: Responder) -> bytes:
        """A whole (non-streamed) chat answer as OpenAI chat.completion bytes."""
        public = route.name

        async def attempt(candidate: Candidate, note: _Try, responder: Responder) -> bytes:
            adapter = adapter_for(candidate.provider.kind)
            provider_call = adapter.chat(request, candidate.model.model, candidate.credential.secret, stream=False)
            status, body = await self._fetch(candidate, provider_call, note, responder)
            data, usage = adapter.chat_result(status, body, public)
            call.usage = usage
            return data

        return await self._fallback(call, route, attempt, responder)

    async def _stream(
        self, call: AiCall, route: AiRoute, request: dict[str, Any], include_usage: bool, responder: Responder
    ) -> None:
        public = route.name

        async def attempt(candidate: Candidate, note: _Try, responder: Responder) -> None:
            adapter = adapter_for(candidate.provider.kind)
            provider_call = adapter.chat(request, candidate.model.model, candidate.credential.secret, stream=True)
            provider = candidate.provider
            assert provider.origin is not None
            started = time.monotonic()
            answer = await self.client.request(
                provider.origin,
                provider_call,
                connect_timeout=provider.connect_timeout,
                read_timeout=provider.read_timeout,
            )
            try:
                responder.upstream_latency_ms = (time.monotonic() - started) * 1000
                note.retry_after = answer.retry_after
                if not 200 <= answer.status < 300:
                    raise adapter.stream_status_error(answer.status, await answer.read(ERROR_BODY_BYTES))
                translator = adapter.chat_stream(public, include_usage=include_usage)
                note.translator = translator
                try:
                    async for data in answer.chunks():
                        out = translator.feed(data)
                        if translator.error and not responder.started:
                            # The provider failed before the answer began (overloaded...):
                            # the client has seen nothing, so the next candidate may answer.
                            raise ProviderError(502, translator.error, retryable=True)
                        if out:
                            await _relay(responder, out)
                    out = translator.close()
                    if not translator.done and not translator.error and not responder.started:
                        raise ProviderBroken("the provider's stream ended before its answer")
                    if out:
                        await _relay(responder, out)
                    if translator.error:
                        responder.error = "upstream_error"  # the provider's error event ended it
                    if not translator.done:
                        responder.error = "upstream_error"
                        await _relay(responder, translator.abort("The provider's answer ended early."))
                except ProviderFailure as exc:
                    if not responder.started:
                        raise
                    # Part of the answer is with the client: no fallback. One error event, end.
                    responder.error = "upstream_timeout" if isinstance(exc, ProviderTimeout) else "upstream_error"
                    await _relay(responder, translator.abort("The provider stopped answering."))
                responder.end()
            finally:
                answer.close()
                if note.translator is not None:
                    call.usage = note.translator.usage

        await self._fallback(call, route, attempt, responder)

    async def _fetch(
        self, candidate: Candidate, provider_call: Any, note: _Try, responder: Responder
    ) -> tuple[int, bytes]:
        provider = candidate.provider
        assert provider.origin is not None
        started = time.monotonic()
        answer = await self.client.request(
            provider.origin, provider_call, connect_timeout=provider.connect_timeout, read_timeout=provider.read_timeout
        )
        responder.upstream_latency_ms = (time.monotonic() - started) * 1000
        note.retry_after = answer.retry_after
        try:
            limit = None if 200 <= answer.status < 300 else ERROR_BODY_BYTES
            body = await (answer.read(limit) if limit else answer.read())
        finally:
            answer.close()
        return answer.status, body

    async def _fallback(
        self,
        call: AiCall,
        route: AiRoute,
        attempt: Callable[[Candidate, _Try, Responder], Awaitable[T]],
        responder: Responder,
        usable: Callable[[Candidate], bool] | None = None,
    ) -> T:
        """Try the route's candidates in order until one answers (see the module docstring)."""
        line = [c for c in candidates(route, call.config, self.rng, self.cooldowns) if c.provider.kind in KINDS]
        if usable is not None:
            line = [c for c in line if usable(c)]
        failures: list[int] = []  # the provider status of each failed try (0: no answer)
        waits: list[float] = []
        dead: set[tuple[int, int]] = set()  # (provider, model) pairs not worth another credential
        down: set[int] = set()  # providers that could not be reached
        tries = 0
        for candidate in line:
            key = (candidate.provider.id, candidate.model.id)
            if key in dead or candidate.provider.id in down:
                continue
            if tries >= self.max_tries:
                break
            tries += 1
            call.provider = candidate.provider.slug
            call.model = candidate.model.model
            call.prices = candidate.model.prices
            note = _Try()
            try:
                return await attempt(candidate, note, responder)
            except ProviderFailure:
                if responder.started:
                    raise
                failures.append(0)
                down.add(candidate.provider.id)
            except ProviderError as exc:
                if responder.started:
                    raise _Refusal(502, "upstream_error", exc.message) from None
                failures.append(exc.status)
                if exc.status in (401, 403):
                    self.cooldowns.hit(candidate.credential.id, refused_by=candidate.provider.slug, status=exc.status)
                elif exc.status == 429:
                    self.cooldowns.hit(candidate.credential.id, note.retry_after)
                    if note.retry_after is not None:
                        waits.append(note.retry_after)
                elif exc.status in _CLIENT_FAULTS and not exc.retryable:
                    responder.error = "provider_rejected_request"
                    raise _Refusal(exc.status, "provider_rejected_request", exc.message) from None
                else:
                    dead.add(key)
        if not failures:
            raise _Refusal(503, "upstream_unavailable", "No provider of this model is available right now.")
        if all(status == 429 for status in failures):
            wait = max(1, math.ceil(min(waits))) if waits else 1
            raise _Refusal(
                429,
                "provider_rate_limited",
                "Every provider of this model is rate-limiting the gateway; retry later.",
                headers=[(b"retry-after", str(wait).encode())],
            )
        raise _Refusal(502, "upstream_unavailable", "Every provider of this model failed to answer; retry later.")

    # -- the record and the budget

    def _account(self, call: AiCall, head: RequestHead, responder: Responder) -> None:
        usage = call.usage
        if usage is not None and (usage.input_tokens is not None or usage.output_tokens is not None):
            day = time.strftime("%Y-%m-%d", time.gmtime(head.started_wall))
            call.cost = price_of(usage, call.prices, day)
            self.tokens.charge(call.subscription_id, usage.total, call.cost)
        else:
            call.usage = None
        if call.provider and responder.first_byte_at is not None and 200 <= responder.status < 300:
            call.ttft_ms = round((responder.first_byte_at - head.started) * 1000, 3)


# --- helpers ---------------------------------------------------------------------------------------


def _parse(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise _Refusal(400, "invalid_json", "The request body is empty; send a JSON object.")
    try:
        request = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise _Refusal(400, "invalid_json", f"The request body is not valid JSON ({exc}).") from None
    if not isinstance(request, dict):
        raise _Refusal(400, "invalid_request", "The request body must be a JSON object.")
    return request


def _flag(request: dict[str, Any], name: str) -> bool:
    value = request.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _Refusal(400, "invalid_request", f"`{name}` must be true or false.")
    return value


def _check_messages(request: dict[str, Any]) -> None:
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _Refusal(400, "invalid_request", "`messages` must be a non-empty list of messages.")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise _Refusal(400, "invalid_request", f"`messages[{index}]` must be an object with a string `role`.")


def _content(completion: Any) -> str:
    try:
        content = completion["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise _Refusal(502, "invalid_model_output", "The model's answer has no message.") from None
    return content if isinstance(content, str) else ""


def _usage_json(usage: Usage | None) -> dict[str, int] | None:
    if usage is None:
        return None
    out = {}
    if usage.input_tokens is not None:
        out["prompt_tokens"] = usage.input_tokens
    if usage.output_tokens is not None:
        out["completion_tokens"] = usage.output_tokens
    out["total_tokens"] = usage.total
    return out


async def _relay(responder: Responder, data: bytes) -> None:
    if not data:
        return
    if not responder.started:
        responder.start(200, _SSE_HEADERS)
    await responder.send(data)


async def _send_json(responder: Responder, status: int, body: bytes, headers: Headers | None = None) -> None:
    responder.start(status, [_JSON, *(headers or ())], len(body))
    await responder.send(body)
    responder.end()


async def _error(responder: Responder, refusal: _Refusal) -> None:
    error: dict[str, Any] = {"code": refusal.code, "message": refusal.message}
    if refusal.details is not None:
        error["details"] = refusal.details
    responder.error = refusal.code  # the record's error
    await _send_json(responder, refusal.status, msgspec.json.encode({"error": error}), refusal.headers)
