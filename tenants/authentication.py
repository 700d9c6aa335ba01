"""DRF authentication with personal access tokens: ``Authorization: Bearer pat_…``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request

from tenants.models import TokenScope
from tenants.services import token_authenticate


class PersonalAccessTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        if not raw.strip():
            raise exceptions.AuthenticationFailed("Empty bearer token.")
        result = token_authenticate(raw.strip())
        if result is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked token.")
        token, membership = result
        if token.scope != TokenScope.WRITE and request.method not in SAFE_METHODS:
            # The one place scopes are enforced: every unsafe method of every endpoint.
            raise exceptions.PermissionDenied(
                f"The token “{token.name}” is read-only; {request.method} needs a read-write token.",
                code="token_read_only",
            )
        # The view layer reads the token's tenant from request.auth (see TenantScopedAPIMixin).
        token.membership = membership
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class PersonalAccessTokenScheme(OpenApiAuthenticationExtension):
    target_class = PersonalAccessTokenAuthentication
    name = "personalAccessToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal access token (`pat_…`) created in the portal; bound to one organisation. "
            "A `read` token may only use GET, HEAD and OPTIONS (anything else: 403 `token_read_only`).",
        }
