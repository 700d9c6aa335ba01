"""REST: /api/v1/tenants/{slug}/prompts/… (templates, versions, publish, playground)."""

from __future__ import annotations

from apis.models import ApiVersion, VersionKind
from llm.tests import test_prompt_support as support
from llm.tests.test_prompt_support import MESSAGES, VARIABLES, make_route

alice_m = support.alice_m
route = support.route
template = support.template
saved = support.saved

BASE = "/api/v1/tenants/acme/prompts/"


def version_body(route_id: int, **changes: object) -> dict:
    return {
        "messages": MESSAGES,
        "variables": VARIABLES,
        "route": route_id,
        "params": {"temperature": 0.2},
        **changes,
    }


def test_create_list_and_retrieve_templates(api, alice):
    api.force_authenticate(alice)
    answer = api.post(BASE, {"name": "Summarise", "slug": "summarise", "description": "Short."}, format="json")
    assert answer.status_code == 201, answer.json()
    assert answer.json()["slug"] == "summarise"
    again = api.post(BASE, {"name": "Again", "slug": "summarise"}, format="json")
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "slug_taken"
    listed = api.get(BASE).json()
    assert [t["slug"] for t in listed["results"]] == ["summarise"]
    one = api.get(BASE + "summarise/")
    assert one.status_code == 200
    assert one.json()["latest_version"] is None


def test_it_checks_ownership(api, charlie, saved):
    api.force_authenticate(charlie)
    assert api.get(BASE).status_code == 404
    assert api.get(BASE + "summarise/").status_code == 404
    assert api.get(BASE + "summarise/versions/1/").status_code == 404
    assert api.post(BASE + "summarise/versions/1/publish/", {"base_path": "/x/v1"}, format="json").status_code == 404
    assert api.post(BASE + "summarise/versions/1/playground/", {"variables": {}}, format="json").status_code == 404
    # Charlie's own organisation has no such prompt either.
    assert api.get("/api/v1/tenants/globex/prompts/summarise/").status_code == 404


def test_anonymous_is_refused(api, saved):
    assert api.get(BASE).status_code in (401, 403)


def test_viewer_reads_but_cannot_write(api, vera, saved, route):
    api.force_authenticate(vera)
    assert api.get(BASE + "summarise/versions/").status_code == 200
    assert api.post(BASE, {"name": "X", "slug": "x"}, format="json").status_code == 403
    answer = api.post(BASE + "summarise/versions/", version_body(route.pk), format="json")
    assert answer.status_code == 403
    assert api.post(BASE + "summarise/versions/1/playground/", {"variables": {}}, format="json").status_code == 403


def test_save_version_new_then_same(api, alice, template, route):
    api.force_authenticate(alice)
    body = version_body(route.pk, variables=[*VARIABLES, {"name": "unused", "type": "string"}])
    first = api.post(BASE + "summarise/versions/", body, format="json")
    assert first.status_code == 201, first.json()
    data = first.json()
    assert data["created"] is True
    assert data["version"]["number"] == 1
    assert len(data["version"]["content_hash"]) == 64
    assert data["version"]["route_name"] == "acme/chat-small"
    assert data["warnings"] == [
        {"level": "warning", "message": "Variable “unused” is declared but not used in any message."}
    ]
    same = api.post(BASE + "summarise/versions/", body, format="json")
    assert same.status_code == 200
    assert same.json()["created"] is False
    assert same.json()["version"]["number"] == 1
    assert api.get(BASE + "summarise/").json()["latest_version"] == 1


def test_lint_errors_are_all_listed(api, alice, template, route):
    api.force_authenticate(alice)
    body = version_body(
        route.pk,
        messages=[{"role": "robot", "content": "{{ nope }}"}],
        variables=[{"name": "1x", "type": "string"}],
        params={"temperature": 5},
    )
    answer = api.post(BASE + "summarise/versions/", body, format="json")
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "invalid_prompt"
    assert error["fields"]["prompt"] == [
        "Message 1: the role must be one of system, user, assistant.",
        "There must be at least one user message.",
        "Variable “1x”: the name must start with a letter or _ and contain only letters, digits and _ "
        "(at most 64 characters).",
        "Message 1: {{ nope }} is used but no such variable is declared.",
        "Parameter “temperature” must be a number from 0 to 2.",
    ]


def test_bad_input_is_a_400_not_a_500(api, alice, template, globex):
    api.force_authenticate(alice)
    foreign = make_route(globex, name="foreign")
    for body in (
        version_body(foreign.pk),
        version_body(999999),
        {"messages": "hello", "route": 1},
        {"route": "x"},
        version_body(foreign.pk, response_mode="xml"),
        version_body(foreign.pk, messages=None),
    ):
        answer = api.post(BASE + "summarise/versions/", body, format="json")
        assert answer.status_code == 400, (body, answer.content)
        assert "error" in answer.json()
    assert api.get(BASE + "summarise/versions/abc/").status_code == 404
    assert api.get(BASE + "summarise/versions/7/").status_code == 404


def test_publish_as_api(api, alice, saved):
    api.force_authenticate(alice)
    answer = api.post(BASE + "summarise/versions/1/publish/", {"base_path": "/acme-summarise/v1"}, format="json")
    assert answer.status_code == 201, answer.json()
    assert answer.json() == {
        "api": "summarise",
        "label": "v1",
        "base_path": "/acme-summarise/v1",
        "kind": "prompt",
        "status": "draft",
        "created_at": answer.json()["created_at"],
    }
    version = ApiVersion.objects.for_tenant(saved.version.tenant).get(base_path="/acme-summarise/v1")
    assert version.kind == VersionKind.PROMPT
    # Into the same API, as v2; the base path must be free.
    taken = api.post(
        BASE + "summarise/versions/1/publish/",
        {"base_path": "/acme-summarise/v1", "label": "v2", "api": "summarise"},
        format="json",
    )
    assert taken.status_code == 400
    assert taken.json()["error"]["fields"]["base_path"]
    second = api.post(
        BASE + "summarise/versions/1/publish/",
        {"base_path": "/acme-summarise/v2", "label": "v2", "api": "summarise"},
        format="json",
    )
    assert second.status_code == 201
    # The API version goes live through the usual lifecycle endpoint.
    live = api.post("/api/v1/tenants/acme/apis/summarise/versions/v1/publish/", {}, format="json")
    assert live.status_code == 200, live.json()
    assert live.json()["status"] == "published"
    unknown_api = api.post(
        BASE + "summarise/versions/1/publish/", {"base_path": "/acme-x/v1", "api": "nope"}, format="json"
    )
    assert unknown_api.status_code == 404


def test_playground_renders_and_lists_problems(api, alice, saved):
    api.force_authenticate(alice)
    answer = api.post(
        BASE + "summarise/versions/1/playground/", {"variables": {"text": "{{words}}", "words": 3}}, format="json"
    )
    assert answer.status_code == 200
    data = answer.json()
    assert data["rendered"][1] == {"role": "user", "content": "Summarise in 3 words: {{words}}"}
    assert data["problems"] == []
    assert data["called"] is False
    bad = api.post(BASE + "summarise/versions/1/playground/", {"variables": ["x"]}, format="json").json()
    assert bad["rendered"] is None
    assert bad["problems"] == [{"variable": "", "message": "variables must be a JSON object, got a list"}]
