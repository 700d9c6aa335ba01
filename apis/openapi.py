"""Reading, validating and indexing OpenAPI 3.0 / 3.1 documents uploaded by providers.

Nothing here touches the network or the file system: external ``$ref``s are refused before
the validator sees the document, because resolving them would make the portal fetch URLs
(or read files) on a user's behalf.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml
from django.conf import settings
from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator

from core.errors import InvalidInput
from core.validators import UNSAFE_MESSAGE, contains_unsafe_text

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
#: How many validation problems a 400 lists; the first one is usually the cause of the rest.
MAX_REPORTED_ERRORS = 10


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


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps dates as strings and refuses aliases.

    Aliases let a few hundred bytes of YAML expand into gigabytes once the document is
    walked ("billion laughs"); OpenAPI documents do not need them.
    """

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise SpecInvalid([f"line {event.start_mark.line + 1}: YAML aliases (*{event.anchor}) are not allowed."])
        return super().compose_node(parent, index)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))


def _size_label(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size >= 1024 * 1024 else f"{size / 1024:.0f} KB"


def check_size(size: int, *, field: str = "openapi") -> None:
    limit = settings.OPENAPI_MAX_BYTES
    if size > limit:
        raise InvalidInput(
            f"The OpenAPI document is too large ({_size_label(size)}); the limit is {_size_label(limit)}.",
            code="openapi_too_large",
            field=field,
        )


def parse(raw: str | bytes | dict, *, field: str = "openapi") -> dict[str, Any]:
    """Turn uploaded JSON or YAML (text, bytes or an already parsed object) into a JSON-clean dict."""
    if isinstance(raw, dict):
        try:
            text = json.dumps(raw)
        except (TypeError, ValueError, RecursionError) as error:
            raise SpecInvalid([f"not serialisable as JSON ({error})."], field=field) from None
        check_size(len(text.encode()), field=field)
        return raw
    if isinstance(raw, bytes):
        check_size(len(raw), field=field)
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise SpecInvalid(["the file is not UTF-8 text."], field=field) from None
    check_size(len(raw.encode()), field=field)
    if not raw.strip():
        raise InvalidInput("The OpenAPI document is empty.", code="invalid_openapi", field=field)
    try:
        # JSON is a subset of YAML, but json.loads gives better messages for JSON uploads.
        document = json.loads(raw) if raw.lstrip().startswith("{") else yaml.load(raw, Loader=_Loader)  # noqa: S506
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
    if len(found) >= MAX_REPORTED_ERRORS:
        return
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and not value.startswith("#"):
                found.append(
                    f"at {format_path(path)}: external $ref “{value[:100]}” is not allowed; "
                    "bundle the document into one file."
                )
            else:
                _external_refs(value, [*path, key], found)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _external_refs(value, [*path, index], found)


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


def load(raw: str | bytes | dict, *, field: str = "openapi") -> tuple[dict[str, Any], str]:
    """Parse and validate in one go: ``(document, openapi_version)``."""
    document = parse(raw, field=field)
    # PostgreSQL cannot store NUL in text or jsonb, nor UTF-8 encode a lone surrogate.
    if contains_unsafe_text(document):
        raise InvalidInput(f"The document cannot be stored: {UNSAFE_MESSAGE}", field=field)
    return document, validate(document, field=field)


def for_gateway(document: dict[str, Any], server_url: str) -> dict[str, Any]:
    """A copy of the document whose ``servers`` point at the gateway, for the reference docs."""
    served = dict(document)
    served["servers"] = [{"url": server_url, "description": "API gateway"}]
    return served
