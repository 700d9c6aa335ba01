"""The deletion rule, checked before a delete (docs/decisions.md).

Rows that another tenant depends on (subscriptions and their trail) point at what they
depend on with ``on_delete=PROTECT``: Django refuses to delete the target (``ProtectedError``)
and PostgreSQL's foreign key refuses a raw ``DELETE``. Services ask this module *before*
deleting so they can answer with a 409 that says what to do instead; this module knows no
app, so a lower layer (apis, tenants) can ask about rows of a higher one (subscriptions).
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import ForeignObjectRel


def _protecting_relations(model: type[models.Model]) -> list[ForeignObjectRel]:
    """The reverse relations whose rows protect a ``model`` row from deletion."""
    relations = []
    # include_hidden: most of these FKs have related_name="+" (no reverse accessor).
    for relation in model._meta.get_fields(include_hidden=True):
        if not isinstance(relation, ForeignObjectRel):
            continue
        if not (relation.auto_created and not relation.concrete and (relation.one_to_many or relation.one_to_one)):
            continue
        if relation.on_delete is not models.PROTECT:
            continue
        relations.append(relation)
    return relations


def protected_dependents(instance: models.Model) -> list[str]:
    """Names of the models whose rows protect ``instance`` from deletion (empty: none do).

    Only direct ``PROTECT`` relations are checked; the delete itself still catches
    ``ProtectedError`` for anything deeper in the cascade.
    """
    found: list[str] = []
    for relation in _protecting_relations(type(instance)):
        related: Any = relation.related_model
        # The base manager: this is a platform-wide integrity check, not a tenant read.
        if related._base_manager.filter(**{relation.field.name: instance}).exists():
            name = str(related._meta.verbose_name_plural)
            if name not in found:
                found.append(name)
    return found


def protected_ids(model: type[models.Model], pks: list[Any]) -> set[Any]:
    """Which of the ``model`` rows ``pks`` are protected from deletion: for a list of rows.

    One query per protecting relation, whatever the number of rows (``protected_dependents``
    asks once per row and relation).
    """
    if not pks:
        return set()
    found: set[Any] = set()
    for relation in _protecting_relations(model):
        related: Any = relation.related_model
        field = relation.field
        rows = related._base_manager.filter(**{f"{field.name}__in": pks}).values_list(field.attname, flat=True)
        found |= set(rows.order_by().distinct())
    return found
