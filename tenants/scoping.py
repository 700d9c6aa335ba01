"""Tenant isolation that fails closed.

Every model a tenant owns uses ``TenantScopedManager`` as ``objects``. A queryset from it
raises ``TenantScopeError`` when it is evaluated unless it was narrowed first with
``.for_tenant(tenant)`` (or another scope the model defines), or escaped explicitly with
``.unscoped()``. Forgetting the scope is therefore a loud error in tests, never a silent
cross-tenant leak. ``grep -rn "unscoped()"`` lists every escape hatch.

Related-object access (``membership.tenant``, ``user.memberships``, cascades) counts as scoped:
those paths start from one object the caller was allowed to load.
"""

from __future__ import annotations

from typing import Any, Self

from django.db import models


class TenantScopeError(RuntimeError):
    """A tenant-owned queryset was evaluated without a tenant scope."""


class TenantScopedQuerySet(models.QuerySet):
    #: The field holding the owning tenant; models may point it elsewhere.
    tenant_field = "tenant"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._scope: str | None = None

    def _clone(self) -> Self:
        clone = super()._clone()
        clone._scope = self._scope
        return clone

    def _scoped(self, scope: str) -> Self:
        clone = self._chain()
        clone._scope = scope
        return clone

    def for_tenant(self, tenant: Any) -> Self:
        if tenant is None:
            raise TenantScopeError(f"{self.model.__name__}.for_tenant() needs a tenant, got None.")
        return self.filter(**{self.tenant_field: tenant})._scoped("tenant")

    def unscoped(self) -> Self:
        """Escape tenant scoping on purpose: platform staff views, tasks, admin."""
        return self._scoped("unscoped")

    def _check_scope(self) -> None:
        if self._scope is None:
            raise TenantScopeError(
                f"{self.model.__name__} queryset used without a tenant scope: call "
                ".for_tenant(tenant) (or .unscoped() where crossing tenants is intended)."
            )

    def _fetch_all(self) -> None:
        if self._result_cache is None:
            self._check_scope()
        super()._fetch_all()

    def count(self) -> int:
        self._check_scope()
        return super().count()

    def exists(self) -> bool:
        self._check_scope()
        return super().exists()

    def aggregate(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self._check_scope()
        return super().aggregate(*args, **kwargs)

    def update(self, **kwargs: Any) -> int:
        self._check_scope()
        return super().update(**kwargs)

    def delete(self) -> tuple[int, dict[str, int]]:
        self._check_scope()
        return super().delete()

    def iterator(self, *args: Any, **kwargs: Any) -> Any:
        self._check_scope()
        return super().iterator(*args, **kwargs)


class TenantScopedManager(models.Manager.from_queryset(TenantScopedQuerySet)):  # type: ignore[misc]
    """Default manager of tenant-owned models; see the module docstring."""

    def get_queryset(self) -> TenantScopedQuerySet:
        queryset = super().get_queryset()
        # Reverse/many-to-many managers (``tenant.memberships``, ``user.tokens``) subclass this
        # manager and are already narrowed to one parent object the caller could load.
        if hasattr(self, "core_filters"):
            queryset._scope = "related"
        return queryset
