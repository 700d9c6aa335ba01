"""Enforcement of the role matrix (tenants.roles): the one place checks go through."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.errors import Forbidden
from tenants.roles import Perm, Role, role_has

if TYPE_CHECKING:
    from tenants.models import Membership, Tenant

_DESCRIPTIONS = {
    Perm.TENANT_EDIT: "edit the organisation",
    Perm.TENANT_DELETE: "delete the organisation",
    Perm.MEMBERS_MANAGE: "manage members and invitations",
    Perm.OWNERS_MANAGE: "manage owners",
    Perm.TOKENS_MANAGE_ALL: "manage other members' tokens",
    Perm.APIS_EDIT: "edit APIs",
    Perm.APPS_EDIT: "edit applications",
    Perm.SUBSCRIPTIONS_APPROVE: "decide subscription requests",
    Perm.AI_MANAGE: "manage model providers, credentials, models and model routes",
    Perm.SSO_MANAGE: "configure single sign-on and verified domains",
}


def can(membership: Membership | None, perm: Perm) -> bool:
    return membership is not None and role_has(membership.role, perm)


def require(membership: Membership | None, perm: Perm) -> None:
    """Raise Forbidden (403) unless the membership's role grants ``perm``."""
    if not can(membership, perm):
        role = Role(membership.role).label if membership else "Non-member"
        what = _DESCRIPTIONS.get(perm, perm.value)
        raise Forbidden(f"Your role ({role}) does not allow you to {what}.")


def require_not_suspended(tenant: Tenant) -> None:
    """Raise Forbidden (403) with the reason when platform staff suspended ``tenant``.

    Called for every unsafe request of an organisation's pages and REST endpoints: members of a
    suspended organisation can still sign in and read, never change anything.
    """
    if tenant.suspended_at is not None:
        reason = tenant.suspension_reason or "no reason given"
        raise Forbidden(
            f"{tenant.name} is suspended by platform staff ({reason}); nothing can be changed until "
            "the suspension is lifted.",
            code="tenant_suspended",
        )
