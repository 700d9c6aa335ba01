"""What the console prefills for each endpoint of a version, from its OpenAPI document.

Every parameter (path, query, header) gets a value: the parameter's ``example``, else the
first of its ``examples``, else one built from its schema (``apis.snippets.schema_example``:
the schema's example / default / enum, else a value of its type, ``$ref`` resolved, depth and
size bounded). The body is the request body's example the same way (``apis.snippets.request_body``),
pretty-printed JSON.

The document is the provider's and untrusted: everything here is bounded (endpoints, parameters,
lengths) and the page puts the result into a JSON data block, never into script.
"""

from __future__ import annotations

import json
import re
from typing import Any

from apis import snippets
from apis.models import ApiVersion, Endpoint

#: The picker lists at most this many endpoints (a document may declare thousands).
MAX_ENDPOINTS = 500
MAX_PARAMETERS = 40
MAX_VALUE_CHARS = 1000
_PARAM = re.compile(r"\{([^}/]+)\}")
_LOCATIONS = ("path", "query", "header")


def _deref(document: dict[str, Any], node: Any) -> Any:
    """Follow local ``$ref``s (a few hops); anything else that does not resolve is None."""
    for _ in range(10):
        if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
            return node
        ref = node["$ref"]
        if not ref.startswith("#/"):
            return None
        target: Any = document
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            target = target.get(part) if isinstance(target, dict) else None
        node = target
    return None


def as_text(value: Any) -> str:
    """A parameter value as the console's text field shows it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(as_text(v) for v in value)[:MAX_VALUE_CHARS]
    if isinstance(value, dict):
        return json.dumps(value)[:MAX_VALUE_CHARS]
    return str(value)[:MAX_VALUE_CHARS]


def parameter_example(document: dict[str, Any], parameter: dict[str, Any]) -> str:
    """``example``, then the first of ``examples``, then one built from the schema."""
    if "example" in parameter:
        return as_text(parameter["example"])
    examples = parameter.get("examples")
    if isinstance(examples, dict) and examples:
        first = _deref(document, next(iter(examples.values())))
        if isinstance(first, dict) and "value" in first:
            return as_text(first["value"])
    return as_text(snippets.schema_example(document, parameter.get("schema"), max_nodes=20))


def _operation(document: dict[str, Any], endpoint: Endpoint) -> tuple[dict[str, Any], dict[str, Any]]:
    paths = document.get("paths")
    item = _deref(document, paths.get(endpoint.path)) if isinstance(paths, dict) else None
    if not isinstance(item, dict):
        return {}, {}
    operation = item.get(endpoint.method.lower())
    return (operation if isinstance(operation, dict) else {}), item


def _parameters(document: dict[str, Any], operation: dict[str, Any], item: dict[str, Any]) -> list[dict[str, Any]]:
    """The operation's parameters over the path item's (same name and place: the operation wins)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for raw in [
        *(item.get("parameters") or [])[:MAX_PARAMETERS],
        *(operation.get("parameters") or [])[:MAX_PARAMETERS],
    ]:
        parameter = _deref(document, raw)
        if not isinstance(parameter, dict):
            continue
        name, where = str(parameter.get("name") or "")[:100], parameter.get("in")
        if name and where in _LOCATIONS:
            found[(where, name)] = {
                "name": name,
                "in": where,
                "required": where == "path" or parameter.get("required") is True,
                "example": parameter_example(document, parameter),
                "description": str(parameter.get("description") or "")[:300],
            }
    return list(found.values())[:MAX_PARAMETERS]


def endpoint_form(document: dict[str, Any], endpoint: Endpoint) -> dict[str, Any]:
    """One endpoint as the console's form needs it (JSON-serialisable)."""
    operation, item = _operation(document, endpoint)
    params = _parameters(document, operation, item)
    declared = {p["name"] for p in params if p["in"] == "path"}
    # A path parameter the document forgot to declare still needs a field.
    for name in _PARAM.findall(endpoint.path):
        if name not in declared:
            params.insert(0, {"name": name, "in": "path", "required": True, "example": "", "description": ""})
    body = snippets.request_body(document, operation)
    body_text, content_type = "", ""
    if body is not None:
        content_type = body.media_type
        if isinstance(body.value, dict | list | str | int | float | bool):
            body_text = json.dumps(body.value, indent=2, ensure_ascii=False)
    elif endpoint.method in ("POST", "PUT", "PATCH") and not operation:
        content_type, body_text = "application/json", "{}"
    return {
        "id": f"{endpoint.method} {endpoint.path}",
        "method": endpoint.method,
        "path": endpoint.path,
        "summary": (endpoint.summary or "")[:200],
        "deprecated": bool(endpoint.deprecated),
        "params": params,
        "content_type": content_type,
        "body": body_text,
    }


def console_endpoints(version: ApiVersion, endpoints: list[Endpoint]) -> list[dict[str, Any]]:
    """Every endpoint's form, in the reference's order, at most MAX_ENDPOINTS."""
    document = version.spec if isinstance(version.spec, dict) else {}
    return [endpoint_form(document, endpoint) for endpoint in endpoints[:MAX_ENDPOINTS]]


def declared_headers(version: ApiVersion, endpoint: Endpoint) -> set[str]:
    """Header parameters the document declares for ``endpoint`` (lower-cased names)."""
    document = version.spec if isinstance(version.spec, dict) else {}
    operation, item = _operation(document, endpoint)
    return {p["name"].lower() for p in _parameters(document, operation, item) if p["in"] == "header"}
