"""REST throttles key on the client address from ``core.net.client_ip`` (TRUSTED_PROXY_COUNT)."""

from __future__ import annotations

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import AnonRateThrottle

from core.net import client_ip


class ClientAddressAnonThrottle(AnonRateThrottle):
    """Anonymous rate limit per client address, never per a forged ``X-Forwarded-For``.

    DRF's own ``NUM_PROXIES`` is set from the same setting for any other throttle.
    """

    def get_ident(self, request: Request) -> str:
        return client_ip(request.META, settings.TRUSTED_PROXY_COUNT)
