"""REST: /api/v1/tenants/{slug}/ai/… — roles, strangers (404), bad input (400), and never a plaintext secret."""

import json

import pytest

from llm.tests import ai_support
from llm.tests.ai_support import SECRET, SECRET_2

alice_m = ai_support.alice_m
world = ai_support.world

BASE = "/api/v1/tenants/acme/ai"


def test_a_provider_is_created_and_a_bad_one_gets_field_errors(api, alice):
    api.force_authenticate(alice)
    response = api.post(
        f"{BASE}/providers/",
        {"name": "OpenAI", "slug": "openai", "kind": "openai", "base_url": "https://api.openai.com/v1"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["base_url"] == "https://api.openai.com/v1"
    bad = api.post(
        f"{BASE}/providers/", {"name": "X", "slug": "x", "kind": "bedrock", "base_url": "nope"}, format="json"
    )
    assert bad.status_code == 400 and "kind" in bad.json()["error"]["fields"]
    refused = api.post(
        f"{BASE}/providers/",
        {"name": "X", "slug": "x", "kind": "openai", "base_url": "https://u:p@api.example.com"},
        format="json",
    )
    assert refused.status_code == 400 and "base_url" in refused.json()["error"]["fields"]


def test_credentials_answer_masked_and_no_answer_holds_the_secret(api, alice, world):
    api.force_authenticate(alice)
    provider = f"{BASE}/providers/{world.provider.pk}"
    created = api.post(
        f"{provider}/credentials/",
        {"label": "third", "secret": "sk-third-key-00000000zz77", "priority": 2},
        format="json",
    )
    assert created.status_code == 201 and created.json()["secret_hint"] == "sk-…zz77"
    assert "secret" not in created.json()
    cred = f"{provider}/credentials/{world.credential.pk}/"
    patched = api.patch(cred, {"weight": 7, "enabled": False}, format="json")
    assert patched.status_code == 200 and (patched.json()["weight"], patched.json()["enabled"]) == (7, False)
    pages = [
        f"{BASE}/providers/",
        f"{provider}/",
        f"{provider}/credentials/",
        cred,
        f"{BASE}/models/",
        f"{BASE}/routes/",
        "/api/v1/tenants/acme/apis/acme-ai/events/",
        "/api/v1/tenants/acme/apis/acme-ai/versions/v1/ai-routes/",
    ]
    for url in pages:
        response = api.get(url)
        assert response.status_code == 200, url
        text = response.content.decode()
        for secret in (SECRET, SECRET_2, "sk-third-key-00000000zz77"):
            assert secret not in text, url
        assert "secret_encrypted" not in text and "v1." not in json.dumps(response.json()).replace('"v1"', "")


def test_strangers_get_404_everywhere(api, charlie, world):
    api.force_authenticate(charlie)
    provider = f"{BASE}/providers/{world.provider.pk}"
    for method, url in [
        ("get", f"{BASE}/providers/"),
        ("get", f"{provider}/"),
        ("get", f"{provider}/credentials/"),
        ("post", f"{provider}/credentials/"),
        ("get", f"{BASE}/models/{world.mini.pk}/"),
        ("get", f"{BASE}/routes/{world.route.pk}/"),
        ("delete", f"{BASE}/routes/{world.route.pk}/"),
    ]:
        assert getattr(api, method)(url, {}, format="json").status_code == 404, url
    # Charlie's own tenant does not see Acme's objects by id either.
    assert api.get(f"/api/v1/tenants/globex/ai/providers/{world.provider.pk}/").status_code == 404
    assert (
        api.post(
            "/api/v1/tenants/globex/ai/routes/", {"name": "steal", "targets": [{"model": world.mini.pk}]}, format="json"
        ).status_code
        == 400
    )


def test_a_developer_reads_but_may_not_manage(api, bob, world):
    api.force_authenticate(bob)
    assert api.get(f"{BASE}/providers/{world.provider.pk}/credentials/").status_code == 200
    response = api.post(f"{BASE}/routes/", {"name": "mine"}, format="json")
    assert response.status_code == 403
    assert (
        api.post(f"{BASE}/models/{world.big.pk}/prices/", {"input_per_million": "1"}, format="json").status_code == 403
    )


def test_models_are_created_from_the_price_list_and_priced(api, alice, world):
    api.force_authenticate(alice)
    response = api.post(
        f"{BASE}/models/",
        {"provider": world.provider.pk, "model_id": "gpt-4.1-mini", "from_price_list": "openai/gpt-4.1-mini"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["context_window"] == 1047576 and body["prices"][0]["input_per_million"] == "0.400000"
    assert body["prices"][0]["source"].startswith("https://openai.com")
    added = api.post(
        f"{BASE}/models/{body['id']}/prices/",
        {"input_per_million": "0.3", "output_per_million": "1.2", "effective_from": "2030-01-01"},
        format="json",
    )
    assert added.status_code == 201
    history = api.get(f"{BASE}/models/{body['id']}/prices/").json()["results"]
    assert [p["effective_from"] for p in history] == ["2030-01-01", "2025-06-01"]
    bad = api.post(f"{BASE}/models/{body['id']}/prices/", {"input_per_million": "-1"}, format="json")
    assert bad.status_code == 400 and {"input_per_million", "output_per_million"} <= set(bad.json()["error"]["fields"])
    unknown = api.post(
        f"{BASE}/models/", {"provider": world.provider.pk, "model_id": "x", "from_price_list": "nope/x"}, format="json"
    )
    assert unknown.status_code == 400 and "from_price_list" in unknown.json()["error"]["fields"]


def test_routes_and_an_ai_versions_routes(api, alice, world):
    api.force_authenticate(alice)
    created = api.post(
        f"{BASE}/routes/",
        {"name": "embed", "capability": "embeddings", "targets": [{"model": world.embed.pk}]},
        format="json",
    )
    assert created.status_code == 201 and created.json()["public_name"] == "acme/embed"
    mismatch = api.post(f"{BASE}/routes/", {"name": "x", "targets": [{"model": world.embed.pk}]}, format="json")
    assert mismatch.status_code == 400 and mismatch.json()["error"]["code"] == "capability_mismatch"
    url = "/api/v1/tenants/acme/apis/acme-ai/versions/v1/ai-routes/"
    put = api.put(url, {"routes": [world.route.pk, created.json()["id"]]}, format="json")
    assert put.status_code == 200
    assert [r["public_name"] for r in put.json()["routes"]] == ["acme/chat-small", "acme/embed"]
    version = api.get("/api/v1/tenants/acme/apis/acme-ai/versions/v1/").json()
    assert version["kind"] == "ai" and version["upstreams"] == [] and version["endpoint_count"] == 3
    assert api.put(url, {"routes": []}, format="json").status_code == 409
    assert api.delete(f"{BASE}/routes/{world.route.pk}/").status_code == 409


def test_an_ai_version_is_created_over_rest_and_its_kind_is_fixed(api, alice, world):
    api.force_authenticate(alice)
    versions = "/api/v1/tenants/acme/apis/acme-ai/versions/"
    created = api.post(versions, {"label": "v2", "base_path": "/acme-ai/v2", "kind": "ai"}, format="json")
    assert created.status_code == 201 and created.json()["kind"] == "ai"
    refused = api.post(
        versions,
        {"label": "v3", "base_path": "/acme-ai/v3", "kind": "ai", "upstreams": [{"url": "https://x.example"}]},
        format="json",
    )
    assert refused.status_code == 400 and "upstreams" in refused.json()["error"]["fields"]
    assert api.patch(f"{versions}v2/", {"kind": "rest"}, format="json").status_code == 400
    publish = api.post(f"{versions}v2/publish/", {}, format="json")
    assert publish.status_code == 409 and "model route" in publish.json()["error"]["message"]


def test_presets_list_providers_and_prices(api, alice):
    api.force_authenticate(alice)
    body = api.get("/api/v1/ai/presets/").json()
    assert {p["key"] for p in body["providers"]} >= {"openai", "anthropic", "gemini", "ollama", "ollama-openai", "vllm"}
    assert any(p["key"] == "openai/gpt-4o-mini" for p in body["prices"]) and "check" in body["prices_note"]


@pytest.mark.parametrize("field", ["token_quota_per_day", "cost_budget_per_month"])
def test_plans_take_ai_limits(api, alice, world, field):
    api.force_authenticate(alice)
    url = "/api/v1/tenants/acme/apis/acme-ai/plans/"
    value = "25.5" if field.startswith("cost") else 100000
    created = api.post(url, {"name": "Tokens", field: value}, format="json")
    assert created.status_code == 201, created.content
    assert str(created.json()[field]).startswith("25.5" if field.startswith("cost") else "100000")
    assert api.post(url, {"name": "Bad", field: -1}, format="json").status_code == 400
