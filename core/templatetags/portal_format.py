"""Template filters over core.formatting, plus the shared form rendering helpers.

``{{ plan.quota_per_month|limit:"month" }}`` → ``10,000,000 / month`` or ``unlimited``;
``{{ calls|number }}`` → ``10,000``; ``{{ price|decimal }}`` → ``0.15``;
``{{ n|plural:"request" }}`` → ``1 request`` / ``2 requests``
(``{{ n|plural:"entry,entries" }}`` for irregular plurals).
"""

from __future__ import annotations

from typing import Any

from django import forms, template

from core import formatting

register = template.Library()


@register.filter
def number(value: Any) -> str:
    return formatting.number(value)


@register.filter
def decimal(value: Any) -> str:
    """A price or budget as written, without trailing zeros or exponent: ``0.500000`` → ``0.5``, ``10`` → ``10``."""
    return formatting.decimal(value)


@register.filter
def limit(value: Any, per: str = "") -> str:
    return formatting.limit(value, per)


@register.filter
def plural(count: Any, words: str) -> str:
    singular, _, plural_form = words.partition(",")
    return formatting.plural(int(count or 0), singular, plural_form)


@register.filter
def error_count(form: forms.BaseForm) -> int:
    """How many problems a bound form has (field and non-field errors together)."""
    return sum(len(errors) for errors in form.errors.values())
