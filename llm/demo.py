"""Demo data for ./run: Acme offers AI models and a prompt API backed by a local fake provider.

``./run`` starts ``python -m gateway_node.ai.fake_provider`` on 127.0.0.1:9110 (deterministic
answers: "You said: …", one token per word), so the whole AI flow works with no internet. A real
provider works by adding it on the AI providers page with its key.

Idempotent: everything is looked up by slug / name and only created when missing.
"""

from __future__ import annotations

from apis import services as api_services
from apis.models import Api, ApiVersion, Plan, VersionStatus, Visibility
from llm.models import ModelProvider, ModelRoute, PromptTemplate, ProviderModel
from llm.services import prompts, providers, routes, surfaces
from subscriptions import services as subscription_services
from subscriptions.models import Application, Subscription
from tenants.models import Membership

#: Where ./run's fake provider listens (gateway_node.ai.fake_provider), and the key it accepts.
#: Not a secret: the fake provider is a local test double that only ./run starts.
FAKE_PROVIDER = "http://127.0.0.1:9110"
FAKE_PROVIDER_KEY = "sk-demo-local-fake-provider"

PROVIDERS = [
    # (slug, name, kind, base URL, model id, prices per million: input, output, cached input)
    ("local-openai", "Local fake (OpenAI-compatible)", "openai", f"{FAKE_PROVIDER}/v1",
     "fake-gpt-small", "0.15", "0.60", "0.075"),
    ("local-anthropic", "Local fake (Anthropic)", "anthropic", FAKE_PROVIDER,
     "fake-claude-small", "0.80", "4.00", None),
]  # fmt: skip

SUMMARISE_MESSAGES = [
    {"role": "system", "content": "You summarise texts for busy logistics planners."},
    {"role": "user", "content": "Summarise in at most {{words}} words, in {{language}}: {{text}}"},
]
SUMMARISE_VARIABLES = [
    {"name": "text", "type": "string", "required": True, "description": "The text to summarise.", "max_length": 20000},
    {"name": "words", "type": "integer", "required": False, "default": 50, "description": "Length of the summary."},
    {
        "name": "language",
        "type": "string",
        "required": False,
        "default": "English",
        "enum": ["English", "Dutch", "German", "French"],
        "description": "Language of the summary.",
    },
]


def _route(owner: Membership) -> ModelRoute:
    tenant = owner.tenant
    models = []
    for slug, name, kind, base_url, model_id, price_in, price_out, price_cached in PROVIDERS:
        provider = ModelProvider.objects.for_tenant(tenant).filter(slug=slug).first()
        if provider is None:
            provider = providers.provider_create(actor=owner, name=name, slug=slug, kind=kind, base_url=base_url)
            providers.credential_create(actor=owner, provider=provider, label="demo", secret=FAKE_PROVIDER_KEY)
        model = ProviderModel.objects.for_tenant(tenant).filter(provider=provider, model_id=model_id).first()
        if model is None:
            model = providers.model_create(
                actor=owner,
                provider=provider,
                model_id=model_id,
                context_window=16_000,
                price={
                    "input_per_million": price_in,
                    "output_per_million": price_out,
                    "cached_input_per_million": price_cached,
                    "effective_from": "2026-01-01",
                    "source": "demo prices (a local fake provider)",
                },
            )
        models.append(model)
    route = ModelRoute.objects.for_tenant(tenant).filter(name="chat-small").first()
    if route is None:
        # The OpenAI-compatible fake first; the Anthropic one takes over when it fails (fallback).
        route = routes.route_create(
            actor=owner,
            name="chat-small",
            description="A small chat model with fallback.",
            targets=[
                {"model": models[0].pk, "position": 0, "weight": 1},
                {"model": models[1].pk, "position": 1, "weight": 1},
            ],
        )
    return route


def _publish(owner: Membership, version: ApiVersion) -> None:
    if version.status == VersionStatus.DRAFT:
        api_services.version_publish(actor=owner, version=version, note="Demo data")


def _plan(owner: Membership, api: Api) -> Plan:
    plan = Plan.objects.for_tenant(owner.tenant).filter(api=api, name="Starter").first()
    if plan is None:
        plan = api_services.plan_create(
            actor=owner,
            api=api,
            name="Starter",
            rate_limit_per_second=5,
            token_limit_per_minute=20_000,
            token_quota_per_day=200_000,
            cost_budget_per_month="5.00",
            price_label="Free",
        )
    return plan


def seed_ai(owner: Membership) -> list[Api]:
    """Acme's AI demo: the Acme AI API (model route acme/chat-small) and the Summarise prompt API."""
    tenant = owner.tenant
    route = _route(owner)

    api = Api.objects.for_tenant(tenant).filter(slug="acme-ai").first()
    if api is None:
        api = api_services.api_create(
            actor=owner,
            name="Acme AI",
            slug="acme-ai",
            summary="Chat models behind one OpenAI-compatible API.",
            description="Use any OpenAI client: set its base URL to the gateway and its key to your API key.",
            tags=["ai", "llm"],
            visibility=Visibility.PUBLIC,
        )
    version = ApiVersion.objects.for_tenant(tenant).filter(api=api, label="v1").first()
    if version is None:
        version = surfaces.ai_version_create(actor=owner, api=api, label="v1", base_path="/ai/v1", routes=[route])
    _publish(owner, version)
    _plan(owner, api)

    template = PromptTemplate.objects.for_tenant(tenant).filter(slug="summarise").first()
    if template is None:
        template = prompts.prompt_template_create(
            actor=owner, name="Summarise", slug="summarise", description="Short summaries of long texts."
        )
    prompt_api = Api.objects.for_tenant(tenant).filter(slug="summarise").first()
    if prompt_api is None:
        prompt_api = api_services.api_create(
            actor=owner,
            name="Summarise",
            slug="summarise",
            summary="Short summaries of long texts: a prompt published as an API.",
            tags=["ai", "prompt"],
            visibility=Visibility.PUBLIC,
        )
    if not ApiVersion.objects.for_tenant(tenant).filter(api=prompt_api, label="v1").exists():
        saved = prompts.prompt_version_save(
            actor=owner,
            template=template,
            messages=SUMMARISE_MESSAGES,
            variables=SUMMARISE_VARIABLES,
            route=route,
            params={"temperature": 0.2, "max_tokens": 400},
        )
        prompts.prompt_publish(actor=owner, version=saved.version, base_path="/summarise/v1", api=prompt_api)
    prompt_version = ApiVersion.objects.for_tenant(tenant).get(api=prompt_api, label="v1")
    _publish(owner, prompt_version)
    _plan(owner, prompt_api)
    return [api, prompt_api]


def seed_ai_subscriptions(consumer: Membership, provider_owner: Membership) -> None:
    """Globex's storefront subscribes to both AI APIs (Starter: automatic approval)."""
    application = Application.objects.for_tenant(consumer.tenant).filter(name="Storefront").first()
    if application is None:
        return
    for slug in ("acme-ai", "summarise"):
        api = Api.objects.for_tenant(provider_owner.tenant).filter(slug=slug).first()
        plan = Plan.objects.for_tenant(provider_owner.tenant).filter(api=api, name="Starter").first() if api else None
        if plan is None:
            continue
        if (
            not Subscription.objects.for_consumer(consumer.tenant)
            .live()
            .filter(application=application, api=api)
            .exists()
        ):
            subscription_services.subscription_request(
                actor=consumer, application=application, plan=plan, use_case="Product descriptions and summaries."
            )
