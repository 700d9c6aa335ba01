"""Random secrets and their fast, constant-time-compared hashes.

Tokens and API keys carry >= 128 random bits, so a single SHA-256 is enough at rest: a
password hasher would add ~100 ms to every request and buy nothing against a secret
nobody can guess (see docs/decisions.md).
"""

import hashlib
import hmac
import secrets
import string

BASE62 = string.ascii_letters + string.digits


def random_base62(length: int) -> str:
    return "".join(secrets.choice(BASE62) for _ in range(length))


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def make_prefixed_token(prefix: str, *, id_length: int = 12, secret_length: int = 32) -> tuple[str, str, str]:
    """Return ``(plaintext, key_id, secret)`` for a ``<prefix>_<key id>_<secret>`` token.

    32 base62 characters are ~190 random bits.
    """
    key_id = random_base62(id_length)
    secret = random_base62(secret_length)
    return f"{prefix}_{key_id}_{secret}", key_id, secret


def split_prefixed_token(token: str, prefix: str) -> tuple[str, str] | None:
    """Parse ``<prefix>_<key id>_<secret>``; None when it is not of that shape."""
    parts = token.strip().split("_")
    if len(parts) != 3 or parts[0] != prefix or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]
