"""Every write about tenants, memberships, invitations and tokens goes through here."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.template.loader import render_to_string
from django.utils import timezone

from core import outbox
from core.crypto import hash_secret, make_prefixed_token, random_base62, secret_matches, split_prefixed_token
from core.deletion import protected_dependents
from core.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound
from core.limits import max_length
from core.models import OutboxMessage
from core.validators import clean_text
from tenants.models import (
    Invitation,
    Membership,
    PersonalAccessToken,
    SuspensionAction,
    SuspensionEvent,
    Tenant,
    TokenScope,
    User,
)
from tenants.ownership import get_owned
from tenants.permissions import require
from tenants.roles import Perm, Role, outranks_or_equal

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$")
RESERVED_SLUGS = frozenset({"new", "admin", "api", "static", "accounts", "platform", "onboarding", "t"})
#: Writing last_used_at on every request would turn reads into writes; once a minute is plenty.
TOKEN_LAST_USED_RESOLUTION = timedelta(seconds=60)


def _lock_tenant(tenant: Tenant) -> Tenant:
    """Serialise membership changes of one tenant (last-owner checks must not race)."""
    return Tenant.objects.select_for_update().get(pk=tenant.pk)


def _owner_count(tenant: Tenant) -> int:
    return Membership.objects.for_tenant(tenant).filter(role=Role.OWNER).count()


# --- Tenants -------------------------------------------------------------------------


def validate_slug(slug: str) -> str:
    slug = (slug or "").strip().lower()
    if not SLUG_RE.match(slug):
        raise InvalidInput(
            "Use 1–50 lowercase letters, digits and hyphens, starting and ending with a letter or digit.",
            field="slug",
        )
    if slug in RESERVED_SLUGS:
        raise InvalidInput(f"“{slug}” is reserved; pick another slug.", field="slug")
    return slug


def validate_name(name: str) -> str:
    return clean_text(name, field="name", max_length=100, required=True, label="A name is required.")


def check_slug_free(slug: str) -> None:
    if Tenant.objects.filter(slug=slug).exists():
        raise InvalidInput(f"The slug “{slug}” is already taken.", code="slug_taken", field="slug")


@transaction.atomic
def tenant_create(*, user: User, name: str, slug: str) -> Tenant:
    """Create an organisation with ``user`` as its first owner."""
    name = validate_name(name)
    slug = validate_slug(slug)
    check_slug_free(slug)
    try:
        with transaction.atomic():
            tenant = Tenant.objects.create(name=name, slug=slug, created_by=user)
    except IntegrityError:
        raise InvalidInput(f"The slug “{slug}” is already taken.", code="slug_taken", field="slug") from None
    Membership.objects.create(tenant=tenant, user=user, role=Role.OWNER)
    return tenant


@transaction.atomic
def tenant_update(*, actor: Membership, name: str | None = None) -> Tenant:
    require(actor, Perm.TENANT_EDIT)
    tenant = _lock_tenant(actor.tenant)
    if name is not None:
        tenant.name = validate_name(name)
    tenant.save()
    return tenant


TENANT_HAS_SUBSCRIPTIONS = (
    "This organisation has subscription history with other organisations (as provider or consumer); "
    "that history is kept for both sides, so the organisation cannot be deleted. Retire your APIs, "
    "archive your plans and cancel your subscriptions instead."
)


def tenant_delete_refusal(tenant: Tenant) -> Conflict | None:
    """Why ``tenant`` cannot be deleted (the 409 to raise), or None when it can."""
    if protected_dependents(tenant):
        return Conflict(TENANT_HAS_SUBSCRIPTIONS, code="has_subscriptions")
    return None


@transaction.atomic
def tenant_delete(*, actor: Membership, confirm_slug: str) -> None:
    """Delete the organisation and what only it owns; refused (409) once it took part in a subscription."""
    require(actor, Perm.TENANT_DELETE)
    if confirm_slug != actor.tenant.slug:
        raise InvalidInput("Type the organisation's slug to confirm deletion.", field="confirm_slug")
    tenant = _lock_tenant(actor.tenant)
    refusal = tenant_delete_refusal(tenant)
    if refusal is not None:
        raise refusal
    try:
        with transaction.atomic():
            tenant.delete()
    except ProtectedError:
        # A subscription of one of its APIs or applications, reached through the cascade.
        raise Conflict(TENANT_HAS_SUBSCRIPTIONS, code="has_subscriptions") from None


# --- Memberships ---------------------------------------------------------------------


def _check_can_manage(actor: Membership, target_role: str) -> None:
    require(actor, Perm.MEMBERS_MANAGE)
    if target_role == Role.OWNER:
        require(actor, Perm.OWNERS_MANAGE)
    if not outranks_or_equal(actor.role, target_role):
        raise Forbidden("You cannot manage a member whose role is above yours.")


@transaction.atomic
def membership_change_role(*, actor: Membership, membership: Membership, role: str) -> Membership:
    if role not in Role.values:
        raise InvalidInput(f"Unknown role “{role}”. Choose one of: {', '.join(Role.values)}.", field="role")
    _lock_tenant(actor.tenant)
    get_owned(actor, membership)  # another tenant's (or a removed) membership is NotFound
    membership.refresh_from_db()  # in place: callers show the new role of their object
    _check_can_manage(actor, membership.role)
    _check_can_manage(actor, role)
    if membership.role == Role.OWNER and role != Role.OWNER and _owner_count(membership.tenant) <= 1:
        raise Conflict("The last owner cannot be demoted. Make someone else an owner first.", code="last_owner")
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def membership_remove(*, actor: Membership, membership: Membership) -> None:
    _lock_tenant(actor.tenant)
    get_owned(actor, membership)  # another tenant's (or a removed) membership is NotFound
    membership.refresh_from_db()  # in place, like membership_change_role
    if membership.pk == actor.pk:
        return membership_leave(membership=membership)
    _check_can_manage(actor, membership.role)
    if membership.role == Role.OWNER and _owner_count(membership.tenant) <= 1:
        raise Conflict("The last owner cannot be removed.", code="last_owner")
    membership.delete()


@transaction.atomic
def membership_leave(*, membership: Membership) -> None:
    _lock_tenant(membership.tenant)
    membership.refresh_from_db()
    if membership.role == Role.OWNER and _owner_count(membership.tenant) <= 1:
        raise Conflict(
            "You are the last owner: make someone else an owner, or delete the organisation.",
            code="last_owner",
        )
    membership.delete()


# --- Invitations ---------------------------------------------------------------------


INVITATION_EMAIL = "tenants.invitation_email"


def _send_invitation(invitation: Invitation, token: str) -> None:
    # An outbox row in this transaction; the mail is rendered when sent, so a revoked or
    # re-sent invitation does not mail a dead link.
    outbox.enqueue(INVITATION_EMAIL, {"invitation_id": invitation.pk, "token": token})


def invitation_email_build(*, invitation_id: int, token: str) -> tuple[str, str, str] | None:
    """(subject, body, address) of an invitation mail; None when it was revoked or used meanwhile."""
    invitation = Invitation.objects.unscoped().select_related("tenant", "invited_by").filter(pk=invitation_id).first()
    if invitation is None or invitation.status != "pending":
        return None
    context = {
        "invitation": invitation,
        "accept_url": f"{settings.SITE_URL}/invitations/{token}/",
        "site_name": settings.SITE_NAME,
    }
    subject = f"[{settings.SITE_NAME}] You are invited to join {invitation.tenant.name}"
    return subject, render_to_string("emails/invitation.txt", context), invitation.email


def invitation_email_send(row: OutboxMessage) -> None:
    """Outbox sender of ``tenants.invitation_email`` rows (registered in TenantsConfig.ready)."""
    built = invitation_email_build(invitation_id=row.payload["invitation_id"], token=row.payload["token"])
    if built is None:
        return  # revoked or accepted before the mail went out: nothing to send
    subject, body, address = built
    # Sent as an e-mail row would be: same Message-ID / X-Portal-Delivery for every attempt.
    row.payload = outbox.email_payload(subject=subject, body=body, to=address)
    outbox.send_email(row)


def check_invitable(tenant: Tenant, email: str) -> None:
    """Refuse an address that is already a member or already has a pending invitation (409)."""
    if Membership.objects.for_tenant(tenant).filter(user__email__iexact=email).exists():
        raise Conflict(f"{email} is already a member.", code="already_member", field="email")
    if Invitation.objects.for_tenant(tenant).pending().filter(email__iexact=email).exists():
        raise Conflict(
            f"{email} already has a pending invitation; resend it instead.", code="already_invited", field="email"
        )


@transaction.atomic
def invitation_create(*, actor: Membership, email: str, role: str) -> tuple[Invitation, str]:
    """Invite ``email`` with ``role``; returns the invitation and its one-time token."""
    email = (email or "").strip().lower()
    if not email or "@" not in email:
        raise InvalidInput("Enter a valid e-mail address.", field="email")
    if role not in Role.values:
        raise InvalidInput(f"Unknown role “{role}”. Choose one of: {', '.join(Role.values)}.", field="role")
    _check_can_manage(actor, role)
    tenant = _lock_tenant(actor.tenant)
    check_invitable(tenant, email)
    # An expired, never-accepted invitation still holds the "one open" slot: close it.
    Invitation.objects.for_tenant(tenant).filter(
        email__iexact=email, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=timezone.now())
    token = random_base62(40)
    invitation = Invitation(tenant=tenant, email=email, role=role, invited_by=actor.user)
    invitation.set_token(token)
    invitation.save()
    _send_invitation(invitation, token)
    return invitation, token


def _open_invitation(actor: Membership, invitation: Invitation) -> Invitation:
    _check_can_manage(actor, invitation.role)
    invitation = get_owned(actor, invitation, lock=True)
    if invitation.accepted_at:
        raise Conflict("This invitation was already accepted.", code="invitation_accepted")
    if invitation.revoked_at:
        raise Conflict("This invitation was revoked.", code="invitation_revoked")
    return invitation


@transaction.atomic
def invitation_resend(*, actor: Membership, invitation: Invitation) -> tuple[Invitation, str]:
    """Send a fresh link (the old one stops working) and restart the expiry clock."""
    invitation = _open_invitation(actor, invitation)
    token = random_base62(40)
    invitation.set_token(token)
    invitation.sent_count += 1
    invitation.save(update_fields=["token_hash", "expires_at", "sent_count"])
    _send_invitation(invitation, token)
    return invitation, token


@transaction.atomic
def invitation_revoke(*, actor: Membership, invitation: Invitation) -> Invitation:
    invitation = _open_invitation(actor, invitation)
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    return invitation


def invitation_by_token(token: str) -> Invitation:
    """Look an invitation up by its token, whatever its state; NotFound when unknown."""
    invitation = (
        Invitation.objects.unscoped().select_related("tenant").filter(token_hash=hash_secret(token or "")).first()
    )
    if invitation is None:
        raise NotFound("This invitation link is not valid. Ask for a new invitation.", code="invitation_invalid")
    return invitation


@transaction.atomic
def invitation_accept(*, user: User, token: str) -> Membership:
    invitation = invitation_by_token(token)
    _lock_tenant(invitation.tenant)
    invitation.refresh_from_db()
    if invitation.accepted_at:
        raise Gone("This invitation has already been used.", code="invitation_used")
    if invitation.revoked_at:
        raise Gone("This invitation was withdrawn. Ask for a new invitation.", code="invitation_revoked")
    if invitation.expires_at <= timezone.now():
        raise Gone("This invitation has expired. Ask for a new invitation.", code="invitation_expired")
    if invitation.email.lower() != user.email.lower():
        raise Forbidden(
            f"This invitation is for {invitation.email}; you are signed in as {user.email}.",
            code="invitation_wrong_user",
        )
    if Membership.objects.for_tenant(invitation.tenant).filter(user=user).exists():
        raise Conflict(f"You are already a member of {invitation.tenant.name}.", code="already_member")
    membership = Membership.objects.create(tenant=invitation.tenant, user=user, role=invitation.role)
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    return membership


@transaction.atomic
def invitation_decline(*, user: User, token: str) -> None:
    invitation = invitation_by_token(token)
    if invitation.email.lower() != user.email.lower():
        raise Forbidden(f"This invitation is for {invitation.email}.", code="invitation_wrong_user")
    if invitation.status == "pending":
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])


# --- Personal access tokens ----------------------------------------------------------


@transaction.atomic
def token_create(
    *, actor: Membership, name: str, expires_at: datetime | None = None, scope: str = TokenScope.WRITE
) -> tuple[PersonalAccessToken, str]:
    """Create a token for the actor in the actor's tenant; the plaintext is returned once.

    ``scope`` is ``read`` (safe methods only) or ``write``; REST and scripts default to
    ``write`` as before scopes existed, the web form proposes ``read``.
    """
    require(actor, Perm.TOKENS_OWN)
    if scope not in TokenScope.values:
        raise InvalidInput(f"Unknown scope “{scope}”. Choose one of: {', '.join(TokenScope.values)}.", field="scope")
    name = clean_text(
        name, field="name", max_length=100, required=True, label="Give the token a name so you can recognise it later."
    )
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidInput("The expiry must be in the future.", field="expires_at")
    # Lock the membership row first: concurrent creations would all count below the limit.
    Membership.objects.for_tenant(actor.tenant).select_for_update().filter(pk=actor.pk).values_list("pk").first()
    live = PersonalAccessToken.objects.for_tenant(actor.tenant).active().filter(user=actor.user).count()
    if live >= settings.MAX_TOKENS_PER_USER:
        raise Conflict(f"You already have {live} active tokens here (the limit). Revoke one first.", code="token_limit")
    plaintext, key_id, secret = make_prefixed_token(PersonalAccessToken.PREFIX)
    token = PersonalAccessToken(tenant=actor.tenant, user=actor.user, name=name, expires_at=expires_at, scope=scope)
    token.set_secret(key_id, secret)
    token.save()
    return token, plaintext


@transaction.atomic
def token_revoke(*, actor: Membership, token: PersonalAccessToken) -> PersonalAccessToken:
    """Revoke a token; another member's token follows the rank rules of removing that member."""
    token = get_owned(actor, token, lock=True)
    if token.user_id != actor.user_id:
        require(actor, Perm.TOKENS_MANAGE_ALL)
        holder = Membership.objects.for_tenant(actor.tenant).filter(user_id=token.user_id).first()
        # A former member's token is dead already (it needs a membership); revoking it is tidying up.
        if holder is not None:
            _check_can_manage(actor, holder.role)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def token_authenticate(raw: str) -> tuple[PersonalAccessToken, Membership] | None:
    """Resolve a presented bearer token to (token, membership), or None if it is not valid.

    One indexed lookup by key id, a SHA-256 and a constant-time compare.
    """
    parts = split_prefixed_token(raw, PersonalAccessToken.PREFIX)
    if parts is None:
        return None
    key_id, secret = parts
    token = PersonalAccessToken.objects.unscoped().select_related("tenant", "user").filter(key_id=key_id).first()
    if token is None or not secret_matches(secret, token.token_hash) or token.status != "active":
        return None
    if not token.user.is_active:
        return None
    membership = Membership.objects.for_tenant(token.tenant).filter(user=token.user).select_related("tenant").first()
    if membership is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > TOKEN_LAST_USED_RESOLUTION:
        PersonalAccessToken.objects.for_tenant(token.tenant).filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token, membership


# --- Suspension (platform staff) -----------------------------------------------------


def _require_staff(user: User | None) -> None:
    if user is None or not user.is_active or not user.is_staff:
        raise Forbidden("Only platform staff may suspend an organisation or lift a suspension.")


def _email_owners(tenant: Tenant, template: str, subject: str) -> None:
    """One mail per owner (addresses never shared), written to the outbox in this transaction."""
    context = {
        "tenant": tenant,
        "site_name": settings.SITE_NAME,
        "dashboard_url": f"{settings.SITE_URL}/t/{tenant.slug}/",
    }
    body = render_to_string(template, context)
    owners = Membership.objects.for_tenant(tenant).filter(role=Role.OWNER, user__is_active=True).select_related("user")
    for owner in owners:
        outbox.enqueue_email(subject=f"[{settings.SITE_NAME}] {subject}", body=body, to=owner.user.email)


@transaction.atomic
def tenant_suspend(*, staff: User, tenant: Tenant, reason: str) -> Tenant:
    """Suspend ``tenant``: members keep read access, every write is refused with ``reason``.

    Its APIs leave the catalog (``ApiQuerySet.visible_to``) and its keys the gateway config
    (``gateways.snapshot``; a trigger on ``suspended_at`` bumps the config version). The owners
    get an e-mail; the event joins the organisation's suspension trail.
    """
    _require_staff(staff)
    reason = clean_text(
        reason,
        field="reason",
        max_length=max_length(Tenant, "suspension_reason"),
        required=True,
        label="Give the reason: the members will see it.",
        single_line=False,
    )
    tenant = _lock_tenant(tenant)
    if tenant.suspended_at is not None:
        raise Conflict(f"{tenant.name} is already suspended.", code="already_suspended")
    tenant.suspended_at = timezone.now()
    tenant.suspension_reason = reason
    tenant.suspended_by = staff
    tenant.save(update_fields=["suspended_at", "suspension_reason", "suspended_by"])
    SuspensionEvent.objects.create(
        tenant=tenant, action=SuspensionAction.SUSPENDED, actor=staff, actor_email=staff.email, reason=reason
    )
    _email_owners(tenant, "emails/tenant_suspended.txt", f"{tenant.name} is suspended")
    return tenant


@transaction.atomic
def tenant_unsuspend(*, staff: User, tenant: Tenant, note: str = "") -> Tenant:
    """Lift the suspension: writes, catalog listing and keys work again; the owners are told."""
    _require_staff(staff)
    note = clean_text(note, field="note", max_length=max_length(SuspensionEvent, "reason"), single_line=False)
    tenant = _lock_tenant(tenant)
    if tenant.suspended_at is None:
        raise Conflict(f"{tenant.name} is not suspended.", code="not_suspended")
    tenant.suspended_at = None
    tenant.suspension_reason = ""
    tenant.suspended_by = None
    tenant.save(update_fields=["suspended_at", "suspension_reason", "suspended_by"])
    SuspensionEvent.objects.create(
        tenant=tenant, action=SuspensionAction.LIFTED, actor=staff, actor_email=staff.email, reason=note
    )
    _email_owners(tenant, "emails/tenant_unsuspended.txt", f"The suspension of {tenant.name} is lifted")
    return tenant
