"""The AI gateway end to end, as its users see it (docs/ai-gateway.md).

Acme configures providers, models, routes, an AI API and a prompt API through the services;
Globex subscribes and gets a key; a real ``python -m gateway_node`` process, fed by the live
portal's snapshot, answers Globex's calls by talking to the fake provider on loopback. Then the
calls are in the raw table with exact tokens and cost, the rollup puts them in the AI rollups,
and both organisations' dashboards (pages and REST) show the same numbers. On the way: the
provider's credentials never reach the consumer, the consumer's key never reaches the
provider, a stranger sees none of it, a failing first target falls back, a token quota stops
the call after the one that used it up. World: llm/tests/ai_world.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest

from gateway_node.ai.fake_provider import FakeProvider, Received, demo_answer
from gateway_node.tests.upstreams import wait_for
from llm.tests.ai_world import (
    AI_BASE,
    ANTHROPIC_KEY,
    BUSY,
    CHAT,
    CLAUDE,
    CLAUDE_PRICE,
    FLAKY,
    FLAKY_KEY,
    GPT_PRICE,
    OPENAI_KEY,
    PROMPT_BASE,
    PROMPT_PARAMS,
    PROVIDER_KEYS,
    AiWorld,
    Answer,
    Consumer,
    build_world,
    chat_request,
    cost,
    tokens,
)
from portal.tests.journey_support import NodeProcess, http_get

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    """The fake model provider on loopback; it accepts only the providers' own credentials."""
    with FakeProvider(PROVIDER_KEYS) as provider:
        yield provider


@pytest.fixture
def portal(live_portal: str) -> str:
    return live_portal


@pytest.fixture
def start_node(portal: str, tmp_path: Path) -> Iterator[Any]:
    """Registers a node (as staff do) and starts ``python -m gateway_node`` once the world is built."""
    nodes: list[NodeProcess] = []

    def start() -> NodeProcess:
        from django.db import connection

        from gateways import services as gateway_services
        from gateways.snapshot import current_version
        from tenants.models import User
        from tenants.tests.factories import UserFactory

        staff = cast("User", UserFactory(is_staff=True, email="ops@platform.example"))
        _, token = gateway_services.node_create(actor=staff, name="edge-1")
        version = current_version()
        connection.close()  # the live server's thread opens its own
        node = NodeProcess(portal, token, tmp_path / "node").start()
        nodes.append(node)
        node.wait_config(version, timeout=30)
        return node

    yield start
    for node in nodes:
        node.stop()


def raw_records() -> list[Any]:
    from gateways.models import CallRecord

    return list(CallRecord.objects.order_by("ts"))


def wait_records(count: int, node: NodeProcess) -> list[Any]:
    """The raw records once ``count`` of them reached the portal (the node ships in batches)."""
    try:
        wait_for(lambda: len(raw_records()) >= count, timeout=20, what=f"{count} call records at the portal")
    except AssertionError as error:
        raise AssertionError(f"{error}; got {len(raw_records())}\n{node.output()}") from None
    time.sleep(0.3)  # a record sent twice (or one too many) would be in by now
    records = raw_records()
    assert len(records) == count, [(r.path, r.status, r.error) for r in records]
    return records


def assert_answer(answer: Answer, request: dict[str, Any], model: str) -> None:
    """A whole OpenAI chat completion: the fake's answer to ``request``.

    ``model``: the model the answer names. OpenAI-compatible providers' answers are passed
    through with their own bytes (the provider's model id); translated ones carry the public name.
    """
    assert answer.status == 200, answer.body
    data = answer.json()
    tokens_in, tokens_out, _ = tokens(request)
    text, finish = demo_answer(request)
    assert data["object"] == "chat.completion" and data["model"] == model
    assert data["choices"][0]["message"]["content"] == text
    assert data["choices"][0]["finish_reason"] == finish
    assert (data["usage"]["prompt_tokens"], data["usage"]["completion_tokens"]) == (tokens_in, tokens_out)


def assert_stream(answer: Answer, request: dict[str, Any], model: str) -> None:
    """An OpenAI chunk stream over SSE: the fake's answer, ``[DONE]`` once at the end, no usage
    chunk; ``model`` as for :func:`assert_answer`."""
    assert answer.status == 200, answer.body
    assert answer.headers["content-type"].startswith("text/event-stream")
    events = answer.events()
    assert events.count("[DONE]") == 1 and events[-1] == "[DONE]", events
    assert answer.streamed_text() == demo_answer(request)[0]
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks and all(c["object"] == "chat.completion.chunk" and c["model"] == model for c in chunks)
    assert all(c.get("choices") for c in chunks), "a usage-only chunk the client did not ask for"
    assert chunks[-1]["choices"][0]["finish_reason"] == demo_answer(request)[1]


def provider_calls(fake: FakeProvider) -> list[Received]:
    return [r for r in fake.requests if r.path in ("/v1/chat/completions", "/v1/messages")]


def assert_no_secret(haystack: str, what: str, secrets: tuple[str, ...]) -> None:
    for secret in secrets:
        assert secret not in haystack, f"a secret ({secret[:6]}…) in {what}"


# --- The journey --------------------------------------------------------------------------------


def test_a_consumer_calls_models_and_a_prompt_and_both_dashboards_show_the_exact_usage(
    fake: FakeProvider, start_node: Any, client: Any, api: Any
) -> None:
    from analytics.models import AiRollupMinute
    from analytics.rollup import run_rollup

    world = build_world(fake)
    node = start_node()
    consumer = Consumer(node.url, world.key)
    # (route, provider slug, provider model, request, prices) of every answered AI call, in order
    expected: list[tuple[str, str, str, dict[str, Any], tuple[Decimal, Decimal]]] = []

    # The snapshot the node fetched: the AI routes and, to the node only, the providers' keys.
    status, _, body = http_get(f"{node.portal}/gateway/v1/config", headers={"Authorization": f"Bearer {node.token}"})
    assert status == 200
    snapshot = json.loads(body)
    kinds = {r["base_path"]: r["kind"] for r in snapshot["routes"]}
    assert (kinds[AI_BASE], kinds[PROMPT_BASE]) == ("ai", "prompt")
    assert sorted(r["name"] for r in snapshot["ai"]["routes"].values()) == sorted([BUSY, CHAT, CLAUDE, FLAKY])
    secrets = {p["slug"]: [c["secret"] for c in p["credentials"]] for p in snapshot["ai"]["providers"].values()}
    assert secrets == {"openai": [OPENAI_KEY], "claude": [ANTHROPIC_KEY], "flaky": [FLAKY_KEY]}

    models = consumer.call("GET", f"{AI_BASE}/models")
    assert models.status == 200, models.body
    assert models.json()["object"] == "list"
    assert [m["id"] for m in models.json()["data"]] == sorted([BUSY, CHAT, CLAUDE, FLAKY])

    # OpenAI-compatible provider: whole answer, then a stream (the key as a bearer token).
    request = chat_request(CHAT, "Where is my parcel right now")
    assert_answer(consumer.chat(CHAT, "Where is my parcel right now"), request, "gpt-e2e")
    expected.append((CHAT, "openai", "gpt-e2e", request, GPT_PRICE))
    sent = provider_calls(fake)[-1]
    assert sent.path == "/v1/chat/completions" and sent.json()["model"] == "gpt-e2e"
    assert sent.header("authorization") == f"Bearer {OPENAI_KEY}"

    request = chat_request(CHAT, "Stream the answer word by word please", stream=True)
    streamed = consumer.call("POST", f"{AI_BASE}/chat/completions", request, bearer=True)
    assert_stream(streamed, request, "gpt-e2e")
    expected.append((CHAT, "openai", "gpt-e2e", request, GPT_PRICE))

    # Anthropic behind the same OpenAI surface: translated both ways, whole and streamed.
    request = chat_request(CLAUDE, "Say it in the Anthropic way")
    assert_answer(consumer.chat(CLAUDE, "Say it in the Anthropic way"), request, CLAUDE)
    expected.append((CLAUDE, "claude", "claude-e2e", request, CLAUDE_PRICE))
    sent = provider_calls(fake)[-1]
    assert sent.path == "/v1/messages" and sent.header("x-api-key") == ANTHROPIC_KEY
    assert sent.header("anthropic-version") == "2023-06-01" and sent.header("authorization") is None
    body = sent.json()
    assert body["model"] == "claude-e2e" and body["system"] == "Be brief." and body["max_tokens"] == 4096
    assert body["messages"] == [{"role": "user", "content": "Say it in the Anthropic way"}]

    request = chat_request(CLAUDE, "Now stream it from Anthropic", stream=True)
    assert_stream(consumer.call("POST", f"{AI_BASE}/chat/completions", request), request, CLAUDE)
    expected.append((CLAUDE, "claude", "claude-e2e", request, CLAUDE_PRICE))

    # The prompt API: variables in, the rendered prompt to the route's model, the text out.
    run = consumer.call("POST", f"{PROMPT_BASE}/run", {"variables": {"text": "the quick brown fox jumps"}})
    assert run.status == 200, run.body
    rendered = {
        "messages": [
            {"role": "system", "content": "You summarise."},
            {"role": "user", "content": "Summarise in 50 words: the quick brown fox jumps"},  # the default words
        ],
        **PROMPT_PARAMS,
    }
    answer = run.json()
    assert (answer["output"], answer["model"]) == (demo_answer(rendered)[0], CHAT)
    assert (answer["usage"]["prompt_tokens"], answer["usage"]["completion_tokens"]) == tokens(rendered)[:2]
    sent = provider_calls(fake)[-1].json()
    assert (sent["model"], sent["messages"], sent["temperature"], sent["max_tokens"]) == (
        "gpt-e2e",
        rendered["messages"],
        0.2,
        300,
    )
    expected.append((CHAT, "openai", "gpt-e2e", rendered, GPT_PRICE))

    # Streamed; a value holding a placeholder stays literal (rendering is single pass).
    variables = {"text": "keep {{words}} as written", "words": 7}
    run = consumer.call("POST", f"{PROMPT_BASE}/run", {"variables": variables, "stream": True})
    rendered = {
        "messages": [
            {"role": "system", "content": "You summarise."},
            {"role": "user", "content": "Summarise in 7 words: keep {{words}} as written"},
        ],
        **PROMPT_PARAMS,
    }
    assert_stream(run, rendered, "gpt-e2e")
    assert provider_calls(fake)[-1].json()["messages"] == rendered["messages"]
    expected.append((CHAT, "openai", "gpt-e2e", rendered, GPT_PRICE))

    # Wrong variables: every problem in one 400, and nothing reaches a provider.
    before = len(fake.requests)
    bad = consumer.call("POST", f"{PROMPT_BASE}/run", {"variables": {"words": "many", "tone": "dry"}})
    assert bad.status == 400, bad.body
    error = bad.json()["error"]
    assert error["code"] == "invalid_variables"
    assert [d["variable"] for d in error["details"]] == ["text", "words", "tone"]
    assert all(d["message"] for d in error["details"])
    unknown = consumer.chat("acme/nope", "Hello")
    assert unknown.status == 404 and unknown.json()["error"]["code"] == "unknown_model"
    assert len(fake.requests) == before

    # --- the call records
    records = wait_records(len(consumer.answers), node)
    ai_records = [r for r in records if r.ai_route]
    assert len(ai_records) == len(expected)
    for record, (route, provider, model, request, price) in zip(ai_records, expected, strict=True):
        assert (record.status, record.error, record.ai_route, record.ai_provider, record.ai_model) == (
            200,
            "",
            route,
            provider,
            model,
        )
        assert (record.ai_input_tokens, record.ai_output_tokens, record.ai_cached_tokens) == tokens(request)
        assert record.ai_cost == cost(request, price)
        assert record.ai_ttft_ms is not None and 0 < record.ai_ttft_ms <= record.latency_ms
        assert (record.api_key_id, record.application_id) == (world.key_obj.pk, world.application.pk)
        assert (record.provider_tenant_id, record.consumer_tenant_id) == (
            world.alice.tenant_id,
            world.charlie.tenant_id,
        )
        assert record.api_id == (world.prompt_api.pk if record.path.startswith(PROMPT_BASE) else world.ai_api.pk)
    refused = {(r.status, r.error) for r in records if not r.ai_route}
    assert refused == {(200, ""), (400, "invalid_variables"), (404, "unknown_model")}  # /models, then the refusals

    # --- security on the way
    check_secrets(world, fake, consumer, records, node, {OPENAI_KEY, ANTHROPIC_KEY})

    # --- the rollups and the dashboards
    run_rollup()
    per_model: dict[tuple[str, str, str], Sums] = {}
    for route, provider, model, request, price in expected:
        tokens_in, tokens_out, _ = tokens(request)
        per_model.setdefault((route, provider, model), Sums()).add(1, tokens_in, tokens_out, cost(request, price))
    total = Sums.of(per_model.values())
    # The minute rollups hold every call (the open hour and day are read from them: the
    # dashboards below check that the levels add up).
    got: dict[tuple[str, str, str], Sums] = {}
    for rollup in AiRollupMinute.objects.all():
        key = (rollup.ai_route, rollup.ai_provider, rollup.ai_model)
        got.setdefault(key, Sums()).add(rollup.calls, rollup.input_tokens, rollup.output_tokens, rollup.cost)
        assert (rollup.errors, rollup.cost_unknown, rollup.ttft_count) == (0, 0, rollup.calls)
        assert (rollup.provider_tenant_id, rollup.consumer_tenant_id) == (
            world.alice.tenant_id,
            world.charlie.tenant_id,
        )
    assert got == per_model

    client.force_login(world.alice.user)
    ai_page = page_section(client, "/t/acme/analytics/apis/acme-models/?range=24h")
    prompt_page = page_section(client, "/t/acme/analytics/apis/summarise/?range=24h")
    assert_ai_section(ai_page, usage_of(expected, prompt=False))
    assert_ai_section(prompt_page, usage_of(expected, prompt=True))
    provider_rest = api_ai(api, world.alice.user, "/api/v1/tenants/acme/analytics/ai/?range=24h")
    assert_ai_totals(provider_rest, total)
    assert {
        (m["key"]["ai_route"], m["key"]["ai_provider"], m["key"]["ai_model"]): Sums(
            m["calls"], m["input_tokens"], m["output_tokens"], Decimal(m["cost"])
        )
        for m in provider_rest["models"]
    } == per_model
    assert [(i["label"], i["calls"]) for i in provider_rest["items"]] == [("Globex Retail · Storefront", total.calls)]

    client.force_login(world.charlie.user)
    app_page = page_section(client, f"/t/globex/analytics/apps/{world.application.pk}/?range=24h")
    assert_ai_section(app_page, total)
    consumer_rest = api_ai(api, world.charlie.user, "/api/v1/tenants/globex/analytics/ai/?side=consumer&range=24h")
    assert_ai_totals(consumer_rest, total)
    per_api = {
        i["label"]: Sums(i["calls"], i["input_tokens"], i["output_tokens"], Decimal(i["cost"]))
        for i in consumer_rest["items"]
    }
    assert per_api == {"Acme Models": usage_of(expected, prompt=False), "Summarise": usage_of(expected, prompt=True)}


@dataclass
class Sums:
    """Calls, input and output tokens and cost of some AI calls."""

    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: Decimal = Decimal(0)

    def add(self, calls: int, tokens_in: int, tokens_out: int, cost: Decimal) -> Sums:
        self.calls += calls
        self.tokens_in += tokens_in
        self.tokens_out += tokens_out
        self.cost += cost
        return self

    @classmethod
    def of(cls, parts: Iterable[Sums]) -> Sums:
        total = cls()
        for part in parts:
            total.add(part.calls, part.tokens_in, part.tokens_out, part.cost)
        return total


def usage_of(expected: list[Any], *, prompt: bool) -> Sums:
    """The expected calls of the prompt API (``prompt``) or of the AI API, summed."""
    sums = Sums()
    for _route, _provider, _model, request, price in expected:
        if ("temperature" in request) == prompt:  # the prompt's params went with its runs
            tokens_in, tokens_out, _ = tokens(request)
            sums.add(1, tokens_in, tokens_out, cost(request, price))
    return sums


def page_section(client: Any, url: str) -> str:
    """The "AI usage" section of a dashboard page."""
    response = client.get(url)
    assert response.status_code == 200, url
    body = response.content.decode()
    assert 'id="ai-usage"' in body, f"no AI usage section on {url}"
    section = body[body.index('id="ai-usage"') :]
    return section[: section.index("</section>")]


def shown_usd(amount: Decimal) -> str:
    text = format(amount.normalize(), "f")
    whole, _, fraction = text.partition(".")
    return f"${int(whole):,}.{fraction.ljust(2, '0')}"


def assert_ai_section(section: str, sums: Sums) -> None:
    assert f"{sums.calls} AI calls" in section
    assert f'data-ai="input_tokens">{sums.tokens_in:,}<' in section
    assert f'data-ai="output_tokens">{sums.tokens_out:,}<' in section
    assert f'data-ai="cost">{shown_usd(sums.cost)}<' in section
    assert 'data-ai="errors">0<' in section and 'data-ai="cost_unknown"' not in section


def api_ai(api: Any, user: Any, url: str) -> dict[str, Any]:
    api.force_authenticate(user)
    response = api.get(url)
    assert response.status_code == 200, response.content
    return dict(response.json())


def assert_ai_totals(body: dict[str, Any], sums: Sums) -> None:
    totals = body["totals"]
    assert Sums(totals["calls"], totals["input_tokens"], totals["output_tokens"], Decimal(totals["cost"])) == sums
    assert (totals["errors"], totals["cost_unknown"], totals["ttft_count"]) == (0, 0, sums.calls)


def check_secrets(
    world: AiWorld, fake: FakeProvider, consumer: Consumer, records: list[Any], node: NodeProcess, used: set[str]
) -> None:
    """The fake provider saw the ``used`` providers' own keys and never the consumer's; no provider
    key went back to the consumer, into a call record, the node's log or its saved snapshot (sealed)."""
    consumer_secrets = (world.key, world.key.rsplit("_", 1)[-1])
    seen_keys = set()
    for request in provider_calls(fake):
        everything = " ".join(f"{k}: {v}" for k, v in request.headers) + request.body.decode()
        assert_no_secret(everything, "a request to the provider", consumer_secrets)
        if request.path == "/v1/messages":
            seen_keys.add(request.header("x-api-key"))
        else:
            seen_keys.add((request.header("authorization") or "").removeprefix("Bearer "))
    assert seen_keys == used
    for answer in consumer.answers:
        shown = " ".join(f"{k}: {v}" for k, v in answer.headers.items()) + answer.body.decode("utf-8", "replace")
        assert_no_secret(shown, f"an answer to the consumer ({answer.status})", PROVIDER_KEYS)
    from gateways.models import CallRecord

    for row in CallRecord.objects.values():
        assert_no_secret(repr(row), "a call record", PROVIDER_KEYS + consumer_secrets)
    assert len(records) == CallRecord.objects.count()
    files = [p for p in node.state_dir.rglob("*") if p.is_file()]
    saved = node.state_dir / "config.json"
    assert saved in files and CHAT.encode() in saved.read_bytes(), "the node saved no snapshot with the AI routes"
    for path in files:
        content = path.read_bytes()
        for secret in PROVIDER_KEYS:
            assert secret.encode() not in content, f"a provider key in plain text in {path.name}"


# --- Fallback -----------------------------------------------------------------------------------


def test_a_failing_first_target_falls_back_and_the_record_names_the_provider_that_answered(
    fake: FakeProvider, start_node: Any
) -> None:
    world = build_world(fake)
    node = start_node()
    consumer = Consumer(node.url, world.key)

    overloaded = chat_request(FLAKY, "Anyone there to answer")  # the first target answers 503
    assert_answer(consumer.call("POST", f"{AI_BASE}/chat/completions", overloaded), overloaded, FLAKY)
    limited = chat_request(BUSY, "Stream it even when busy", stream=True)  # the first target answers 429
    assert_stream(consumer.call("POST", f"{AI_BASE}/chat/completions", limited), limited, BUSY)

    tried = [
        (r.path, r.json()["model"], r.header("authorization") or r.header("x-api-key")) for r in provider_calls(fake)
    ]
    assert tried == [
        ("/v1/chat/completions", "scenario/openai_503", f"Bearer {FLAKY_KEY}"),
        ("/v1/messages", "claude-e2e", ANTHROPIC_KEY),
        ("/v1/chat/completions", "scenario/openai_429", f"Bearer {FLAKY_KEY}"),
        ("/v1/messages", "claude-e2e", ANTHROPIC_KEY),
    ]
    records = wait_records(2, node)
    for record, (route, request) in zip(records, ((FLAKY, overloaded), (BUSY, limited)), strict=True):
        assert (record.status, record.error, record.ai_route, record.ai_provider, record.ai_model) == (
            200,
            "",
            route,
            "claude",
            "claude-e2e",
        )
        assert (record.ai_input_tokens, record.ai_output_tokens, record.ai_cached_tokens) == tokens(request)
        assert record.ai_cost == cost(request, CLAUDE_PRICE)
    check_secrets(world, fake, consumer, records, node, {FLAKY_KEY, ANTHROPIC_KEY})


# --- Token quota --------------------------------------------------------------------------------


def test_the_token_quota_refuses_the_call_after_the_one_that_used_it_up(fake: FakeProvider, start_node: Any) -> None:
    request = chat_request(CHAT, "Count these tokens for me")
    per_call = sum(tokens(request)[:2])
    # The first call leaves room, the second crosses the quota (charged after its answer: it
    # completes), the third is refused before it reaches a provider.
    world = build_world(fake, token_quota_per_day=2 * per_call - 1)
    node = start_node()
    consumer = Consumer(node.url, world.key)

    assert_answer(consumer.call("POST", f"{AI_BASE}/chat/completions", request), request, "gpt-e2e")
    streamed = {**request, "stream": True}
    assert_stream(consumer.call("POST", f"{AI_BASE}/chat/completions", streamed), streamed, "gpt-e2e")
    reached = len(fake.requests)
    refused = consumer.call("POST", f"{AI_BASE}/chat/completions", request)
    assert refused.status == 429, refused.body
    assert refused.json()["error"]["code"] == "token_quota_exceeded"
    assert int(refused.headers["retry-after"]) > 0
    assert len(fake.requests) == reached
    # The quota is the AI plan's: the model list is not charged, the prompt API's plan has none.
    assert consumer.call("GET", f"{AI_BASE}/models").status == 200
    run = consumer.call("POST", f"{PROMPT_BASE}/run", {"variables": {"text": "still allowed here"}})
    assert run.status == 200, run.body

    records = wait_records(5, node)
    assert [(r.status, r.error, r.ai_input_tokens) for r in records[:3]] == [
        (200, "", tokens(request)[0]),
        (200, "", tokens(request)[0]),
        (429, "token_quota_exceeded", None),
    ]


# --- Strangers ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_stranger_gets_404_on_the_providers_ai_pages_and_rest(fake: FakeProvider, client: Any, api: Any) -> None:
    world = build_world(fake)
    provider, route = world.providers["openai"], world.routes[CHAT]
    model = world.models["gpt-e2e"]
    pages = [
        "/t/acme/ai/providers/",
        f"/t/acme/ai/providers/{provider.pk}/",
        f"/t/acme/ai/models/{model.pk}/",
        "/t/acme/ai/routes/",
        f"/t/acme/ai/routes/{route.pk}/",
        "/t/acme/ai/prompts/summarise/",
        "/t/acme/analytics/apis/acme-models/",
    ]
    rest = [
        "/api/v1/tenants/acme/ai/providers/",
        f"/api/v1/tenants/acme/ai/providers/{provider.pk}/",
        f"/api/v1/tenants/acme/ai/providers/{provider.pk}/credentials/",
        f"/api/v1/tenants/acme/ai/models/{model.pk}/",
        f"/api/v1/tenants/acme/ai/routes/{route.pk}/",
        "/api/v1/tenants/acme/prompts/summarise/",
        "/api/v1/tenants/acme/analytics/ai/",
    ]
    # Alice sees them all (so a 404 below is about who asks), never with the key in full.
    client.force_login(world.alice.user)
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert OPENAI_KEY not in response.content.decode(), url
    api.force_authenticate(world.alice.user)
    for url in rest:
        response = api.get(url)
        assert response.status_code == 200, url
        assert OPENAI_KEY not in response.content.decode(), url

    for stranger in (world.dave, world.charlie.user):  # Charlie subscribes to Acme's APIs: still a stranger here
        client.force_login(stranger)
        api.force_authenticate(stranger)
        own = "initech" if stranger == world.dave else "globex"
        for url in pages:
            assert client.get(url).status_code == 404, (stranger.email, url)
        for url in rest:
            assert api.get(url).status_code == 404, (stranger.email, url)
        # Acme's objects under the stranger's own organisation read as missing too.
        assert client.get(f"/t/{own}/ai/providers/{provider.pk}/").status_code == 404
        assert client.get(f"/t/{own}/ai/routes/{route.pk}/").status_code == 404
        assert api.get(f"/api/v1/tenants/{own}/ai/providers/{provider.pk}/").status_code == 404
        assert api.get(f"/api/v1/tenants/{own}/ai/routes/{route.pk}/").status_code == 404
