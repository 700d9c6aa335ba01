"""Shared fixtures of the prompt tests (imported by the test_prompt_* modules; no tests here).

Rows are created directly (not through helper services of other parts) so these tests depend
only on the models: a provider with one credential, a chat model, a route targeting it.
"""

from __future__ import annotations

import pytest

from core import secretbox
from llm.models import ModelProvider, ModelRoute, ProviderCredential, ProviderModel, RouteTarget
from llm.services import prompts as services
from tenants.models import Membership, Tenant

CREDENTIAL_CONTEXT = "llm.credential"
SECRET = "sk-test-prompt-secret-1234567890"

MESSAGES = [
    {"role": "system", "content": "You summarise."},
    {"role": "user", "content": "Summarise in {{ words }} words: {{text}}"},
]
VARIABLES = [
    {"name": "text", "type": "string", "required": True, "max_length": 2000},
    {"name": "words", "type": "integer", "required": False, "default": 50},
]
#: A response schema for json mode.
SUMMARY_SCHEMA = {"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]}


def member(user, tenant: Tenant) -> Membership:
    return Membership.objects.for_tenant(tenant).get(user=user)


def save_version(actor: Membership, template, route, **fields) -> services.SavedVersion:
    """Save a version of ``template`` with the shared MESSAGES and VARIABLES (and ``fields``)."""
    return services.prompt_version_save(
        actor=actor, template=template, messages=MESSAGES, variables=VARIABLES, route=route, **fields
    )


def make_route(
    tenant: Tenant,
    *,
    base_url: str = "https://api.openai.example/v1",
    kind: str = "openai",
    name: str = "chat-small",
    with_target: bool = True,
    with_credential: bool = True,
    capability: str = "chat",
) -> ModelRoute:
    provider = ModelProvider.objects.create(
        tenant=tenant, name=f"Prov {name}", slug=f"prov-{name}", kind=kind, base_url=base_url, read_timeout_ms=5000
    )
    if with_credential:
        ProviderCredential.objects.create(
            tenant=tenant,
            provider=provider,
            label="main",
            secret_encrypted=secretbox.encrypt(SECRET, context=CREDENTIAL_CONTEXT),
            secret_hint="sk-…7890",
        )
    model = ProviderModel.objects.create(
        tenant=tenant, provider=provider, model_id="gpt-4o-mini", capability=capability
    )
    route = ModelRoute.objects.create(tenant=tenant, name=name, capability=capability)
    if with_target:
        RouteTarget.objects.create(tenant=tenant, route=route, model=model, position=0, weight=1)
    return route


@pytest.fixture
def alice_m(alice, acme) -> Membership:
    return member(alice, acme)


@pytest.fixture
def route(acme) -> ModelRoute:
    return make_route(acme)


@pytest.fixture
def template(alice_m):
    return services.prompt_template_create(
        actor=alice_m, name="Summarise", slug="summarise", description="Short summaries."
    )


@pytest.fixture
def saved(alice_m, template, route):
    return save_version(alice_m, template, route, params={"temperature": 0.2, "max_tokens": 300})
