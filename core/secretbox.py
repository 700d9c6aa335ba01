"""Secrets the platform must give back in plaintext (model-provider API keys), encrypted at rest.

Tokens and API keys the platform *checks* are hashed (``core.crypto``); a provider's key is
different: the gateway node has to send it, so the portal must be able to decrypt it. It is
sealed with AES-256-GCM under a key from ``CREDENTIAL_ENCRYPTION_KEYS`` (comma-separated,
base64url, 32 bytes each). The first key encrypts; every listed key decrypts, so an operator
rotates by putting a new key first, running ``manage.py rotate_credential_key`` and then
dropping the old key.

A ciphertext is ``v1.<key id>.<base64url(nonce || ciphertext+tag)>``: the key id (the first
8 hex digits of SHA-256 of the key) says which key opens it without trying them all. The
``context`` (e.g. ``llm.credential``) is bound as associated data, so a ciphertext copied into
another kind of field does not open there.

Without the variable, development and tests (DEBUG or PORTAL_TESTING) use a key derived from
SECRET_KEY; production refuses to encrypt (:class:`EncryptionUnavailable`, a clear 503 rather
than a 500) and everything that does not need a secret keeps working.

This module imports no app; it reads the settings lazily.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.errors import ServiceError

if TYPE_CHECKING:
    from django.db.models import QuerySet

VERSION = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12


class EncryptionUnavailable(ServiceError):
    """No encryption key is configured (production without CREDENTIAL_ENCRYPTION_KEYS)."""

    status_code = 503
    default_code = "encryption_not_configured"


class SecretBoxError(ValueError):
    """A ciphertext cannot be opened: malformed, unknown key id, wrong key, or tampered with."""


@dataclass(frozen=True)
class Keyring:
    """The keys in order: ``keys[0]`` encrypts, all decrypt (by key id)."""

    keys: tuple[bytes, ...]

    @property
    def primary_id(self) -> str:
        return key_id(self.keys[0])

    def by_id(self, kid: str) -> bytes | None:
        for key in self.keys:
            if key_id(key) == kid:
                return key
        return None


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def parse_keys(value: str) -> tuple[bytes, ...]:
    """``CREDENTIAL_ENCRYPTION_KEYS`` → keys; ValueError naming the bad entry (by position, never its value)."""
    keys: list[bytes] = []
    for position, item in enumerate((part.strip() for part in value.split(",")), start=1):
        if not item:
            continue
        try:
            raw = _unb64(item)
        except (binascii.Error, ValueError):
            raise ValueError(f"key {position} is not base64url.") from None
        if len(raw) != KEY_BYTES:
            raise ValueError(f"key {position} must decode to {KEY_BYTES} bytes, not {len(raw)}.")
        keys.append(raw)
    return tuple(keys)


def generate_key() -> str:
    """A new key in the form CREDENTIAL_ENCRYPTION_KEYS expects."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode().rstrip("=")


def _derived_key(secret_key: str) -> bytes:
    # Development and tests only: stable across restarts, distinct from every other use of SECRET_KEY.
    return hashlib.sha256(b"core.secretbox/dev-key\x00" + secret_key.encode()).digest()


@lru_cache(maxsize=4)
def _keyring_for(configured: tuple[bytes, ...], derived_from: str | None) -> Keyring | None:
    if configured:
        return Keyring(configured)
    if derived_from is not None:
        return Keyring((_derived_key(derived_from),))
    return None


def keyring() -> Keyring | None:
    """The keyring from the settings; None in production without keys."""
    from django.conf import settings

    configured = tuple(getattr(settings, "CREDENTIAL_ENCRYPTION_KEYS", ()) or ())
    dev = bool(getattr(settings, "DEBUG", False) or getattr(settings, "TESTING", False))
    return _keyring_for(configured, settings.SECRET_KEY if dev else None)


def _require_keyring() -> Keyring:
    ring = keyring()
    if ring is None:
        raise EncryptionUnavailable(
            "Credentials cannot be stored: the operator has not configured CREDENTIAL_ENCRYPTION_KEYS "
            "(see .env.example)."
        )
    return ring


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    # validate=True: the lenient default would silently skip characters that are not base64.
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def encrypt(plaintext: str, *, context: str = "") -> str:
    """Seal ``plaintext`` under the primary key (EncryptionUnavailable when there is none)."""
    ring = _require_keyring()
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(ring.keys[0]).encrypt(nonce, plaintext.encode(), context.encode())
    return f"{VERSION}.{ring.primary_id}.{_b64(nonce + sealed)}"


def _split(ciphertext: str) -> tuple[str, bytes]:
    parts = (ciphertext or "").split(".")
    if len(parts) != 3 or parts[0] != VERSION:
        raise SecretBoxError("not a secretbox ciphertext.")
    try:
        blob = _unb64(parts[2])
    except (binascii.Error, ValueError):
        raise SecretBoxError("the ciphertext is not base64url.") from None
    if len(blob) < NONCE_BYTES + 16:
        raise SecretBoxError("the ciphertext is truncated.")
    return parts[1], blob


def key_id_of(ciphertext: str) -> str:
    """Which key sealed ``ciphertext`` (SecretBoxError if it is not one)."""
    return _split(ciphertext)[0]


def decrypt(ciphertext: str, *, context: str = "") -> str:
    """Open a ciphertext of :func:`encrypt` (SecretBoxError when that is impossible)."""
    kid, blob = _split(ciphertext)
    ring = keyring()
    key = ring.by_id(kid) if ring is not None else None
    if key is None:
        raise SecretBoxError(f"the key {kid} that sealed this secret is not configured.")
    try:
        plain = AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], context.encode())
    except InvalidTag:
        raise SecretBoxError("the ciphertext does not open: tampered with, or another context.") from None
    return plain.decode()


def needs_rotation(ciphertext: str) -> bool:
    """True when ``ciphertext`` is not sealed by the current primary key."""
    ring = _require_keyring()
    try:
        return key_id_of(ciphertext) != ring.primary_id
    except SecretBoxError:
        return True


def reencrypt(ciphertext: str, *, context: str = "") -> str:
    """The same secret sealed by the primary key (unchanged if it already is)."""
    if not needs_rotation(ciphertext):
        return ciphertext
    return encrypt(decrypt(ciphertext, context=context), context=context)


def reseal_rows(rows: QuerySet[Any], field: str, *, context: str, what: str, batch_size: int = 200) -> tuple[int, int]:
    """Re-seal ``field`` of every row of ``rows`` with the primary key: ``(re-encrypted, already current)``.

    For ``manage.py rotate_credential_key``. Idempotent; each batch runs in its own transaction
    with row locks, so a concurrent edit is never overwritten. A value no configured key opens
    raises ``SecretBoxError`` naming the row as ``<what> <pk>`` (never its value). Empty values
    are skipped.
    """
    from django.db import transaction

    rotated = current = 0
    last_pk = 0
    while True:
        with transaction.atomic():
            batch = list(
                rows.select_for_update().filter(pk__gt=last_pk).exclude(**{field: ""}).order_by("pk")[:batch_size]
            )
            if not batch:
                return rotated, current
            for row in batch:
                last_pk = row.pk
                sealed = getattr(row, field)
                if not needs_rotation(sealed):
                    current += 1
                    continue
                try:
                    setattr(row, field, reencrypt(sealed, context=context))
                except SecretBoxError as error:
                    raise SecretBoxError(f"{what} {row.pk}: {error}") from None
                row.save(update_fields=[field])
                rotated += 1


def mask(secret: str) -> str:
    """A form that identifies a key to people without revealing it: ``sk-…a1b2``.

    Shows a short non-secret prefix (up to the first ``-`` or ``_`` within 8 characters, else
    3 characters) and the last 4; a short secret shows only its last 2 characters.
    """
    secret = (secret or "").strip()
    if len(secret) < 12:
        return "…" + secret[-2:] if len(secret) >= 6 else "…"
    head = secret[:3]
    for sep in ("-", "_"):
        cut = secret.find(sep, 0, 8)
        if cut > 0:
            head = secret[: cut + 1]
            break
    return f"{head}…{secret[-4:]}"


__all__ = [
    "EncryptionUnavailable",
    "Keyring",
    "SecretBoxError",
    "decrypt",
    "encrypt",
    "generate_key",
    "key_id",
    "key_id_of",
    "keyring",
    "mask",
    "needs_rotation",
    "parse_keys",
    "reencrypt",
]
