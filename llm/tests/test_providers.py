"""Services of providers, credentials, models and prices: roles, validation, history, secrets."""

import pytest

from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from llm.models import ModelPrice, ProviderCredential
from llm.services import providers
from llm.tests import ai_support
from llm.tests.ai_support import SECRET, member

alice_m = ai_support.alice_m
world = ai_support.world


@pytest.fixture
def bob_m(bob, acme):
    return member(bob, acme)


@pytest.fixture
def charlie_m(charlie, globex):
    return member(charlie, globex)


def _provider(actor, **overrides):
    data = {"name": "OpenAI", "slug": "openai", "kind": "openai", "base_url": "https://api.openai.com/v1/"}
    return providers.provider_create(actor=actor, **{**data, **overrides})


def test_an_owner_creates_a_provider_and_a_developer_may_not(alice_m, bob_m):
    provider = _provider(alice_m)
    assert provider.base_url == "https://api.openai.com/v1" and provider.tenant_id == alice_m.tenant_id
    with pytest.raises(Forbidden, match="manage model providers"):
        _provider(bob_m, slug="other")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("base_url", "http://127.0.0.1:11434", None),  # tests allow loopback (OUTBOUND_ALLOW_PRIVATE_TARGETS)
        ("base_url", "ftp://api.example.com", "absolute http"),
        ("base_url", "https://user:pw@api.example.com", "Credentials in the URL"),
        ("base_url", "https://api.example.com/v1?x=1", "query"),
        ("slug", "Not A Slug", "lowercase"),
        ("kind", "bedrock", "Choose one of"),
        ("connect_timeout_ms", 0, "Between 1 and"),
        ("name", "", "required"),
    ],
)
def test_provider_fields_are_checked(alice_m, field, value, message):
    if message is None:
        assert getattr(_provider(alice_m, **{field: value}), field) == value
        return
    with pytest.raises(InvalidInput, match=message) as info:
        _provider(alice_m, **{field: value})
    assert info.value.field == field
    assert "pw@" not in info.value.message


def test_the_outbound_policy_applies_to_base_urls(alice_m, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_TARGETS = False
    with pytest.raises(InvalidInput, match="loopback") as info:
        _provider(alice_m, base_url="http://2130706433/v1")
    assert info.value.code == "url_refused"


def test_a_slug_is_unique_per_organisation_only(alice_m, charlie_m):
    _provider(alice_m)
    with pytest.raises(InvalidInput, match="already exists"):
        _provider(alice_m, name="Again")
    assert _provider(charlie_m).slug == "openai"


def test_credentials_are_sealed_masked_and_never_echoed(alice_m):
    provider = _provider(alice_m)
    credential = providers.credential_create(actor=alice_m, provider=provider, label="main", secret=SECRET)
    stored = ProviderCredential.objects.for_tenant(alice_m.tenant).get(pk=credential.pk)
    assert SECRET not in stored.secret_encrypted and stored.secret_hint == "sk-…a1b2"
    assert providers.credential_secret(stored) == SECRET
    with pytest.raises(InvalidInput, match="no spaces") as info:
        providers.credential_create(actor=alice_m, provider=provider, label="bad", secret="sk-abc def-secretvalue")
    assert "secretvalue" not in info.value.message
    with pytest.raises(InvalidInput, match="already has a credential"):
        providers.credential_create(actor=alice_m, provider=provider, label="main", secret="sk-other-0000000000")
    from apis.models import AuditEvent

    assert SECRET not in " ".join(AuditEvent.objects.for_tenant(alice_m.tenant).values_list("note", flat=True))


def test_a_credential_is_updated_and_its_key_replaced_write_only(alice_m):
    provider = _provider(alice_m)
    credential = providers.credential_create(actor=alice_m, provider=provider, label="main", secret=SECRET)
    updated = providers.credential_update(
        actor=alice_m, credential=credential, weight=5, priority=2, enabled=False, secret="sk-new-key-0000zz99"
    )
    assert (updated.weight, updated.priority, updated.enabled, updated.secret_hint) == (5, 2, False, "sk-…zz99")
    with pytest.raises(InvalidInput, match="Between 1 and 1000"):
        providers.credential_update(actor=alice_m, credential=credential, weight=0)
    with pytest.raises(InvalidInput, match="Unknown field"):
        providers.credential_update(actor=alice_m, credential=credential, secret_hint="x")


def test_another_organisations_objects_are_not_found(alice_m, charlie_m):
    provider = _provider(alice_m)
    credential = providers.credential_create(actor=alice_m, provider=provider, label="main", secret=SECRET)
    with pytest.raises(NotFound):
        providers.credential_create(actor=charlie_m, provider=provider, label="x", secret="sk-xxxxxxxxxxxx")
    with pytest.raises(NotFound):
        providers.credential_delete(actor=charlie_m, credential=credential)
    with pytest.raises(NotFound):
        providers.provider_update(actor=charlie_m, provider=provider, name="Mine")


def test_prices_keep_their_history_and_a_same_day_price_corrects(alice_m):
    provider = _provider(alice_m)
    model = providers.model_create(
        actor=alice_m,
        provider=provider,
        model_id="gpt-4o-mini",
        price={"input_per_million": "0.15", "output_per_million": "0.6", "effective_from": "2025-01-01"},
    )
    providers.price_add(
        actor=alice_m, model=model, input_per_million="0.1", output_per_million="0.4", effective_from="2026-01-01"
    )
    providers.price_add(
        actor=alice_m, model=model, input_per_million="0.12", output_per_million="0.4", effective_from="2026-01-01"
    )
    prices = list(ModelPrice.objects.for_tenant(alice_m.tenant).filter(model=model))
    assert [(str(p.effective_from), str(p.input_per_million)) for p in prices] == [
        ("2026-01-01", "0.120000"),
        ("2025-01-01", "0.150000"),
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("input_per_million", "-1", "between 0"),
        ("input_per_million", "abc", "Enter a number"),
        ("output_per_million", "", "Enter a price"),
        ("cached_input_per_million", "0.0000001", "6 decimal"),
        ("effective_from", "2026-13-01", "YYYY-MM-DD"),
        ("input_per_million", "NaN", "between 0"),
    ],
)
def test_bad_prices_are_refused_on_their_field(alice_m, field, value, message):
    provider = _provider(alice_m)
    model = providers.model_create(actor=alice_m, provider=provider, model_id="m")
    data = {"input_per_million": "1", "output_per_million": "2", field: value}
    with pytest.raises(InvalidInput, match=message) as info:
        providers.price_add(actor=alice_m, model=model, **data)
    assert info.value.field == field


def test_a_model_id_is_unique_per_provider(alice_m):
    provider = _provider(alice_m)
    providers.model_create(actor=alice_m, provider=provider, model_id="gpt-4o")
    with pytest.raises(InvalidInput, match="already has the model"):
        providers.model_create(actor=alice_m, provider=provider, model_id="gpt-4o")
    with pytest.raises(InvalidInput, match="Choose one of"):
        providers.model_create(actor=alice_m, provider=provider, model_id="x", capability="images")


def test_a_model_or_provider_used_by_a_route_cannot_be_deleted(world):
    with pytest.raises(Conflict, match="remove it from the routes"):
        providers.model_delete(actor=world.actor, model=world.mini)
    with pytest.raises(Conflict, match="remove them from the routes"):
        providers.provider_delete(actor=world.actor, provider=world.provider)
    providers.model_delete(actor=world.actor, model=world.embed)


def test_storing_a_credential_without_a_key_in_production_is_a_clear_refusal(alice_m, settings):
    from core.secretbox import EncryptionUnavailable

    provider = _provider(alice_m)
    settings.CREDENTIAL_ENCRYPTION_KEYS = ()
    settings.DEBUG = settings.TESTING = False
    with pytest.raises(EncryptionUnavailable, match="CREDENTIAL_ENCRYPTION_KEYS"):
        providers.credential_create(actor=alice_m, provider=provider, label="main", secret=SECRET)
    assert not ProviderCredential.objects.for_tenant(alice_m.tenant).exists()
