"""The OpenAPI document of a prompt published as an API: ``POST /run``.

Generated from the prompt version (never uploaded), stored as the API version's ``spec`` like
any other document, so the catalog, the reference docs and analytics by endpoint work as for a
REST API. The request schema is the variables' JSON Schema (``protocol.prompts``), the one the
gateway node checks calls against; the answers follow the response mode (docs/ai-gateway.md).
"""

from __future__ import annotations

import copy
from typing import Any

from llm.openapi import OPENAPI_VERSION, TOKEN_COUNTS, choices, error_response, ref
from protocol.prompts import variables_schema

_USAGE = {
    "type": "object",
    "description": "Tokens as the model provider counted them; absent when it reported none.",
    "properties": TOKEN_COUNTS,
}

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}

_INVALID_VARIABLES = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "enum": ["invalid_variables"]},
                "message": {"type": "string"},
                "details": {
                    "type": "array",
                    "description": "Every problem at once, one per variable and problem.",
                    "items": {
                        "type": "object",
                        "required": ["variable", "message"],
                        "properties": {
                            "variable": {"type": "string", "description": "Empty when the whole object is wrong."},
                            "message": {"type": "string"},
                        },
                    },
                },
            },
        }
    },
}

_CHAT_COMPLETION = {
    "type": "object",
    "description": "An OpenAI chat completion object; `model` is the public model name.",
    "required": ["id", "object", "model", "choices"],
    "properties": {
        "id": {"type": "string"},
        "object": {"type": "string", "enum": ["chat.completion"]},
        "created": {"type": "integer"},
        "model": {"type": "string"},
        "choices": choices(
            message={
                "type": "object",
                "properties": {"role": {"type": "string"}, "content": {"type": ["string", "null"]}},
            },
            finish_reason={"type": ["string", "null"]},
        ),
        "usage": ref("Usage"),
    },
}

_STREAM = {
    "text/event-stream": {
        "schema": {
            "type": "string",
            "description": "Server-sent events: `data: <chat.completion.chunk JSON>` lines, then `data: [DONE]`. "
            'An upstream failure after the first event ends the stream with one `data: {"error": …}` event '
            "and no `[DONE]`.",
        }
    }
}


def _example(variables: list[dict[str, Any]]) -> dict[str, Any]:
    """Plausible values for the request example: default, first enum value, else by type."""
    out: dict[str, Any] = {}
    for decl in variables:
        if "default" in decl:
            out[decl["name"]] = decl["default"]
        elif decl.get("enum"):
            out[decl["name"]] = decl["enum"][0]
        else:
            out[decl["name"]] = {"string": "…", "integer": 1, "number": 1.5, "boolean": True}.get(
                str(decl.get("type")), "…"
            )
    return out


def _answer(output: dict[str, Any]) -> dict[str, Any]:
    """The answer object of the json and text modes: ``output``, the model, the usage."""
    return {
        "type": "object",
        "required": ["output", "model"],
        "properties": {
            "output": output,
            "model": {"type": "string", "description": "The public model name that answered."},
            "usage": ref("Usage"),
        },
    }


def _success(response_mode: str, response_schema: Any) -> dict[str, Any]:
    if response_mode == "openai":
        return {
            "description": "The model's answer as an OpenAI chat completion (or a stream of chunks).",
            "content": {"application/json": {"schema": ref("ChatCompletion")}, **_STREAM},
        }
    if response_mode == "json":
        output = copy.deepcopy(response_schema) if isinstance(response_schema, dict) else {}
        output.pop("$schema", None)  # the document's dialect applies; a second one would confuse readers
        return {
            "description": "The model's answer, parsed as JSON and validated against the response schema.",
            "content": {"application/json": {"schema": _answer(output)}},
        }
    return {
        "description": "The model's answer as text (or, with `stream: true`, OpenAI chunks over SSE).",
        "content": {"application/json": {"schema": _answer({"type": "string"})}, **_STREAM},
    }


def prompt_openapi(
    *,
    title: str,
    version_label: str,
    description: str,
    variables: list[dict[str, Any]],
    response_mode: str,
    response_schema: Any,
    model_name: str,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of one prompt version served under an API version's base path."""
    stream_note = (
        "`stream: true` is refused (400) in this API: its answer is validated JSON."
        if response_mode == "json"
        else "`stream: true` answers with OpenAI chat completion chunks over server-sent events."
    )
    request_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["variables"],
        "properties": {
            "variables": ref("Variables"),
            "stream": {"type": "boolean", "default": False, "description": stream_note},
        },
    }
    responses: dict[str, Any] = {
        "200": _success(response_mode, response_schema),
        "400": {
            "description": "`invalid_variables`: every problem with the variables, listed at once; "
            "or another `error` (malformed JSON, `stream` not allowed).",
            "content": {"application/json": {"schema": {"oneOf": [ref("InvalidVariables"), ref("Error")]}}},
        },
        "401": error_response("No valid API key."),
        "429": error_response("A rate limit, quota or token/cost budget of your plan is exhausted."),
        "502": error_response(
            "The model provider failed"
            + (
                ", or `invalid_model_output`: its answer did not parse or match the schema."
                if response_mode == "json"
                else "."
            )
        ),
    }
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": title,
            "version": version_label,
            "description": description
            or f"A prompt served by the model route `{model_name}`. Send its variables; get the model's answer.",
        },
        "paths": {
            "/run": {
                "post": {
                    "operationId": "run",
                    "summary": "Run the prompt",
                    "description": "Fills the prompt's variables (single pass: a value containing `{{x}}` is sent "
                    "literally), calls the model and answers by the prompt's response mode "
                    f"(`{response_mode}`).",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": request_schema,
                                "example": {"variables": _example(variables), "stream": False},
                            }
                        },
                    },
                    "responses": responses,
                    "security": [{"ApiKey": []}, {"Bearer": []}],
                }
            }
        },
        "components": {
            "schemas": {
                "Variables": variables_schema(variables),
                "Usage": _USAGE,
                "Error": _ERROR,
                "InvalidVariables": _INVALID_VARIABLES,
                **({"ChatCompletion": _CHAT_COMPLETION} if response_mode == "openai" else {}),
            },
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "Bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }
