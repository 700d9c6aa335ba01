"""Tenant isolation that fails closed.

Every model a tenant owns uses ``TenantScopedManager`` as ``objects``. A queryset from it
raises ``TenantScopeError`` when it is evaluated unless it was narrowed first with
``.for_tenant(tenant)`` (or another scope the model defines), or escaped explicitly with
``.unscoped()``. Forgetting the scope is therefore a loud error in tests, never a silent
cross-tenant leak. ``grep -rn "unscoped()"`` lists every escape hatch.

The same holds when the queryset is not evaluated itself but compiled into another query as a
subquery (``Exists(qs)``, ``Subquery(qs)``, ``filter(x__in=qs)``, ``qs.union(other)``): the scope
lives on the SQL ``Query`` object (``TenantScopedQuery``), which refuses to compile as a subquery
without one. A correlated subquery (``OuterRef``) is narrowed by its outer row, but still has to
say so: scope it (``.for_tenant(...)``) or write ``.unscoped()`` with a comment saying why.

Related-object access (``membership.tenant``, ``user.memberships``, cascades) counts as scoped:
those paths start from one object the caller was allowed to load.
"""

from __future__ import annotations

from typing import Any, Self

from django.db import models
from django.db.models.sql import Query


class TenantScopeError(RuntimeError):
    """A tenant-owned queryset was evaluated without a tenant scope."""


def _scope_error(model: Any) -> TenantScopeError:
    return TenantScopeError(
        f"{model.__name__} queryset used without a tenant scope: call "
        ".for_tenant(tenant) (or .unscoped() where crossing tenants is intended)."
    )


class TenantScopedQuery(Query):
    """The SQL query of a tenant-owned queryset; it carries the scope.

    Keeping the scope here rather than only on the QuerySet matters for subqueries: Django
    hands ``qs.query`` (a clone of it) to ``Exists``/``Subquery``/``__in`` and compiles it
    through ``Query.as_sql`` without evaluating the queryset, so this is the one place every
    subquery passes. ``clone()`` copies ``__dict__``, so the scope follows every chained call.
    """

    tenant_scope: str | None = None

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, Any]:
        # Query.as_sql is only used when this query is compiled inside another one; the
        # top-level evaluation is checked by the queryset (which knows the method called).
        if self.tenant_scope is None:
            raise _scope_error(self.model)
        return super().as_sql(compiler, connection)


class TenantScopedQuerySet(models.QuerySet):
    #: The field holding the owning tenant; models may point it elsewhere.
    tenant_field = "tenant"

    def __init__(self, model: Any = None, query: Query | None = None, **kwargs: Any) -> None:
        super().__init__(model, query or TenantScopedQuery(model), **kwargs)

    @property
    def _scope(self) -> str | None:
        # ``_query``, not ``query``: reading the scope must not apply a deferred filter.
        return getattr(self._query, "tenant_scope", None)  # type: ignore[attr-defined]

    @_scope.setter
    def _scope(self, scope: str | None) -> None:
        self._query.tenant_scope = scope  # type: ignore[attr-defined]

    def _scoped(self, scope: str) -> Self:
        clone = self._chain()  # type: ignore[attr-defined]
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
            raise _scope_error(self.model)

    def __or__(self, other: Any) -> Self:
        # ``scoped | unscoped`` would widen the result to every tenant.
        if isinstance(other, TenantScopedQuerySet):
            other._check_scope()
        return super().__or__(other)

    def __xor__(self, other: Any) -> Self:
        if isinstance(other, TenantScopedQuerySet):
            other._check_scope()
        return super().__xor__(other)  # type: ignore[misc]

    def _combinator_query(self, combinator: str, *other_qs: Any, **kwargs: Any) -> Self:
        # union()/intersection()/difference() compile the other querysets without evaluating
        # them: each one must carry its own scope.
        for other in other_qs:
            if isinstance(other, TenantScopedQuerySet):
                other._check_scope()
        return super()._combinator_query(combinator, *other_qs, **kwargs)  # type: ignore[misc]

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
