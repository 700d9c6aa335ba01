"""Destructive operations on an organisation need fresh proof that the owner is at the keyboard.

"Destructive" = deleting the organisation, and every change that makes, demotes or removes an
owner. An owner may do them with a read-write personal access token, or with a session whose
last sign-in (or re-authentication on allauth's "confirm your password" page) is younger than
``REAUTHENTICATION_WINDOW_SECONDS``. A stolen session cookie or an old open tab is not enough.
"""

from __future__ import annotations

import time
from typing import Any

from allauth.account.internal.flows.login import get_authentication_records
from django.conf import settings
from django.http import HttpRequest

from core.errors import Forbidden
from tenants.models import Membership, PersonalAccessToken, TokenScope
from tenants.roles import Role

REAUTH_CODE = "reauthentication_required"


def recently_signed_in(request: Any) -> bool:
    """True when this session signed in or re-authenticated within the window."""
    django_request: HttpRequest = getattr(request, "_request", request)  # DRF wraps the Django request
    if not django_request.user.is_authenticated:
        return False
    records = get_authentication_records(django_request, django_request.user)
    window = settings.REAUTHENTICATION_WINDOW_SECONDS
    now = time.time()
    return any(now - float(record.get("at", 0)) < window for record in records)


def is_destructive_member_change(target: Membership, new_role: str | None = None) -> bool:
    """Changing who owns the organisation: touching an owner, or making someone one."""
    return target.role == Role.OWNER or new_role == Role.OWNER


def require_fresh_auth(request: Any, membership: Membership) -> None:
    """Refuse a destructive operation unless the owner acts with a write token or a recent sign-in.

    Non-owners pass through: the service refuses them with its own, more useful message.
    """
    if membership.role != Role.OWNER:
        return
    token = getattr(request, "auth", None)
    if isinstance(token, PersonalAccessToken):
        if token.scope == TokenScope.WRITE:
            return
        raise Forbidden("This token is read-only.", code="token_read_only")
    if recently_signed_in(request):
        return
    minutes = max(1, settings.REAUTHENTICATION_WINDOW_SECONDS // 60)
    raise Forbidden(
        f"This action needs a sign-in from the last {minutes} minutes: confirm your password "
        "(/accounts/reauthenticate/) and try again, or use a read-write access token.",
        code=REAUTH_CODE,
    )
