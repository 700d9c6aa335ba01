"""Reads about tenants: the queries views and the API share."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from core.errors import NotFound
from core.filters import is_id
from tenants.models import Invitation, Membership, PersonalAccessToken, SuspensionEvent, Tenant, User


def memberships_for_user(user: User | AnonymousUser) -> QuerySet[Membership]:
    return Membership.objects.for_user(user).select_related("tenant").order_by("tenant__name")


def membership_for(user: User | AnonymousUser, slug: str) -> Membership:
    """The user's membership in the tenant ``slug``; NotFound (404) for strangers and unknown slugs."""
    membership = (
        Membership.objects.for_user(user).select_related("tenant", "user").filter(tenant__slug=slug).first()
        if user.is_authenticated
        else None
    )
    if membership is None:
        raise NotFound("No such organisation.")
    return membership


def tenant_members(tenant: Tenant) -> QuerySet[Membership]:
    return Membership.objects.for_tenant(tenant).select_related("user").order_by("user__email", "pk")


def tenant_invitations(tenant: Tenant, *, pending_only: bool = True) -> QuerySet[Invitation]:
    qs = Invitation.objects.for_tenant(tenant).select_related("invited_by").order_by("-created_at", "-pk")
    return qs.pending() if pending_only else qs


def pending_invitations_for_user(user: User) -> QuerySet[Invitation]:
    return Invitation.objects.for_email(user.email).pending().select_related("tenant", "invited_by")


def tokens_visible_to(membership: Membership, *, all_members: bool = False) -> QuerySet[PersonalAccessToken]:
    qs = PersonalAccessToken.objects.for_tenant(membership.tenant).select_related("user").order_by("-created_at", "-pk")
    return qs if all_members else qs.filter(user=membership.user)


def platform_tenants() -> QuerySet[Tenant]:
    """Every tenant with its member count: platform staff overview only."""
    members = Membership.objects.unscoped().filter(tenant=OuterRef("pk")).order_by().values("tenant")
    return Tenant.objects.annotate(
        member_count=Coalesce(Subquery(members.annotate(n=Count("pk")).values("n")), 0)
    ).order_by("-created_at", "-pk")


def platform_users() -> QuerySet[User]:
    """Every user with the number of their organisations: platform staff overview only."""
    tenants = Membership.objects.unscoped().filter(user=OuterRef("pk")).order_by().values("user")
    return User.objects.annotate(
        tenant_count=Coalesce(Subquery(tenants.annotate(n=Count("pk")).values("n")), 0)
    ).order_by("-date_joined", "-pk")


def platform_tenant(slug: str) -> Tenant:
    """Any organisation by slug, for platform staff; NotFound when there is none."""
    tenant = Tenant.objects.select_related("suspended_by").filter(slug=slug).first()
    if tenant is None:
        raise NotFound("No such organisation.")
    return tenant


def platform_user(pk: int | str) -> User:
    user = User.objects.filter(pk=pk).first() if is_id(str(pk)) else None
    if user is None:
        raise NotFound("No such user.")
    return user


def user_memberships(user: User) -> QuerySet[Membership]:
    """A user's memberships with their organisations (platform staff's user page)."""
    return Membership.objects.for_user(user).select_related("tenant").order_by("tenant__name")


def suspension_events(tenant: Tenant) -> QuerySet[SuspensionEvent]:
    return SuspensionEvent.objects.for_tenant(tenant)
