"""Strict query-string filters (django-filter) shared by the REST list endpoints and web lists.

django-filter's own ``BooleanFilter`` silently ignores a value it does not understand
(``?unread=maybe`` lists everything) and ``NumberFilter`` accepts decimals and numbers the
database cannot hold: these refuse them, so a bad filter is a 400 (REST, in the error shape)
or a form error (web), never a silently ignored parameter nor a 500.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

#: Largest value of a BigAutoField primary key (PostgreSQL bigint).
MAX_ID = 2**63 - 1


def is_id(value: object) -> bool:
    """An object id from text: ASCII digits (``str.isdigit`` also accepts "²", which ``int`` refuses)
    for a number the database can hold."""
    text = str(value)
    return text.isascii() and text.isdigit() and 0 < int(text) <= MAX_ID


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


class StrictBooleanField(forms.Field):
    """``true``/``false`` (also 1/0, yes/no, on/off); empty means "not given"; anything else is an error."""

    def to_python(self, value: Any) -> bool | None:
        if value in (None, ""):
            return None
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValidationError("Use true or false.", code="invalid")


@extend_schema_field(OpenApiTypes.BOOL)
class StrictBooleanFilter(django_filters.Filter):
    field_class = StrictBooleanField


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(django_filters.NumberFilter):
    """An object id: a whole number the database can hold."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


@extend_schema_field(OpenApiTypes.INT)
class CountFilter(django_filters.NumberFilter):
    """A non-negative whole number (hours, days…), bounded so date arithmetic cannot overflow."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, max_value: int, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 0)
        super().__init__(*args, max_value=max_value, **kwargs)


class ListOnlyFilterMixin:
    """Apply the viewset's FilterSet to ``list`` only.

    ``GenericAPIView.get_object`` runs ``filter_queryset`` too, so a list filter with a default
    (e.g. "pending invitations only") would otherwise hide objects from retrieve and the actions.
    """

    action: Any
    request: Any  # Request; typed loosely so it combines with DRF's view classes

    def filter_queryset(self, queryset: Any) -> Any:
        if self.action != "list":
            return queryset
        return super().filter_queryset(queryset)  # type: ignore[misc]
