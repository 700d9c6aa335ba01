from __future__ import annotations

from django import template

from notifications.selectors import unread_count
from tenants.models import Membership

register = template.Library()


@register.simple_tag
def unread_notifications(membership: Membership | None) -> int:
    """The bell's number for the membership's user in its organisation (0 without one)."""
    if membership is None:
        return 0
    return unread_count(membership.tenant, membership.user)
