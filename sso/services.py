"""Writes of single sign-on: the provider, verified domains, group mappings, and what a sign-in does.

Configuration services take the acting ``Membership`` and check ``sso.manage`` (owners only);
the sign-in side (``sign_in_check`` / ``sign_in_completed``) is called by allauth's adapter and
signal for the IdP's own answer, with no actor.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from core import outbound, outbox, secretbox
from core.errors import Conflict, InvalidInput, NotFound
from sso import dns as sso_dns
from sso import saml_metadata
from sso.models import (
    GroupRoleMapping,
    IdentityProvider,
    ProviderKind,
    VerificationMethod,
    VerifiedDomain,
    validate_domain,
)
from tenants.models import Membership, Tenant, User
from tenants.permissions import require, require_not_suspended
from tenants.roles import RANK, Perm, Role

SECRET_CONTEXT = "sso.client_secret"
#: The signed link of a verification e-mail is good for this long.
EMAIL_LINK_MAX_AGE = timedelta(days=3)
EMAIL_LINK_SALT = "sso.domain-verification"
#: Mailboxes a verification e-mail may go to: the RFC 2142 role addresses, or a member's own.
ROLE_MAILBOXES = ("admin", "administrator", "hostmaster", "postmaster", "webmaster")
DISCOVERY_PATH = "/.well-known/openid-configuration"
DISCOVERY_MAX_BYTES = 64 * 1024
METADATA_MAX_BYTES = 200_000
OUTBOUND_TIMEOUT = 8.0
#: Addresses at these domains belong to the mail provider's customers, not to one organisation.
PUBLIC_MAIL_DOMAINS = frozenset(
    {"gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "yahoo.com", "icloud.com", "proton.me"}
)


def _manage(actor: Membership) -> None:
    require_not_suspended(actor.tenant)
    require(actor, Perm.SSO_MANAGE)


# --- The identity provider -----------------------------------------------------------------


@dataclass(frozen=True)
class ProviderInput:
    """What the owner's form or the REST body says about the provider (blank secret = keep)."""

    kind: str
    name: str
    server_url: str = ""
    client_id: str = ""
    client_secret: str = ""
    scopes: str = "openid profile email"
    metadata_url: str = ""
    metadata_xml: str = ""
    default_role: str = Role.VIEWER
    group_claim: str = "groups"
    enabled: bool = False
    sso_required: bool = False


def _check_url(url: str, field: str) -> str:
    url = (url or "").strip()
    try:
        outbound.check_url(url)
    except outbound.OutboundRefused as error:
        raise InvalidInput(f"This URL cannot be used: {error.reason}.", field=field) from None
    return url


def _issuer(url: str) -> str:
    url = url.strip().rstrip("/")
    if url.endswith(DISCOVERY_PATH):
        url = url[: -len(DISCOVERY_PATH)]
    return url


def provider_save(*, actor: Membership, data: ProviderInput) -> IdentityProvider:
    """Create or change the organisation's identity provider (one per organisation)."""
    _manage(actor)
    if data.kind not in ProviderKind.values:
        raise InvalidInput("Choose OpenID Connect or SAML 2.0.", field="kind")
    if data.default_role not in Role.values:
        raise InvalidInput("Choose a role.", field="default_role")
    name = data.name.strip()
    if not name:
        raise InvalidInput("Give the provider a name (shown on the sign-in button).", field="name")
    metadata: saml_metadata.IdpMetadata | None = None
    if data.kind == ProviderKind.OIDC:
        server_url = _check_url(_issuer(data.server_url), "server_url")
        if not data.client_id.strip():
            raise InvalidInput("The client id is required.", field="client_id")
        if "openid" not in data.scopes.split():
            raise InvalidInput("The scopes must include openid.", field="scopes")
    else:
        xml = data.metadata_xml.strip()
        if data.metadata_url.strip() and not xml:
            xml = fetch_saml_metadata(data.metadata_url)
        if not xml:
            raise InvalidInput("Paste the IdP's metadata XML or give its metadata URL.", field="metadata_xml")
        metadata = saml_metadata.parse(xml)
    with transaction.atomic():
        tenant = Tenant.objects.select_for_update().get(pk=actor.tenant.pk)
        provider = IdentityProvider.objects.for_tenant(tenant).first()
        if provider is None:
            provider = IdentityProvider(tenant=tenant, key=_new_key(tenant))
        provider.kind = data.kind
        provider.name = name
        provider.default_role = data.default_role
        provider.group_claim = data.group_claim.strip()
        provider.sso_required = data.sso_required
        if data.kind == ProviderKind.OIDC:
            provider.server_url = server_url
            provider.client_id = data.client_id.strip()
            provider.scopes = " ".join(data.scopes.split())
            if data.client_secret.strip():
                secret = data.client_secret.strip()
                provider.client_secret_encrypted = secretbox.encrypt(secret, context=SECRET_CONTEXT)
                provider.client_secret_hint = secretbox.mask(secret)
            if not provider.client_secret_encrypted:
                raise InvalidInput("The client secret is required.", field="client_secret")
        else:
            assert metadata is not None
            provider.metadata_url = data.metadata_url.strip()
            provider.metadata_xml = metadata.xml
            provider.idp_entity_id = metadata.entity_id
            provider.idp_sso_url = metadata.sso_url
            provider.idp_x509cert = metadata.x509cert
        if data.enabled and not provider.is_configured:
            raise InvalidInput("Complete the provider's settings before enabling it.", field="enabled")
        if data.sso_required and not data.enabled:
            raise InvalidInput("Enable the provider before requiring single sign-on.", field="sso_required")
        provider.enabled = data.enabled
        provider.updated_at = timezone.now()
        provider.save()
    return provider


def _new_key(tenant: Tenant) -> str:
    # The slug is permanent and unique; a provider deleted and made again keeps its URLs.
    return tenant.slug


def provider_get(tenant: Tenant) -> IdentityProvider:
    provider = IdentityProvider.objects.for_tenant(tenant).first()
    if provider is None:
        raise NotFound("This organisation has no identity provider.")
    return provider


def provider_delete(*, actor: Membership) -> None:
    _manage(actor)
    provider_get(actor.tenant).delete()


def secrets_rotate() -> tuple[int, int]:
    """Re-seal every stored client secret with the primary key: ``(re-encrypted, already current)``
    (for ``manage.py rotate_credential_key``, with the AI credentials; see ``secretbox.reseal_rows``)."""
    return secretbox.reseal_rows(
        IdentityProvider.objects.unscoped(),  # the operator's command crosses every tenant
        "client_secret_encrypted",
        context=SECRET_CONTEXT,
        what="single sign-on provider",
    )


def client_secret(provider: IdentityProvider) -> str:
    """The plaintext client secret, for allauth's token request only."""
    if not provider.client_secret_encrypted:
        return ""
    return secretbox.decrypt(provider.client_secret_encrypted, context=SECRET_CONTEXT)


def _fetch(url: str, *, field: str, accept: str, max_bytes: int) -> bytes:
    try:
        result = outbound.request(
            "GET", url, b"", {"Accept": accept}, timeout=OUTBOUND_TIMEOUT, max_response_bytes=max_bytes + 1
        )
    except outbound.OutboundRefused as error:
        raise InvalidInput(f"This URL cannot be used: {error.reason}.", field=field) from None
    except outbound.OutboundError as error:
        raise InvalidInput(f"Could not fetch {url}: {error}.", field=field) from None
    if result.status != 200:
        raise InvalidInput(f"{url} answered HTTP {result.status}, not 200.", field=field)
    if len(result.body) > max_bytes:
        raise InvalidInput(f"{url} answered more than {max_bytes // 1024} KB.", field=field)
    return result.body


def discover(issuer: str, *, field: str = "server_url") -> dict:
    """The issuer's OpenID configuration (the owner's *Discover* button), checked for what sign-in needs.

    ``field`` names the input the refusals are about: the page's ``server_url``, REST's ``issuer``.
    """
    import json

    issuer = _check_url(_issuer(issuer), field)
    body = _fetch(issuer + DISCOVERY_PATH, field=field, accept="application/json", max_bytes=DISCOVERY_MAX_BYTES)
    try:
        config = json.loads(body)
    except ValueError:
        raise InvalidInput("The discovery document is not JSON.", field=field) from None
    if not isinstance(config, dict):
        raise InvalidInput("The discovery document is not a JSON object.", field=field)
    missing = [key for key in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri") if not config.get(key)]
    if missing:
        raise InvalidInput(f"The discovery document lacks {', '.join(missing)}.", field=field)
    if str(config["issuer"]).rstrip("/") != issuer:
        raise InvalidInput(
            f"The document names the issuer {config['issuer']}, not {issuer}: use that issuer URL.", field=field
        )
    return config


def fetch_saml_metadata(url: str) -> str:
    url = _check_url(url, "metadata_url")
    body = _fetch(
        url, field="metadata_url", accept="application/samlmetadata+xml, application/xml", max_bytes=METADATA_MAX_BYTES
    )
    return body.decode("utf-8", errors="replace")


# --- Group → role mapping ------------------------------------------------------------------


def _provider_of(actor: Membership) -> IdentityProvider:
    provider = IdentityProvider.objects.for_tenant(actor.tenant).first()
    if provider is None:
        raise Conflict("Configure the identity provider first.", code="no_provider")
    return provider


def mapping_add(*, actor: Membership, group: str, role: str) -> GroupRoleMapping:
    _manage(actor)
    provider = _provider_of(actor)
    group = group.strip()
    if not group:
        raise InvalidInput("Name the group as the provider sends it.", field="group")
    if role not in Role.values:
        raise InvalidInput("Choose a role.", field="role")
    try:
        with transaction.atomic():
            return GroupRoleMapping.objects.create(tenant=actor.tenant, provider=provider, group=group, role=role)
    except IntegrityError:
        raise Conflict(f"The group {group} is already mapped; remove it first.", field="group") from None


def mapping_remove(*, actor: Membership, mapping: GroupRoleMapping) -> None:
    _manage(actor)
    mapping.delete()


def mapping_get(tenant: Tenant, pk: int) -> GroupRoleMapping:
    mapping = GroupRoleMapping.objects.for_tenant(tenant).filter(pk=pk).first()
    if mapping is None:
        raise NotFound("No such group mapping.")
    return mapping


# --- Verified domains ----------------------------------------------------------------------


def normalise_domain(raw: str) -> str:
    domain = (raw or "").strip().lower().rstrip(".")
    if "@" in domain:
        domain = domain.rsplit("@", 1)[1]
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidInput("Enter a domain name such as example.com.", field="domain") from None
    try:
        validate_domain(domain)
    except ValidationError:
        raise InvalidInput("Enter a domain name such as example.com (no @, no scheme).", field="domain") from None
    return domain


def domain_get(tenant: Tenant, pk: int) -> VerifiedDomain:
    domain = VerifiedDomain.objects.for_tenant(tenant).filter(pk=pk).first()
    if domain is None:
        raise NotFound("No such domain.")
    return domain


def domain_add(*, actor: Membership, domain: str) -> VerifiedDomain:
    """Claim a domain; it routes sign-in only once verified (DNS TXT record or e-mail)."""
    _manage(actor)
    name = normalise_domain(domain)
    if name in PUBLIC_MAIL_DOMAINS:
        raise InvalidInput(
            f"{name} is a public mail service; addresses there are not one organisation's.", field="domain"
        )
    if VerifiedDomain.objects.claiming(name).exclude(tenant=actor.tenant).exists():
        raise Conflict(f"{name} is already verified by another organisation.", field="domain")
    try:
        with transaction.atomic():
            return VerifiedDomain.objects.create(
                tenant=actor.tenant, domain=name, token=secrets.token_hex(16), created_by=actor.user
            )
    except IntegrityError:
        raise Conflict(f"{name} is already on the list.", field="domain") from None


def domain_remove(*, actor: Membership, domain: VerifiedDomain) -> None:
    _manage(actor)
    domain.delete()


def _mark_verified(domain: VerifiedDomain, method: str) -> VerifiedDomain:
    domain.verified_at = timezone.now()
    domain.last_checked_at = domain.verified_at
    domain.method = method
    domain.last_error = ""
    try:
        with transaction.atomic():
            domain.save(update_fields=["verified_at", "last_checked_at", "method", "last_error"])
    except IntegrityError:
        raise Conflict(f"{domain.domain} is already verified by another organisation.", field="domain") from None
    return domain


def domain_verify_dns(*, actor: Membership, domain: VerifiedDomain) -> VerifiedDomain:
    """Look the TXT record up now; verified when it carries the token, else the reason is kept."""
    _manage(actor)
    if domain.is_verified:
        return domain
    try:
        values = sso_dns.txt_values(domain.txt_name)
    except sso_dns.LookupFailed as error:
        values, problem = [], str(error)
    else:
        problem = "" if domain.txt_value in values else f"No TXT record {domain.txt_value} at {domain.txt_name} yet."
    if not problem:
        return _mark_verified(domain, VerificationMethod.DNS)
    domain.last_checked_at = timezone.now()
    domain.last_error = problem[:500]
    domain.save(update_fields=["last_checked_at", "last_error"])
    raise Conflict(
        f"{domain.domain} is not verified: {problem} DNS changes can take a while to show.", code="not_verified"
    )


def email_recipients(domain: VerifiedDomain) -> list[str]:
    """Where a verification e-mail may go: role mailboxes at the domain and members' addresses there."""
    members = Membership.objects.for_tenant(domain.tenant).filter(user__email__iendswith="@" + domain.domain)
    return [f"{box}@{domain.domain}" for box in ROLE_MAILBOXES] + sorted(m.user.email.lower() for m in members)


def domain_send_email(*, actor: Membership, domain: VerifiedDomain, address: str) -> str:
    """Mail a signed verification link to ``address`` (one of :func:`email_recipients`)."""
    _manage(actor)
    address = (address or "").strip().lower()
    if address not in email_recipients(domain):
        raise InvalidInput(
            f"Choose an address at {domain.domain}: a role mailbox (admin@, postmaster@ …) or a member's.",
            field="address",
        )
    token = signing.dumps({"d": domain.pk, "t": domain.token}, salt=EMAIL_LINK_SALT)
    context = {
        "domain": domain,
        "tenant": domain.tenant,
        "actor": actor.user,
        "link": f"{settings.SITE_URL}/sso/verify-domain/{token}/",
        "site_name": settings.SITE_NAME,
        "days": EMAIL_LINK_MAX_AGE.days,
    }
    outbox.enqueue_email(
        subject=f"[{settings.SITE_NAME}] Confirm that {domain.tenant.name} uses {domain.domain}",
        body=render_to_string("sso/emails/domain_verification.txt", context),
        to=address,
    )
    return address


def domain_confirm_email(*, token: str) -> VerifiedDomain:
    """The link of a verification e-mail was opened: whoever reads that mailbox vouches for the domain."""
    try:
        payload = signing.loads(token, salt=EMAIL_LINK_SALT, max_age=EMAIL_LINK_MAX_AGE)
    except signing.SignatureExpired:
        raise InvalidInput("This verification link has expired; ask for a new e-mail.", code="expired") from None
    except signing.BadSignature:
        raise NotFound("This verification link is not valid.") from None
    # A link names its domain row: the one escape from tenant scoping here, checked by the token.
    domain = VerifiedDomain.objects.unscoped().select_related("tenant").filter(pk=payload.get("d")).first()
    if domain is None or not secrets.compare_digest(domain.token, str(payload.get("t"))):
        raise NotFound("This verification link is not valid (the domain was removed or claimed again).")
    if domain.is_verified:
        return domain
    return _mark_verified(domain, VerificationMethod.EMAIL)


# --- Signing in ----------------------------------------------------------------------------


class SignInRefused(Exception):
    """The IdP vouched for someone this organisation's provider may not sign in; ``message`` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def email_domain(email: str) -> str:
    return (email or "").rpartition("@")[2].strip().lower()


def sign_in_check(*, provider: IdentityProvider, emails: Iterable[str]) -> str:
    """The address an IdP sign-in may use; raise SignInRefused otherwise.

    The IdP is trusted only for the domains its organisation verified: an IdP of organisation A
    must never sign into (or create) an account whose address A does not own, or it could take
    over anybody's account by claiming their address.
    """
    if not provider.enabled:
        raise SignInRefused(f"Single sign-on of {provider.tenant.name} is switched off.")
    addresses = [e.strip().lower() for e in emails if e and "@" in e]
    if not addresses:
        raise SignInRefused(f"{provider.name} did not send an e-mail address, so we cannot tell who you are.")
    verified = set(VerifiedDomain.objects.for_tenant(provider.tenant).verified().values_list("domain", flat=True))
    for address in addresses:
        if email_domain(address) in verified:
            return address
    raise SignInRefused(
        f"{provider.name} signed you in as {addresses[0]}, but {provider.tenant.name} has not verified the domain "
        f"{email_domain(addresses[0])}, so that address cannot be used here."
    )


def groups_from(data: object, claim: str) -> list[str] | None:
    """The groups the IdP sent under ``claim`` (None when it sent no such claim)."""
    if not claim or not isinstance(data, dict):
        return None
    sources = [data]
    for key in ("userinfo", "id_token"):  # allauth keeps OIDC's answers under these keys
        if isinstance(data.get(key), dict):
            sources.append(data[key])
    for source in sources:
        if claim in source:
            value = source[claim]
            if isinstance(value, str):
                return [value]
            if isinstance(value, list | tuple):
                return [str(v) for v in value]
            return []
    return None


def role_for_groups(provider: IdentityProvider, groups: list[str] | None) -> str | None:
    """The highest role any of ``groups`` maps to, else the default role; None without a group claim."""
    if groups is None:
        return None
    mapped = [
        Role(m.role)
        for m in GroupRoleMapping.objects.for_tenant(provider.tenant).filter(provider=provider, group__in=groups)
    ]
    if not mapped:
        return provider.default_role
    return max(mapped, key=lambda role: RANK[role]).value


@transaction.atomic
def sign_in_completed(*, user: User, provider: IdentityProvider, data: object) -> Membership:
    """After a sign-in through ``provider``: just-in-time membership, and the role its groups give.

    A new member gets the role of their groups (or the default role). An existing member's role
    follows their groups on every sign-in, but only when the IdP sends the group claim and the
    organisation mapped at least one group, and never so as to demote the last owner.
    """
    tenant = Tenant.objects.select_for_update().get(pk=provider.tenant_id)
    groups = groups_from(data, provider.group_claim)
    role = role_for_groups(provider, groups)
    membership = Membership.objects.for_tenant(tenant).filter(user=user).first()
    if membership is None:
        return Membership.objects.create(tenant=tenant, user=user, role=role or provider.default_role)
    has_mappings = GroupRoleMapping.objects.for_tenant(tenant).filter(provider=provider).exists()
    if role is None or not has_mappings or role == membership.role:
        return membership
    if membership.role == Role.OWNER and Membership.objects.for_tenant(tenant).filter(role=Role.OWNER).count() <= 1:
        return membership  # the last owner stays owner, whatever the groups say
    membership.role = role
    membership.save(update_fields=["role"])
    return membership
