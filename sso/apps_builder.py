"""allauth ``SocialApp`` objects built from an organisation's ``IdentityProvider``, never saved.

allauth reads its apps through the adapter's ``list_apps``/``get_app``; handing it unsaved
objects keeps the client secret sealed in sso's table (decrypted only for the request that
needs it) and makes the organisation's own rules part of every app: the IdP's e-mail is trusted,
and may sign into an existing account, only for the organisation's verified domains.
"""

from __future__ import annotations

from allauth.socialaccount.models import SocialApp

from sso import selectors, services
from sso.models import IdentityProvider, ProviderKind

#: Where SAML IdPs usually put the address, the names and the stable id (first match wins).
SAML_ATTRIBUTES = {
    "uid": ["urn:oasis:names:tc:SAML:attribute:subject-id", "uid"],
    "email": [
        "urn:oid:0.9.2342.19200300.100.1.3",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
        "email",
        "mail",
    ],
    "first_name": ["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname", "urn:oid:2.5.4.42", "givenName"],
    "last_name": ["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname", "urn:oid:2.5.4.4", "sn"],
    "name": ["http://schemas.microsoft.com/identity/claims/displayname", "displayName", "name"],
}


def social_app(provider: IdentityProvider) -> SocialApp:
    domains = selectors.verified_domains(provider.tenant)
    common = {
        # allauth: addresses at these domains count as verified, and may sign into the existing
        # account with that address. Anything else is refused earlier (sso.services.sign_in_check).
        "verified_email": domains,
        "email_authentication": True,
    }
    if provider.kind == ProviderKind.OIDC:
        return SocialApp(
            provider="openid_connect",
            provider_id=provider.key,
            name=provider.name,
            client_id=provider.client_id,
            secret=services.client_secret(provider),
            settings={
                **common,
                "server_url": provider.server_url,
                "scope": provider.scopes.split(),
                "oauth_pkce_enabled": True,
            },
        )
    return SocialApp(
        provider="saml",
        provider_id=provider.key,
        name=provider.name,
        client_id=provider.key,
        settings={
            **common,
            "idp": {
                "entity_id": provider.idp_entity_id,
                "sso_url": provider.idp_sso_url,
                "x509cert": provider.idp_x509cert,
            },
            "attribute_mapping": SAML_ATTRIBUTES,
            "advanced": {
                "strict": True,
                "want_assertion_signed": True,
                "reject_idp_initiated_sso": True,
                # URL validation of our own ACS/SLS URLs: "localhost" (development) is one label.
                "allow_single_label_domains": True,
            },
        },
    )
