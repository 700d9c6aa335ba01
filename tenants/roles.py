"""Roles and the permission matrix: the one place that says who may do what.

docs/permissions.md shows the same matrix to humans; a test keeps the two in step.
"""

from enum import StrEnum

from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    DEVELOPER = "developer", "Developer"
    VIEWER = "viewer", "Viewer"


#: Higher number = more rights. Used to stop an admin from touching owners.
RANK = {Role.VIEWER: 0, Role.DEVELOPER: 1, Role.ADMIN: 2, Role.OWNER: 3}


class Perm(StrEnum):
    TENANT_VIEW = "tenant.view"
    TENANT_EDIT = "tenant.edit"
    TENANT_DELETE = "tenant.delete"
    MEMBERS_VIEW = "members.view"
    MEMBERS_MANAGE = "members.manage"
    OWNERS_MANAGE = "owners.manage"
    TOKENS_OWN = "tokens.own"
    TOKENS_MANAGE_ALL = "tokens.manage_all"
    APIS_VIEW = "apis.view"
    APIS_EDIT = "apis.edit"
    APPS_EDIT = "apps.edit"
    SUBSCRIPTIONS_APPROVE = "subscriptions.approve"
    AI_MANAGE = "ai.manage"
    SSO_MANAGE = "sso.manage"


_ALL = frozenset(Role)
_DEV_UP = frozenset({Role.OWNER, Role.ADMIN, Role.DEVELOPER})
_ADMIN_UP = frozenset({Role.OWNER, Role.ADMIN})
_OWNER = frozenset({Role.OWNER})

MATRIX: dict[Perm, frozenset[Role]] = {
    Perm.TENANT_VIEW: _ALL,
    Perm.TENANT_EDIT: _ADMIN_UP,
    Perm.TENANT_DELETE: _OWNER,
    Perm.MEMBERS_VIEW: _ALL,
    Perm.MEMBERS_MANAGE: _ADMIN_UP,
    Perm.OWNERS_MANAGE: _OWNER,
    Perm.TOKENS_OWN: _ALL,
    Perm.TOKENS_MANAGE_ALL: _ADMIN_UP,
    Perm.APIS_VIEW: _ALL,
    Perm.APIS_EDIT: _DEV_UP,
    Perm.APPS_EDIT: _DEV_UP,
    Perm.SUBSCRIPTIONS_APPROVE: _ADMIN_UP,
    Perm.AI_MANAGE: _ADMIN_UP,
    Perm.SSO_MANAGE: _OWNER,
}


def role_has(role: str | None, perm: Perm) -> bool:
    return role is not None and Role(role) in MATRIX[perm]


def outranks_or_equal(actor: str, target: str) -> bool:
    return RANK[Role(actor)] >= RANK[Role(target)]
