"""The prompt playground: render a prompt version with sample variables and, on request, call the
model once (non-streamed) from the portal.

The call is built and parsed by the same pure adapters the gateway node uses
(``gateway_node.ai.adapters``), and sent through ``core.outbound.post``, so the outbound-URL
policy holds here exactly as for webhooks. The first target of the route (lowest position,
then highest weight) whose provider has an enabled credential answers; there is no fallback:
the playground shows what went wrong instead.

Runs are rate-limited per user (``PROMPT_PLAYGROUND_RUNS_PER_MINUTE``, default 10): each one
spends the provider's money. Errors never carry the credential (adapters mask provider texts;
this module also scrubs the secret from any message it shows).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from django.conf import settings
from django.core.cache import cache

from core import outbound
from core.errors import ServiceError
from llm.models import ModelProvider, PromptVersion, ProviderCredential, ProviderModel, RouteTarget
from llm.services.providers import credential_secret
from protocol import prompts as protocol
from tenants.models import Membership
from tenants.permissions import require
from tenants.roles import Perm

DEFAULT_RUNS_PER_MINUTE = 10
#: The most of a provider's answer read back (a chat completion is far smaller).
MAX_ANSWER_BYTES = 2 * 1024 * 1024
#: A playground call never holds a web worker longer than this, whatever the provider's timeout.
MAX_TIMEOUT_SECONDS = 60.0


class PlaygroundThrottled(ServiceError):
    status_code = 429
    default_code = "throttled"


@dataclass
class PlaygroundResult:
    """What the playground shows: rendering, lint, and the model's answer when it was called."""

    lint: list[dict[str, str]]
    rendered: list[dict[str, Any]] | None = None
    problems: list[dict[str, str]] = field(default_factory=list)
    called: bool = False
    answer: str | None = None
    output: Any = None  # json mode: the parsed answer
    usage: dict[str, int | None] | None = None
    latency_ms: int | None = None
    model: str = ""  # the provider's model id that answered
    provider: str = ""  # the provider's slug
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems and not self.error


def _runs_per_minute() -> int:
    return int(getattr(settings, "PROMPT_PLAYGROUND_RUNS_PER_MINUTE", DEFAULT_RUNS_PER_MINUTE))


def _throttle(user_id: int) -> None:
    """A fixed one-minute window per user in the cache (fails open when Redis is down)."""
    limit = _runs_per_minute()
    window = int(time.time() // 60)
    key = f"prompt-playground:{user_id}:{window}"
    cache.add(key, 0, timeout=120)
    if cache.incr(key) > limit:
        raise PlaygroundThrottled(
            f"At most {limit} playground runs per minute; wait a moment and try again.", code="throttled"
        )


def _pick(version: PromptVersion) -> tuple[ProviderModel, ModelProvider, ProviderCredential] | None:
    """The first target (position, then weight) whose provider has an enabled credential."""
    targets = (
        RouteTarget.objects.for_tenant(version.tenant_id)
        .filter(route_id=version.route_id)
        .select_related("model__provider")
        .order_by("position", "-weight", "id")
    )
    for target in targets:
        provider = target.model.provider
        credential = (
            ProviderCredential.objects.for_tenant(version.tenant_id)
            .filter(provider=provider, enabled=True)
            .order_by("priority", "-weight", "id")
            .first()
        )
        if credential is not None:
            return target.model, provider, credential
    return None


def _scrub(message: str, secret: str) -> str:
    return message.replace(secret, "[credential]") if secret else message


def _answer_text(body: bytes) -> str:
    data = json.loads(body)
    choices = data.get("choices") or []
    if not choices:
        return ""
    content = (choices[0].get("message") or {}).get("content")
    return content if isinstance(content, str) else ""


def _call(result: PlaygroundResult, version: PromptVersion, rendered: list[dict[str, Any]]) -> None:
    from gateway_node.ai.adapters import ProviderError, adapter_for

    picked = _pick(version)
    if picked is None:
        result.error = (
            f"The route {version.route.public_name} has no target whose provider has an enabled credential; "
            "add one to call the model."
        )
        return
    model, provider, credential = picked
    result.model, result.provider = model.model_id, provider.slug
    secret = ""
    try:
        secret = credential_secret(credential)
    except Exception:  # noqa: BLE001 - any failure to open the secret is shown the same way
        result.error = f"The credential “{credential.label}” of {provider.name} cannot be decrypted; enter it again."
        return
    public = version.route.public_name
    request = {"model": public, "messages": rendered, **version.params}
    result.called = True
    started = time.monotonic()
    try:
        adapter = adapter_for(provider.kind)
        call = adapter.chat(request, model.model_id, secret, stream=False)
        url = provider.base_url.rstrip("/") + call.path + (f"?{call.query}" if call.query else "")
        headers = {k: v for k, v in call.headers if k.lower() not in ("host", "content-length", "connection")}
        timeout = min(provider.read_timeout_ms / 1000 + provider.connect_timeout_ms / 1000, MAX_TIMEOUT_SECONDS)
        answer = outbound.post(url, call.body, headers, timeout=timeout, max_response_bytes=MAX_ANSWER_BYTES)
        result.latency_ms = round((time.monotonic() - started) * 1000)
        if answer.truncated:
            result.error = "The provider's answer is larger than the playground reads."
            return
        body, usage = adapter.chat_result(answer.status, answer.body, public)
    except ProviderError as exc:
        result.latency_ms = result.latency_ms or round((time.monotonic() - started) * 1000)
        result.error = _scrub(f"{provider.name} answered {exc.status}: {exc.message}", secret)
        return
    except outbound.OutboundRefused as exc:
        result.error = _scrub(f"The outbound policy refuses {provider.name}'s URL: {exc.reason}.", secret)
        return
    except outbound.OutboundError as exc:
        result.latency_ms = round((time.monotonic() - started) * 1000)
        result.error = _scrub(f"Could not reach {provider.name}: {exc}.", secret)
        return
    result.usage = {"input": usage.input_tokens, "output": usage.output_tokens, "cached": usage.cached_tokens}
    try:
        result.answer = _answer_text(body)
    except (ValueError, AttributeError):
        result.error = "The provider's answer is not a chat completion."
        return
    if version.response_mode == "json":
        _check_json(result, version.response_schema)


def _check_json(result: PlaygroundResult, schema: Any) -> None:
    try:
        result.output = json.loads(result.answer or "")
    except ValueError:
        result.error = "The model's answer is not JSON (the API would answer 502 invalid_model_output)."
        return
    errors = sorted(jsonschema.Draft202012Validator(schema or {}).iter_errors(result.output), key=str)
    if errors:
        result.error = (
            f"The model's answer does not match the response schema: {errors[0].message} "
            "(the API would answer 502 invalid_model_output)."
        )


def playground_run(
    *, actor: Membership, version: PromptVersion, values: Any, call_model: bool = False
) -> PlaygroundResult:
    """Render ``version`` with ``values``; with ``call_model``, also ask the model once."""
    require(actor, Perm.APIS_EDIT)
    if version.tenant_id != actor.tenant_id:
        from tenants.ownership import not_found

        raise not_found(PromptVersion)
    result = PlaygroundResult(
        lint=protocol.lint(
            version.messages,
            version.variables,
            params=version.params,
            response_mode=version.response_mode,
            response_schema=version.response_schema,
        )
    )
    try:
        result.rendered = protocol.render(version.messages, version.variables, values)
    except protocol.VariableErrors as exc:
        result.problems = exc.problems
        return result
    if call_model:
        _throttle(actor.user_id)
        _call(result, version, result.rendered)
    return result
