"""The AI parts of the gateway snapshot (docs/ai-gateway.md): route kinds, the ai section, secrets."""

import json

import pytest

from apis import services as catalog
from apis.models import Plan
from gateways.snapshot import current_version
from llm.services import providers, routes, surfaces
from llm.tests import ai_support
from llm.tests.ai_support import SECRET, SECRET_2

URL = "/gateway/v1/config"

alice_m = ai_support.alice_m
world = ai_support.world


def _snapshot(node_api) -> dict:
    response = node_api.get(URL)
    assert response.status_code == 200
    return json.loads(response.content)


def test_an_ai_version_is_a_route_of_kind_ai_with_its_public_model_names(node_api, world):
    body = _snapshot(node_api)
    [route] = body["routes"]
    assert route["api_version_id"] == world.version.pk and route["kind"] == "ai"
    assert route["upstreams"] == [] and route["base_path"] == "/acme-ai/v1"
    assert route["ai"] == {"models": {"acme/chat-small": world.route.pk}}
    assert {(e["method"], e["path"]) for e in route["endpoints"]} == {
        ("GET", "/models"),
        ("POST", "/chat/completions"),
    }


def test_the_ai_section_has_providers_models_prices_and_routes_exactly_as_the_contract(node_api, world):
    ai = _snapshot(node_api)["ai"]
    assert ai["providers"] == {
        str(world.provider.pk): {
            "slug": "openai",
            "kind": "openai",
            "base_url": "https://api.openai.com/v1",
            "connect_timeout_ms": 5000,
            "read_timeout_ms": 60000,
            "credentials": [
                {"id": world.credential.pk, "secret": SECRET, "priority": 0, "weight": 3},
                {"id": world.spare.pk, "secret": SECRET_2, "priority": 1, "weight": 1},
            ],
        }
    }
    assert ai["models"][str(world.mini.pk)] == {
        "provider_id": world.provider.pk,
        "model": "gpt-4o-mini",
        "capability": "chat",
        "context_window": 128000,
        "prices": [{"from": "2025-01-01", "input": "0.15", "output": "0.6", "cached_input": "0.075"}],
    }
    assert ai["models"][str(world.big.pk)]["prices"] == []
    # Only what a routed version uses: the embeddings model is in no route.
    assert str(world.embed.pk) not in ai["models"]
    assert ai["routes"] == {
        str(world.route.pk): {
            "name": "acme/chat-small",
            "capability": "chat",
            "targets": [
                {"model_id": world.mini.pk, "position": 0, "weight": 3},
                {"model_id": world.big.pk, "position": 1, "weight": 1},
            ],
        }
    }


def test_prices_are_newest_first(node_api, world):
    providers.price_add(
        actor=world.actor,
        model=world.mini,
        input_per_million="0.1",
        output_per_million="0.4",
        effective_from="2026-02-01",
    )
    prices = _snapshot(node_api)["ai"]["models"][str(world.mini.pk)]["prices"]
    assert [p["from"] for p in prices] == ["2026-02-01", "2025-01-01"]
    assert prices[0] == {"from": "2026-02-01", "input": "0.1", "output": "0.4", "cached_input": None}


def test_disabled_credentials_are_not_sent(node_api, world):
    providers.credential_update(actor=world.actor, credential=world.spare, enabled=False)
    credentials = _snapshot(node_api)["ai"]["providers"][str(world.provider.pk)]["credentials"]
    assert [c["id"] for c in credentials] == [world.credential.pk]


def test_the_stored_secret_is_encrypted_and_a_credential_no_key_opens_is_left_out(node_api, world, caplog):
    from llm.models import ProviderCredential

    stored = ProviderCredential.objects.for_tenant(world.actor.tenant).get(pk=world.credential.pk)
    assert SECRET not in stored.secret_encrypted and stored.secret_hint == "sk-…a1b2"
    # As if its key had been dropped from CREDENTIAL_ENCRYPTION_KEYS too early.
    ProviderCredential.objects.for_tenant(world.actor.tenant).filter(pk=world.credential.pk).update(
        secret_encrypted="v1.deadbeef." + stored.secret_encrypted.split(".")[2]
    )
    response = node_api.get(URL)
    credentials = json.loads(response.content)["ai"]["providers"][str(world.provider.pk)]["credentials"]
    assert [c["id"] for c in credentials] == [world.spare.pk]
    assert SECRET not in caplog.text and f"credential {world.credential.pk}" in caplog.text


def test_drafts_ship_nothing_of_their_ai_configuration(node_api, alice_m):
    from llm.tests.ai_support import build_world

    build_world(alice_m, publish=False)
    body = _snapshot(node_api)
    assert body["routes"] == [] and body["ai"] == {"providers": {}, "models": {}, "routes": {}}
    assert SECRET not in json.dumps(body)


def test_plan_limits_carry_the_ai_limits(node_api, world, globex, charlie):
    from subscriptions import services as subs
    from subscriptions.tests.factories import ApplicationFactory, membership

    plan = catalog.plan_create(actor=world.actor, api=world.api, name="Tokens", quota_per_day=100)
    Plan.objects.for_tenant(world.actor.tenant).filter(pk=plan.pk).update(
        token_limit_per_minute=10000, token_quota_per_day=1_000_000, cost_budget_per_day="12.5000"
    )
    consumer = membership(charlie, globex)
    app = ApplicationFactory(tenant=globex)
    subs.subscription_request(actor=consumer, application=app, plan=plan)
    key, _ = subs.key_create(actor=consumer, application=app, name="prod")
    limits = _snapshot(node_api)["credentials"][key.key_id]["subscriptions"][0]["limits"]
    assert limits["token_limit_per_minute"] == 10000 and limits["token_quota_per_day"] == 1_000_000
    assert limits["token_quota_per_month"] is None and limits["cost_budget_per_month"] is None
    assert limits["cost_budget_per_day"] == 12.5


@pytest.mark.parametrize(
    "change",
    [
        "provider",
        "credential_add",
        "credential_disable",
        "model",
        "price",
        "route_targets",
        "surface",
    ],
)
def test_every_change_of_the_ai_configuration_bumps_the_config_version(world, change):
    actor = world.actor
    before = current_version()
    if change == "provider":
        providers.provider_update(actor=actor, provider=world.provider, read_timeout_ms=30000)
    elif change == "credential_add":
        providers.credential_create(actor=actor, provider=world.provider, label="third", secret="sk-third-0000000000")
    elif change == "credential_disable":
        providers.credential_update(actor=actor, credential=world.spare, enabled=False)
    elif change == "model":
        providers.model_update(actor=actor, model=world.big, context_window=64000)
    elif change == "price":
        providers.price_add(actor=actor, model=world.big, input_per_million="2.5", output_per_million="10")
    elif change == "route_targets":
        routes.route_update(actor=actor, route=world.route, targets=[{"model": world.mini.pk}])
    elif change == "surface":
        other = routes.route_create(
            actor=actor, name="embed", capability="embeddings", targets=[{"model": world.embed.pk}]
        )
        surfaces.surface_set_routes(actor=actor, version=world.version, routes=[world.route.pk, other.pk])
    assert current_version() > before


def test_the_snapshot_is_still_one_statement_with_ai_rows(world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from gateways.snapshot import build_snapshot

    for n in range(3):
        model = providers.model_create(actor=world.actor, provider=world.provider, model_id=f"extra-{n}")
        route = routes.route_create(actor=world.actor, name=f"extra-{n}", targets=[{"model": model.pk}])
        surfaces.surface_set_routes(
            actor=world.actor, version=world.version, routes=[*world.version.ai_surface.routes.all(), route]
        )
    with CaptureQueriesContext(connection) as queries:
        body = json.loads(build_snapshot().body)
    assert len(body["ai"]["routes"]) == 4 and len(body["ai"]["models"]) == 5
    assert len(queries.captured_queries) == 1


def test_a_prompt_version_ships_its_prompt_and_its_route(node_api, world):
    from apis.models import ApiVersion, VersionStatus
    from llm.models import AiSurface, PromptTemplate, PromptVersion

    tenant = world.actor.tenant
    template = PromptTemplate.objects.create(tenant=tenant, name="Summarise", slug="summarise")
    prompt = PromptVersion.objects.create(
        tenant=tenant,
        template=template,
        number=2,
        content_hash="9f2c" + "0" * 60,
        messages=[{"role": "user", "content": "Summarise in {{words}} words: {{text}}"}],
        variables=[{"name": "text", "type": "string", "required": True}],
        route=world.route,
        params={"temperature": 0.2},
        response_mode="text",
    )
    version = ApiVersion.objects.create(
        tenant=tenant,
        api=world.api,
        label="p1",
        base_path="/acme-summarise/v1",
        kind="prompt",
        status=VersionStatus.PUBLISHED,
    )
    AiSurface.objects.create(tenant=tenant, version=version, kind="prompt", prompt_version=prompt)
    body = _snapshot(node_api)
    route = next(r for r in body["routes"] if r["api_version_id"] == version.pk)
    assert route["kind"] == "prompt" and route["upstreams"] == []
    assert route["ai"] == {
        "prompt": {
            "template_id": template.pk,
            "version": 2,
            "hash": "9f2c" + "0" * 60,
            "messages": [{"role": "user", "content": "Summarise in {{words}} words: {{text}}"}],
            "variables": [{"name": "text", "type": "string", "required": True}],
            "route": world.route.pk,
            "params": {"temperature": 0.2},
            "response_mode": "text",
            "response_schema": None,
        }
    }
    assert str(world.route.pk) in body["ai"]["routes"]
