"""How numbers, limits and counts read everywhere (pages, messages, e-mails): one place, one style.

* a number: ``10,000,000`` (thousands separated by commas, whatever the locale);
* a limit: ``10,000,000 / month``, ``60 / min``, or ``unlimited`` when there is none (empty);
* a count of things: ``1 request``, ``3 requests`` — never ``request(s)``.
"""

from __future__ import annotations

#: The period names a limit is written with.
PER = {"second": "s", "s": "s", "minute": "min", "min": "min", "day": "day", "month": "month"}


def number(value: int | float | None) -> str:
    """``10,000,000``; an absent value is an em dash."""
    if value is None or value == "":
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


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
