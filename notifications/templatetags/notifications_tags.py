from __future__ import annotations

from django import template
from django.http import HttpRequest

from notifications.selectors import unread_count

register = template.Library()


@register.simple_tag
def unread_notifications(request: HttpRequest) -> int:
    """The bell's number for the current user in the current tenant (0 outside a tenant)."""
    tenant = getattr(request, "tenant", None)
    if tenant is None or not request.user.is_authenticated:
        return 0
    return unread_count(tenant, request.user)
