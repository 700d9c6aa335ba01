"""Web pages of prompts: list, create, editor, version page with playground and publish."""

from __future__ import annotations

import re

import pytest

from apis.models import ApiVersion, VersionKind
from llm.models import PromptVersion
from llm.prompt_forms import EXTRA_ROWS
from llm.tests import test_prompt_support as support

alice_m = support.alice_m
route = support.route
template = support.template
saved = support.saved

LIST = "/t/acme/ai/prompts/"
DETAIL = LIST + "summarise/"
EDITOR = DETAIL + "versions/new/"
V1 = DETAIL + "versions/1/"


def editor_post(route_id: int, messages: list[tuple[str, str]], variables: list[dict], **settings: str) -> dict:
    data = {
        "m-TOTAL_FORMS": str(len(messages)),
        "m-INITIAL_FORMS": "0",
        "v-TOTAL_FORMS": str(len(variables)),
        "v-INITIAL_FORMS": "0",
        "route": str(route_id),
        "response_mode": "text",
        **settings,
    }
    for i, (role, content) in enumerate(messages):
        data[f"m-{i}-role"] = role
        data[f"m-{i}-content"] = content
    for i, variable in enumerate(variables):
        for key, value in variable.items():
            data[f"v-{i}-{key}"] = value
    return data


def test_it_checks_ownership(client, charlie, saved):
    client.force_login(charlie)
    for url in (LIST, DETAIL, EDITOR, V1):
        assert client.get(url).status_code == 404, url
    assert client.post(V1 + "playground/", {"var_text": "x"}).status_code == 404
    assert client.post(V1 + "publish/", {"base_path": "/x/v1", "label": "v1"}).status_code == 404
    assert client.post(DETAIL + "delete/").status_code == 404


def test_anonymous_goes_to_sign_in(client, saved):
    answer = client.get(LIST)
    assert answer.status_code == 302
    assert "login" in answer["Location"]


def test_viewer_reads_but_cannot_edit(client, vera, saved):
    client.force_login(vera)
    page = client.get(LIST)
    assert page.status_code == 200
    assert "Summarise" in page.content.decode()
    assert "New prompt" not in page.content.decode()
    assert client.get(V1).status_code == 200
    assert client.get(EDITOR).status_code == 403
    assert client.post(V1 + "playground/", {"var_text": "x"}).status_code == 403


def test_create_then_edit_first_version(client, alice, route):
    client.force_login(alice)
    answer = client.post(LIST + "new/", {"name": "Summarise", "slug": "summarise", "description": "Short."})
    assert answer.status_code == 302
    assert answer["Location"] == EDITOR
    taken = client.post(LIST + "new/", {"name": "Again", "slug": "summarise"})
    assert taken.status_code == 400
    assert "already have a prompt" in taken.content.decode()

    assert client.get(EDITOR).status_code == 200
    data = editor_post(
        route.pk,
        [("system", "You summarise."), ("user", "Summarise in {{ words }} words: {{text}}"), ("user", "")],
        [
            {"name": "text", "type": "string", "required": "on", "max_length": "2000"},
            {"name": "words", "type": "integer", "default": "50"},
            {"name": "", "type": "string"},
        ],
        temperature="0.2",
        max_tokens="300",
    )
    answer = client.post(EDITOR, data)
    assert answer.status_code == 302, answer.content.decode()[:3000]
    assert answer["Location"] == V1
    version = PromptVersion.objects.unscoped().get(template__slug="summarise", number=1)
    assert version.messages[1] == {"role": "user", "content": "Summarise in {{ words }} words: {{text}}"}
    assert version.variables == [
        {"name": "text", "type": "string", "required": True, "max_length": 2000},
        {"name": "words", "type": "integer", "required": False, "default": 50},
    ]
    assert version.params == {"temperature": 0.2, "max_tokens": 300}
    # The same content again: no version 2.
    again = client.post(EDITOR, data, follow=True)
    assert "Nothing changed: this is version 1." in again.content.decode()
    # The detail page lists it with its hash prefix.
    detail = client.get(DETAIL).content.decode()
    assert version.content_hash[:12] in detail


def test_lint_errors_are_shown_and_nothing_is_saved(client, alice, template, route):
    client.force_login(alice)
    data = editor_post(route.pk, [("assistant", "Hello {{ who }}")], [{"name": "1bad", "type": "string"}])
    answer = client.post(EDITOR, data)
    assert answer.status_code == 400
    page = answer.content.decode()
    assert "The version was not saved" in page
    assert "There must be at least one user message." in page
    assert "{{ who }} is used but no such variable is declared." in page
    assert "the name must start with a letter" in page
    assert not PromptVersion.objects.for_tenant(template.tenant).exists()


def test_bad_typed_default_is_a_form_error(client, alice, template, route):
    client.force_login(alice)
    data = editor_post(route.pk, [("user", "{{n}}")], [{"name": "n", "type": "integer", "default": "many"}])
    answer = client.post(EDITOR, data)
    assert answer.status_code == 400
    assert "is not an integer" in answer.content.decode()


def test_warnings_are_flashed(client, alice, template, route):
    client.force_login(alice)
    data = editor_post(route.pk, [("user", "Hi")], [{"name": "unused", "type": "string"}])
    page = client.post(EDITOR, data, follow=True).content.decode()
    assert "Version 1 saved." in page
    assert "Variable “unused” is declared but not used in any message." in page


def test_editor_starts_from_the_latest_version(client, alice, saved):
    client.force_login(alice)
    page = client.get(EDITOR).content.decode()
    assert "Summarise in {{ words }} words: {{text}}" in page
    assert 'value="words"' in page


def test_spare_message_rows_start_as_user_messages(client, alice, saved):
    client.force_login(alice)
    page = client.get(EDITOR).content.decode()
    chosen = re.findall(r'<select name="m-\d+-role".*?<option value="(\w+)" selected>', page, re.S)
    # The saved system and user messages, then the spare rows.
    assert chosen == ["system", "user"] + ["user"] * EXTRA_ROWS


def test_playground_renders_and_lists_problems(client, alice, saved):
    client.force_login(alice)
    answer = client.post(V1 + "playground/", {"var_text": "{{words}} and more", "var_words": "7"})
    assert answer.status_code == 200
    page = answer.content.decode()
    assert "Summarise in 7 words: {{words}} and more" in page
    bad = client.post(V1 + "playground/", {"var_words": "many"}).content.decode()
    assert "is required" in bad
    assert "must be an integer, got a string" in bad
    # HTMX gets the fragment only.
    fragment = client.post(V1 + "playground/", {"var_text": "x"}, HTTP_HX_REQUEST="true").content.decode()
    assert "Rendered messages" in fragment
    assert "<html" not in fragment


def test_publish_as_api(client, alice, saved):
    client.force_login(alice)
    page = client.get(V1).content.decode()
    assert "/acme-summarise/v1" in page  # suggested base path
    answer = client.post(V1 + "publish/", {"base_path": "/acme-summarise/v1", "label": "v1", "api": ""})
    assert answer.status_code == 302
    assert answer["Location"] == "/t/acme/apis/summarise/versions/v1/"
    version = ApiVersion.objects.unscoped().get(base_path="/acme-summarise/v1")
    assert version.kind == VersionKind.PROMPT
    taken = client.post(V1 + "publish/", {"base_path": "/acme-summarise/v1", "label": "v2", "api": "summarise"})
    assert taken.status_code == 400
    assert "already in use" in taken.content.decode()
    assert "Summarise v1" in client.get(DETAIL).content.decode()


@pytest.mark.parametrize("url", [V1 + "9/", DETAIL + "versions/9/", LIST + "nope/"])
def test_unknown_things_are_404(client, alice, saved, url):
    client.force_login(alice)
    assert client.get(url).status_code == 404


def test_publish_as_a_new_public_api_lists_it_in_the_catalog(client, alice, saved):
    """The provider chooses the new API's visibility on the publish form, so consumers can find it."""
    client.force_login(alice)
    answer = client.post(V1 + "publish/", {"base_path": "/pub-visible/v1", "label": "v1", "visibility": "public"})
    assert answer.status_code == 302
    version = ApiVersion.objects.unscoped().select_related("api").get(base_path="/pub-visible/v1")
    assert version.api.visibility == "public"
    private = client.post(V1 + "publish/", {"base_path": "/pub-hidden/v1", "label": "v1", "api": ""})
    assert private.status_code == 400  # the new API would take the same slug: named, not a 500


def test_the_version_page_reads_like_the_prompt(client, alice, saved):
    """Parameters as JSON (not a Python dict), a number input for a number, Call the model next to Run."""
    client.force_login(alice)
    page = client.get(V1).content.decode()
    assert "&quot;max_tokens&quot;: 300" in page and "{&#x27;" not in page
    assert 'name="var_words"' in page and 'inputmode="numeric"' in page
    assert page.index('name="var_words"') < page.index('name="call_model"')
