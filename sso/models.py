"""An organisation's identity provider, the e-mail domains it proved it owns, and group → role rules."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from core.validators import validate_single_line
from tenants.models import Tenant
from tenants.roles import Role
from tenants.scoping import TenantScopedManager, TenantScopedQuerySet

#: A DNS name of at least two labels, lower case (IDNA form), no trailing dot.
DOMAIN_RE = r"^(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$"
#: Longest client secret accepted (stored encrypted, so the column itself has no limit).
SECRET_MAX_LENGTH = 1000
validate_domain = RegexValidator(DOMAIN_RE, "Enter a domain name such as example.com (no @, no scheme).")


class ProviderKind(models.TextChoices):
    OIDC = "oidc", "OpenID Connect"
    SAML = "saml", "SAML 2.0"


class IdentityProviderQuerySet(TenantScopedQuerySet):
    def by_key(self, key: str) -> IdentityProviderQuerySet:
        """The provider behind an allauth app id (the ``key`` in the callback URLs), any tenant."""
        return self.filter(key=key)._scoped("key")


class IdentityProvider(models.Model):
    """The single sign-on of one organisation: an OpenID Connect or SAML 2.0 identity provider.

    allauth reads it as a ``SocialApp`` built on the fly (``sso.apps_builder``), so the client
    secret and the SP private key stay sealed here (``core.secretbox``) and never land in
    allauth's own table. ``key`` names it in the URLs the IdP admin registers
    (``/accounts/oidc/<key>/login/callback/``, ``/accounts/saml/<key>/acs/``): it never changes.
    """

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="identity_provider")
    key = models.SlugField(max_length=60, unique=True)
    kind = models.CharField(max_length=8, choices=ProviderKind.choices, default=ProviderKind.OIDC)
    name = models.CharField(max_length=100, validators=[validate_single_line], help_text="Shown on the sign-in button.")
    enabled = models.BooleanField(default=False)
    # OpenID Connect
    server_url = models.URLField(
        max_length=500, blank=True, help_text="The issuer, e.g. https://login.example.com/realms/acme."
    )
    client_id = models.CharField(max_length=255, blank=True, validators=[validate_single_line])
    client_secret_encrypted = models.TextField(blank=True)
    client_secret_hint = models.CharField(max_length=24, blank=True)
    scopes = models.CharField(max_length=255, default="openid profile email", validators=[validate_single_line])
    # SAML 2.0: the IdP's metadata (fetched from metadata_url, or pasted) and what was read from it.
    metadata_url = models.URLField(max_length=500, blank=True)
    metadata_xml = models.TextField(blank=True, max_length=200_000)
    idp_entity_id = models.CharField(max_length=500, blank=True)
    idp_sso_url = models.URLField(max_length=500, blank=True)
    idp_x509cert = models.TextField(blank=True, max_length=20_000)
    # Just-in-time membership and groups
    default_role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    group_claim = models.CharField(
        max_length=200,
        blank=True,
        default="groups",
        validators=[validate_single_line],
        help_text="The claim (OIDC) or attribute (SAML) that lists the user's groups.",
    )
    sso_required = models.BooleanField(
        default=False, help_text="Addresses in the verified domains must sign in through this provider."
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = TenantScopedManager.from_queryset(IdentityProviderQuerySet)()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(kind__in=ProviderKind.values), name="sso_provider_kind_valid"),
            models.CheckConstraint(condition=models.Q(default_role__in=Role.values), name="sso_default_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()}) for {self.tenant}"

    @property
    def is_configured(self) -> bool:
        if self.kind == ProviderKind.OIDC:
            return bool(self.server_url and self.client_id and self.client_secret_encrypted)
        return bool(self.idp_entity_id and self.idp_sso_url and self.idp_x509cert)


class GroupRoleMapping(models.Model):
    """A provider group whose members get a role (the highest of their groups wins)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    provider = models.ForeignKey(IdentityProvider, on_delete=models.CASCADE, related_name="group_mappings")
    group = models.CharField(max_length=200, validators=[validate_single_line])
    role = models.CharField(max_length=16, choices=Role.choices)

    objects = TenantScopedManager()

    class Meta:
        ordering = ["group"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "group"], name="sso_group_mapping_unique"),
            models.CheckConstraint(condition=models.Q(role__in=Role.values), name="sso_group_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.group} → {self.role}"


class VerificationMethod(models.TextChoices):
    DNS = "dns", "DNS TXT record"
    EMAIL = "email", "Verification e-mail"


class VerifiedDomainQuerySet(TenantScopedQuerySet):
    def verified(self) -> VerifiedDomainQuerySet:
        return self.filter(verified_at__isnull=False)

    def claiming(self, domain: str) -> VerifiedDomainQuerySet:
        """Whoever verified ``domain``, any tenant: sign-in routing looks addresses up here."""
        return self.filter(domain=domain.lower(), verified_at__isnull=False)._scoped("domain")


class VerifiedDomain(models.Model):
    """An e-mail domain an organisation claims; it counts once ``verified_at`` is set.

    Several organisations may *claim* a domain while they try to prove it; only one can hold
    it verified (a partial unique constraint), and only a verified domain routes sign-in or
    makes the IdP's e-mail addresses trusted.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="sso_domains")
    domain = models.CharField(max_length=253, validators=[validate_domain])
    method = models.CharField(max_length=8, choices=VerificationMethod.choices, default=VerificationMethod.DNS)
    token = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    objects = TenantScopedManager.from_queryset(VerifiedDomainQuerySet)()

    class Meta:
        ordering = ["domain"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "domain"], name="sso_domain_once_per_tenant"),
            models.UniqueConstraint(
                Lower("domain"), condition=models.Q(verified_at__isnull=False), name="sso_domain_verified_once"
            ),
            models.CheckConstraint(
                condition=models.Q(method__in=VerificationMethod.values), name="sso_domain_method_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.domain

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None

    @property
    def txt_name(self) -> str:
        return f"{TXT_LABEL}.{self.domain}"

    @property
    def txt_value(self) -> str:
        return f"{TXT_PREFIX}{self.token}"


TXT_LABEL = "_apiportal-verify"
TXT_PREFIX = "apiportal-verify="
