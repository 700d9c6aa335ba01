"""core.secretbox: sealing provider credentials, key rotation, wrong keys and tampering."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from core import secretbox

KEY_A = secretbox.generate_key()
KEY_B = secretbox.generate_key()


def test_a_secret_opens_again_and_its_ciphertext_does_not_show_it(settings):
    settings.CREDENTIAL_ENCRYPTION_KEYS = secretbox.parse_keys(KEY_A)
    sealed = secretbox.encrypt("sk-very-secret-value", context="llm.credential")
    assert "sk-very" not in sealed and sealed.startswith("v1.")
    assert secretbox.key_id_of(sealed) == secretbox.key_id(secretbox.parse_keys(KEY_A)[0])
    assert secretbox.decrypt(sealed, context="llm.credential") == "sk-very-secret-value"
    # Two seals of the same secret differ (random nonce).
    assert secretbox.encrypt("sk-very-secret-value", context="llm.credential") != sealed


def test_another_context_or_a_flipped_byte_does_not_open(settings):
    settings.CREDENTIAL_ENCRYPTION_KEYS = secretbox.parse_keys(KEY_A)
    sealed = secretbox.encrypt("sk-very-secret-value", context="llm.credential")
    with pytest.raises(secretbox.SecretBoxError, match="tampered"):
        secretbox.decrypt(sealed, context="webhook.secret")
    head, kid, body = sealed.split(".")
    flipped = body[:-3] + ("A" if body[-3] != "A" else "B") + body[-2:]
    with pytest.raises(secretbox.SecretBoxError):
        secretbox.decrypt(f"{head}.{kid}.{flipped}", context="llm.credential")
    for garbage in ("", "sk-plain", "v1.abc", "v1.abc.!!!", "v1.abc.AAAA"):
        with pytest.raises(secretbox.SecretBoxError):
            secretbox.decrypt(garbage)


def test_a_removed_key_is_named_by_id_and_an_old_key_still_decrypts(settings):
    settings.CREDENTIAL_ENCRYPTION_KEYS = secretbox.parse_keys(KEY_A)
    sealed = secretbox.encrypt("sk-old-key-secret")
    settings.CREDENTIAL_ENCRYPTION_KEYS = secretbox.parse_keys(f"{KEY_B},{KEY_A}")
    assert secretbox.decrypt(sealed) == "sk-old-key-secret"
    assert secretbox.needs_rotation(sealed)
    resealed = secretbox.reencrypt(sealed)
    assert secretbox.key_id_of(resealed) == secretbox.keyring().primary_id
    assert secretbox.reencrypt(resealed) == resealed
    settings.CREDENTIAL_ENCRYPTION_KEYS = secretbox.parse_keys(KEY_B)
    with pytest.raises(secretbox.SecretBoxError, match="not configured"):
        secretbox.decrypt(sealed)


def test_malformed_keys_are_refused_without_echoing_them():
    with pytest.raises(ValueError, match="key 2 must decode to 32 bytes") as info:
        secretbox.parse_keys(f"{KEY_A},c2hvcnQ")
    assert "c2hvcnQ" not in str(info.value)
    with pytest.raises(ValueError, match="key 1 is not base64url"):
        secretbox.parse_keys("!!!!")
    assert secretbox.parse_keys(" , ") == ()


def test_production_without_keys_refuses_to_encrypt_with_a_clear_message(settings):
    settings.CREDENTIAL_ENCRYPTION_KEYS = ()
    settings.DEBUG = False
    settings.TESTING = False
    with pytest.raises(secretbox.EncryptionUnavailable, match="CREDENTIAL_ENCRYPTION_KEYS") as info:
        secretbox.encrypt("sk-abc")
    assert info.value.status_code == 503


def test_development_without_keys_derives_one_from_the_secret_key(settings):
    settings.CREDENTIAL_ENCRYPTION_KEYS = ()
    settings.TESTING = True
    sealed = secretbox.encrypt("sk-dev")
    assert secretbox.decrypt(sealed) == "sk-dev"


@pytest.mark.parametrize(
    ("secret", "hint"),
    [
        ("sk-proj-abcdefghijklmnopqrstuvwxyz1234a1b2", "sk-…a1b2"),
        ("AIzaSyA1234567890abcdefghijklmnopqrstu", "AIz…rstu"),
        ("gsk_abcdefghijklmnop9z8y", "gsk_…9z8y"),
        ("short1", "…t1"),
        ("abc", "…"),
    ],
)
def test_mask_shows_a_prefix_and_the_last_characters_only(secret, hint):
    assert secretbox.mask(secret) == hint
    assert len(hint) <= 24


@pytest.mark.django_db
def test_rotate_credential_key_reseals_every_credential_once(settings, alice, acme, capsys):
    from llm.models import ProviderCredential
    from llm.services import providers
    from llm.tests.ai_support import member

    actor = member(alice, acme)
    settings.CREDENTIAL_ENCRYPTION_KEYS = secretbox.parse_keys(KEY_A)
    provider = providers.provider_create(
        actor=actor, name="OpenAI", slug="openai", kind="openai", base_url="https://api.openai.com/v1"
    )
    for n in range(3):
        providers.credential_create(actor=actor, provider=provider, label=f"k{n}", secret=f"sk-rotate-me-{n:04d}xyz")
    settings.CREDENTIAL_ENCRYPTION_KEYS = secretbox.parse_keys(f"{KEY_B},{KEY_A}")
    call_command("rotate_credential_key")
    assert "3 credential(s) re-encrypted, 0 already" in capsys.readouterr().out
    call_command("rotate_credential_key")
    assert "0 credential(s) re-encrypted, 3 already" in capsys.readouterr().out
    settings.CREDENTIAL_ENCRYPTION_KEYS = secretbox.parse_keys(KEY_B)  # the old key is gone now
    secrets = sorted(
        providers.credential_secret(c) for c in ProviderCredential.objects.for_tenant(acme).order_by("label")
    )
    assert secrets == [f"sk-rotate-me-{n:04d}xyz" for n in range(3)]


@pytest.mark.django_db
def test_rotation_stops_naming_the_credential_a_key_no_longer_opens(settings, alice, acme):
    from llm.services import providers
    from llm.tests.ai_support import member

    actor = member(alice, acme)
    settings.CREDENTIAL_ENCRYPTION_KEYS = secretbox.parse_keys(KEY_A)
    provider = providers.provider_create(
        actor=actor, name="OpenAI", slug="openai", kind="openai", base_url="https://api.openai.com/v1"
    )
    credential = providers.credential_create(actor=actor, provider=provider, label="k", secret="sk-lost-key-123456")
    settings.CREDENTIAL_ENCRYPTION_KEYS = secretbox.parse_keys(KEY_B)
    with pytest.raises(CommandError, match=f"credential {credential.pk}") as info:
        call_command("rotate_credential_key")
    assert "sk-lost" not in str(info.value)
