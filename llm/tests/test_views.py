"""Web pages of the AI gateway: providers, credentials (never the plaintext), models, routes, AI versions,
and the catalog page of an AI API (models, prices, chat snippets)."""

import pytest
from django.test import Client

from apis.models import ApiVersion
from llm.models import ModelProvider, ProviderCredential
from llm.tests import ai_support
from llm.tests.ai_support import SECRET, SECRET_2

alice_m = ai_support.alice_m
world = ai_support.world


@pytest.fixture
def alice_web(alice):
    client = Client()
    client.force_login(alice)
    return client


def _pages(w):
    t = "/t/acme/ai"
    return [
        f"{t}/providers/",
        f"{t}/providers/{w.provider.pk}/",
        f"{t}/providers/{w.provider.pk}/edit/",
        f"{t}/providers/{w.provider.pk}/credentials/{w.credential.pk}/",
        f"{t}/providers/{w.provider.pk}/models/new/?price=openai/gpt-4o",
        f"{t}/models/{w.mini.pk}/",
        f"{t}/routes/",
        f"{t}/routes/{w.route.pk}/",
        f"{t}/routes/{w.route.pk}/edit/",
        "/t/acme/apis/acme-ai/",
        "/t/acme/apis/acme-ai/versions/v1/",
        "/t/acme/apis/acme-ai/ai/versions/new/",
        "/t/acme/apis/acme-ai/ai/versions/v1/routes/",
        "/catalog/acme/acme-ai/",
    ]


def test_every_page_works_and_none_shows_a_plaintext_key(alice_web, world):
    for url in _pages(world):
        response = alice_web.get(url)
        assert response.status_code == 200, url
        text = response.content.decode()
        assert SECRET not in text and SECRET_2 not in text, url
        assert "v1." + world.credential.secret_encrypted.split(".")[1] not in text, url
    detail = alice_web.get(f"/t/acme/ai/providers/{world.provider.pk}/").content.decode()
    assert "sk-…a1b2" in detail and "gpt-4o-mini" in detail and "$0.15" in detail
    assert "price unknown" in detail  # gpt-4o has no price


def test_a_stranger_gets_404_and_a_viewer_cannot_manage(client, charlie, vera, world):
    client.force_login(charlie)
    for url in _pages(world)[:-1]:
        assert client.get(url).status_code == 404, url
    client.force_login(vera)
    assert client.get(f"/t/acme/ai/providers/{world.provider.pk}/").status_code == 200
    assert client.get("/t/acme/ai/providers/new/").status_code == 403
    response = client.post(
        f"/t/acme/ai/providers/{world.provider.pk}/credentials/new/", {"label": "x", "secret": "sk-vera-0000000000"}
    )
    assert response.status_code == 403


def test_a_preset_fills_the_provider_form_and_a_provider_is_created(alice_web, acme):
    page = alice_web.get("/t/acme/ai/providers/new/?preset=anthropic").content.decode()
    assert 'value="https://api.anthropic.com"' in page and 'value="anthropic" selected' in page
    response = alice_web.post(
        "/t/acme/ai/providers/new/",
        {
            "name": "Anthropic",
            "slug": "anthropic",
            "kind": "anthropic",
            "base_url": "https://api.anthropic.com",
            "connect_timeout_ms": 5000,
            "read_timeout_ms": 60000,
        },
    )
    assert response.status_code == 302
    assert ModelProvider.objects.for_tenant(acme).get(slug="anthropic").kind == "anthropic"
    bad = alice_web.post(
        "/t/acme/ai/providers/new/",
        {
            "name": "X",
            "slug": "x",
            "kind": "openai",
            "base_url": "https://user:pw@h.example",
            "connect_timeout_ms": 1,
            "read_timeout_ms": 1,
        },
    )
    assert bad.status_code == 400 and "Credentials in the URL" in bad.content.decode()


def test_adding_a_key_shows_it_masked_and_a_bad_one_is_not_echoed(alice_web, world):
    url = f"/t/acme/ai/providers/{world.provider.pk}/credentials/new/"
    response = alice_web.post(
        url,
        {"label": "third", "secret": "sk-third-0000000000zz55", "weight": 1, "priority": 0, "enabled": "on"},
        follow=True,
    )
    text = response.content.decode()
    assert "sk-…zz55" in text and "sk-third-0000000000zz55" not in text
    bad = alice_web.post(url, {"label": "fourth", "secret": "sk-has space-secretvalue", "weight": 1, "priority": 0})
    assert bad.status_code == 400 and "secretvalue" not in bad.content.decode()
    assert not ProviderCredential.objects.for_tenant(world.actor.tenant).filter(label="fourth").exists()


def test_a_model_is_added_from_the_price_list(alice_web, world):
    page = alice_web.get(f"/t/acme/ai/providers/{world.provider.pk}/models/new/?price=openai/gpt-4.1").content.decode()
    assert 'value="gpt-4.1"' in page and "https://openai.com/api/pricing/" in page
    response = alice_web.post(
        f"/t/acme/ai/providers/{world.provider.pk}/models/new/",
        {
            "model_id": "gpt-4.1",
            "capability": "chat",
            "context_window": 1047576,
            "input_per_million": "2.00",
            "output_per_million": "8.00",
            "cached_input_per_million": "0.50",
            "effective_from": "2025-06-01",
            "source": "https://openai.com/api/pricing/",
        },
        follow=True,
    )
    text = response.content.decode()
    assert response.status_code == 200 and "$2" in text and 'class="price-source"' in text


def test_a_route_is_created_with_targets_and_refuses_a_wrong_capability(alice_web, world):
    data = {
        "name": "chat-large",
        "capability": "chat",
        "description": "",
        "targets-TOTAL_FORMS": "2",
        "targets-INITIAL_FORMS": "0",
        "targets-0-model": str(world.big.pk),
        "targets-0-position": "0",
        "targets-0-weight": "1",
        "targets-1-model": "",
        "targets-1-position": "1",
        "targets-1-weight": "1",
    }
    response = alice_web.post("/t/acme/ai/routes/new/", data, follow=True)
    assert response.status_code == 200 and "acme/chat-large" in response.content.decode()
    bad = alice_web.post("/t/acme/ai/routes/new/", {**data, "name": "emb", "targets-0-model": str(world.embed.pk)})
    assert bad.status_code == 400 and "embeddings model" in bad.content.decode()


def test_an_ai_version_is_created_from_the_api_page_with_its_routes(alice_web, world):
    assert "New AI version" in alice_web.get("/t/acme/apis/acme-ai/").content.decode()
    response = alice_web.post(
        "/t/acme/apis/acme-ai/ai/versions/new/",
        {"label": "v2", "base_path": "/acme-ai/v2", "routes": [world.route.pk], "release_notes": ""},
    )
    assert response.status_code == 302
    version = ApiVersion.objects.for_tenant(world.actor.tenant).get(label="v2")
    assert version.kind == "ai" and version.spec["paths"]["/chat/completions"]
    page = alice_web.get("/t/acme/apis/acme-ai/versions/v2/").content.decode()
    assert "acme/chat-small" in page and "Upload the OpenAPI document" not in page


def test_an_ai_versions_edit_page_has_no_upstreams_and_saves(alice_web, world):
    alice_web.post(
        "/t/acme/apis/acme-ai/ai/versions/new/",
        {"label": "v2", "base_path": "/acme-ai/v2", "routes": [world.route.pk], "release_notes": ""},
    )
    page = alice_web.get("/t/acme/apis/acme-ai/versions/v2/edit/").content.decode()
    assert 'name="read_timeout_ms"' in page and 'name="upstreams"' not in page
    response = alice_web.post(
        "/t/acme/apis/acme-ai/versions/v2/edit/",
        {
            "label": "v2",
            "base_path": "/acme-ai/v2",
            "connect_timeout_ms": "4000",
            "read_timeout_ms": "90000",
            "release_notes": "Longer answers.",
        },
    )
    assert response.status_code == 302
    version = ApiVersion.objects.for_tenant(world.actor.tenant).get(label="v2")
    assert version.read_timeout_ms == 90000 and version.upstreams == [] and version.release_notes == "Longer answers."


def test_the_catalog_page_of_an_ai_api_shows_models_prices_and_snippets(client, world, settings):
    page = client.get("/catalog/acme/acme-ai/").content.decode()  # public API, anonymous visitor
    assert "acme/chat-small" in page and "128000 tokens" in page
    assert "$0.15" in page and "$0.6" in page and "$0.075" in page
    base = settings.GATEWAY_URL + "/acme-ai/v1"
    assert f"curl {base}/chat/completions" in page and "$API_KEY" in page
    assert f'OpenAI(base_url="{base}"' in page
    assert SECRET not in page


def test_a_model_without_price_shows_unknown_in_the_catalog(client, world):
    from llm.services import routes

    routes.route_update(actor=world.actor, route=world.route, targets=[{"model": world.big.pk}])
    page = client.get("/catalog/acme/acme-ai/").content.decode()
    assert "unknown" in page
