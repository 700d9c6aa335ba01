"""Reading, validating and indexing OpenAPI 3.0 / 3.1 documents uploaded by providers.

Nothing here touches the network or the file system: external ``$ref``s are refused before
the validator sees the document, because resolving them would make the portal fetch URLs
(or read files) on a user's behalf.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml
from django.conf import settings
from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator

from core.errors import InvalidInput, PayloadTooLarge
from core.validators import UNSAFE_MESSAGE, contains_unsafe_text

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
#: How many validation problems a 400 lists; the first one is usually the cause of the rest.
MAX_REPORTED_ERRORS = 10
#: How deep YAML collections may nest. Real documents stay far below (a schema nested 40
#: objects deep is ~90 levels); libyaml's composer recurses in C and crashes the process
#: (segfault, not an exception) somewhere past ~20,000 levels, so this is checked first.
MAX_DEPTH = 200
#: Uploads are read in chunks of this size, so an oversize body is refused after reading at
#: most the limit plus one chunk.
READ_CHUNK_BYTES = 64 * 1024
# Strings PostgreSQL cannot store (NUL) or that are not Unicode text (lone surrogates, which
# JSON's \ud800 escapes can produce): refused with a 400 instead of failing the insert.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class SpecInvalid(InvalidInput):
    """A 400 that lists every problem found (each naming its path) under one field."""

    def __init__(self, problems: list[str], *, field: str = "openapi") -> None:
        shown = problems[:MAX_REPORTED_ERRORS]
        more = f" (and {len(problems) - len(shown)} more)" if len(problems) > len(shown) else ""
        super().__init__(f"The OpenAPI document is invalid: {shown[0]}{more}", code="invalid_openapi", field=field)
        self.problems = shown

    @property
    def fields(self) -> dict[str, list[str]]:
        return {self.field or "openapi": self.problems}


class _Loader(yaml.CSafeLoader):
    """libyaml's C parser and composer with the safe constructor; dates stay strings.

    The former pure-Python loader refused aliases in ``compose_node``; the C composer cannot be
    hooked, so :func:`_check_events` walks libyaml's event stream first (about a tenth of the
    cost of a load) and refuses aliases ("billion laughs": a few hundred bytes that expand into
    gigabytes once walked) and nesting deeper than MAX_DEPTH before anything is composed.
    Timestamps are kept as strings by the constructor below, as before; external ``$ref``s are
    refused in :func:`validate`, which does not depend on the loader.
    """


_Loader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))  # type: ignore[arg-type]


def _line(event: yaml.Event) -> str:
    return str(event.start_mark.line + 1) if event.start_mark is not None else "?"


def _check_events(text: str, *, field: str) -> None:
    """Refuse YAML aliases and excessive nesting, from libyaml's events, before composing."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.CSafeLoader):
        if isinstance(event, yaml.AliasEvent):
            raise SpecInvalid([f"line {_line(event)}: YAML aliases (*{event.anchor}) are not allowed."], field=field)
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise SpecInvalid(
                    [f"line {_line(event)}: the document is nested more than {MAX_DEPTH} levels deep."],
                    field=field,
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _size_label(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size >= 1024 * 1024 else f"{size / 1024:.0f} KB"


def too_large(size: int | None = None, *, field: str = "openapi") -> PayloadTooLarge:
    """The 413 for a document over OPENAPI_MAX_BYTES (``size`` when known)."""
    limit = _size_label(settings.OPENAPI_MAX_BYTES)
    found = f" ({_size_label(size)})" if size is not None else ""
    return PayloadTooLarge(
        f"The OpenAPI document is too large{found}; the limit is {limit}.", code="too_large", field=field
    )


def check_size(size: int, *, field: str = "openapi") -> None:
    if size > settings.OPENAPI_MAX_BYTES:
        raise too_large(size, field=field)


def read_limited(read: Callable[[int], bytes], *, field: str = "openapi") -> bytes:
    """Read a body or file through ``read(n)`` in chunks; stop with a 413 as soon as it passes the limit.

    At most OPENAPI_MAX_BYTES + one chunk is ever held in memory, whatever the sender claims.
    """
    limit = settings.OPENAPI_MAX_BYTES
    chunks: list[bytes] = []
    total = 0
    while chunk := read(READ_CHUNK_BYTES):
        total += len(chunk)
        if total > limit:
            raise too_large(field=field)
        chunks.append(chunk)
    return b"".join(chunks)


def source_text(raw: str | bytes | dict, *, field: str = "openapi") -> str:
    """The uploaded document as text, size-checked and storable (what a background task parses later)."""
    if isinstance(raw, dict):
        try:
            text = json.dumps(raw)  # ASCII-escaped, so always storable as text
        except (TypeError, ValueError, RecursionError) as error:
            raise SpecInvalid([f"not serialisable as JSON ({error})."], field=field) from None
        check_size(len(text), field=field)
        return text
    if isinstance(raw, bytes):
        check_size(len(raw), field=field)
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise SpecInvalid(["the file is not UTF-8 text."], field=field) from None
    check_size(len(raw.encode("utf-8", "surrogatepass")), field=field)
    if _UNSTORABLE.search(raw):
        raise SpecInvalid(["the document contains NUL bytes or lone surrogates; it must be UTF-8 text."], field=field)
    if not raw.strip():
        raise InvalidInput("The OpenAPI document is empty.", code="invalid_openapi", field=field)
    return raw


def parse(raw: str | bytes | dict, *, field: str = "openapi") -> dict[str, Any]:
    """Turn uploaded JSON or YAML (text, bytes or an already parsed object) into a JSON-clean dict."""
    if isinstance(raw, dict):
        source_text(raw, field=field)
        return raw
    raw = source_text(raw, field=field)
    try:
        # JSON is a subset of YAML, but json.loads gives better messages for JSON uploads.
        if raw.lstrip().startswith("{"):
            document = json.loads(raw)
        else:
            _check_events(raw, field=field)
            document = yaml.load(raw, Loader=_Loader)  # noqa: S506 - a CSafeLoader subclass
    except json.JSONDecodeError as error:
        raise SpecInvalid(
            [f"not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}."], field=field
        ) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise SpecInvalid([f"not valid YAML: {problem}{where}."], field=field) from None
    except RecursionError:
        raise SpecInvalid(["the document is nested too deeply."], field=field) from None
    if not isinstance(document, dict):
        raise SpecInvalid(["the top level must be an object with an `openapi` field."], field=field)
    try:
        # Round trip: YAML may have integer keys (response codes) and other non-JSON scalars.
        return json.loads(json.dumps(document))
    except (TypeError, ValueError, RecursionError) as error:
        raise SpecInvalid([f"not representable as JSON ({error})."], field=field) from None


def format_path(parts: Any) -> str:
    path = " › ".join(str(part) for part in parts)
    return path or "(document root)"


def _external_refs(node: Any, path: list[Any], found: list[str]) -> None:
    """External ``$ref``s, and strings PostgreSQL cannot store (NUL, lone surrogates from JSON escapes)."""
    if len(found) >= MAX_REPORTED_ERRORS:
        return
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str) and _UNSTORABLE.search(key):
                found.append(f"at {format_path(path)}: a key contains a NUL character or a lone surrogate.")
            elif key == "$ref" and isinstance(value, str) and not value.startswith("#"):
                found.append(
                    f"at {format_path(path)}: external $ref “{value[:100]}” is not allowed; "
                    "bundle the document into one file."
                )
            else:
                _external_refs(value, [*path, key], found)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _external_refs(value, [*path, index], found)
    elif isinstance(node, str) and _UNSTORABLE.search(node):
        found.append(f"at {format_path(path)}: the text contains a NUL character or a lone surrogate.")


def validate(document: dict[str, Any], *, field: str = "openapi") -> str:
    """Validate against the OpenAPI 3.0 / 3.1 schema; return the version, or raise SpecInvalid."""
    version = document.get("openapi")
    if not isinstance(version, str):
        if "swagger" in document:
            raise SpecInvalid(
                [f"Swagger {document['swagger']} is not supported; convert it to OpenAPI 3.0 or 3.1."], field=field
            )
        raise SpecInvalid(["at openapi: the `openapi` version field is missing (e.g. “3.1.0”)."], field=field)
    if version.startswith("3.0"):
        validator_class: Any = OpenAPIV30SpecValidator
    elif version.startswith("3.1"):
        validator_class = OpenAPIV31SpecValidator
    else:
        raise SpecInvalid([f"at openapi: version “{version}” is not supported; use 3.0.x or 3.1.x."], field=field)
    external: list[str] = []
    _external_refs(document, [], external)
    if external:
        raise SpecInvalid(external, field=field)
    problems = []
    try:
        for error in validator_class(document).iter_errors():
            path = getattr(error, "absolute_path", None) or getattr(error, "path", None) or []
            problems.append(f"at {format_path(path)}: {error.message}")
            if len(problems) > MAX_REPORTED_ERRORS:
                break
    except RecursionError:
        problems.append("the document is nested too deeply (or has circular references the validator cannot follow).")
    except Exception as error:  # noqa: BLE001 - the validator raises many types on malformed $refs
        problems.append(f"could not be validated: {error}")
    if problems:
        raise SpecInvalid(problems, field=field)
    return version


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    summary: str
    deprecated: bool


#: Longest path template stored (the endpoint column); longer ones are refused, not cut,
#: since two long paths cut to the same prefix would collide on (version, method, path).
MAX_PATH_LENGTH = 500


def operations(document: dict[str, Any], *, field: str = "openapi") -> list[Operation]:
    """Every (method, path template) of a validated document, in document order."""
    found: list[Operation] = []
    for path, item in (document.get("paths") or {}).items():
        if not isinstance(item, dict):
            continue
        if len(str(path)) > MAX_PATH_LENGTH:
            raise InvalidInput(
                f"Path “{str(path)[:60]}…” is longer than {MAX_PATH_LENGTH} characters.", code="too_long", field=field
            )
        for method in HTTP_METHODS:
            operation = item.get(method)
            if not isinstance(operation, dict):
                continue
            found.append(
                Operation(
                    method=method.upper(),
                    path=str(path),
                    operation_id=str(operation.get("operationId") or "")[:200],
                    summary=str(operation.get("summary") or "")[:300],
                    deprecated=bool(operation.get("deprecated", False)),
                )
            )
    return found


def count_operations(document: dict[str, Any]) -> int:
    """How many endpoints :func:`operations` would extract, without building them."""
    paths = document.get("paths")
    if not isinstance(paths, dict):
        return 0
    return sum(
        1 for item in paths.values() if isinstance(item, dict) for m in HTTP_METHODS if isinstance(item.get(m), dict)
    )


def check_endpoint_count(document: dict[str, Any], *, field: str = "openapi") -> int:
    """The number of endpoints, or a 400 past OPENAPI_MAX_ENDPOINTS."""
    count = count_operations(document)
    if count > settings.OPENAPI_MAX_ENDPOINTS:
        raise InvalidInput(
            f"The OpenAPI document has {count:,} endpoints; the limit is {settings.OPENAPI_MAX_ENDPOINTS:,}.",
            code="too_many_endpoints",
            field=field,
        )
    return count


def load(raw: str | bytes | dict, *, field: str = "openapi") -> tuple[dict[str, Any], str]:
    """Parse and validate in one go: ``(document, openapi_version)``."""
    document = parse(raw, field=field)
    # PostgreSQL cannot store NUL in text or jsonb, nor UTF-8 encode a lone surrogate.
    if contains_unsafe_text(document):
        raise InvalidInput(f"The document cannot be stored: {UNSAFE_MESSAGE}", field=field)
    openapi_version = validate(document, field=field)
    check_endpoint_count(document, field=field)
    return document, openapi_version


def for_gateway(document: dict[str, Any], server_url: str) -> dict[str, Any]:
    """A copy of the document whose ``servers`` point at the gateway, for the reference docs."""
    served = dict(document)
    served["servers"] = [{"url": server_url, "description": "API gateway"}]
    return served
