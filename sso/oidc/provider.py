"""The OpenID Connect provider class the portal registers instead of allauth's own.

``SOCIALACCOUNT_PROVIDERS["openid_connect"]["provider_class"]`` points here. It is allauth's
provider with one change: the ID token's signature is checked against the IdP's JWKS even when
the token came straight from the token endpoint (allauth skips that check then, as OpenID
Connect Core 3.1.3.7 allows over TLS). Checking costs one cached JWKS fetch and refuses a token
that a misconfigured or plain-HTTP IdP could not have signed. ``package`` points allauth's URL
builder at ``sso.oidc.urls``, whose views use the checking adapter.
"""

from __future__ import annotations

from typing import Any

from allauth.socialaccount.internal import jwtkit
from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter


class SignatureCheckingOIDCAdapter(OpenIDConnectOAuth2Adapter):
    """allauth's OIDC adapter, verifying the ID token's signature, issuer, audience and expiry."""

    def _decode_id_token(self, app: Any, id_token: str) -> dict:
        return jwtkit.verify_and_decode(
            credential=id_token,
            keys_url=self.openid_config["jwks_uri"],
            issuer=self.openid_config["issuer"],
            audience=app.client_id,
            lookup_kid=jwtkit.lookup_kid_jwk,
            verify_signature=True,
        )


class PortalOIDCProvider(OpenIDConnectProvider):
    package = "sso.oidc"
    oauth2_adapter_class = SignatureCheckingOIDCAdapter


provider_classes = [PortalOIDCProvider]
