"""The AI gateway's end-to-end world (test_ai_end_to_end.py): configured through the services,
served by a real ``python -m gateway_node`` against the live portal, answered by the fake
provider. No tests here.

Personas: Alice owns Acme, the provider organisation; Charlie owns Globex, the consumer with
the application "Storefront"; Dave owns Initech and is a stranger to both.

Acme configures (services only, as the pages and the REST API would):

- three providers on the one fake provider, each with its own credential: ``openai`` (kind
  openai), ``claude`` (kind anthropic: the node translates) and ``flaky`` (kind openai, its
  models are the fake's ``scenario/<name>`` error answers);
- models with prices: ``gpt-e2e`` (openai) and ``claude-e2e`` (anthropic);
- routes ``acme/chat`` (gpt-e2e at position 0), ``acme/claude`` (claude-e2e),
  ``acme/flaky`` (scenario/openai_503, then claude-e2e) and ``acme/busy``
  (scenario/openai_429, then claude-e2e);
- the API "Acme Models" with a published AI version at ``/acme-models/v1`` exposing the four
  routes, and a plan "Pro" that needs approval (its token quota is the builder's argument);
- the prompt "Summarise" (version 1: typed variables, text answers, route acme/chat),
  published as the API "Summarise" at ``/acme-summarise/v1`` with a plan "Standard" that
  needs approval.

Globex asks for both plans, Acme approves, Globex creates a key.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

from gateway_node.ai.fake_provider import FakeProvider, demo_usage

# The providers' own credentials (what the fake provider accepts) and their public model names.
OPENAI_KEY = "sk-e2e-openai-9f8e7d6c5b4a39281706"
ANTHROPIC_KEY = "sk-ant-e2e-0a1b2c3d4e5f60718293"
FLAKY_KEY = "sk-e2e-flaky-5566778899aabbccddee"
PROVIDER_KEYS = (OPENAI_KEY, ANTHROPIC_KEY, FLAKY_KEY)

AI_BASE = "/acme-models/v1"
PROMPT_BASE = "/acme-summarise/v1"
CHAT, CLAUDE, FLAKY, BUSY = "acme/chat", "acme/claude", "acme/flaky", "acme/busy"

#: USD per million tokens (input, output) of the priced models.
GPT_PRICE = (Decimal("2.50"), Decimal("10.00"))
CLAUDE_PRICE = (Decimal("3.00"), Decimal("15.00"))

PROMPT_MESSAGES = [
    {"role": "system", "content": "You summarise."},
    {"role": "user", "content": "Summarise in {{words}} words: {{text}}"},
]
PROMPT_VARIABLES = [
    {"name": "text", "type": "string", "required": True},
    {"name": "words", "type": "integer", "required": False, "default": 50},
]
PROMPT_PARAMS = {"temperature": 0.2, "max_tokens": 300}


@dataclass
class AiWorld:
    """What the builder made: the actors, the configuration and the consumer's key."""

    alice: Any  # Membership of Acme (owner)
    charlie: Any  # Membership of Globex (owner)
    dave: Any  # User, owner of Initech (a stranger)
    providers: dict[str, Any]  # slug → ModelProvider
    models: dict[str, Any]  # model id → ProviderModel
    routes: dict[str, Any]  # public name → ModelRoute
    ai_api: Any
    ai_version: Any
    ai_plan: Any
    prompt_template: Any
    prompt_version: Any
    prompt_api: Any
    prompt_api_version: Any
    prompt_plan: Any
    application: Any
    subscriptions: list[Any]
    key_obj: Any
    key: str  # the plaintext apk_… key, shown once


def build_world(fake: FakeProvider, *, token_quota_per_day: int | None = None) -> AiWorld:
    """Everything above, through the services, with the providers pointed at ``fake``."""
    from apis import services as catalog
    from apis.models import Visibility
    from llm.services import prompts, providers, routes, surfaces
    from subscriptions import services as subs
    from subscriptions.services.requests import subscription_request
    from tenants.models import Membership, User
    from tenants.services import tenant_create
    from tenants.tests.factories import UserFactory

    def organisation(email: str, name: str, slug: str) -> Membership:
        user = cast("User", UserFactory(email=email))
        tenant = tenant_create(user=user, name=name, slug=slug)
        return Membership.objects.for_tenant(tenant).get(user=user)

    alice = organisation("alice@acme.example", "Acme Logistics", "acme")
    charlie = organisation("charlie@globex.example", "Globex Retail", "globex")
    dave = organisation("dave@initech.example", "Initech", "initech").user

    made: dict[str, Any] = {}
    for slug, kind, secret in (("openai", "openai", OPENAI_KEY), ("claude", "anthropic", ANTHROPIC_KEY),
                               ("flaky", "openai", FLAKY_KEY)):  # fmt: skip
        provider = providers.provider_create(
            actor=alice,
            name=slug.title(),
            slug=slug,
            kind=kind,
            base_url=fake.base_url(kind),
            connect_timeout_ms=2000,
            read_timeout_ms=10000,
        )
        providers.credential_create(actor=alice, provider=provider, label="main", secret=secret)
        made[slug] = provider

    def price(pair: tuple[Decimal, Decimal]) -> dict[str, str]:
        return {"input_per_million": str(pair[0]), "output_per_million": str(pair[1]), "effective_from": "2025-01-01"}

    models = {
        "gpt-e2e": providers.model_create(
            actor=alice, provider=made["openai"], model_id="gpt-e2e", context_window=128000, price=price(GPT_PRICE)
        ),
        "claude-e2e": providers.model_create(
            actor=alice, provider=made["claude"], model_id="claude-e2e", price=price(CLAUDE_PRICE)
        ),
        "scenario/openai_503": providers.model_create(
            actor=alice, provider=made["flaky"], model_id="scenario/openai_503"
        ),
        "scenario/openai_429": providers.model_create(
            actor=alice, provider=made["flaky"], model_id="scenario/openai_429"
        ),
    }
    claude = {"model": models["claude-e2e"].pk, "position": 1}
    made_routes = {
        CHAT: routes.route_create(actor=alice, name="chat", targets=[{"model": models["gpt-e2e"].pk, "position": 0}]),
        CLAUDE: routes.route_create(
            actor=alice, name="claude", targets=[{"model": models["claude-e2e"].pk, "position": 0}]
        ),
        FLAKY: routes.route_create(
            actor=alice, name="flaky", targets=[{"model": models["scenario/openai_503"].pk, "position": 0}, claude]
        ),
        BUSY: routes.route_create(
            actor=alice, name="busy", targets=[{"model": models["scenario/openai_429"].pk, "position": 0}, claude]
        ),
    }
    for name, route in made_routes.items():
        assert route.public_name == name

    ai_api = catalog.api_create(
        actor=alice, name="Acme Models", slug="acme-models", summary="Chat models.", visibility=Visibility.PUBLIC
    )
    ai_version = surfaces.ai_version_create(
        actor=alice, api=ai_api, label="v1", base_path=AI_BASE, routes=[r.pk for r in made_routes.values()]
    )
    ai_version = catalog.version_publish(actor=alice, version=ai_version)
    ai_plan = catalog.plan_create(
        actor=alice, api=ai_api, name="Pro", approval_required=True, token_quota_per_day=token_quota_per_day
    )

    template = prompts.prompt_template_create(
        actor=alice, name="Summarise", slug="summarise", description="Summaries of any text."
    )
    saved = prompts.prompt_version_save(
        actor=alice,
        template=template,
        messages=PROMPT_MESSAGES,
        variables=PROMPT_VARIABLES,
        route=made_routes[CHAT],
        params=PROMPT_PARAMS,
        response_mode="text",
    )
    # A prompt API is listed in the catalog like any other (prompt_publish would register a
    # private one when given no API).
    prompt_api = catalog.api_create(
        actor=alice, name="Summarise", slug="summarise", summary="Summaries.", visibility=Visibility.PUBLIC
    )
    prompt_api_version = prompts.prompt_publish(
        actor=alice, version=saved.version, base_path=PROMPT_BASE, api=prompt_api
    )
    prompt_api_version = catalog.version_publish(actor=alice, version=prompt_api_version)
    prompt_plan = catalog.plan_create(actor=alice, api=prompt_api, name="Standard", approval_required=True)

    application = subs.application_create(actor=charlie, name="Storefront")
    requested = [
        subscription_request(actor=charlie, application=application, plan=plan, use_case="Product descriptions.")
        for plan in (ai_plan, prompt_plan)
    ]
    subscriptions = [subs.subscription_approve(actor=alice, subscription=s) for s in requested]
    key_obj, key = subs.key_create(actor=charlie, application=application, name="production")
    return AiWorld(
        alice, charlie, dave, made, models, made_routes, ai_api, ai_version, ai_plan, template, saved.version,
        prompt_api, prompt_api_version, prompt_plan, application, subscriptions, key_obj, key,
    )  # fmt: skip


# --- Calling the node ---------------------------------------------------------------------------


@dataclass
class Answer:
    """One answer the consumer got (header names lower-cased)."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def events(self) -> list[str]:
        """The ``data:`` payloads of a server-sent-events body, in order."""
        text = self.body.decode().replace("\r\n", "\n")
        out = []
        for block in text.split("\n\n"):
            lines = [line[5:].lstrip() for line in block.split("\n") if line.startswith("data:")]
            if lines:
                out.append("\n".join(lines))
        return out

    def streamed_text(self) -> str:
        """The content of an OpenAI chunk stream (every ``delta.content`` joined)."""
        text = ""
        for data in self.events():
            if data == "[DONE]":
                continue
            for choice in json.loads(data).get("choices") or []:
                text += (choice.get("delta") or {}).get("content") or ""
        return text


@dataclass
class Consumer:
    """The consumer's HTTP client for the node; keeps every answer (for the leak checks)."""

    base: str
    key: str
    answers: list[Answer] = field(default_factory=list)

    def call(self, method: str, path: str, body: Any = None, *, bearer: bool = False) -> Answer:
        data = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body
        request = urllib.request.Request(self.base + path, method=method, data=data)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if bearer:
            request.add_header("Authorization", f"Bearer {self.key}")
        else:
            request.add_header("X-API-Key", self.key)
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                answer = Answer(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
        except urllib.error.HTTPError as error:
            answer = Answer(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())
        self.answers.append(answer)
        return answer

    def chat(self, model: str, text: str, **extra: Any) -> Answer:
        return self.call("POST", f"{AI_BASE}/chat/completions", chat_request(model, text, **extra))


def chat_request(model: str, text: str, **extra: Any) -> dict[str, Any]:
    """An OpenAI chat request with a system message and ``text`` from the user."""
    return {
        "model": model,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}],
        **extra,
    }


def tokens(request: dict[str, Any]) -> tuple[int, int, int]:
    """(input, output, cached) tokens the fake provider counts for an OpenAI chat ``request``."""
    usage = demo_usage(request)
    assert usage.input_tokens is not None and usage.output_tokens is not None
    return usage.input_tokens, usage.output_tokens, usage.cached_tokens or 0


def cost(request: dict[str, Any], price: tuple[Decimal, Decimal]) -> Decimal:
    """What the docs say the answer to ``request`` costs (no cached tokens): tokens × price per
    million, rounded to 8 places."""
    tokens_in, tokens_out, _ = tokens(request)
    total = (tokens_in * price[0] + tokens_out * price[1]) / Decimal(1_000_000)
    return total.quantize(Decimal("0.00000001"))
