"""Model routes and AI versions: targets, capabilities, tenants, publishing, the generated document."""

import pytest
from openapi_spec_validator import validate

from apis import services as catalog
from apis.models import Endpoint, VersionStatus
from core.errors import Conflict, InvalidInput
from llm.models import RouteTarget
from llm.services import providers, routes, surfaces
from llm.tests import ai_support
from llm.tests.ai_support import build_world, member

alice_m = ai_support.alice_m
world = ai_support.world


def test_a_route_lists_its_targets_in_order(world):
    targets = list(RouteTarget.objects.for_tenant(world.actor.tenant).filter(route=world.route))
    assert [(t.model_id, t.position, t.weight) for t in targets] == [(world.mini.pk, 0, 3), (world.big.pk, 1, 1)]
    assert world.route.public_name == "acme/chat-small"


def test_targets_must_be_own_models_of_the_routes_capability(world, charlie, globex):
    with pytest.raises(InvalidInput, match="embeddings model") as info:
        routes.route_create(actor=world.actor, name="mixed", targets=[{"model": world.embed.pk}])
    assert info.value.code == "capability_mismatch"
    with pytest.raises(InvalidInput, match="listed twice"):
        routes.route_create(actor=world.actor, name="twice", targets=[{"model": world.mini.pk}, {"model": world.mini}])
    stranger = member(charlie, globex)
    with pytest.raises(InvalidInput, match="no such model"):
        routes.route_create(actor=stranger, name="theirs", targets=[{"model": world.mini.pk}])
    with pytest.raises(InvalidInput, match="lowercase"):
        routes.route_create(actor=world.actor, name="Bad Name!")
    with pytest.raises(InvalidInput, match="already exists"):
        routes.route_create(actor=world.actor, name="chat-small")


def test_a_live_route_keeps_a_target_and_cannot_be_deleted(world):
    with pytest.raises(Conflict, match="at least one target"):
        routes.route_update(actor=world.actor, route=world.route, targets=[])
    with pytest.raises(Conflict, match="remove it from them first"):
        routes.route_delete(actor=world.actor, route=world.route)
    routes.route_update(actor=world.actor, route=world.route, targets=[{"model": world.big.pk}], description="Big")


def test_an_ai_version_is_published_only_with_routes_that_have_targets(alice_m):
    w = build_world(alice_m, publish=False)
    empty = routes.route_create(actor=alice_m, name="later")
    draft = surfaces.ai_version_create(actor=alice_m, api=w.api, label="v2", base_path="/acme-ai/v2", routes=[])
    with pytest.raises(Conflict, match="Choose at least one model route"):
        catalog.version_publish(actor=alice_m, version=draft)
    surfaces.surface_set_routes(actor=alice_m, version=draft, routes=[empty.pk])
    with pytest.raises(Conflict, match="acme/later has no target"):
        catalog.version_publish(actor=alice_m, version=draft)
    routes.route_update(actor=alice_m, route=empty, targets=[{"model": w.mini.pk}])
    assert catalog.version_publish(actor=alice_m, version=draft).status == VersionStatus.PUBLISHED
    with pytest.raises(Conflict, match="at least one model route"):
        surfaces.surface_set_routes(actor=alice_m, version=draft, routes=[])


def test_an_ai_version_has_no_upstreams_and_no_uploaded_document(world):
    with pytest.raises(InvalidInput, match="no upstreams"):
        catalog.version_update(actor=world.actor, version=world.version, upstreams=[{"url": "https://x.example"}])
    with pytest.raises(Conflict, match="generated"):
        catalog.version_upload_spec(actor=world.actor, version=world.version, document="openapi: 3.1.0")
    with pytest.raises(InvalidInput, match="no upstreams"):
        catalog.version_create(
            actor=world.actor,
            api=world.api,
            label="v9",
            base_path="/acme-ai/v9",
            kind="ai",
            upstreams=[{"url": "https://x.example"}],
        )
    with pytest.raises(Conflict, match="kind AI"):
        rest = catalog.version_create(actor=world.actor, api=world.api, label="r1", base_path="/acme-ai/r1")
        surfaces.surface_set_routes(actor=world.actor, version=rest, routes=[world.route.pk])


def test_the_generated_document_is_valid_and_follows_the_routes(world):
    spec = world.version.spec
    validate(spec)
    assert spec["paths"]["/chat/completions"]["post"]["requestBody"]["content"]["application/json"]
    assert spec["components"]["schemas"]["ChatCompletionRequest"]["properties"]["model"]["enum"] == ["acme/chat-small"]
    assert "/embeddings" not in spec["paths"]
    embed = routes.route_create(
        actor=world.actor, name="embed", capability="embeddings", targets=[{"model": world.embed.pk}]
    )
    surfaces.surface_set_routes(actor=world.actor, version=world.version, routes=[world.route.pk, embed.pk])
    world.version.refresh_from_db()
    validate(world.version.spec)
    assert world.version.spec["components"]["schemas"]["EmbeddingRequest"]["properties"]["model"]["enum"] == [
        "acme/embed"
    ]
    endpoints = Endpoint.objects.for_tenant(world.actor.tenant).filter(version=world.version)
    assert sorted(e.template for e in endpoints) == ["GET /models", "POST /chat/completions", "POST /embeddings"]


def test_a_developer_sets_an_ai_versions_routes_but_cannot_touch_providers(world, bob, acme):
    from core.errors import Forbidden

    dev = member(bob, acme)
    surfaces.surface_set_routes(actor=dev, version=world.version, routes=[world.route.pk])
    with pytest.raises(Forbidden):
        routes.route_create(actor=dev, name="mine")
    with pytest.raises(Forbidden):
        providers.price_add(actor=dev, model=world.big, input_per_million="1", output_per_million="1")


def test_another_organisations_route_is_unknown_to_a_version(world, charlie, globex):
    stranger = member(charlie, globex)
    other = build_world(stranger, publish=False)
    with pytest.raises(InvalidInput, match="No such model route"):
        surfaces.surface_set_routes(actor=world.actor, version=world.version, routes=[other.route.pk])
