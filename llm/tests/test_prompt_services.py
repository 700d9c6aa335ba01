"""Prompt templates and versions (dedupe by hash, immutability, lint refusals) and publishing as an API."""

from __future__ import annotations

import copy
from datetime import timedelta

import pytest
from django.utils import timezone
from openapi_spec_validator import validate as validate_openapi

from apis import services as api_services
from apis.models import Api, ApiVersion, Endpoint, VersionKind, VersionStatus
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from llm.models import AiSurface, PromptTemplate, PromptVersion, SurfaceKind
from llm.services import prompts as services
from llm.tests import test_prompt_support as support
from llm.tests.test_prompt_support import MESSAGES, SUMMARY_SCHEMA, VARIABLES, make_route, member, save_version
from protocol.prompts import content_hash, normalize_variables

# Shared fixtures (pytest finds them as module attributes).
alice_m = support.alice_m
route = support.route
saved = support.saved
template = support.template


def versions(template) -> list[int]:
    return list(
        PromptVersion.objects.for_tenant(template.tenant).filter(template=template).values_list("number", flat=True)
    )


# --- templates ------------------------------------------------------------------------------


def test_template_create_and_slug_taken(alice_m, template):
    assert template.slug == "summarise"
    with pytest.raises(InvalidInput) as info:
        services.prompt_template_create(actor=alice_m, name="Other", slug="summarise")
    assert info.value.code == "slug_taken"
    with pytest.raises(InvalidInput) as info:
        services.prompt_template_create(actor=alice_m, name="Other", slug="Not A Slug!")
    assert info.value.field == "slug"


def test_viewer_cannot_write(vera, acme, template, route):
    viewer = member(vera, acme)
    with pytest.raises(Forbidden):
        services.prompt_template_create(actor=viewer, name="X", slug="x")
    with pytest.raises(Forbidden):
        save_version(viewer, template, route)


def test_developer_can_write(bob, acme, template, route):
    result = save_version(member(bob, acme), template, route)
    assert result.version.number == 1
    assert result.version.created_by == bob


def test_stranger_template_is_not_found(charlie, globex, template):
    with pytest.raises(NotFound):
        services.prompt_template_update(actor=member(charlie, globex), template=template, name="Mine")


# --- versions -------------------------------------------------------------------------------


def test_save_creates_v1_with_the_content_hash(saved, route):
    version = saved.version
    assert saved.created
    assert saved.warnings == []
    assert version.number == 1
    assert version.content_hash == content_hash(
        MESSAGES, normalize_variables(VARIABLES), route.pk, {"temperature": 0.2, "max_tokens": 300}, "text", None
    )
    assert version.variables[1] == {"name": "words", "type": "integer", "required": False, "default": 50}


def test_same_content_gives_the_same_version(alice_m, template, route, saved):
    # Same meaning, written differently: key order, an explicit "required": false.
    messages = [dict(reversed(list(m.items()))) for m in MESSAGES]
    variables = copy.deepcopy(VARIABLES)
    variables[1] = {"default": 50, "type": "integer", "name": "words", "required": False, "description": ""}
    again = services.prompt_version_save(
        actor=alice_m,
        template=template,
        messages=messages,
        variables=variables,
        route=route.pk,
        params={"max_tokens": 300, "temperature": 0.2},
    )
    assert not again.created
    assert again.version.pk == saved.version.pk
    assert versions(template) == [1]


def test_changed_content_gets_the_next_number(alice_m, template, route, saved):
    changed = save_version(alice_m, template, route, params={"temperature": 0.7, "max_tokens": 300})
    assert changed.created
    assert changed.version.number == 2
    assert changed.version.content_hash != saved.version.content_hash
    # Going back to the first content answers v1, not a v3.
    back = save_version(alice_m, template, route, params={"temperature": 0.2, "max_tokens": 300})
    assert back.version.number == 1
    assert versions(template) == [2, 1]


def test_versions_are_immutable(saved):
    version = saved.version
    version.messages = [{"role": "user", "content": "changed"}]
    with pytest.raises(ValueError, match="immutable"):
        version.save()
    version.refresh_from_db()
    assert version.messages == MESSAGES


def test_lint_errors_refuse_with_every_problem(alice_m, template, route):
    with pytest.raises(services.PromptInvalid) as info:
        services.prompt_version_save(
            actor=alice_m,
            template=template,
            messages=[{"role": "bot", "content": "{{ who }}"}],
            variables=[{"name": "x", "type": "text"}],
            route=route,
            params={"temperature": 9},
        )
    errors = info.value.fields["prompt"]
    assert errors == [
        "Message 1: the role must be one of system, user, assistant.",
        "There must be at least one user message.",
        "Variable “x”: the type must be one of string, integer, number, boolean.",
        "Message 1: {{ who }} is used but no such variable is declared.",
        "Parameter “temperature” must be a number from 0 to 2.",
    ]
    # Warnings are part of the findings too (here: x is unused).
    assert {
        "level": "warning",
        "message": "Variable “x” is declared but not used in any message.",
    } in info.value.problems
    assert info.value.status_code == 400
    assert versions(template) == []


def test_warnings_are_returned_and_the_version_saved(alice_m, template, route):
    result = services.prompt_version_save(
        actor=alice_m,
        template=template,
        messages=[{"role": "user", "content": "Hello {{ name"}],
        variables=[{"name": "unused", "type": "string"}],
        route=route,
    )
    assert result.created
    assert [w["message"] for w in result.warnings] == [
        "Message 1: “{{ name” is not a placeholder {{ name }}; it is sent to the model as written.",
        "Variable “unused” is declared but not used in any message.",
    ]


def test_json_mode_needs_a_schema_and_keeps_it(alice_m, template, route):
    with pytest.raises(services.PromptInvalid):
        save_version(alice_m, template, route, response_mode="json")
    result = save_version(alice_m, template, route, response_mode="json", response_schema=SUMMARY_SCHEMA)
    assert result.version.response_schema == SUMMARY_SCHEMA
    # Outside json mode the schema is dropped (a warning says so).
    text = save_version(alice_m, template, route, response_schema=SUMMARY_SCHEMA)
    assert text.version.response_schema is None
    assert any("only used in response mode json" in w["message"] for w in text.warnings)


def test_route_must_be_the_tenants_chat_route(alice_m, template, globex):
    foreign = make_route(globex, name="theirs")
    with pytest.raises(InvalidInput) as info:
        save_version(alice_m, template, foreign)
    assert info.value.field == "route"
    embed = make_route(template.tenant, name="embed", capability="embeddings")
    with pytest.raises(InvalidInput) as info:
        save_version(alice_m, template, embed)
    assert info.value.code == "wrong_capability"
    with pytest.raises(InvalidInput):
        save_version(alice_m, template, "x")


def test_size_limits(alice_m, template, route):
    with pytest.raises(InvalidInput) as info:
        services.prompt_version_save(
            actor=alice_m,
            template=template,
            messages=[{"role": "user", "content": "x" * (services.MAX_CONTENT_CHARS + 1)}],
            variables=[],
            route=route,
        )
    assert info.value.field == "messages"
    with pytest.raises(InvalidInput) as info:
        services.prompt_version_save(
            actor=alice_m,
            template=template,
            messages=[{"role": "user", "content": "a\x00b"}],
            variables=[],
            route=route,
        )
    assert "NUL" in info.value.message


# --- publishing -----------------------------------------------------------------------------


def test_publish_creates_a_prompt_api_version_with_a_valid_document(alice_m, saved):
    api_version = services.prompt_publish(actor=alice_m, version=saved.version, base_path="/acme-summarise/v1")
    assert api_version.kind == VersionKind.PROMPT
    assert api_version.status == VersionStatus.DRAFT
    assert api_version.upstreams == []
    api = Api.objects.for_tenant(alice_m.tenant).get(pk=api_version.api_id)
    assert (api.name, api.slug, api.summary) == ("Summarise", "summarise", "Short summaries.")
    surface = AiSurface.objects.for_tenant(alice_m.tenant).get(version=api_version)
    assert surface.kind == SurfaceKind.PROMPT
    assert surface.prompt_version_id == saved.version.pk

    document = api_version.spec
    validate_openapi(document)
    assert api_version.openapi_version == "3.1.0"
    request = document["paths"]["/run"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert request["properties"]["stream"]["type"] == "boolean"
    variables = document["components"]["schemas"]["Variables"]
    assert variables["additionalProperties"] is False
    assert variables["required"] == ["text"]
    assert variables["properties"]["text"]["maxLength"] == 2000
    responses = document["paths"]["/run"]["post"]["responses"]
    assert set(responses) >= {"200", "400", "502"}
    assert "text/event-stream" in responses["200"]["content"]
    endpoints = list(
        Endpoint.objects.for_tenant(alice_m.tenant).filter(version=api_version).values_list("method", "path")
    )
    assert endpoints == [("POST", "/run")]

    # The normal lifecycle applies: it can go live, then be deprecated.
    live = api_services.version_publish(actor=alice_m, version=api_version)
    assert live.status == VersionStatus.PUBLISHED
    deprecated = api_services.version_deprecate(
        actor=alice_m, version=live, sunset_date=timezone.now().date() + timedelta(days=30)
    )
    assert deprecated.status == VersionStatus.DEPRECATED


def test_json_mode_document_embeds_the_schema(alice_m, template, route):
    version = save_version(alice_m, template, route, response_mode="json", response_schema=SUMMARY_SCHEMA).version
    api_version = services.prompt_publish(actor=alice_m, version=version, base_path="/acme-json/v1")
    validate_openapi(api_version.spec)
    ok = api_version.spec["paths"]["/run"]["post"]["responses"]["200"]["content"]
    assert ok["application/json"]["schema"]["properties"]["output"] == SUMMARY_SCHEMA
    assert "text/event-stream" not in ok
    assert "invalid_model_output" in api_version.spec["paths"]["/run"]["post"]["responses"]["502"]["description"]


def test_openai_mode_document(alice_m, template, route):
    version = save_version(alice_m, template, route, response_mode="openai").version
    api_version = services.prompt_publish(actor=alice_m, version=version, base_path="/acme-oai/v1")
    validate_openapi(api_version.spec)
    assert "ChatCompletion" in api_version.spec["components"]["schemas"]


def test_publish_into_an_existing_api_and_base_path_taken(alice_m, saved):
    first = services.prompt_publish(actor=alice_m, version=saved.version, base_path="/sum/v1")
    api = Api.objects.for_tenant(alice_m.tenant).get(pk=first.api_id)
    second = services.prompt_publish(actor=alice_m, version=saved.version, base_path="/sum/v2", label="v2", api=api)
    assert second.api_id == api.pk
    with pytest.raises(InvalidInput) as info:
        services.prompt_publish(actor=alice_m, version=saved.version, base_path="/sum/v2", label="v3", api=api)
    assert info.value.field == "base_path"
    # A new API with a slug already taken: a clear 400 and nothing created.
    with pytest.raises(InvalidInput) as info:
        services.prompt_publish(actor=alice_m, version=saved.version, base_path="/sum/v9")
    assert info.value.field == "slug"
    assert ApiVersion.objects.for_tenant(alice_m.tenant).filter(base_path="/sum/v9").count() == 0


def test_publish_a_foreign_prompt_version_is_not_found(charlie, globex, saved):
    with pytest.raises(NotFound):
        services.prompt_publish(actor=member(charlie, globex), version=saved.version, base_path="/x/v1")


def test_route_without_target_cannot_go_live(alice_m, template):
    empty = make_route(template.tenant, name="empty", with_target=False)
    version = save_version(alice_m, template, empty).version
    api_version = services.prompt_publish(actor=alice_m, version=version, base_path="/empty/v1")
    with pytest.raises(Conflict) as info:
        api_services.version_publish(actor=alice_m, version=api_version)
    assert "no target" in info.value.message


def test_a_draft_can_be_repointed_a_live_version_cannot(alice_m, template, route, saved):
    api_version = services.prompt_publish(actor=alice_m, version=saved.version, base_path="/sum/v1")
    v2 = services.prompt_version_save(
        actor=alice_m,
        template=template,
        messages=MESSAGES,
        variables=[*VARIABLES, {"name": "tone", "type": "string", "enum": ["dry", "warm"]}],
        route=route,
    ).version
    services.prompt_surface_update(actor=alice_m, api_version=api_version, prompt_version=v2)
    api_version.refresh_from_db()
    assert AiSurface.objects.for_tenant(alice_m.tenant).get(version=api_version).prompt_version_id == v2.pk
    assert "tone" in api_version.spec["components"]["schemas"]["Variables"]["properties"]

    api_services.version_publish(actor=alice_m, version=api_version)
    with pytest.raises(Conflict) as info:
        services.prompt_surface_update(actor=alice_m, api_version=api_version, prompt_version=saved.version)
    assert info.value.code == "version_not_draft"


def test_a_published_prompt_cannot_be_deleted(alice_m, template, saved):
    services.prompt_publish(actor=alice_m, version=saved.version, base_path="/sum/v1")
    with pytest.raises(Conflict):
        services.prompt_template_delete(actor=alice_m, template=template)
    assert PromptTemplate.objects.for_tenant(alice_m.tenant).filter(pk=template.pk).exists()


def test_an_unpublished_prompt_can_be_deleted(alice_m, template, saved):
    services.prompt_template_delete(actor=alice_m, template=template)
    assert not PromptTemplate.objects.for_tenant(alice_m.tenant).filter(pk=template.pk).exists()
