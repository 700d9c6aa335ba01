"""Users, tenants and who belongs where."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from core.crypto import hash_secret
from core.validators import validate_single_line
from tenants.roles import Role
from tenants.scoping import TenantScopedManager, TenantScopedQuerySet


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: object) -> User:
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in with an e-mail address. ``is_staff`` = platform staff."""

    email = models.EmailField(unique=True)
    name = models.CharField(max_length=150, blank=True, validators=[validate_single_line])
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="Platform staff: runs the platform.")
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return self.name or self.email

    def get_short_name(self) -> str:
        return self.name or self.email.split("@")[0]


class Tenant(models.Model):
    """An organisation: owns APIs as a provider and applications as a consumer."""

    name = models.CharField(max_length=100, validators=[validate_single_line])
    slug = models.SlugField(max_length=50, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Set by platform staff (tenants.services.tenant_suspend): members may still sign in and
    # read, every write is refused with the reason, its APIs leave the catalog and its keys
    # leave the gateway config. Cleared when staff lift the suspension.
    suspended_at = models.DateTimeField(null=True, blank=True)
    suspension_reason = models.TextField(max_length=1000, blank=True, help_text="Shown to the members.")
    suspended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_suspended(self) -> bool:
        return self.suspended_at is not None


class MembershipQuerySet(TenantScopedQuerySet):
    def for_user(self, user: User) -> MembershipQuerySet:
        """A user's own memberships, across tenants: the one legitimate cross-tenant read."""
        return self.filter(user=user)._scoped("user")


class Membership(models.Model):
    """A user's role in one tenant."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.DEVELOPER)
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantScopedManager.from_queryset(MembershipQuerySet)()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "user"], name="membership_unique")]
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant} ({self.role})"


class InvitationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    REVOKED = "revoked", "Revoked"
    EXPIRED = "expired", "Expired"


class InvitationQuerySet(TenantScopedQuerySet):
    def pending(self) -> InvitationQuerySet:
        return self.filter(accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now())

    def for_email(self, email: str) -> InvitationQuerySet:
        """Invitations addressed to one e-mail, across tenants (onboarding)."""
        return self.filter(email__iexact=email)._scoped("email")


class Invitation(models.Model):
    """An e-mailed offer to join a tenant with a role. Only the token's hash is stored."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.DEVELOPER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    sent_count = models.PositiveIntegerField(default=1)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = TenantScopedManager.from_queryset(InvitationQuerySet)()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # At most one open invitation per address and tenant; resend reuses it.
            models.UniqueConstraint(
                "tenant",
                Lower("email"),
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_open_per_email",
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} → {self.tenant}"

    def set_token(self, token: str) -> None:
        self.token_hash = hash_secret(token)
        self.expires_at = timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS)

    @property
    def status(self) -> InvitationStatus:
        if self.accepted_at:
            return InvitationStatus.ACCEPTED
        if self.revoked_at:
            return InvitationStatus.REVOKED
        if self.expires_at <= timezone.now():
            return InvitationStatus.EXPIRED
        return InvitationStatus.PENDING


class TokenScope(models.TextChoices):
    """What a personal access token may do: read-only tokens get 403 on every unsafe method."""

    READ = "read", "Read only"
    WRITE = "write", "Read and write"


class PersonalAccessTokenQuerySet(TenantScopedQuerySet):
    def active(self) -> PersonalAccessTokenQuerySet:
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class PersonalAccessToken(models.Model):
    """A bearer token for the REST API, bound to one user in one tenant.

    It acts with the user's *current* role in that tenant; removing the user from the
    tenant silently disables it. Only ``key_id`` and a SHA-256 of the secret are stored.
    A ``read`` token may only use safe methods (GET, HEAD, OPTIONS).
    """

    PREFIX = "pat"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="tokens")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100, validators=[validate_single_line])
    # Tokens made before scopes existed could write: the migration keeps them working as "write".
    scope = models.CharField(max_length=8, choices=TokenScope.choices, default=TokenScope.WRITE)
    key_id = models.CharField(max_length=24, unique=True)
    token_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = TenantScopedManager.from_queryset(PersonalAccessTokenQuerySet)()

    #: Set by the token authentication on the instance it returns: the holder's membership in
    #: the token's tenant (an annotation only, not a column).
    membership: Membership

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_id})"

    def set_secret(self, key_id: str, secret: str) -> None:
        self.key_id = key_id
        self.token_hash = hash_secret(secret)

    @property
    def status(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at and self.expires_at <= timezone.now():
            return "expired"
        return "active"


class SuspensionAction(models.TextChoices):
    SUSPENDED = "suspended", "Suspended"
    LIFTED = "lifted", "Suspension lifted"


class SuspensionEvent(models.Model):
    """The audit trail of platform staff suspending an organisation and lifting it.

    The actor's e-mail is a snapshot, kept when the staff account is deleted.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="suspension_events")
    action = models.CharField(max_length=16, choices=SuspensionAction.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_email = models.EmailField(blank=True)
    reason = models.TextField(max_length=1000, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = TenantScopedManager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(action__in=SuspensionAction.values), name="suspension_action_valid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.tenant} {self.action} by {self.actor_email or 'system'}"
