"""The OpenAPI document of an AI version (kind ``ai``), generated from the model routes it lists.

Stored as the version's ``spec`` with its Endpoint rows (apis.services.version_store_generated_spec),
so the catalog, the reference docs and the analytics by endpoint treat it like any other API.
It describes the OpenAI-compatible surface the gateway node serves (docs/ai-gateway.md):
``POST /chat/completions`` (plain or streamed), ``GET /models`` and, when a route serves
embeddings, ``POST /embeddings``. ``model`` is an enum of the version's public model names.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from llm.models import Capability

OPENAPI_VERSION = "3.1.0"

#: The token counts of an OpenAI ``usage`` object (both documents describe them).
TOKEN_COUNTS: dict[str, Any] = {
    "prompt_tokens": {"type": "integer"},
    "completion_tokens": {"type": "integer"},
    "total_tokens": {"type": "integer"},
}


def ref(name: str) -> dict[str, str]:
    """A reference to the schema ``name`` of the document's components."""
    return {"$ref": f"#/components/schemas/{name}"}


def error_response(description: str) -> dict[str, Any]:
    """A JSON error answer (the ``Error`` schema of the document)."""
    return {"description": description, "content": {"application/json": {"schema": ref("Error")}}}


def choices(**properties: Any) -> dict[str, Any]:
    """The ``choices`` array of an OpenAI chat completion (or chunk): each an ``index`` and ``properties``."""
    return {
        "type": "array",
        "items": {"type": "object", "properties": {"index": {"type": "integer"}, **properties}},
    }


def _schemas(chat_models: list[str], embedding_models: list[str]) -> dict[str, Any]:
    usage = {
        "type": "object",
        "properties": {
            **TOKEN_COUNTS,
            "prompt_tokens_details": {
                "type": "object",
                "properties": {"cached_tokens": {"type": "integer"}},
            },
        },
    }
    message = {
        "type": "object",
        "required": ["role", "content"],
        "properties": {
            "role": {"type": "string", "enum": ["system", "developer", "user", "assistant", "tool"]},
            "content": {
                "description": "Text, or an array of content parts.",
                "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}, {"type": "null"}],
            },
            "name": {"type": "string"},
            "tool_call_id": {"type": "string"},
            "tool_calls": {"type": "array", "items": {"type": "object"}},
        },
    }
    schemas: dict[str, Any] = {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "properties": {
                        "message": {"type": "string"},
                        "type": {"type": "string"},
                        "code": {"type": ["string", "null"]},
                    },
                }
            },
        },
        "Usage": usage,
        "ChatMessage": message,
        "ChatCompletionRequest": {
            "type": "object",
            "required": ["model", "messages"],
            "properties": {
                "model": {
                    "type": "string",
                    "description": "A public model name of this API.",
                    **({"enum": chat_models} if chat_models else {}),
                },
                "messages": {"type": "array", "minItems": 1, "items": ref("ChatMessage")},
                "stream": {
                    "type": "boolean",
                    "default": False,
                    "description": "Answer as server-sent events (chat.completion.chunk objects, then data: [DONE]).",
                },
                "stream_options": {
                    "type": "object",
                    "properties": {"include_usage": {"type": "boolean"}},
                },
                "temperature": {"type": "number", "minimum": 0, "maximum": 2},
                "top_p": {"type": "number", "minimum": 0, "maximum": 1},
                "max_tokens": {"type": "integer", "minimum": 1},
                "max_completion_tokens": {"type": "integer", "minimum": 1},
                "stop": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
                "n": {"type": "integer", "minimum": 1},
                "presence_penalty": {"type": "number"},
                "frequency_penalty": {"type": "number"},
                "seed": {"type": "integer"},
                "user": {"type": "string"},
                "tools": {"type": "array", "items": {"type": "object"}},
                "tool_choice": {"oneOf": [{"type": "string"}, {"type": "object"}]},
                "response_format": {"type": "object"},
            },
        },
        "ChatCompletion": {
            "type": "object",
            "required": ["id", "object", "created", "model", "choices"],
            "properties": {
                "id": {"type": "string"},
                "object": {"type": "string", "const": "chat.completion"},
                "created": {"type": "integer"},
                "model": {"type": "string"},
                "choices": choices(
                    message=ref("ChatMessage"),
                    finish_reason={
                        "type": ["string", "null"],
                        "enum": ["stop", "length", "tool_calls", "content_filter", None],
                    },
                ),
                "usage": ref("Usage"),
            },
        },
        "ChatCompletionChunk": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "object": {"type": "string", "const": "chat.completion.chunk"},
                "created": {"type": "integer"},
                "model": {"type": "string"},
                "choices": choices(delta={"type": "object"}, finish_reason={"type": ["string", "null"]}),
                "usage": {"oneOf": [ref("Usage"), {"type": "null"}]},
            },
        },
        "ModelList": {
            "type": "object",
            "properties": {
                "object": {"type": "string", "const": "list"},
                "data": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "id": {"type": "string"},
                            "object": {"type": "string", "const": "model"},
                            "created": {"type": "integer"},
                            "owned_by": {"type": "string"},
                        },
                    },
                },
            },
        },
    }
    if embedding_models:
        schemas["EmbeddingRequest"] = {
            "type": "object",
            "required": ["model", "input"],
            "properties": {
                "model": {"type": "string", "enum": embedding_models},
                "input": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
                "encoding_format": {"type": "string", "enum": ["float", "base64"]},
                "dimensions": {"type": "integer", "minimum": 1},
            },
        }
        schemas["EmbeddingList"] = {
            "type": "object",
            "properties": {
                "object": {"type": "string", "const": "list"},
                "model": {"type": "string"},
                "data": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "object": {"type": "string", "const": "embedding"},
                            "index": {"type": "integer"},
                            "embedding": {"type": "array", "items": {"type": "number"}},
                        },
                    },
                },
                "usage": ref("Usage"),
            },
        }
    return schemas


def document_for(
    *, title: str, version_label: str, description: str, routes: Iterable[tuple[str, str]], key_header: str
) -> dict[str, Any]:
    """The document for an AI version listing ``routes`` as ``(public name, capability)`` pairs."""
    pairs = sorted(set(routes))
    chat = [name for name, capability in pairs if capability == Capability.CHAT]
    embeddings = [name for name, capability in pairs if capability == Capability.EMBEDDINGS]
    errors = {
        "400": error_response("The request is not valid."),
        "401": error_response("Missing or unknown API key."),
        "404": error_response("`model` is not a model of this API (`unknown_model`)."),
        "429": error_response("A rate limit, token quota or cost budget of the plan is exhausted."),
        "502": error_response("Every provider behind the model failed."),
    }
    paths: dict[str, Any] = {
        "/models": {
            "get": {
                "operationId": "listModels",
                "summary": "List the models of this API",
                "responses": {
                    "200": {
                        "description": "The public model names.",
                        "content": {"application/json": {"schema": ref("ModelList")}},
                    },
                    "401": errors["401"],
                },
            }
        },
    }
    if chat or not embeddings:
        paths["/chat/completions"] = {
            "post": {
                "operationId": "createChatCompletion",
                "summary": "Create a chat completion",
                "description": "OpenAI-compatible. With `stream: true` the answer is a stream of server-sent "
                "events, each a `chat.completion.chunk`, ending with `data: [DONE]`.",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": ref("ChatCompletionRequest")}},
                },
                "responses": {
                    "200": {
                        "description": "The completion (or its stream).",
                        "content": {
                            "application/json": {"schema": ref("ChatCompletion")},
                            "text/event-stream": {"schema": ref("ChatCompletionChunk")},
                        },
                    },
                    **errors,
                },
            }
        }
    if embeddings:
        paths["/embeddings"] = {
            "post": {
                "operationId": "createEmbeddings",
                "summary": "Create embeddings",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": ref("EmbeddingRequest")}},
                },
                "responses": {
                    "200": {
                        "description": "One vector per input.",
                        "content": {"application/json": {"schema": ref("EmbeddingList")}},
                    },
                    **errors,
                },
            }
        }
    names = ", ".join(f"`{name}`" for name in (chat + embeddings)) or "none yet"
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": title,
            "version": version_label,
            "description": (description + "\n\n" if description else "")
            + f"An OpenAI-compatible API. Models: {names}. Use the `openai` client libraries with this API's "
            "base URL and your API key.",
        },
        "paths": paths,
        "components": {
            "schemas": _schemas(chat, embeddings),
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": key_header},
                "bearer": {"type": "http", "scheme": "bearer", "description": "The API key as a bearer token."},
            },
        },
        "security": [{"apiKey": []}, {"bearer": []}],
    }
