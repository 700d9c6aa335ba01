"""Prompt templates: typed variables, validation, rendering, linting and the content hash.

Shared by the portal (saving versions, the playground, the generated OpenAPI document) and the
gateway node (``POST {base}/run``), so it imports nothing from Django.

A variable declaration is a JSON object::

    {"name": "text", "type": "string", "required": true, "description": "",
     "enum": [...], "default": ..., "max_length": 2000}

``type`` is one of ``string``, ``integer``, ``number``, ``boolean``; ``name`` is an identifier
(``[A-Za-z_][A-Za-z0-9_]*``). ``required`` defaults to false. A variable with a ``default``
never counts as missing: :func:`render` fills defaults in before validating.

Messages are ``[{"role": "system"|"user"|"assistant", "content": "... {{ name }} ..."}]``.
Rendering is one pass over the template text: a value that itself contains ``{{x}}`` is
inserted literally and never expanded (prompt injection through variables must not reach
other variables, and the output must not depend on substitution order).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "MESSAGE_ROLES",
    "NAME_RE",
    "PARAMS",
    "PLACEHOLDER_RE",
    "RESPONSE_MODES",
    "VARIABLE_TYPES",
    "VariableErrors",
    "apply_defaults",
    "canonical_json",
    "content_hash",
    "lint",
    "normalize_variables",
    "placeholders",
    "render",
    "validate",
    "variables_schema",
]

VARIABLE_TYPES = ("string", "integer", "number", "boolean")
MESSAGE_ROLES = ("system", "user", "assistant")
RESPONSE_MODES = ("text", "openai", "json")
DECLARATION_KEYS = frozenset({"name", "type", "required", "description", "enum", "default", "max_length"})
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_NAME_LENGTH = 64
# A placeholder: two braces, optional whitespace, an identifier, optional whitespace, two braces.
PLACEHOLDER_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# Anything between double braces (shortest match, not across a valid placeholder blanked out
# with NULs), to quote a malformed placeholder whole.
ANY_BRACES_RE = re.compile(r"\{\{[^\x00]*?\}\}")

# Model parameters a prompt version may fix, with a checker returning an error or None.
PARAMS: dict[str, str] = {
    "temperature": "a number from 0 to 2",
    "top_p": "a number from 0 to 1",
    "max_tokens": "a positive integer",
    "stop": "a string or a list of up to 4 strings",
    "presence_penalty": "a number from -2 to 2",
    "frequency_penalty": "a number from -2 to 2",
    "seed": "an integer",
}


class VariableErrors(Exception):
    """The values do not match the declared variables; ``problems`` lists every problem."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{p['variable'] or 'variables'}: {p['message']}" for p in problems))
        self.problems = problems


# --- helpers ---------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        # As in JSON Schema: 3.0 is an integer, true is not.
        if isinstance(value, float):
            return math.isfinite(value) and value.is_integer()
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return _is_number(value) and math.isfinite(value)
    return False


_TYPE_WORDS = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false"}


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float) and not math.isfinite(value):
        return "a non-finite number"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _as_text(value: Any) -> str:
    """How a value appears in a rendered message: strings as they are, the rest as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        # An integer variable given as 3.0 reads as 3.
        return str(int(value))
    return json.dumps(value, ensure_ascii=False)


def _declarations(variables: Any) -> list[Mapping[str, Any]]:
    if not isinstance(variables, list | tuple):
        return []
    return [v for v in variables if isinstance(v, Mapping) and isinstance(v.get("name"), str)]


def _value_problems(decl: Mapping[str, Any], value: Any) -> list[str]:
    kind = decl.get("type", "string")
    if not _type_ok(kind, value):
        return [f"must be {_TYPE_WORDS.get(kind, kind)}, got {_describe(value)}"]
    problems = []
    enum = decl.get("enum")
    if isinstance(enum, list) and enum and not any(_same(value, e) for e in enum):
        problems.append("must be one of " + ", ".join(_as_text(e) for e in enum))
    max_length = decl.get("max_length")
    if (
        isinstance(value, str)
        and isinstance(max_length, int)
        and not isinstance(max_length, bool)
        and len(value) > max_length
    ):
        problems.append(f"must be at most {max_length} characters long, got {len(value)}")
    return problems


def _same(a: Any, b: Any) -> bool:
    # true == 1 in Python; not in JSON.
    return type(a) is type(b) and a == b if isinstance(a, bool) or isinstance(b, bool) else a == b


# --- schema, validation, rendering ------------------------------------------------------------


def normalize_variables(variables: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Canonical declarations (``required`` always present) so equal meaning hashes equally."""
    out = []
    for decl in variables:
        d = dict(decl)
        d["required"] = bool(d.get("required", False))
        if not d.get("description"):
            d.pop("description", None)
        out.append(d)
    return out


def variables_schema(variables: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The JSON Schema of the ``variables`` object (``additionalProperties: false``)."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for decl in _declarations(variables):
        kind = decl.get("type", "string")
        prop: dict[str, Any] = {"type": kind if kind in VARIABLE_TYPES else "string"}
        if decl.get("description"):
            prop["description"] = decl["description"]
        if isinstance(decl.get("enum"), list) and decl["enum"]:
            prop["enum"] = list(decl["enum"])
        if "default" in decl:
            prop["default"] = decl["default"]
        if kind == "string" and isinstance(decl.get("max_length"), int):
            prop["maxLength"] = decl["max_length"]
        properties[decl["name"]] = prop
        if decl.get("required") and "default" not in decl:
            required.append(decl["name"])
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def apply_defaults(variables: Sequence[Mapping[str, Any]], values: Mapping[str, Any]) -> dict[str, Any]:
    """The values with the defaults of absent variables filled in."""
    out = dict(values)
    for decl in _declarations(variables):
        if decl["name"] not in out and "default" in decl:
            out[decl["name"]] = decl["default"]
    return out


def validate(variables: Sequence[Mapping[str, Any]], values: Any) -> list[dict[str, str]]:
    """Every problem of ``values`` against the declarations, in a stable order.

    Declared variables first, in declaration order (missing, wrong type, not in the enum, too
    long), then unknown names in sorted order. An empty list means the values are fine.
    Defaults are not applied here (see :func:`render`).
    """
    if not isinstance(values, Mapping):
        return [{"variable": "", "message": f"variables must be a JSON object, got {_describe(values)}"}]
    problems: list[dict[str, str]] = []
    declared = _declarations(variables)
    names = {d["name"] for d in declared}
    for decl in declared:
        name = decl["name"]
        if name not in values:
            if decl.get("required") and "default" not in decl:
                problems.append({"variable": name, "message": "is required"})
            continue
        problems.extend({"variable": name, "message": m} for m in _value_problems(decl, values[name]))
    for name in sorted(str(k) for k in values if k not in names):
        problems.append({"variable": name, "message": "is not a variable of this prompt"})
    return problems


def render(
    messages: Sequence[Mapping[str, Any]], variables: Sequence[Mapping[str, Any]], values: Any
) -> list[dict[str, Any]]:
    """The messages with every ``{{ name }}`` replaced, after defaults and validation.

    Raises :class:`VariableErrors` listing every problem. An optional variable with neither a
    value nor a default renders as the empty string; a placeholder that names no declared
    variable stays as written (lint refuses such templates).
    """
    if not isinstance(values, Mapping):
        raise VariableErrors(validate(variables, values))
    filled = apply_defaults(variables, values)
    problems = validate(variables, filled)
    if problems:
        raise VariableErrors(problems)
    declared = {d["name"] for d in _declarations(variables)}

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in declared:
            return match.group(0)
        return _as_text(filled[name]) if name in filled else ""

    rendered = []
    for message in messages:
        out = dict(message)
        if isinstance(out.get("content"), str):
            # re.sub scans the template once; replacement text is never scanned again.
            out["content"] = PLACEHOLDER_RE.sub(substitute, out["content"])
        rendered.append(out)
    return rendered


def placeholders(text: str) -> list[str]:
    """Variable names used in ``text``, in order of first use."""
    seen: dict[str, None] = {}
    for m in PLACEHOLDER_RE.finditer(text):
        seen.setdefault(m.group(1), None)
    return list(seen)


# --- lint -------------------------------------------------------------------------------------


def _lint_declaration(i: int, decl: Any, add: Any) -> None:
    where = f"Variable {i + 1}"
    if not isinstance(decl, Mapping):
        add("error", f"{where}: must be an object with a name and a type.")
        return
    name = decl.get("name")
    if isinstance(name, str) and name:
        where = f"Variable “{name}”"
    if not isinstance(name, str) or not NAME_RE.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
        add(
            "error",
            f"{where}: the name must start with a letter or _ and contain only letters, digits and _ "
            f"(at most {MAX_NAME_LENGTH} characters).",
        )
    unknown = sorted(str(k) for k in decl if k not in DECLARATION_KEYS)
    if unknown:
        add("error", f"{where}: unknown field(s) {', '.join(unknown)}.")
    kind = decl.get("type")
    if kind not in VARIABLE_TYPES:
        add("error", f"{where}: the type must be one of {', '.join(VARIABLE_TYPES)}.")
        return
    if "required" in decl and not isinstance(decl["required"], bool):
        add("error", f"{where}: required must be true or false.")
    if "description" in decl and not isinstance(decl["description"], str):
        add("error", f"{where}: the description must be a string.")
    max_length = decl.get("max_length")
    if "max_length" in decl:
        if kind != "string":
            add("error", f"{where}: max_length applies to strings only.")
        elif not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 1:
            add("error", f"{where}: max_length must be a positive integer.")
    enum = decl.get("enum")
    if "enum" in decl:
        if not isinstance(enum, list) or not enum:
            add("error", f"{where}: enum must be a non-empty list.")
        else:
            if not all(_type_ok(kind, e) for e in enum):
                add("error", f"{where}: every enum value must be {_TYPE_WORDS[kind]}.")
            if len({json.dumps(e, sort_keys=True) for e in enum}) != len(enum):
                add("warning", f"{where}: enum lists a value twice.")
    if "default" in decl:
        checked = {**decl, "max_length": max_length if isinstance(max_length, int) else None}
        if not isinstance(enum, list):
            checked.pop("enum", None)
        for problem in _value_problems(checked, decl["default"]):
            add("error", f"{where}: the default {problem}.")
        if decl.get("required") is True:
            add("warning", f"{where}: is required but has a default, so callers may leave it out.")


def _lint_params(params: Any, add: Any) -> None:
    if not isinstance(params, Mapping):
        add("error", "Parameters must be a JSON object.")
        return
    for key in params:
        if key not in PARAMS:
            add("error", f"Parameter “{key}” is not supported (allowed: {', '.join(PARAMS)}).")
    for key, value in params.items():
        if key not in PARAMS:
            continue
        ok = True
        if key == "temperature":
            ok = _type_ok("number", value) and 0 <= value <= 2
        elif key == "top_p":
            ok = _type_ok("number", value) and 0 <= value <= 1
        elif key in ("presence_penalty", "frequency_penalty"):
            ok = _type_ok("number", value) and -2 <= value <= 2
        elif key == "max_tokens":
            ok = _type_ok("integer", value) and value >= 1
        elif key == "seed":
            ok = _type_ok("integer", value)
        elif key == "stop":
            ok = isinstance(value, str) or (
                isinstance(value, list) and 1 <= len(value) <= 4 and all(isinstance(s, str) for s in value)
            )
        if not ok:
            add("error", f"Parameter “{key}” must be {PARAMS[key]}.")


def _lint_response(mode: Any, schema: Any, add: Any) -> None:
    if mode not in RESPONSE_MODES:
        add("error", f"The response mode must be one of {', '.join(RESPONSE_MODES)}.")
        return
    if mode != "json":
        if schema is not None:
            add("warning", "A response schema is only used in response mode json; it will be ignored.")
        return
    if not isinstance(schema, Mapping):
        add("error", "Response mode json needs a response schema (a JSON Schema object).")
        return
    import jsonschema  # deferred: only the json mode needs it

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        add("error", f"The response schema is not a valid JSON Schema: {exc.message}")
    if _has_ref(schema):
        # The schema is embedded in the API's OpenAPI document, where "#/…" would point elsewhere.
        add("error", "The response schema cannot use $ref: write the definitions out in full.")


def _has_ref(node: Any) -> bool:
    if isinstance(node, Mapping):
        return any(k in ("$ref", "$dynamicRef") for k in node) or any(_has_ref(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_ref(v) for v in node)
    return False


def lint(
    messages: Any,
    variables: Any,
    *,
    params: Any = None,
    response_mode: Any = None,
    response_schema: Any = None,
) -> list[dict[str, str]]:
    """Problems of a template, each ``{"level": "error"|"warning", "message"}``.

    Errors make a version unusable (it is refused); warnings are shown. Order is stable:
    messages, variables, placeholders, then parameters and response mode when given.
    """
    found: list[dict[str, str]] = []

    def add(level: str, message: str) -> None:
        found.append({"level": level, "message": message})

    texts: list[tuple[int, str]] = []
    if not isinstance(messages, list | tuple) or not messages:
        add("error", "There must be at least one message.")
    else:
        for i, message in enumerate(messages):
            where = f"Message {i + 1}"
            if not isinstance(message, Mapping):
                add("error", f"{where}: must be an object with a role and a content.")
                continue
            if message.get("role") not in MESSAGE_ROLES:
                add("error", f"{where}: the role must be one of {', '.join(MESSAGE_ROLES)}.")
            content = message.get("content")
            if not isinstance(content, str):
                add("error", f"{where}: the content must be a string.")
                continue
            if not content.strip():
                add("warning", f"{where}: the content is empty.")
            unknown = sorted(str(k) for k in message if k not in ("role", "content"))
            if unknown:
                add("error", f"{where}: unknown field(s) {', '.join(unknown)}.")
            texts.append((i, content))
        if not any(isinstance(m, Mapping) and m.get("role") == "user" for m in messages):
            add("error", "There must be at least one user message.")

    declared: list[str] = []
    if not isinstance(variables, list | tuple):
        add("error", "Variables must be a list.")
    else:
        seen: set[str] = set()
        for i, decl in enumerate(variables):
            _lint_declaration(i, decl, add)
            name = decl.get("name") if isinstance(decl, Mapping) else None
            if isinstance(name, str):
                if name in seen:
                    add("error", f"Variable “{name}” is declared more than once.")
                seen.add(name)
                declared.append(name)

    used: dict[str, None] = {}
    for i, text in texts:
        for name in placeholders(text):
            used.setdefault(name, None)
            if name not in declared:
                add("error", f"Message {i + 1}: {{{{ {name} }}}} is used but no such variable is declared.")
        malformed = _malformed(text)
        if malformed:
            add(
                "warning",
                f"Message {i + 1}: “{malformed}” is not a placeholder {{{{ name }}}}; "
                "it is sent to the model as written.",
            )
    for name in dict.fromkeys(declared):
        if name not in used:
            add("warning", f"Variable “{name}” is declared but not used in any message.")

    if params is not None:
        _lint_params(params, add)
    if response_mode is not None:
        _lint_response(response_mode, response_schema, add)
    return found


def _malformed(text: str) -> str | None:
    """The first ``{{`` that does not open a valid placeholder, quoted, if any.

    A lone ``}}`` is not reported: it is common in JSON examples inside prompts.
    """
    rest = PLACEHOLDER_RE.sub(lambda m: "\x00" * len(m.group(0)), text)
    start = rest.find("{{")
    if start < 0:
        return None
    pair = ANY_BRACES_RE.match(rest, start)
    if pair is not None:
        return _excerpt(text[pair.start() : pair.end()])
    return _excerpt(text[start : start + 20])


def _excerpt(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- content hash -----------------------------------------------------------------------------


def canonical_json(value: Any) -> str:
    """Key-sorted, compact, UTF-8 JSON: the same content always gives the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def content_hash(
    messages: Any,
    variables: Any,
    route: int | str,
    params: Mapping[str, Any] | None,
    response_mode: str,
    response_schema: Any,
) -> str:
    """SHA-256 (hex) of the canonical JSON of everything that makes a prompt version."""
    document = {
        "messages": messages,
        "variables": variables,
        "route": route,
        "params": dict(params or {}),
        "response_mode": response_mode,
        "response_schema": response_schema if response_mode == "json" else None,
    }
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()
