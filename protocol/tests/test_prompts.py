"""protocol.prompts: the variable schema, validation, single-pass rendering, lint and the hash."""

from __future__ import annotations

import copy

import jsonschema
import pytest

from protocol.prompts import (
    VariableErrors,
    apply_defaults,
    content_hash,
    lint,
    normalize_variables,
    placeholders,
    render,
    validate,
    variables_schema,
)

VARIABLES = [
    {"name": "text", "type": "string", "required": True, "max_length": 20, "description": "What to summarise"},
    {"name": "words", "type": "integer", "required": False, "default": 50},
    {"name": "tone", "type": "string", "enum": ["dry", "warm"]},
    {"name": "ratio", "type": "number"},
    {"name": "shout", "type": "boolean", "default": False},
]
MESSAGES = [
    {"role": "system", "content": "You summarise. Tone: {{tone}}. Shout: {{ shout }}. Ratio {{ratio}}."},
    {"role": "user", "content": "Summarise in {{ words }} words: {{text}}"},
]


def levels(found: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(f["level"], f["message"]) for f in found]


def errors(found: list[dict[str, str]]) -> list[str]:
    return [f["message"] for f in found if f["level"] == "error"]


def warnings(found: list[dict[str, str]]) -> list[str]:
    return [f["message"] for f in found if f["level"] == "warning"]


# --- schema ---------------------------------------------------------------------------------


def test_schema_has_types_required_enum_and_max_length() -> None:
    schema = variables_schema(VARIABLES)
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["text"]
    assert schema["properties"]["text"] == {"type": "string", "description": "What to summarise", "maxLength": 20}
    assert schema["properties"]["words"] == {"type": "integer", "default": 50}
    assert schema["properties"]["tone"] == {"type": "string", "enum": ["dry", "warm"]}
    assert schema["properties"]["ratio"] == {"type": "number"}
    assert schema["properties"]["shout"] == {"type": "boolean", "default": False}
    jsonschema.Draft202012Validator.check_schema(schema)


def test_schema_without_required_variables_has_no_required_list() -> None:
    schema = variables_schema([{"name": "a", "type": "string"}])
    assert "required" not in schema
    assert variables_schema([]) == {"type": "object", "properties": {}, "additionalProperties": False}


@pytest.mark.parametrize(
    "values",
    [
        {"text": "hi"},
        {"text": "hi", "words": 3, "tone": "dry", "ratio": 0.5, "shout": True},
        {"text": 1},
        {"words": 3},
        {"text": "hi", "words": "3"},
        {"text": "hi", "words": True},
        {"text": "hi", "ratio": False},
        {"text": "hi", "tone": "loud"},
        {"text": "x" * 21},
        {"text": "x" * 20},
        {"text": "hi", "extra": 1},
        {"text": "hi", "words": 3.0},
        {"text": "hi", "words": 3.5},
    ],
)
def test_validate_agrees_with_the_json_schema(values: dict) -> None:
    schema_ok = jsonschema.Draft202012Validator(variables_schema(VARIABLES)).is_valid(values)
    assert (validate(VARIABLES, values) == []) is schema_ok


# --- validation -----------------------------------------------------------------------------


def test_every_problem_is_listed_at_once_in_a_stable_order() -> None:
    values = {"zeta": 1, "words": "many", "tone": "loud", "ratio": "half", "shout": 1, "alpha": None}
    assert validate(VARIABLES, values) == [
        {"variable": "text", "message": "is required"},
        {"variable": "words", "message": "must be an integer, got a string"},
        {"variable": "tone", "message": "must be one of dry, warm"},
        {"variable": "ratio", "message": "must be a number, got a string"},
        {"variable": "shout", "message": "must be true or false, got a number"},
        {"variable": "alpha", "message": "is not a variable of this prompt"},
        {"variable": "zeta", "message": "is not a variable of this prompt"},
    ]
    # Same input, same answer (order does not depend on the order of the keys given).
    assert validate(VARIABLES, dict(reversed(list(values.items())))) == validate(VARIABLES, values)


def test_too_long_and_not_in_enum() -> None:
    assert validate(VARIABLES, {"text": "é" * 21}) == [
        {"variable": "text", "message": "must be at most 20 characters long, got 21"}
    ]
    assert validate(VARIABLES, {"text": "é" * 20}) == []
    assert validate(VARIABLES, {"text": "a", "tone": "Dry"}) == [
        {"variable": "tone", "message": "must be one of dry, warm"}
    ]


def test_booleans_are_not_numbers_and_numbers_are_not_booleans() -> None:
    v = [{"name": "n", "type": "integer", "enum": [1, 2]}, {"name": "b", "type": "boolean", "enum": [True]}]
    assert validate(v, {"n": True}) == [{"variable": "n", "message": "must be an integer, got a boolean"}]
    assert validate(v, {"b": 1}) == [{"variable": "b", "message": "must be true or false, got a number"}]
    assert validate(v, {"n": 1, "b": True}) == []


def test_non_finite_numbers_are_refused() -> None:
    v = [{"name": "x", "type": "number"}]
    for bad in (float("nan"), float("inf")):
        assert validate(v, {"x": bad}) == [{"variable": "x", "message": "must be a number, got a non-finite number"}]


@pytest.mark.parametrize("values", [[], "text", None, 3, ["text"]])
def test_values_that_are_not_an_object(values: object) -> None:
    problems = validate(VARIABLES, values)
    assert len(problems) == 1
    assert problems[0]["variable"] == ""
    assert "must be a JSON object" in problems[0]["message"]
    with pytest.raises(VariableErrors) as info:
        render(MESSAGES, VARIABLES, values)
    assert info.value.problems == problems


def test_a_required_variable_with_a_default_is_not_missing() -> None:
    v = [{"name": "a", "type": "string", "required": True, "default": "x"}]
    assert validate(v, {}) == []
    assert "required" not in variables_schema(v)


# --- rendering ------------------------------------------------------------------------------


def test_render_substitutes_with_defaults_and_json_text_for_non_strings() -> None:
    out = render(MESSAGES, VARIABLES, {"text": "the news", "tone": "dry", "ratio": 0.25})
    assert out == [
        {"role": "system", "content": "You summarise. Tone: dry. Shout: false. Ratio 0.25."},
        {"role": "user", "content": "Summarise in 50 words: the news"},
    ]
    out = render(MESSAGES, VARIABLES, {"text": "t", "words": 7, "shout": True, "ratio": 2})
    assert out[0]["content"] == "You summarise. Tone: . Shout: true. Ratio 2."
    assert out[1]["content"] == "Summarise in 7 words: t"


def test_render_does_not_change_its_input() -> None:
    messages, values = copy.deepcopy(MESSAGES), {"text": "a"}
    render(messages, VARIABLES, values)
    assert messages == MESSAGES
    assert values == {"text": "a"}


def test_render_raises_with_every_problem() -> None:
    with pytest.raises(VariableErrors) as info:
        render(MESSAGES, VARIABLES, {"words": "x", "nope": 1})
    assert info.value.problems == [
        {"variable": "text", "message": "is required"},
        {"variable": "words", "message": "must be an integer, got a string"},
        {"variable": "nope", "message": "is not a variable of this prompt"},
    ]


def test_an_invalid_default_is_reported_at_render() -> None:
    v = [{"name": "n", "type": "integer", "default": "seven"}]
    with pytest.raises(VariableErrors) as info:
        render([{"role": "user", "content": "{{n}}"}], v, {})
    assert info.value.problems == [{"variable": "n", "message": "must be an integer, got a string"}]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("{{tone}}", "A={{tone}} B=warm"),
        ("{{ tone }}", "A={{ tone }} B=warm"),
        ("{{text}}", "A={{text}} B=warm"),
        ("{{", "A={{ B=warm"),
        ("}} {{tone", "A=}} {{tone B=warm"),
        ("\\1 \\g<0>", "A=\\1 \\g<0> B=warm"),
    ],
)
def test_substituted_values_are_never_expanded(value: str, expected: str) -> None:
    v = [{"name": "text", "type": "string"}, {"name": "tone", "type": "string"}]
    m = [{"role": "user", "content": "A={{text}} B={{tone}}"}]
    assert render(m, v, {"text": value, "tone": "warm"})[0]["content"] == expected


def test_nested_braces_trick_expands_only_the_inner_placeholder_once() -> None:
    v = [{"name": "x", "type": "string"}, {"name": "y", "type": "string"}]
    m = [{"role": "user", "content": "{{ {{x}} }}"}]
    # The inner {{x}} is the only placeholder; the result "{{ y }}" is not expanded again.
    assert render(m, v, {"x": "y", "y": "SECRET"})[0]["content"] == "{{ y }}"
    m = [{"role": "user", "content": "{{{{x}}}}"}]
    assert render(m, v, {"x": "y", "y": "SECRET"})[0]["content"] == "{{y}}"
    m = [{"role": "user", "content": "{{x}}{{y}}"}]
    assert render(m, v, {"x": "{{", "y": "}}"})[0]["content"] == "{{}}"


def test_whitespace_inside_braces_and_repeats() -> None:
    v = [{"name": "a", "type": "string"}]
    m = [{"role": "user", "content": "{{a}}|{{ a }}|{{\ta\n}}|{{  a}}"}]
    assert render(m, v, {"a": "1"})[0]["content"] == "1|1|1|1"


def test_undeclared_placeholders_stay_as_written() -> None:
    m = [{"role": "user", "content": "{{ a }} and {{ b }}"}]
    assert render(m, [{"name": "a", "type": "string"}], {"a": "x"})[0]["content"] == "x and {{ b }}"


def test_apply_defaults_keeps_given_values() -> None:
    assert apply_defaults(VARIABLES, {"words": 3}) == {"words": 3, "shout": False}


def test_placeholders_in_order_of_first_use() -> None:
    assert placeholders("{{b}} {{ a }} {{b}} {{ not valid }}") == ["b", "a"]


# --- lint -----------------------------------------------------------------------------------


def test_a_clean_template_has_no_findings() -> None:
    assert lint(MESSAGES, VARIABLES) == []
    assert lint(MESSAGES, VARIABLES, params={"temperature": 0.2, "max_tokens": 300}, response_mode="text") == []


def test_used_but_not_declared_is_an_error_and_unused_a_warning() -> None:
    found = lint(
        [{"role": "user", "content": "Hello {{ name }} and {{name}}"}],
        [{"name": "unused", "type": "string"}],
    )
    assert levels(found) == [
        ("error", "Message 1: {{ name }} is used but no such variable is declared."),
        ("warning", "Variable “unused” is declared but not used in any message."),
    ]


@pytest.mark.parametrize(
    "content",
    ["{{ two words }}", "{{}}", "{{ 1x }}", "Hello {{ name", "{{ {{name}} }}", "{{name-x}}"],
)
def test_malformed_braces_are_a_warning(content: str) -> None:
    found = lint([{"role": "user", "content": content + " {{name}}"}], [{"name": "name", "type": "string"}])
    assert [f["level"] for f in found] == ["warning"]
    assert "is not a placeholder" in found[0]["message"]
    assert found[0]["message"].startswith("Message 1:")


def test_single_braces_and_json_are_fine() -> None:
    assert lint([{"role": "user", "content": 'JSON like {"a": {"b": 1}} and {x}'}], []) == []
    assert lint([{"role": "user", "content": "a lone }} is no placeholder"}], []) == []


def test_message_shape() -> None:
    found = lint(
        [
            {"role": "bot", "content": "hi"},
            {"role": "system", "content": 3},
            "not an object",
            {"role": "assistant", "content": "ok", "name": "x"},
        ],
        [],
    )
    assert errors(found) == [
        "Message 1: the role must be one of system, user, assistant.",
        "Message 2: the content must be a string.",
        "Message 3: must be an object with a role and a content.",
        "Message 4: unknown field(s) name.",
        "There must be at least one user message.",
    ]
    assert errors(lint([], [])) == ["There must be at least one message."]
    assert errors(lint("hello", [])) == ["There must be at least one message."]
    assert warnings(lint([{"role": "user", "content": "  "}], [])) == ["Message 1: the content is empty."]


def test_variable_declarations() -> None:
    found = lint(
        [{"role": "user", "content": "{{a}} {{b}} {{c}} {{d}} {{e}} {{f}}"}],
        [
            {"name": "a", "type": "string"},
            {"name": "a", "type": "integer"},
            {"name": "1bad", "type": "string"},
            {"name": "b", "type": "text"},
            {"name": "c", "type": "integer", "max_length": 3},
            {"name": "d", "type": "string", "enum": []},
            {"name": "e", "type": "integer", "enum": [1, "2"], "default": 5, "colour": "red"},
            {"name": "f", "type": "string", "required": "yes", "max_length": 0},
            "g",
        ],
    )
    assert errors(found) == [
        "Variable “a” is declared more than once.",
        "Variable “1bad”: the name must start with a letter or _ and contain only letters, digits and _ "
        "(at most 64 characters).",
        "Variable “b”: the type must be one of string, integer, number, boolean.",
        "Variable “c”: max_length applies to strings only.",
        "Variable “d”: enum must be a non-empty list.",
        "Variable “e”: unknown field(s) colour.",
        "Variable “e”: every enum value must be an integer.",
        "Variable “e”: the default must be one of 1, 2.",
        "Variable “f”: required must be true or false.",
        "Variable “f”: max_length must be a positive integer.",
        "Variable 9: must be an object with a name and a type.",
    ]
    assert warnings(found) == ["Variable “1bad” is declared but not used in any message."]


def test_default_checked_against_type_and_length() -> None:
    found = lint(
        [{"role": "user", "content": "{{a}} {{b}}"}],
        [
            {"name": "a", "type": "string", "max_length": 2, "default": "long"},
            {"name": "b", "type": "boolean", "default": "no", "required": True},
        ],
    )
    assert errors(found) == [
        "Variable “a”: the default must be at most 2 characters long, got 4.",
        "Variable “b”: the default must be true or false, got a string.",
    ]
    assert warnings(found) == ["Variable “b”: is required but has a default, so callers may leave it out."]


def test_variables_not_a_list() -> None:
    assert errors(lint([{"role": "user", "content": "x"}], {"a": 1})) == ["Variables must be a list."]


def test_params_and_response_mode() -> None:
    m, v = [{"role": "user", "content": "x"}], []
    assert errors(lint(m, v, params={"temperature": 3, "max_tokens": 0, "stop": [1], "top_k": 5})) == [
        "Parameter “top_k” is not supported (allowed: temperature, top_p, max_tokens, stop, presence_penalty, "
        "frequency_penalty, seed).",
        "Parameter “temperature” must be a number from 0 to 2.",
        "Parameter “max_tokens” must be a positive integer.",
        "Parameter “stop” must be a string or a list of up to 4 strings.",
    ]
    assert errors(lint(m, v, params=[])) == ["Parameters must be a JSON object."]
    assert errors(lint(m, v, response_mode="xml")) == ["The response mode must be one of text, openai, json."]
    assert errors(lint(m, v, response_mode="json")) == [
        "Response mode json needs a response schema (a JSON Schema object)."
    ]
    bad = errors(lint(m, v, response_mode="json", response_schema={"type": "nope"}))
    assert len(bad) == 1
    assert bad[0].startswith("The response schema is not a valid JSON Schema")
    assert lint(m, v, response_mode="json", response_schema={"type": "object"}) == []
    nested_ref = {"type": "object", "properties": {"a": {"$ref": "#/$defs/a"}}, "$defs": {"a": {"type": "string"}}}
    assert errors(lint(m, v, response_mode="json", response_schema=nested_ref)) == [
        "The response schema cannot use $ref: write the definitions out in full."
    ]
    assert warnings(lint(m, v, response_mode="text", response_schema={"type": "object"})) == [
        "A response schema is only used in response mode json; it will be ignored."
    ]


# --- hash -----------------------------------------------------------------------------------

BASE = {
    "messages": MESSAGES,
    "variables": VARIABLES,
    "route": 5,
    "params": {"temperature": 0.2, "max_tokens": 300},
    "response_mode": "json",
    "response_schema": {"type": "object"},
}


def h(**changes: object) -> str:
    args = {**copy.deepcopy(BASE), **changes}
    return content_hash(
        args["messages"],
        args["variables"],
        args["route"],
        args["params"],
        args["response_mode"],
        args["response_schema"],
    )


def test_hash_is_stable_sha256_hex() -> None:
    first = h()
    assert len(first) == 64
    assert int(first, 16) >= 0
    assert h() == first
    # Key order does not matter.
    assert h(params={"max_tokens": 300, "temperature": 0.2}) == first
    assert h(messages=[dict(reversed(list(m.items()))) for m in MESSAGES]) == first
    # A known value guards against accidental changes of the canonical form (the node and
    # the portal must agree).
    assert content_hash([{"role": "user", "content": "hi"}], [], 1, {}, "text", None) == (
        "432cd1d5e354a826dc8537d17338a6bd637a90e0409d5f6ce0f6aa91f60a6265"
    )
    # That is the SHA-256 of this exact text.
    import hashlib

    canonical = (
        '{"messages":[{"content":"hi","role":"user"}],"params":{},"response_mode":"text",'
        '"response_schema":null,"route":1,"variables":[]}'
    )
    assert hashlib.sha256(canonical.encode()).hexdigest() == content_hash(
        [{"role": "user", "content": "hi"}], [], 1, {}, "text", None
    )


@pytest.mark.parametrize(
    "change",
    [
        {"messages": [{"role": "user", "content": "Summarise: {{text}}"}]},
        {"messages": list(reversed(MESSAGES))},
        {"variables": VARIABLES[:1]},
        {"variables": [{**VARIABLES[0], "max_length": 21}, *VARIABLES[1:]]},
        {"route": 6},
        {"route": "acme/chat-small"},
        {"params": {"temperature": 0.3, "max_tokens": 300}},
        {"params": {}},
        {"response_mode": "text", "response_schema": None},
        {"response_schema": {"type": "array"}},
    ],
)
def test_hash_changes_with_any_content(change: dict) -> None:
    assert h(**change) != h()


def test_schema_is_ignored_outside_json_mode() -> None:
    assert h(response_mode="text", response_schema={"type": "object"}) == h(response_mode="text", response_schema=None)


def test_normalize_variables_makes_equal_meaning_hash_equal() -> None:
    a = normalize_variables([{"name": "x", "type": "string"}])
    b = normalize_variables([{"name": "x", "type": "string", "required": False, "description": ""}])
    assert a == b == [{"name": "x", "type": "string", "required": False}]
    assert h(variables=a) == h(variables=b)
