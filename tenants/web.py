"""Web helpers that need the tenant: resolve the organisation of a ``/t/<slug>/`` page."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse

from core.errors import NotFound
from tenants.models import Membership, Tenant, User
from tenants.permissions import require
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
            require(membership, perm)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
