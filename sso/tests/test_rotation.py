"""`manage.py rotate_credential_key` re-seals single sign-on client secrets too: after the old
key is dropped, sign-in still has its secret."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from core import secretbox
from sso import services
from sso.models import IdentityProvider

pytestmark = pytest.mark.django_db

KEY_A = secretbox.generate_key()
KEY_B = secretbox.generate_key()


@pytest.fixture
def keyed(settings):
    settings.CREDENTIAL_ENCRYPTION_KEYS = secretbox.parse_keys(KEY_A)
    return settings


def test_rotation_reseals_the_client_secret_and_the_old_key_can_go(keyed, oidc, idp, capsys):
    keyed.CREDENTIAL_ENCRYPTION_KEYS = secretbox.parse_keys(f"{KEY_B},{KEY_A}")
    call_command("rotate_credential_key")
    assert "1 single sign-on client secret(s) re-encrypted, 0 already" in capsys.readouterr().out
    call_command("rotate_credential_key")
    assert "0 single sign-on client secret(s) re-encrypted, 1 already" in capsys.readouterr().out
    keyed.CREDENTIAL_ENCRYPTION_KEYS = secretbox.parse_keys(KEY_B)  # the old key is gone now
    assert services.client_secret(IdentityProvider.objects.unscoped().get(pk=oidc.pk)) == idp.client_secret


def test_a_secret_no_key_opens_stops_the_rotation_naming_the_provider(keyed, oidc, idp):
    keyed.CREDENTIAL_ENCRYPTION_KEYS = secretbox.parse_keys(KEY_B)
    with pytest.raises(CommandError, match=f"single sign-on provider {oidc.pk}") as info:
        call_command("rotate_credential_key")
    assert idp.client_secret not in str(info.value)
