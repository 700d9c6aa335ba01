"""Provider secrets in the on-disk copy of the snapshot: sealed, never in clear.

The portal sends the AI providers' credential secrets in the authenticated config answer
(docs/ai-gateway.md, "Snapshot"); the node keeps them in memory and writes the snapshot to
``<state-dir>/config.json`` so it can start while the portal is away. Before that write, each
``secret`` is replaced by ``secret_sealed``: AES-256-GCM with a random 96-bit nonce, the key
derived with HKDF-SHA256 from the node's own token (which the node has anyway, and which
never sits next to the file in the state directory), the provider and credential ids as
associated data (a sealed secret cannot be moved to another credential).

Reading the copy back with another token (the node got a new one) cannot open the seals:
the snapshot is then used without AI credentials (AI calls answer 502 until the next poll
brings them), and the node says so.
"""

from __future__ import annotations

import base64
import copy
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "v1."
_SALT = b"gateway-node snapshot seal"
_INFO = b"ai provider credentials v1"


class SealError(Exception):
    """A sealed secret cannot be opened (another token, or a damaged file)."""


def derive_key(token: str) -> bytes:
    """The 256-bit sealing key of a node token."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=_INFO).derive(token.encode())


def _aad(provider_id: str, credential: dict[str, Any]) -> bytes:
    return f"{provider_id}:{credential.get('id')}".encode()


def _credentials(snapshot: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    ai = snapshot.get("ai")
    providers = ai.get("providers") if isinstance(ai, dict) else None
    if not isinstance(providers, dict):
        return []
    found = []
    for provider_id, provider in providers.items():
        creds = provider.get("credentials") if isinstance(provider, dict) else None
        if isinstance(creds, list):
            found += [(str(provider_id), cred) for cred in creds if isinstance(cred, dict)]
    return found


def has_secrets(snapshot: dict[str, Any]) -> bool:
    return any("secret" in cred for _, cred in _credentials(snapshot))


def seal(snapshot: dict[str, Any], token: str) -> dict[str, Any]:
    """A copy of ``snapshot`` whose credential secrets are sealed (the input is not changed)."""
    if not has_secrets(snapshot):
        return snapshot
    sealed = copy.deepcopy(snapshot)
    aead = AESGCM(derive_key(token))
    for provider_id, cred in _credentials(sealed):
        secret = cred.pop("secret", None)
        if secret is None:
            continue
        nonce = os.urandom(12)
        box = aead.encrypt(nonce, str(secret).encode(), _aad(provider_id, cred))
        cred["secret_sealed"] = PREFIX + base64.urlsafe_b64encode(nonce + box).decode("ascii")
    return sealed


def unseal(snapshot: dict[str, Any], token: str) -> tuple[dict[str, Any], int]:
    """``snapshot`` with its sealed secrets opened, in place.

    Returns (snapshot, how many seals could not be opened). Credentials whose seal does not
    open are removed (a provider then has fewer credentials, or none)."""
    pairs = [(pid, cred) for pid, cred in _credentials(snapshot) if "secret_sealed" in cred]
    if not pairs:
        return snapshot, 0
    aead = AESGCM(derive_key(token))
    failed = 0
    broken: set[int] = set()
    for provider_id, cred in pairs:
        try:
            cred["secret"] = open_one(aead, provider_id, cred)
            del cred["secret_sealed"]
        except SealError:
            failed += 1
            broken.add(id(cred))
    if broken:
        for provider in snapshot["ai"]["providers"].values():
            if isinstance(provider, dict) and isinstance(provider.get("credentials"), list):
                provider["credentials"] = [c for c in provider["credentials"] if id(c) not in broken]
    return snapshot, failed


def open_one(aead: AESGCM, provider_id: str, cred: dict[str, Any]) -> str:
    value = cred.get("secret_sealed")
    if not isinstance(value, str) or not value.startswith(PREFIX):
        raise SealError("not a sealed secret")
    try:
        raw = base64.urlsafe_b64decode(value[len(PREFIX) :].encode("ascii"))
        return aead.decrypt(raw[:12], raw[12:], _aad(provider_id, cred)).decode()
    except (InvalidTag, ValueError, UnicodeError) as exc:
        raise SealError("the seal does not open with this node's token") from exc
