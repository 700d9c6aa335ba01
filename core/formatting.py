"""How numbers, limits and counts read everywhere (pages, messages, e-mails): one place, one style.

* a number: ``10,000,000`` (thousands separated by commas, whatever the locale);
* a limit: ``10,000,000 / month``, ``60 / min``, or ``unlimited`` when there is none (empty);
* a price or budget: ``0.15``, ``10`` (as entered: no trailing zeros, no exponent);
* a count of things: ``1 request``, ``3 requests`` — never ``request(s)``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

#: The period names a limit is written with.
PER = {"second": "s", "s": "s", "minute": "min", "min": "min", "day": "day", "month": "month"}


def number(value: int | float | None) -> str:
    """``10,000,000``; an absent value is an em dash."""
    if value is None or value == "":
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def decimal(value: Any) -> str:
    """A price or budget as entered: ``Decimal("0.500000")`` → ``0.5``, ``10`` → ``10`` (never ``1E+1``)."""
    if value is None or value == "":
        return "—"
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    text = format(number.normalize(), "f")
    return text if text != "-0" else "0"


def limit(value: int | None, per: str = "") -> str:
    """A rate limit or quota: ``10,000,000 / month``; empty means ``unlimited``."""
    if value is None or value == "":
        return "unlimited"
    text = number(value)
    return f"{text} / {PER.get(per, per)}" if per else text


def plural(count: int, singular: str, plural_form: str = "") -> str:
    """``1 request``, ``2 requests`` (``plural_form`` for irregular words: ``plural(n, "entry", "entries")``)."""
    word = singular if count == 1 else (plural_form or f"{singular}s")
    return f"{number(count)} {word}"
