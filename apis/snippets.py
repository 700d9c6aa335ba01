"""Copy-paste examples of calling an API version's endpoints through the gateway.

Every endpoint gets a curl, Python and JavaScript snippet: its method, the full gateway URL
with path parameters (and required query parameters) as ``<name>`` placeholders, and an
example request body taken from the OpenAPI document (``example``, then ``examples``, then
one built from the schema, ``$ref`` resolved, depth and size bounded).

The document is the provider's: hostile text in it (quotes, newlines, markup) must not break
out of a snippet. Each language quotes with its own function (shell single quotes, ``repr``,
``json.dumps`` with ASCII escapes); the page escapes the result again as HTML, and Redoc
(which shows the per-endpoint samples) escapes what it renders.

When the visitor is signed in, a lookup registered by a higher layer (subscriptions) names the
application to call with and its key id: ``apk_<key id>_YOUR_KEY_SECRET``. Never a secret.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from apis.models import Api, ApiVersion, Endpoint

KEY_PLACEHOLDER = "YOUR_API_KEY"
_PARAM = re.compile(r"\{([^}/]+)\}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
#: Schema-derived examples stop nesting here and emit at most this many values in all.
MAX_DEPTH = 6
MAX_NODES = 200
#: An example body longer than this (as JSON) is replaced by a shorter, schema-derived one.
MAX_BODY_CHARS = 4000
#: The per-endpoint samples added to the served document stop past this many characters.
MAX_SAMPLE_CHARS = 2_000_000
_NO_BODY = object()


@dataclass(frozen=True)
class Caller:
    """Who the snippets call as: an application of the visitor's organisations and its key id."""

    application: str
    key_id: str | None = None

    @property
    def key(self) -> str:
        return f"apk_{self.key_id}_YOUR_KEY_SECRET" if self.key_id else KEY_PLACEHOLDER


CallerLookup = Callable[[Any, list[int], Api], Caller | None]
_caller_lookup: list[CallerLookup] = []


def register_caller_lookup(lookup: CallerLookup) -> None:
    """subscriptions registers how to find the visitor's application (apis cannot import it)."""
    _caller_lookup[:] = [lookup]


def caller_for(user: Any, tenant_ids: list[int], api: Api) -> Caller | None:
    if not tenant_ids or not _caller_lookup:
        return None
    return _caller_lookup[0](user, tenant_ids, api)


# --- Example bodies from the OpenAPI document ---------------------------------------------


def _resolve(document: dict[str, Any], node: Any, seen: frozenset[str]) -> tuple[Any, frozenset[str]]:
    """Follow local ``$ref``s (``#/components/…``); a cycle or a broken reference gives None."""
    hops = 0
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        ref = node["$ref"]
        if ref in seen or not ref.startswith("#/") or hops > 20:
            return None, seen
        seen = seen | {ref}
        target: Any = document
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(target, dict) and part in target:
                target = target[part]
            elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
                target = target[int(part)]
            else:
                return None, seen
        node = target
        hops += 1
    return node, seen


_FORMATS = {
    "date-time": "2025-01-31T12:00:00Z",
    "date": "2025-01-31",
    "time": "12:00:00",
    "email": "user@example.com",
    "uuid": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "uri": "https://example.com",
    "url": "https://example.com",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
}


class _Budget:
    def __init__(self, nodes: int) -> None:
        self.nodes = nodes

    def take(self) -> bool:
        self.nodes -= 1
        return self.nodes >= 0


def _json_safe(value: Any, depth: int = 0) -> Any:
    """A JSON value as the snippet shows it: finite numbers, string keys, bounded depth."""
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else 0
    if depth > MAX_DEPTH * 2:
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v, depth + 1) for v in value]
    return str(value)


def schema_example(document: dict[str, Any], schema: Any, *, max_nodes: int = MAX_NODES) -> Any:
    """An example value for ``schema``: its own example / default / enum, else one built by type."""
    return _example(document, schema, 0, frozenset(), _Budget(max_nodes))


def _example(document: dict[str, Any], schema: Any, depth: int, seen: frozenset[str], budget: _Budget) -> Any:
    schema, seen = _resolve(document, schema, seen)
    if not isinstance(schema, dict) or depth > MAX_DEPTH or not budget.take():
        return None
    for key in ("example", "default", "const"):
        if key in schema:
            return _json_safe(schema[key])
    examples = schema.get("examples")  # JSON Schema (OpenAPI 3.1): a list
    if isinstance(examples, list) and examples:
        return _json_safe(examples[0])
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return _json_safe(enum[0])
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and all_of:
        merged: dict[str, Any] = {}
        for part in all_of[:10]:
            value = _example(document, part, depth + 1, seen, budget)
            if isinstance(value, dict):
                merged.update(value)
        if merged or "properties" not in schema:
            return merged
    for key in ("oneOf", "anyOf"):
        choices = schema.get(key)
        if isinstance(choices, list) and choices:
            return _example(document, choices[0], depth + 1, seen, budget)
    kind = schema.get("type")
    if isinstance(kind, list):  # 3.1: ["string", "null"]
        kind = next((k for k in kind if k != "null"), "null")
    properties = schema.get("properties")
    if kind == "object" or (kind is None and isinstance(properties, dict)):
        result: dict[str, Any] = {}
        if isinstance(properties, dict):
            for name, sub in list(properties.items())[:30]:
                if isinstance(sub, dict) and (sub.get("readOnly") is True):
                    continue
                result[str(name)] = _example(document, sub, depth + 1, seen, budget)
        return result
    if kind == "array":
        item = _example(document, schema.get("items"), depth + 1, seen, budget)
        return [] if item is None else [item]
    if kind == "string":
        fmt = schema.get("format")
        return _FORMATS.get(fmt, "string") if isinstance(fmt, str) else "string"
    if kind == "integer":
        return 0
    if kind == "number":
        return 0.0
    if kind == "boolean":
        return True
    return None


def _operation(document: dict[str, Any], endpoint: Endpoint) -> tuple[dict[str, Any], dict[str, Any]]:
    """(operation, path item) of an endpoint in the document; empty dicts when absent."""
    paths = document.get("paths") if isinstance(document, dict) else None
    item = paths.get(endpoint.path) if isinstance(paths, dict) else None
    item, _ = _resolve(document, item, frozenset())
    if not isinstance(item, dict):
        return {}, {}
    operation = item.get(endpoint.method.lower())
    return (operation if isinstance(operation, dict) else {}), item


@dataclass(frozen=True)
class Body:
    media_type: str
    value: Any  # a JSON value, or _NO_BODY for a non-JSON body (a file placeholder)


def _is_json(media_type: str) -> bool:
    base = media_type.split(";")[0].strip().lower()
    return base == "application/json" or base.endswith("+json") or base == "*/*"


def request_body(document: dict[str, Any], operation: dict[str, Any]) -> Body | None:
    """The example body of an operation: media ``example``, first of ``examples``, or from the schema."""
    body, _ = _resolve(document, operation.get("requestBody"), frozenset())
    content = body.get("content") if isinstance(body, dict) else None
    if not isinstance(content, dict) or not content:
        return None
    media_type = next((str(t) for t in content if _is_json(str(t))), None)
    if media_type is None:
        return Body(_CONTROL.sub("", str(next(iter(content))))[:100], _NO_BODY)
    media = content[media_type] if isinstance(content[media_type], dict) else {}
    value: Any = None
    if "example" in media:
        value = _json_safe(media["example"])
    elif isinstance(media.get("examples"), dict) and media["examples"]:
        first, _ = _resolve(document, next(iter(media["examples"].values())), frozenset())
        value = _json_safe(first.get("value")) if isinstance(first, dict) else None
    if value is None:
        value = schema_example(document, media.get("schema"))
    if len(json.dumps(value)) > MAX_BODY_CHARS:
        value = schema_example(document, media.get("schema"), max_nodes=40)
        if len(json.dumps(value)) > MAX_BODY_CHARS:
            value = {}
    media_type = "application/json" if media_type == "*/*" else media_type
    return Body(_CONTROL.sub("", media_type)[:100], {} if value is None else value)


def _required_query(document: dict[str, Any], operation: dict[str, Any], item: dict[str, Any]) -> list[str]:
    names: list[str] = []
    for parameter in [*(item.get("parameters") or [])[:50], *(operation.get("parameters") or [])[:50]]:
        parameter, _ = _resolve(document, parameter, frozenset())
        if isinstance(parameter, dict) and parameter.get("in") == "query" and parameter.get("required") is True:
            name = str(parameter.get("name") or "")
            if name and name not in names:
                names.append(name)
    return names[:10]


# --- The snippets -------------------------------------------------------------------------


def _sq(text: str) -> str:
    """Single-quoted for a POSIX shell, always (a quote inside ends, escapes and reopens)."""
    return "'" + text.replace("'", "'\"'\"'") + "'"


def _python_literal(value: Any, level: int) -> str:
    """A JSON value as Python source, indented four spaces a level (``repr`` quotes every string)."""
    pad, inner = "    " * level, "    " * (level + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{str(k)!r}: {_python_literal(v, level + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f",\n{pad}}}"
    if isinstance(value, list):
        if not value:
            return "[]"
        return "[\n" + ",\n".join(f"{inner}{_python_literal(v, level + 1)}" for v in value) + f",\n{pad}]"
    return repr(value)


def _url(version: ApiVersion, path: str, query: list[str]) -> str:
    url = f"{settings.GATEWAY_URL}{version.base_path}{_PARAM.sub(lambda m: f'<{m.group(1)}>', path)}"
    if query:
        url += "?" + "&".join(f"{name}=<{name}>" for name in query)
    return _CONTROL.sub("", url)


def render(method: str, url: str, body: Body | None, caller: Caller | None = None) -> dict[str, str]:
    """``{"curl": …, "python": …, "javascript": …}`` for one call."""
    header = settings.GATEWAY_API_KEY_HEADER
    key = caller.key if caller else KEY_PLACEHOLDER
    note = ""
    if caller:
        name = _CONTROL.sub(" ", caller.application)
        note = f"Application “{name}”: " + (
            f"use the secret of key {caller.key_id} (shown once when it was created)."
            if caller.key_id
            else "create a key on its page and paste it here."
        )
    json_body = body is not None and body.value is not _NO_BODY
    headers = {header: key}
    if body is not None:
        headers["Content-Type"] = body.media_type

    curl = (f"# {note}\n" if note else "") + f"curl -X {method} {_sq(url)}"
    for header_name, header_value in headers.items():
        curl += f" \\\n  -H {_sq(f'{header_name}: {header_value}')}"
    if body is not None:
        data = json.dumps(body.value, indent=2) if json_body else "@request-body"
        curl += f" \\\n  --data-binary {_sq(data)}"

    python = (f"# {note}\n" if note else "") + "import requests\n\n"
    python += f"response = requests.request(\n    {method!r},\n    {url!r},\n    headers={headers!r},\n"
    if json_body:
        python += "    json=" + _python_literal(body.value, 1) + ",\n"  # type: ignore[union-attr]
    elif body is not None:
        python += "    data=open('request-body', 'rb'),\n"
    python += "    timeout=30,\n)\nresponse.raise_for_status()\nprint(response.json())"

    javascript = (f"// {note}\n" if note else "") + (
        f"const response = await fetch({json.dumps(url)}, {{\n  method: {json.dumps(method)},\n"
        f"  headers: {json.dumps(headers)},\n"
    )
    if json_body:
        javascript += "  body: JSON.stringify(" + json.dumps(body.value, indent=2).replace("\n", "\n  ") + "),\n"  # type: ignore[union-attr]
    elif body is not None:
        javascript += "  body: requestBody, // a Blob or string with the request body\n"
    javascript += (
        "});\nif (!response.ok) throw new Error(`HTTP ${response.status}`);\nconsole.log(await response.json());"
    )
    return {"curl": curl, "python": python, "javascript": javascript}


def endpoint_snippets(version: ApiVersion, endpoint: Endpoint, caller: Caller | None = None) -> dict[str, str]:
    document = version.spec if isinstance(version.spec, dict) else {}
    operation, item = _operation(document, endpoint)
    body = request_body(document, operation)
    if body is None and endpoint.method in {"POST", "PUT", "PATCH"} and not operation:
        body = Body("application/json", {})
    query = _required_query(document, operation, item)
    return render(endpoint.method, _url(version, endpoint.path, query), body, caller)


def example_endpoint(endpoints: list[Endpoint]) -> Endpoint | None:
    """A GET without path parameters reads best in an example; fall back to anything."""
    for endpoint in endpoints:
        if endpoint.method == "GET" and "{" not in endpoint.path:
            return endpoint
    for endpoint in endpoints:
        if endpoint.method == "GET":
            return endpoint
    return endpoints[0] if endpoints else None


def snippets(version: ApiVersion, endpoints: list[Endpoint], caller: Caller | None = None) -> dict[str, str]:
    """The snippets of one example endpoint (the API page's "Call … through the gateway")."""
    endpoint = example_endpoint(endpoints)
    if endpoint is None:
        return render("GET", _url(version, "/", []), None, caller)
    return endpoint_snippets(version, endpoint, caller)


_LANGS = (("curl", "Shell", "curl"), ("python", "Python", "Python"), ("javascript", "JavaScript", "JavaScript"))


def with_code_samples(
    document: dict[str, Any], version: ApiVersion, endpoints: list[Endpoint], caller: Caller | None = None
) -> dict[str, Any]:
    """A copy of the served document whose operations carry ``x-codeSamples`` (Redoc shows them).

    Only the touched path items and operations are copied; the stored document is not changed.
    Samples stop once MAX_SAMPLE_CHARS have been added, so a huge document stays servable.
    """
    paths = document.get("paths")
    if not isinstance(paths, dict):
        return document
    served = dict(document)
    served["paths"] = new_paths = dict(paths)
    added = 0
    for endpoint in endpoints:
        item: Any = new_paths.get(endpoint.path)
        operation = item.get(endpoint.method.lower()) if isinstance(item, dict) else None
        if not isinstance(operation, dict):
            continue
        if added > MAX_SAMPLE_CHARS:
            break
        code = endpoint_snippets(version, endpoint, caller)
        added += sum(len(text) for text in code.values())
        if item is paths.get(endpoint.path):
            item = new_paths[endpoint.path] = dict(item)
        item[endpoint.method.lower()] = {
            **operation,
            "x-codeSamples": [{"lang": lang, "label": label, "source": code[key]} for key, lang, label in _LANGS],
        }
    return served
