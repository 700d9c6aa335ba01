"""Re-encrypt every stored secret (AI provider credentials, single sign-on client secrets) with
the first CREDENTIAL_ENCRYPTION_KEYS key. In the shell: it spans two apps."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from core import secretbox
from llm.services.providers import credentials_rotate
from sso.services import secrets_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every model-provider credential and single sign-on client secret with the first key of "
        "CREDENTIAL_ENCRYPTION_KEYS (idempotent). Run it after putting a new key first; remove the old key only "
        "afterwards."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            rotated, current = credentials_rotate()
            sso_rotated, sso_current = secrets_rotate()
        except secretbox.EncryptionUnavailable as error:
            raise CommandError(error.message) from None
        except secretbox.SecretBoxError as error:
            raise CommandError(
                f"Stopped: {error} Put the key that sealed it back in CREDENTIAL_ENCRYPTION_KEYS."
            ) from None
        self.stdout.write(f"{rotated} credential(s) re-encrypted, {current} already under the current key.")
        self.stdout.write(
            f"{sso_rotated} single sign-on client secret(s) re-encrypted, {sso_current} already under the current key."
        )
