"""Node tokens: the machine credential for everything a gateway asks (``Authorization: Bearer gwn_…``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from core.crypto import secret_matches, split_prefixed_token
from gateways.models import GatewayNode

#: ``last_seen_at`` is written at most this often per node (reads must not become writes).
LAST_SEEN_RESOLUTION = timedelta(seconds=10)


def node_authenticate(raw: str) -> GatewayNode | None:
    """The active node a presented token belongs to, or None. One indexed lookup, constant-time compare."""
    parts = split_prefixed_token(raw, GatewayNode.PREFIX)
    if parts is None:
        return None
    key_id, secret = parts
    node = GatewayNode.objects.filter(key_id=key_id).first()
    if node is None or node.revoked_at is not None or not secret_matches(secret, node.token_hash):
        return None
    now = timezone.now()
    if node.last_seen_at is None or now - node.last_seen_at > LAST_SEEN_RESOLUTION:
        GatewayNode.objects.filter(pk=node.pk).update(last_seen_at=now)
        node.last_seen_at = now
    return node


class NodeTokenAuthentication(authentication.BaseAuthentication):
    """DRF authentication for the gateway protocol: ``request.auth`` is the GatewayNode, no user."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != self.keyword.lower() or not raw.strip().startswith(f"{GatewayNode.PREFIX}_"):
            return None
        node = node_authenticate(raw.strip())
        if node is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked gateway node token.")
        return None, node

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="gateway"'


class NodeTokenScheme(OpenApiAuthenticationExtension):
    target_class = "gateways.auth.NodeTokenAuthentication"
    name = "nodeToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "A gateway node token: `gwn_<key id>_<secret>`."}
