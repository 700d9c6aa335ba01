from __future__ import annotations

from django import template
from django.http import HttpRequest

from subscriptions.selectors import pending_approvals_count
from tenants.permissions import can
from tenants.roles import Perm

register = template.Library()


@register.simple_tag
def pending_approvals(request: HttpRequest) -> int:
    """Requests waiting in the current tenant's queue; 0 for members who cannot decide."""
    membership = getattr(request, "membership", None)
    if membership is None or not can(membership, Perm.SUBSCRIPTIONS_APPROVE):
        return 0
    return pending_approvals_count(membership.tenant)


@register.filter
def can_decide(request: HttpRequest) -> bool:
    membership = getattr(request, "membership", None)
    return membership is not None and can(membership, Perm.SUBSCRIPTIONS_APPROVE)


@register.filter
def can_edit_tenant(request: HttpRequest) -> bool:
    membership = getattr(request, "membership", None)
    return membership is not None and can(membership, Perm.TENANT_EDIT)
