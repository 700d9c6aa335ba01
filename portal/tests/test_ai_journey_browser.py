"""The AI gateway's journey in a real browser, then real calls through a real gateway node.

A provider organisation (Lumen Labs) configures everything through the pages: a model provider
speaking the OpenAI wire format (the fake provider on loopback), a key for it (shown masked
only, ever after), a model with a price, a model route, an API with an AI version exposing the
route and a plan with a token quota that needs approval, published; then a prompt template
whose first save is refused by the lint, a version, a playground run answered by the fake
provider, and "publish as API" with its own plan, published. A consumer organisation (Cargo
Corp) creates an application, asks for both plans from the catalog, the provider approves
them on the approval dashboard, the consumer creates a key (shown once). With that key,
through ``python -m gateway_node``: a chat completion, the same streamed (SSE) and a run of the
prompt API, each with the exact answer the fake provider gives.

Sign-up is the other journey's part (test_journey_browser.py): here people are made directly
and sign in. Screenshots of the AI pages at 1366 and 390 px go to var/screenshots/ai-*.png.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from django.db import connections

from gateway_node.ai.fake_provider import FakeProvider, demo_answer, demo_usage
from gateways.snapshot import current_version
from portal.tests.journey_support import (
    NodeProcess,
    add_approval_plan,
    approve_selected,
    assert_key_not_shown_again,
    create_application,
    create_key,
    open_in_catalog,
    register_api,
    register_node,
    request_access,
)
from portal.tests.test_journey_browser import SHOTS, WIDTHS, Person
from tenants.tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

#: The provider's own key: the fake provider accepts nothing else.
PROVIDER_SECRET = "sk-lumen-7f3a9c2e51d84b06"
ROUTE = "lumen/chat"
AI_BASE = "/lumen-models/v1"
PROMPT_BASE = "/lumen-greeter/v1"


class AiPerson(Person):
    """A person of this journey: signs in (made directly), screenshots named ``ai-*``."""

    def sign_in_and_onboard(self, name: str, slug: str) -> None:
        UserFactory(email=self.email)
        self.sign_in(PASSWORD)
        self.page.goto(f"{self.base}/onboarding/")
        self.onboard(name, slug)

    def shoot(self, name: str) -> None:
        """As :meth:`Person.shoot` (fails when the page scrolls sideways), files ``ai-<name>-<width>.png``."""
        SHOTS.mkdir(parents=True, exist_ok=True)
        for width, height in WIDTHS.items():
            self.page.set_viewport_size({"width": width, "height": height})
            self.page.screenshot(path=str(SHOTS / f"ai-{name}-{width}.png"), full_page=True)
            overflow = self.page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{name} scrolls sideways by {overflow} px at {width} px"
        self.page.set_viewport_size({"width": 1366, "height": 900})

    def text(self, selector: str) -> str:
        return self.page.locator(selector).inner_text()


def post_json(url: str, body: Any, key: str) -> tuple[int, dict[str, str], bytes]:
    """``(status, headers, body)`` of a JSON POST with the consumer's key (errors are answers)."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=15) as answer:
            return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def sse_data(body: bytes) -> list[str]:
    """The ``data:`` payloads of a server-sent-events body, in order."""
    out = []
    for block in body.decode().replace("\r\n", "\n").split("\n\n"):
        lines = [line[5:].lstrip() for line in block.split("\n") if line.startswith("data:")]
        if lines:
            out.append("\n".join(lines))
    return out


def test_an_ai_api_and_a_prompt_api_from_the_pages_to_answers_through_the_node(live_server, browser, tmp_path):
    base = live_server.url
    started = time.monotonic()
    fake = FakeProvider([PROVIDER_SECRET]).start()
    node: NodeProcess | None = None
    try:
        # --- Staff register the gateway node; it starts while the people below do their part.
        staff = AiPerson(browser, base, "ops@platform.example")
        UserFactory(email=staff.email, is_staff=True)
        staff.sign_in(PASSWORD)
        node = register_node(staff, "ai-edge", tmp_path / "node")

        # --- The provider: a model provider on the fake, its key, a priced model, a route.
        paula = AiPerson(browser, base, "paula@lumen.example")
        paula.sign_in_and_onboard("Lumen Labs", "lumen")
        paula.click_link("#nav-apis")
        paula.click_link("#tab-ai")
        paula.click_link("a:text-is('Add a provider')")
        paula.page.fill("input[name=name]", "Fake OpenAI")
        paula.page.fill("input[name=slug]", "fakeai")
        paula.page.select_option("select[name=kind]", "openai")
        paula.page.fill("input[name=base_url]", fake.base_url("openai"))
        paula.submit("button:text-is('Save')")
        assert re.fullmatch(rf"{base}/t/lumen/ai/providers/\d+/", paula.page.url), paula.flash()
        provider_url = paula.page.url

        paula.page.click("#credentials summary:text-is('Add a key')")
        paula.page.fill("#credentials input[name=label]", "main")
        paula.page.fill("#credentials input[name=secret]", PROVIDER_SECRET)
        paula.submit("button:text-is('Add key')")
        assert "Key sk-…4b06 added to the pool." in paula.flash(), paula.flash()
        row = paula.page.locator("#credentials tbody tr", has_text="main")
        assert row.locator("td").nth(1).inner_text() == "sk-…4b06"
        # The key is never displayed again: not on the provider page, not on the key's edit page.
        assert PROVIDER_SECRET not in paula.page.content()
        paula.click_link("#credentials tbody tr:has-text('main') a:text-is('Edit')")
        assert "sk-…4b06" in paula.text("main h1")
        assert paula.page.input_value("input[name=secret]") == ""
        assert PROVIDER_SECRET not in paula.page.content()
        paula.page.goto(provider_url)

        paula.click_link("a:text-is('Add a model')")
        paula.page.fill("input[name=model_id]", "fake-chat")
        paula.page.select_option("select[name=capability]", "chat")
        paula.page.fill("input[name=context_window]", "8192")
        paula.page.fill("input[name=input_per_million]", "0.5")
        paula.page.fill("input[name=output_per_million]", "1.5")
        paula.submit("button:text-is('Save')")
        assert "fake-chat added." in paula.flash(), paula.flash()
        # Prices as entered (trailing zeros aside: the pages show six decimals).
        assert re.search(r"Now: input \$0\.50*, output \$1\.50*\n", paula.text("main")), paula.text("main")

        paula.page.goto(provider_url)
        models = paula.text("#models table")
        assert "fake-chat" in models and "8192" in models and "$0.5" in models and "$1.5" in models, models
        paula.shoot("provider")

        paula.click_link("nav[aria-label=breadcrumb] >> text=AI")
        paula.click_link(".nav-tabs >> text=Model routes")
        paula.click_link("a:text-is('Add a route')")
        paula.page.fill("input[name=name]", "chat")
        paula.page.select_option("select[name=capability]", "chat")
        paula.page.fill("input[name=description]", "Quick answers.")
        paula.page.select_option("select[name=targets-0-model]", label="fakeai/fake-chat")
        paula.submit("button:text-is('Save')")
        assert f"{ROUTE} added." in paula.flash(), paula.flash()
        assert paula.text("main h1") == ROUTE
        assert "fake-chat" in paula.text("main table") and "Fake OpenAI" in paula.text("main table")
        route_url = paula.page.url

        # --- An API with an AI version exposing the route, a plan with a token quota, published.
        register_api(paula, "lumen", "Lumen Models", "lumen-models", "Chat models by Lumen Labs.")
        paula.click_link("#new-ai-version")
        paula.page.fill("input[name=label]", "v1")
        paula.page.fill("input[name=base_path]", AI_BASE)
        paula.page.get_by_label(f"{ROUTE} (chat completions)").check()
        paula.submit("button:text-is('Save')")
        assert paula.page.url == f"{base}/t/lumen/apis/lumen-models/versions/v1/", paula.flash()
        assert "Draft v1 created" in paula.flash(), paula.flash()
        assert ROUTE in paula.text("#ai-version-routes")
        paula.submit("button:has-text('Publish')")
        assert paula.text("#version-status") == "Published", paula.flash()

        paula.click_link("nav[aria-label=breadcrumb] >> text=Lumen Models")
        plans = add_approval_plan(paula, "Pro", token_quota_per_day="100000")
        assert "100,000 tokens / day" in plans, plans

        paula.page.goto(route_url)
        assert "Lumen Models v1 (published)" in paula.text("main"), paula.text("main")
        paula.shoot("route")

        # --- A prompt: the lint refuses the first save, then a version, the playground, an API.
        paula.click_link("#nav-apis")
        paula.click_link("#tab-ai")
        paula.click_link(".nav-tabs >> text=Prompts")
        paula.click_link("a:text-is('New prompt')")
        paula.page.fill("input[name=name]", "Greeter")
        paula.page.fill("input[name=slug]", "greeter")
        paula.page.fill("input[name=description]", "Greets anyone by name.")
        paula.submit("button:text-is('Create')")
        assert paula.page.url == f"{base}/t/lumen/ai/prompts/greeter/versions/new/", paula.flash()
        paula.page.select_option("select[name=m-0-role]", "system")
        paula.page.fill("textarea[name=m-0-content]", "You greet people warmly.")
        paula.page.select_option("select[name=m-1-role]", "user")
        paula.page.fill("textarea[name=m-1-content]", "Say hello to {{name}}.")
        paula.page.select_option("select[name=route]", label=ROUTE)
        paula.submit("button:text-is('Save version')")
        lint = paula.text("#lint-errors")
        assert "{{ name }} is used but no such variable is declared" in lint, lint
        paula.shoot("prompt-editor")
        # The refused save answered 400, which the browser logs; nothing else may have gone wrong.
        assert [e for e in paula.errors if "status of 400" not in e or "/versions/new/" not in e] == []
        paula.errors.clear()
        paula.page.fill("input[name=v-0-name]", "name")
        paula.page.select_option("select[name=v-0-type]", "string")
        paula.page.check("input[name=v-0-required]")
        paula.submit("button:text-is('Save version')")
        assert paula.page.url == f"{base}/t/lumen/ai/prompts/greeter/versions/1/", paula.text("main")
        assert "Version 1 saved." in paula.flash(), paula.flash()

        paula.page.fill("textarea[name=var_name]", "Ada")
        paula.page.check("input[name=call_model]")
        paula.page.click("button:text-is('Run')")  # HTMX: the result replaces #playground-result
        rendered = [{"role": "system", "content": "You greet people warmly."},
                    {"role": "user", "content": "Say hello to Ada."}]  # fmt: skip
        answer_text, _ = demo_answer({"messages": rendered})
        answer = paula.page.locator("#playground-result [data-testid=answer]")
        answer.wait_for()
        assert answer.inner_text() == answer_text, paula.text("#playground-result")
        heading = paula.text("#playground-result h3:has-text('Answer')")
        assert heading == "Answer from fakeai/fake-chat", heading
        played = demo_usage({"messages": rendered})
        tokens = f"Tokens: {played.input_tokens} in, {played.output_tokens} out"
        assert tokens in paula.text("#playground-result"), paula.text("#playground-result")
        paula.shoot("prompt-playground")

        assert paula.page.input_value("input[name=base_path]") == PROMPT_BASE
        paula.submit("button:text-is('Publish as API')")
        assert paula.page.url == f"{base}/t/lumen/apis/greeter/versions/v1/", paula.flash()
        paula.submit("button:has-text('Publish')")
        assert paula.text("#version-status") == "Published", paula.flash()
        # A prompt published as a new API starts private: the provider opens it to the catalog.
        paula.click_link("nav[aria-label=breadcrumb] >> text=Greeter")
        paula.click_link("main a:text-is('Edit')")
        paula.page.select_option("select[name=visibility]", "public")
        paula.submit("main form button[type=submit]")
        assert paula.page.url == f"{base}/t/lumen/apis/greeter/", paula.flash()
        add_approval_plan(paula, "Standard")

        # --- The consumer: an application, then both plans asked for from the catalog.
        carl = AiPerson(browser, base, "carl@cargo.example")
        carl.sign_in_and_onboard("Cargo Corp", "cargo")
        create_application(carl, "Helpdesk bot")

        for api_name in ("Lumen Models", "Greeter"):
            open_in_catalog(carl, "lumen", api_name)
            if api_name == "Lumen Models":
                models = carl.text("#ai-models table")
                assert ROUTE in models and "8192 tokens" in models, models
                assert "$0.5" in models and "$1.5" in models, models
                snippet = carl.text("#ai-snippet-curl")
                assert f"{AI_BASE}/chat/completions" in snippet and f'"model": "{ROUTE}"' in snippet, snippet
                assert "100,000 tokens / day" in carl.text("#plans")
                carl.shoot("catalog")
            request_access(carl, "Helpdesk bot", "Answers for our support desk.")

        # --- The provider approves both on the approval dashboard.
        paula.page.reload()
        assert paula.text("#nav-approvals .badge") == "2"
        paula.click_link("#nav-approvals")
        rows = paula.page.locator("#queue-table tbody tr", has_text="Cargo Corp")
        assert rows.count() == 2, paula.text("#queue-table")
        for i in range(2):
            rows.nth(i).locator("input[name=ids]").check()
        approve_selected(paula)

        # --- The consumer creates a key (shown once).
        key = create_key(carl, "Helpdesk bot")
        assert_key_not_shown_again(carl)
        ui_seconds = time.monotonic() - started

        # --- Through the node with that key: a chat completion, the same streamed, the prompt API.
        node.wait_config(current_version())
        fake.reset()
        chat = {"model": ROUTE, "messages": [{"role": "user", "content": "Where is my parcel?"}]}
        expected, finish = demo_answer(chat)
        status, _, body = post_json(f"{node.url}{AI_BASE}/chat/completions", chat, key)
        assert status == 200, (status, body, node.output())
        completion = json.loads(body)
        # OpenAI-compatible providers are passed through (docs/ai-gateway.md): the body is the
        # provider's own, its model id included.
        assert completion["model"] == "fake-chat"
        assert completion["choices"][0]["message"]["content"] == expected
        assert completion["choices"][0]["finish_reason"] == finish
        usage = demo_usage(chat)
        assert completion["usage"]["prompt_tokens"] == usage.input_tokens
        assert completion["usage"]["completion_tokens"] == usage.output_tokens

        status, headers, body = post_json(f"{node.url}{AI_BASE}/chat/completions", {**chat, "stream": True}, key)
        assert status == 200, (status, body, node.output())
        assert headers["content-type"].startswith("text/event-stream"), headers
        events = sse_data(body)
        assert events[-1] == "[DONE]" and events.count("[DONE]") == 1, events
        chunks = [json.loads(e) for e in events[:-1]]
        assert all(c["model"] == "fake-chat" for c in chunks), chunks
        streamed = "".join(ch["delta"].get("content") or "" for c in chunks for ch in c["choices"])
        assert streamed == expected, events

        status, _, body = post_json(f"{node.url}{PROMPT_BASE}/run", {"variables": {"name": "Ada"}}, key)
        assert status == 200, (status, body, node.output())
        ran = json.loads(body)
        assert ran["output"] == answer_text and ran["model"] == ROUTE, ran
        assert ran["usage"]["prompt_tokens"] == played.input_tokens, ran
        assert ran["usage"]["completion_tokens"] == played.output_tokens, ran

        # The provider heard the provider's key and the rendered prompt, never the consumer's key.
        heard = fake.requests
        assert len(heard) == 3, [r.path for r in heard]
        assert {r.header("authorization") for r in heard} == {f"Bearer {PROVIDER_SECRET}"}
        assert all(key not in r.body.decode() and key not in str(r.headers) for r in heard)
        assert heard[2].json()["messages"] == rendered
        assert heard[2].json()["model"] == "fake-chat"

        for person in (staff, paula, carl):
            assert person.errors == [], (person.email, person.errors)
        code = node.stop()
        assert code == 0, (code, node.output())
    finally:
        if node is not None:
            node.stop()
        fake.stop()
        # As in test_journey_browser.py: close the connection this body opened, or the test
        # database outlives the run.
        connections.close_all()
    print(f"ai journey: UI part {ui_seconds:.1f} s, total {time.monotonic() - started:.1f} s")
