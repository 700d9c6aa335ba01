"""Shared fixtures of the AI gateway portal tests (imported by test modules; no tests here).

Acme (Alice, owner) runs an OpenAI-compatible provider with two credentials, two chat models
(one priced) and an embeddings model, a route ``acme/chat-small`` over both chat models, and an
API "Acme AI" with a published AI version serving that route. Charlie (Globex) is a stranger.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from apis import services as catalog
from apis.models import Api, ApiVersion, Visibility
from llm.models import ModelProvider, ModelRoute, ProviderCredential, ProviderModel
from llm.services import providers, routes, surfaces
from tenants.models import Membership, Tenant

SECRET = "sk-proj-alpha-0123456789abcdefghijklmnopa1b2"
SECRET_2 = "sk-proj-beta-9876543210zyxwvutsrqponmlkjc3d4"


def member(user, tenant: Tenant) -> Membership:
    return Membership.objects.for_tenant(tenant).get(user=user)


@dataclass
class AiWorld:
    actor: Membership
    provider: ModelProvider
    credential: ProviderCredential
    spare: ProviderCredential
    mini: ProviderModel
    big: ProviderModel
    embed: ProviderModel
    route: ModelRoute
    api: Api
    version: ApiVersion


def build_world(actor: Membership, *, publish: bool = True) -> AiWorld:
    provider = providers.provider_create(
        actor=actor, name="OpenAI", slug="openai", kind="openai", base_url="https://api.openai.com/v1"
    )
    credential = providers.credential_create(actor=actor, provider=provider, label="main", secret=SECRET, weight=3)
    spare = providers.credential_create(actor=actor, provider=provider, label="spare", secret=SECRET_2, priority=1)
    mini = providers.model_create(
        actor=actor,
        provider=provider,
        model_id="gpt-4o-mini",
        context_window=128000,
        price={
            "input_per_million": "0.15",
            "output_per_million": "0.60",
            "cached_input_per_million": "0.075",
            "effective_from": "2025-01-01",
        },
    )
    big = providers.model_create(actor=actor, provider=provider, model_id="gpt-4o", context_window=128000)
    embed = providers.model_create(
        actor=actor, provider=provider, model_id="text-embedding-3-small", capability="embeddings"
    )
    route = routes.route_create(
        actor=actor,
        name="chat-small",
        targets=[{"model": mini.pk, "position": 0, "weight": 3}, {"model": big.pk, "position": 1, "weight": 1}],
    )
    api = catalog.api_create(
        actor=actor, name="Acme AI", slug="acme-ai", summary="Models.", visibility=Visibility.PUBLIC
    )
    base = f"/{actor.tenant.slug}-ai/v1"
    version = surfaces.ai_version_create(actor=actor, api=api, label="v1", base_path=base, routes=[route.pk])
    if publish:
        version = catalog.version_publish(actor=actor, version=version)
    return AiWorld(actor, provider, credential, spare, mini, big, embed, route, api, version)


@pytest.fixture
def alice_m(alice, acme) -> Membership:
    return member(alice, acme)


@pytest.fixture
def world(alice_m) -> AiWorld:
    return build_world(alice_m)
