"""The client's IP address, behind a known number of trusted reverse proxies.

One rule for everything that keys on the client (REST throttles via DRF's ``NUM_PROXIES``,
sign-in rate limits via the allauth adapter), driven by the ``TRUSTED_PROXY_COUNT`` setting:

- 0 (the default): ``REMOTE_ADDR``; ``X-Forwarded-For`` is ignored, since anyone can send it.
- N > 0: each trusted proxy appends the address it saw to ``X-Forwarded-For``, so the client is
  the N-th entry from the right; entries further left were written by the client and are not
  trusted. A shorter header (a request that bypassed a proxy) falls back to its first entry,
  exactly as DRF does, never to the proxy's own address (which would throttle the whole site).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any


def client_ip(meta: Mapping[str, Any], trusted_proxies: int) -> str:
    """The client address for a request's ``META``; the same answer as DRF's ``get_ident``."""
    remote = str(meta.get("REMOTE_ADDR", "") or "")
    forwarded = str(meta.get("HTTP_X_FORWARDED_FOR", "") or "")
    if trusted_proxies <= 0 or not forwarded:
        return remote
    entries = [entry.strip() for entry in forwarded.split(",")]
    candidate = entries[-min(trusted_proxies, len(entries))]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        # Garbage where a proxy should have written an address: do not key on attacker text.
        return remote
