"""Read a field's limits from the model, so forms and serializers never repeat the numbers.

A limit is written once, on the model field (``max_length``, ``MaxValueValidator`` /
``MinValueValidator``); ``TextField(max_length=…)`` is enforced by forms and serializers, not
by the database. Forms and serializers call these helpers instead of writing the number again.
"""

from __future__ import annotations

from typing import Any

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


def _field(model: type[models.Model], name: str) -> Any:
    field = model._meta.get_field(name)
    # An ArrayField's limits are those of its items.
    return getattr(field, "base_field", field)


def max_length(model: type[models.Model], name: str) -> int:
    value = _field(model, name).max_length
    if value is None:
        raise LookupError(f"{model.__name__}.{name} has no max_length")
    return int(value)


def max_value(model: type[models.Model], name: str) -> int:
    for validator in _field(model, name).validators:
        if isinstance(validator, MaxValueValidator):
            return int(validator.limit_value)
    raise LookupError(f"{model.__name__}.{name} has no MaxValueValidator")


def min_value(model: type[models.Model], name: str) -> int:
    for validator in _field(model, name).validators:
        if isinstance(validator, MinValueValidator):
            return int(validator.limit_value)
    raise LookupError(f"{model.__name__}.{name} has no MinValueValidator")
