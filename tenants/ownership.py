"""The ownership check every service runs on the objects it is handed.

Views load objects through ``for_tenant(...)``, but a service must not trust its caller: it
may be called from a REST view, a web view, a task or a later app. Each domain therefore
re-loads what it receives through :func:`get_owned` (the one helper; ``apis``, ``subscriptions``
and ``notifications`` call it too), which answers ``NotFound`` (404) for an object of another
tenant *and* for one that vanished meanwhile, never ``DoesNotExist`` (a 500).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar, overload

from django.core.exceptions import ObjectDoesNotExist
from django.db import models

from core.errors import NotFound
from tenants.models import Membership

M = TypeVar("M", bound=models.Model)


def not_found(model: type[models.Model]) -> NotFound:
    return NotFound(f"No such {model._meta.verbose_name}.")


def check_owned(actor: Membership, obj: models.Model, *, field: str = "tenant_id") -> None:
    """Cheap check without a query: ``obj`` belongs to the actor's tenant, else NotFound."""
    if getattr(obj, field) != actor.tenant_id:
        raise not_found(type(obj))


@overload
def get_owned(actor: Membership, obj: M, *, lock: bool = ..., related: Sequence[str] = ...) -> M: ...


@overload
def get_owned(
    actor: Membership, obj: object, *, model: type[M], lock: bool = ..., related: Sequence[str] = ...
) -> M: ...


def get_owned(
    actor: Membership,
    obj: Any,
    *,
    model: type[models.Model] | None = None,
    lock: bool = False,
    related: Sequence[str] = (),
) -> Any:
    """``obj`` (an instance, or a primary key with ``model``) re-read inside the actor's tenant.

    ``lock`` takes a row lock (``SELECT … FOR UPDATE`` of this table only, so the tenant and
    other joined rows are not locked). NotFound when the object is another tenant's or gone.
    """
    if model is None:
        if not isinstance(obj, models.Model):
            raise TypeError("get_owned() needs model= when given a primary key.")
        model = type(obj)
    pk = obj.pk if isinstance(obj, models.Model) else obj
    manager: Any = model._default_manager
    queryset = manager.for_tenant(actor.tenant)
    if related:
        queryset = queryset.select_related(*related)
    if lock:
        queryset = queryset.select_for_update(of=("self",))
    try:
        return queryset.get(pk=pk)
    except (ObjectDoesNotExist, ValueError, TypeError):
        # ValueError/TypeError: a pk that is not even a number cannot be ours either.
        raise not_found(model) from None
