"""The tenant context of REST endpoints under /api/v1/tenants/{tenant_slug}/…"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.viewsets import ViewSetMixin

from core.errors import Forbidden, NotFound
from tenants.models import Membership, PersonalAccessToken, Tenant
from tenants.permissions import require, require_not_suspended
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


#: Viewset actions the router maps when the class has a method of that name.
STANDARD_ACTIONS = ("list", "create", "retrieve", "update", "partial_update", "destroy")
#: DRF's own OPTIONS answer (``metadata``) describes the endpoint: any member may read it.
IMPLICIT_PERMS = {"metadata": Perm.TENANT_VIEW}


def routed_actions(viewset: type) -> set[str]:
    """Every action a router exposes for ``viewset``: standard ones it implements plus @action."""
    actions = {name for name in STANDARD_ACTIONS if callable(getattr(viewset, name, None))}
    return actions | {extra.__name__ for extra in viewset.get_extra_actions()}  # type: ignore[attr-defined]


class TenantScopedAPIMixin:
    """Resolves ``self.membership`` / ``self.tenant`` from the URL; 404 for strangers.

    Two guards hold for every subclass, checked when the class is created:

    - ``get_queryset`` is this mixin's and cannot be overridden; implement ``tenant_queryset``
      (already narrowed to ``self.tenant``) instead.
    - ``required_perms`` maps **every** routed action (or HTTP method for APIViews) to a Perm,
      reads included (``Perm.TENANT_VIEW``). A viewset missing an entry fails at import with
      ``ImproperlyConfigured``; should one slip through anyway (an action added at runtime),
      the request is refused with 403 rather than treated as a read.
    """

    request: Request
    kwargs: dict
    required_perms: dict[str, Perm] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__} overrides get_queryset(): tenant-scoped viewsets implement "
                "tenant_queryset() instead, so the tenant narrowing cannot be bypassed."
            )
        if issubclass(cls, ViewSetMixin):
            missing = routed_actions(cls) - set(cls.required_perms) - set(IMPLICIT_PERMS)
            if missing:
                raise ImproperlyConfigured(
                    f"{cls.__name__}.required_perms has no entry for: {', '.join(sorted(missing))}. "
                    "Every action needs an explicit permission (Perm.TENANT_VIEW for reads)."
                )

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
        membership = self.membership  # strangers get their 404 before anything else
        if request.method not in SAFE_METHODS:
            require_not_suspended(membership.tenant)
        if isinstance(self, ViewSetMixin):
            action = self.action
            if action is None:
                return  # a method this route does not map: DRF answers 405 next
        else:
            action = (request.method or "").lower()
        perm = self.required_perms.get(action) or IMPLICIT_PERMS.get(action)
        if perm is None:
            raise Forbidden(f"The action “{action}” has no permission rule, so it is refused.", code="not_permitted")
        require(membership, perm)
        self.resolve_url_objects()

    def resolve_url_objects(self) -> None:
        """Load what the URL names before the body is read: a foreign id is 404, never a 400 first.

        Costs one query on detail routes; subclasses with parent objects in the URL extend it.
        """
        if getattr(self, "detail", False):
            self.get_object()  # type: ignore[attr-defined]
