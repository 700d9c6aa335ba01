"""Reading a SAML IdP's metadata (pasted or fetched) offline, with the reason for each refusal."""

from __future__ import annotations

from dataclasses import dataclass

from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser

from core.errors import InvalidInput


@dataclass(frozen=True)
class IdpMetadata:
    xml: str
    entity_id: str
    sso_url: str
    x509cert: str


def parse(xml: str) -> IdpMetadata:
    """The IdP's entity id, HTTP-Redirect sign-in URL and signing certificate from its metadata."""
    try:
        # python3-saml parses with DTDs and external entities forbidden.
        parsed = OneLogin_Saml2_IdPMetadataParser.parse(xml)
    except Exception as error:  # noqa: BLE001  (lxml and python3-saml raise many kinds; all mean unreadable)
        raise InvalidInput(f"The metadata is not readable SAML metadata ({error}).", field="metadata_xml") from None
    idp = parsed.get("idp") or {}
    entity_id = idp.get("entityId") or ""
    sso_url = (idp.get("singleSignOnService") or {}).get("url") or ""
    cert = idp.get("x509cert") or ""
    if not cert:
        certs = (idp.get("x509certMulti") or {}).get("signing") or []
        cert = certs[0] if certs else ""
    missing = [
        what
        for what, value in (
            ("an entityID", entity_id),
            ("a SingleSignOnService", sso_url),
            ("a signing certificate", cert),
        )
        if not value
    ]
    if missing:
        raise InvalidInput(f"The metadata lacks {', '.join(missing)}.", field="metadata_xml")
    if not sso_url.startswith(("https://", "http://")):
        raise InvalidInput("The SingleSignOnService location must be an http(s) URL.", field="metadata_xml")
    return IdpMetadata(xml=xml, entity_id=entity_id, sso_url=sso_url, x509cert=cert)
