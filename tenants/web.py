"""Web helpers that need the tenant: resolve the organisation of a ``/t/<slug>/`` page."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from rest_framework.permissions import SAFE_METHODS

from core.errors import NotFound
from tenants.models import Membership, Tenant, User
from tenants.permissions import require, require_not_suspended
from tenants.roles import Perm
from tenants.selectors import membership_for


class AuthenticatedRequest(HttpRequest):
    """A request behind ``login_required``: for type checkers only, never instantiated.

    ``htmx`` comes from django-htmx's middleware.
    """

    user: User  # narrower than HttpRequest's: signed in
    htmx: Any


class TenantRequest(AuthenticatedRequest):
    """The request a ``tenant_view`` hands its view (``membership`` / ``tenant`` set by it)."""

    membership: Membership
    tenant: Tenant


def tenant_view(perm: Perm = Perm.TENANT_VIEW) -> Callable:
    """Resolve ``request.membership`` / ``request.tenant`` from the ``slug`` URL kwarg.

    Strangers and unknown slugs get 404; members whose role lacks ``perm`` get 403.
    """

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, slug: str, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                membership = membership_for(request.user, slug)
            except NotFound:
                raise Http404("No such organisation.") from None
            request.membership = membership  # type: ignore[attr-defined]
            request.tenant = membership.tenant  # type: ignore[attr-defined]
            remember_tenant(request, membership.tenant.slug)
            if request.method not in SAFE_METHODS:
                require_not_suspended(membership.tenant)
            require(membership, perm)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


#: Session key of the organisation the user last opened (set by ``tenant_view``): pages
#: outside ``/t/<slug>/`` (catalog, account, platform) keep showing its links.
LAST_TENANT_SESSION_KEY = "last_tenant"


def remember_tenant(request: HttpRequest, slug: str) -> None:
    """Note the organisation just opened (written only when it changes: no session save per page)."""
    session = getattr(request, "session", None)
    if session is not None and session.get(LAST_TENANT_SESSION_KEY) != slug:
        session[LAST_TENANT_SESSION_KEY] = slug


def navigation_membership(request: HttpRequest, memberships: list[Membership]) -> Membership | None:
    """The organisation whose links the navigation shows, among the user's ``memberships``.

    On an organisation's page, that one; elsewhere the one last opened (kept in the session),
    else the first, so the catalog and account pages keep the way back in the middle of a flow.
    """
    current = getattr(request, "membership", None)
    if current is not None:
        return current
    session = getattr(request, "session", None)
    last = session.get(LAST_TENANT_SESSION_KEY) if session is not None else None
    found = next((m for m in memberships if m.tenant.slug == last), None)
    return found or (memberships[0] if memberships else None)
