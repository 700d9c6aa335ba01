"""The playground: render with sample variables, lint, and one real call to a loopback provider."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core.errors import Forbidden, NotFound
from llm.models import ProviderCredential
from llm.playground import PlaygroundThrottled, playground_run
from llm.tests import test_prompt_support as support
from llm.tests.test_prompt_support import SECRET, SUMMARY_SCHEMA, make_route, member, save_version

# Shared fixtures (pytest finds them as module attributes).
alice_m = support.alice_m
route = support.route
saved = support.saved
template = support.template


class FakeOpenAI:
    """A loopback OpenAI-compatible provider: records requests, answers what the test says."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.status = 200
        self.content = "A short summary."
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests.append(
                    {
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": json.loads(body),
                    }
                )
                if outer.status == 200:
                    answer = {
                        "id": "chatcmpl-1",
                        "object": "chat.completion",
                        "created": 1,
                        "model": "gpt-4o-mini",
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": outer.content},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 21, "completion_tokens": 5, "total_tokens": 26},
                    }
                else:
                    # OpenAI echoes part of the key in its 401 text.
                    answer = {
                        "error": {"message": f"Incorrect API key provided: {SECRET}", "type": "invalid_request_error"}
                    }
                data = json.dumps(answer).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def provider():
    fake = FakeOpenAI()
    yield fake
    fake.close()


@pytest.fixture
def live_version(alice_m, template, provider):
    live_route = make_route(alice_m.tenant, base_url=provider.base_url, name="live")
    return save_version(alice_m, template, live_route, params={"temperature": 0.2, "max_tokens": 300}).version


def test_render_only_shows_messages_and_lint(alice_m, saved):
    result = playground_run(actor=alice_m, version=saved.version, values={"text": "{{words}} news"})
    assert result.ok
    assert not result.called
    assert result.rendered[1]["content"] == "Summarise in 50 words: {{words}} news"
    assert result.lint == []


def test_invalid_variables_are_all_listed_and_nothing_is_called(alice_m, live_version, provider):
    result = playground_run(actor=alice_m, version=live_version, values={"words": "x", "zz": 1}, call_model=True)
    assert result.problems == [
        {"variable": "text", "message": "is required"},
        {"variable": "words", "message": "must be an integer, got a string"},
        {"variable": "zz", "message": "is not a variable of this prompt"},
    ]
    assert not result.called
    assert provider.requests == []


def test_calls_the_model_once_with_the_decrypted_credential(alice_m, live_version, provider):
    result = playground_run(
        actor=alice_m, version=live_version, values={"text": "the news", "words": 5}, call_model=True
    )
    assert result.ok, result.error
    assert result.answer == "A short summary."
    assert result.usage == {"input": 21, "output": 5, "cached": None}
    assert result.latency_ms is not None
    assert (result.provider, result.model) == ("prov-live", "gpt-4o-mini")
    assert len(provider.requests) == 1
    sent = provider.requests[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["headers"]["authorization"] == f"Bearer {SECRET}"
    assert sent["body"]["model"] == "gpt-4o-mini"
    assert sent["body"]["stream"] is False
    assert sent["body"]["temperature"] == 0.2
    assert sent["body"]["messages"][1] == {"role": "user", "content": "Summarise in 5 words: the news"}


def test_provider_errors_are_shown_without_the_credential(alice_m, live_version, provider):
    provider.status = 401
    result = playground_run(actor=alice_m, version=live_version, values={"text": "x"}, call_model=True)
    assert result.called
    assert result.error.startswith("Prov live answered 401")
    assert SECRET not in result.error
    assert SECRET[-8:] not in result.error


def test_unreachable_provider(alice_m, template):
    dead = make_route(alice_m.tenant, base_url="http://127.0.0.1:9/v1", name="dead")
    version = save_version(alice_m, template, dead).version
    result = playground_run(actor=alice_m, version=version, values={"text": "x"}, call_model=True)
    assert result.error.startswith("Could not reach Prov dead")


def test_outbound_policy_applies(alice_m, template, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_TARGETS = False
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    local = make_route(alice_m.tenant, base_url="http://127.0.0.1:9/v1", name="local")
    version = save_version(alice_m, template, local).version
    result = playground_run(actor=alice_m, version=version, values={"text": "x"}, call_model=True)
    assert "outbound policy refuses" in result.error
    assert "loopback" in result.error


def test_no_credential_says_so(alice_m, template):
    bare = make_route(alice_m.tenant, name="bare", with_credential=False)
    version = save_version(alice_m, template, bare).version
    result = playground_run(actor=alice_m, version=version, values={"text": "x"}, call_model=True)
    assert not result.called
    assert "no target whose provider has an enabled credential" in result.error


def test_disabled_credentials_are_not_used(alice_m, live_version, provider):
    ProviderCredential.objects.for_tenant(alice_m.tenant).update(enabled=False)
    result = playground_run(actor=alice_m, version=live_version, values={"text": "x"}, call_model=True)
    assert "enabled credential" in result.error
    assert provider.requests == []


def test_json_mode_checks_the_answer(alice_m, template, provider):
    live_route = make_route(alice_m.tenant, base_url=provider.base_url, name="json")
    version = save_version(alice_m, template, live_route, response_mode="json", response_schema=SUMMARY_SCHEMA).version
    provider.content = '{"summary": "ok"}'
    result = playground_run(actor=alice_m, version=version, values={"text": "x"}, call_model=True)
    assert result.ok
    assert result.output == {"summary": "ok"}
    provider.content = '{"other": 1}'
    result = playground_run(actor=alice_m, version=version, values={"text": "x"}, call_model=True)
    assert "does not match the response schema" in result.error
    provider.content = "not json"
    result = playground_run(actor=alice_m, version=version, values={"text": "x"}, call_model=True)
    assert "not JSON" in result.error


def test_runs_are_rate_limited_per_user(alice_m, bob, acme, live_version, provider, settings):
    settings.PROMPT_PLAYGROUND_RUNS_PER_MINUTE = 2
    from django.core.cache import cache

    cache.clear()
    for _ in range(2):
        assert playground_run(actor=alice_m, version=live_version, values={"text": "x"}, call_model=True).ok
    with pytest.raises(PlaygroundThrottled) as info:
        playground_run(actor=alice_m, version=live_version, values={"text": "x"}, call_model=True)
    assert info.value.status_code == 429
    assert len(provider.requests) == 2
    # Rendering alone is not limited, and another user has their own budget.
    assert playground_run(actor=alice_m, version=live_version, values={"text": "x"}).ok
    assert playground_run(actor=member(bob, acme), version=live_version, values={"text": "x"}, call_model=True).ok


def test_roles_and_strangers(vera, acme, charlie, globex, saved):
    with pytest.raises(Forbidden):
        playground_run(actor=member(vera, acme), version=saved.version, values={"text": "x"})
    with pytest.raises(NotFound):
        playground_run(actor=member(charlie, globex), version=saved.version, values={"text": "x"})
