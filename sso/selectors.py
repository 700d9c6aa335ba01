"""Reads of single sign-on: a tenant's provider and domains, and where an address signs in."""

from __future__ import annotations

from django.db.models import QuerySet

from sso.models import GroupRoleMapping, IdentityProvider, VerifiedDomain
from tenants.models import Membership, Tenant
from tenants.roles import Role


def provider_for(tenant: Tenant) -> IdentityProvider | None:
    return IdentityProvider.objects.for_tenant(tenant).first()


def provider_by_key(key: str) -> IdentityProvider | None:
    return IdentityProvider.objects.by_key(key).select_related("tenant").first()


def domains_for(tenant: Tenant) -> QuerySet[VerifiedDomain]:
    return VerifiedDomain.objects.for_tenant(tenant)


def mappings_for(tenant: Tenant) -> QuerySet[GroupRoleMapping]:
    return GroupRoleMapping.objects.for_tenant(tenant)


def verified_domains(tenant: Tenant) -> list[str]:
    return list(VerifiedDomain.objects.for_tenant(tenant).verified().values_list("domain", flat=True))


def _domain_of(email: str) -> str:
    return (email or "").rpartition("@")[2].strip().lower().rstrip(".")


def provider_for_email(email: str) -> IdentityProvider | None:
    """The enabled provider an address signs in with: its domain's verifier's, if it has one."""
    domain = _domain_of(email)
    if not domain:
        return None
    claim = VerifiedDomain.objects.claiming(domain).select_related("tenant").first()
    if claim is None:
        return None
    provider = IdentityProvider.objects.for_tenant(claim.tenant).filter(enabled=True).first()
    return provider if provider is not None and provider.is_configured else None


def password_refusal(email: str) -> IdentityProvider | None:
    """The provider that forbids password use for ``email``, or None when a password may be used.

    Break-glass: an owner of the organisation keeps their password, so a broken IdP never
    locks the organisation out of its own settings (docs/sso.md).
    """
    provider = provider_for_email(email)
    if provider is None or not provider.sso_required:
        return None
    is_owner = (
        Membership.objects.for_tenant(provider.tenant)
        .filter(user__email__iexact=(email or "").strip(), role=Role.OWNER)
        .exists()
    )
    return None if is_owner else provider
