from __future__ import annotations

from django import template

from subscriptions.selectors import pending_approvals_count
from tenants.models import Membership
from tenants.permissions import can
from tenants.roles import Perm

register = template.Library()

# The navigation passes the membership it shows (``nav_membership``): on catalog, account and
# platform pages that is the organisation last opened, not one from the URL.


@register.simple_tag
def pending_approvals(membership: Membership | None) -> int:
    """Requests waiting in the membership's organisation's queue; 0 for members who cannot decide."""
    if membership is None or not can(membership, Perm.SUBSCRIPTIONS_APPROVE):
        return 0
    return pending_approvals_count(membership.tenant)


@register.filter
def can_decide(membership: Membership | None) -> bool:
    return membership is not None and can(membership, Perm.SUBSCRIPTIONS_APPROVE)


@register.filter
def can_edit_tenant(membership: Membership | None) -> bool:
    return membership is not None and can(membership, Perm.TENANT_EDIT)
