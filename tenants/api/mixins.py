"""The tenant context of REST endpoints under /api/v1/tenants/{tenant_slug}/…"""

from __future__ import annotations

from functools import cached_property

from django.db.models import QuerySet
from rest_framework.request import Request

from core.errors import NotFound
from tenants.models import Membership, PersonalAccessToken, Tenant
from tenants.permissions import require
from tenants.roles import Perm
from tenants.selectors import membership_for


def request_membership(request: Request, slug: str) -> Membership:
    """The caller's membership in ``slug``. A token bound to another tenant sees 404."""
    token = request.auth if isinstance(request.auth, PersonalAccessToken) else None
    if token is not None:
        if token.tenant.slug != slug:
            raise NotFound("No such organisation.")
        return token.membership
    return membership_for(request.user, slug)


class TenantScopedAPIMixin:
    """Resolves ``self.membership`` / ``self.tenant`` from the URL; 404 for strangers.

    ``required_perms`` maps a viewset action (or HTTP method for APIViews) to a Perm; the
    default is read access for every member.
    """

    request: Request
    kwargs: dict
    required_perms: dict[str, Perm] = {}

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):
            # Schema generation has no URL kwargs, hence no tenant: it only needs the model.
            return self.get_serializer_class().Meta.model.objects.unscoped().none()  # type: ignore[attr-defined]
        return self.tenant_queryset()

    def tenant_queryset(self) -> QuerySet:
        """The viewset's objects, already narrowed to ``self.tenant``."""
        raise NotImplementedError

    @cached_property
    def membership(self) -> Membership:
        return request_membership(self.request, self.kwargs["tenant_slug"])

    @property
    def tenant(self) -> Tenant:
        return self.membership.tenant

    def initial(self, request: Request, *args: object, **kwargs: object) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        action = getattr(self, "action", None) or request.method.lower()
        require(self.membership, self.required_perms.get(action, Perm.TENANT_VIEW))
