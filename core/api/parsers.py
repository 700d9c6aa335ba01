"""A JSON parser for the REST API that no body can turn into a 500.

DRF's own parser hands the stream to ``json.load``: a body of thousands of ``[`` raises
``RecursionError`` (a 500), ``"\\u0000"`` reaches PostgreSQL (which refuses NUL in text,
another 500), ``"\\ud800"`` cannot be encoded as UTF-8. DRF reads JSON through
``request.body`` (bounded by ``DATA_UPLOAD_MAX_MEMORY_SIZE``, answered 413 by the error
handler); ``MAX_JSON_BODY_BYTES`` bounds the stream here too, for parsers called on a raw stream.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser

from core.validators import contains_unsafe_text

#: Deepest nesting of arrays/objects accepted; real payloads of this API use fewer than 10.
MAX_JSON_DEPTH = 64
_STRING_RE = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_BRACKETS_RE = re.compile(rb"[\[\]{}]")


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


def max_body_bytes() -> int:
    return settings.MAX_JSON_BODY_BYTES


def json_depth(raw: bytes) -> int:
    """Deepest bracket nesting of a JSON text, ignoring brackets inside strings (linear time)."""
    depth = deepest = 0
    for bracket in _BRACKETS_RE.findall(_STRING_RE.sub(b'""', raw)):
        if bracket in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def parse_json_bytes(raw: bytes) -> Any:
    """Parse a JSON body with the portal's limits; raise ``ParseError`` (400) on anything hostile."""
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise ParseError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels.")
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise ParseError("The body is not valid UTF-8.") from None
    except (ValueError, RecursionError) as exc:
        raise ParseError(f"JSON parse error: {exc}") from None
    if contains_unsafe_text(data):
        raise ParseError("Text must not contain NUL bytes or unpaired surrogates.")
    return data


class SafeJSONParser(JSONParser):
    """``JSONParser`` with a size limit (413), a depth limit and a NUL/surrogate check (400)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        if stream is None:
            return None
        limit = max_body_bytes()
        raw = stream.read(limit + 1)
        if len(raw) > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
        return parse_json_bytes(raw)
