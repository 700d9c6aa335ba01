# ruff: noqa: E501  (SAML documents are written out as the IdP sends them)
"""A SAML 2.0 round trip: SP-initiated sign-in, a Response signed with a test IdP certificate, the ACS."""

from __future__ import annotations

import base64
import datetime as dt
import zlib
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from onelogin.saml2.constants import OneLogin_Saml2_Constants
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from sso import services
from sso.models import GroupRoleMapping
from sso.tests.conftest import idp_url, verify_domain
from tenants.models import Membership, User

pytestmark = pytest.mark.django_db

IDP_ENTITY = "https://idp.test.example/saml"
IDP_SSO = "https://idp.test.example/saml/sso"
ACS = "http://testserver/accounts/saml/acme/acs/"
SP_ENTITY = "http://testserver/accounts/saml/acme/metadata/"


@pytest.fixture(scope="module")
def idp_keys():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test idp")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    return key_pem, cert_pem


def metadata(cert_pem: str) -> str:
    body = "".join(line for line in cert_pem.splitlines() if "CERTIFICATE" not in line)
    return f"""<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{IDP_ENTITY}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{body}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{IDP_SSO}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"""


@pytest.fixture
def saml(acme, alice, idp_keys):
    verify_domain(acme, "acme.example")
    actor = Membership.objects.for_tenant(acme).get(user=alice)
    return services.provider_save(
        actor=actor,
        data=services.ProviderInput(kind="saml", name="Acme SAML", metadata_xml=metadata(idp_keys[1]), enabled=True),
    )


def _instant(delta_minutes: int = 0) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=delta_minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def signed_response(idp_keys, request_id: str, email: str, groups=("staff",)) -> str:
    key_pem, cert_pem = idp_keys
    attributes = "".join(f"<saml:AttributeValue>{g}</saml:AttributeValue>" for g in groups)
    assertion = f"""<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a{request_id[1:]}" Version="2.0" IssueInstant="{_instant()}">
<saml:Issuer>{IDP_ENTITY}</saml:Issuer>
<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">{email}</saml:NameID>
<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="{_instant(5)}" Recipient="{ACS}" InResponseTo="{request_id}"/></saml:SubjectConfirmation></saml:Subject>
<saml:Conditions NotBefore="{_instant(-1)}" NotOnOrAfter="{_instant(5)}"><saml:AudienceRestriction><saml:Audience>{SP_ENTITY}</saml:Audience></saml:AudienceRestriction></saml:Conditions>
<saml:AuthnStatement AuthnInstant="{_instant()}" SessionIndex="_s1"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:Password</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>
<saml:AttributeStatement><saml:Attribute Name="email"><saml:AttributeValue>{email}</saml:AttributeValue></saml:Attribute><saml:Attribute Name="groups">{attributes}</saml:Attribute></saml:AttributeStatement>
</saml:Assertion>"""
    signed = OneLogin_Saml2_Utils.add_sign(
        assertion,
        key_pem,
        cert_pem,
        sign_algorithm=OneLogin_Saml2_Constants.RSA_SHA256,
        digest_algorithm=OneLogin_Saml2_Constants.SHA256,
    )
    signed_text = signed.decode() if isinstance(signed, bytes) else signed
    signed_text = signed_text.replace('<?xml version="1.0"?>', "").strip()
    return f"""<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r{request_id[1:]}" Version="2.0" IssueInstant="{_instant()}" Destination="{ACS}" InResponseTo="{request_id}">
<saml:Issuer>{IDP_ENTITY}</saml:Issuer>
<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>
{signed_text}
</samlp:Response>"""


def start(client, email="dora@acme.example") -> str:
    response = client.post("/sso/start/", {"email": email})
    url = idp_url(response)
    assert url.startswith(IDP_SSO + "?")
    saml_request = parse_qs(urlsplit(url).query)["SAMLRequest"][0]
    xml = zlib.decompress(base64.b64decode(saml_request), -15)
    request = etree.fromstring(xml)
    assert request.get("AssertionConsumerServiceURL") == ACS
    return request.get("ID")


def post_to_acs(client, response_xml: str):
    response = client.post(
        "/accounts/saml/acme/acs/",
        {"SAMLResponse": base64.b64encode(response_xml.encode()).decode()},
        HTTP_HOST="testserver",  # a browser always sends it; python3-saml reads it
    )
    assert response.status_code == 302
    return client.get(response["Location"], HTTP_HOST="testserver")


def test_a_signed_assertion_signs_in_and_joins_with_the_mapped_role(client, saml, idp_keys):
    GroupRoleMapping.objects.create(tenant=saml.tenant, provider=saml, group="staff", role="developer")
    request_id = start(client)
    response = post_to_acs(client, signed_response(idp_keys, request_id, "dora@acme.example"))
    assert response.status_code == 302, response.content.decode()
    dora = User.objects.get(email="dora@acme.example")
    assert client.session["_auth_user_id"] == str(dora.pk)
    assert Membership.objects.for_tenant(saml.tenant).get(user=dora).role == "developer"


def test_a_tampered_assertion_is_refused(client, saml, idp_keys):
    request_id = start(client)
    xml = signed_response(idp_keys, request_id, "dora@acme.example").replace("dora@acme.example", "eve@acme.example")
    response = post_to_acs(client, xml)
    assert response.status_code == 401
    assert "Single sign-on failed" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert not User.objects.filter(email__in=["dora@acme.example", "eve@acme.example"]).exists()


def test_an_assertion_signed_by_another_key_is_refused(client, saml, idp_keys):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    request_id = start(client)
    response = post_to_acs(client, signed_response((other_pem, idp_keys[1]), request_id, "dora@acme.example"))
    assert response.status_code == 401
    assert not User.objects.filter(email="dora@acme.example").exists()


def test_metadata_without_a_certificate_is_refused(alice_membership):
    from core.errors import InvalidInput

    xml = metadata("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----").replace(
        '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate></ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>',
        "",
    )
    with pytest.raises(InvalidInput, match="signing certificate"):
        services.provider_save(
            actor=alice_membership, data=services.ProviderInput(kind="saml", name="x", metadata_xml=xml)
        )
    with pytest.raises(InvalidInput, match="not readable"):
        services.provider_save(
            actor=alice_membership, data=services.ProviderInput(kind="saml", name="x", metadata_xml="<nope")
        )
