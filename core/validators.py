"""Text validation shared by every app: one rule for single-line fields, one for hostile characters.

* ``validate_single_line`` is the model/form validator for names, labels and slugs: no
  control characters at all (CR and LF included), so a name can never forge a second line
  in an e-mail header, a CSV export or a log line.
* ``unsafe_text`` finds what PostgreSQL (NUL) or UTF-8 (lone surrogates) cannot store; the
  request middleware and the JSON parser refuse such input before it reaches a service.
* ``clean_text`` is the one helper services use for free-text arguments: strip, require,
  refuse over-long values (never truncate: a truncated value can collide on a unique column)
  and, for single-line fields, refuse control characters.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError

from core.errors import InvalidInput

#: C0 and C1 control characters, DEL, and the Unicode line/paragraph separators.
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: NUL (PostgreSQL text cannot hold it) and UTF-16 surrogates (not encodable as UTF-8).
UNSAFE_RE = re.compile(r"[\x00\ud800-\udfff]")
#: Multi-line text may hold line breaks and tabs, but no other control character.
MULTILINE_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|[\ud800-\udfff]")

SINGLE_LINE_MESSAGE = "Use a single line without control characters."
UNSAFE_MESSAGE = "Text must not contain NUL bytes or unpaired surrogates."


def unsafe_text(value: str) -> bool:
    """True when ``value`` holds a NUL byte or a lone surrogate."""
    return bool(UNSAFE_RE.search(value))


def contains_unsafe_text(value: Any) -> bool:
    """True when any string or key of a parsed JSON/YAML document holds NUL or a lone surrogate.

    Iterative, so a deeply nested document cannot exhaust the stack.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if UNSAFE_RE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


def validate_single_line(value: object) -> None:
    """Django validator: refuse control characters (CR/LF included) and lone surrogates."""
    if isinstance(value, str) and (CONTROL_RE.search(value) or UNSAFE_RE.search(value)):
        raise ValidationError(SINGLE_LINE_MESSAGE, code="control_characters")


def validate_multiline(value: object) -> None:
    """Django validator for free text: line breaks and tabs are fine, other controls are not."""
    if isinstance(value, str) and MULTILINE_CONTROL_RE.search(value):
        raise ValidationError("Text must not contain control characters.", code="control_characters")


def clean_text(
    value: str | None,
    *,
    field: str,
    max_length: int,
    required: bool = False,
    label: str = "",
    single_line: bool = True,
) -> str:
    """Strip and check one text argument of a service; raise ``InvalidInput`` naming the field.

    ``label`` replaces the default "… is required." message. Over-long values are refused
    with the limit in the message, never truncated.
    """
    value = (value or "").strip()
    if required and not value:
        raise InvalidInput(label or f"{field.replace('_', ' ').capitalize()} is required.", field=field)
    if len(value) > max_length:
        raise InvalidInput(f"At most {max_length} characters.", field=field)
    if single_line and (CONTROL_RE.search(value) or UNSAFE_RE.search(value)):
        raise InvalidInput(SINGLE_LINE_MESSAGE, code="control_characters", field=field)
    if not single_line and MULTILINE_CONTROL_RE.search(value):
        raise InvalidInput("Text must not contain control characters.", code="control_characters", field=field)
    return value
