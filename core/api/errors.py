"""One error shape for the whole REST API.

    {"error": {"code": "invalid", "message": "…", "fields": {"slug": ["…"]}}}

``fields`` is present (possibly empty) on every error so clients need one parser.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, models
from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import Conflict, ServiceError


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _flatten(detail: Any) -> dict[str, list[str]]:
    """DRF's (possibly nested) error detail as ``{"dotted.path": ["message", ...]}``.

    Nested serializers and list fields report ``{"upstreams": {"0": {"url": [...]}}}``;
    clients get one flat level instead, e.g. ``{"upstreams.0.url": [...]}``, which is what
    the published Error schema promises (a map of arrays of strings).
    """
    out: dict[str, list[str]] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), item)
        elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
            for index, item in enumerate(value):
                if item:  # DRF puts {} for list items without errors
                    walk(f"{prefix}.{index}" if prefix else str(index), item)
        elif isinstance(value, list):
            out.setdefault(prefix or "non_field_errors", []).extend(str(v) for v in value)
        else:
            out.setdefault(prefix or "non_field_errors", []).append(str(value))

    walk("", detail)
    return out


def _constraint_field(constraint: str) -> str | None:
    """The (last) field a unique constraint or ``unique=True`` column of any model is about."""
    for model in apps.get_models():
        table = model._meta.db_table
        for constraint_obj in model._meta.constraints:
            if constraint_obj.name == constraint and isinstance(constraint_obj, models.UniqueConstraint):
                names: list[Any] = list(constraint_obj.fields) or [
                    getattr(e, "name", None) or getattr(getattr(e, "source_expressions", [None])[0], "name", "")
                    for e in constraint_obj.expressions
                ]
                return names[-1] if names else None
        for field in model._meta.concrete_fields:
            if field.unique and not field.primary_key and constraint == f"{table}_{field.column}_key":
                return field.name
    return None


def integrity_conflict(exc: IntegrityError) -> Conflict:
    """Turn a unique-constraint violation that slipped past a service check into a 409 naming the field.

    Services check uniqueness first; this covers the race where two requests pass the check
    at once, so the client sees "already exists" instead of a 500.
    """
    diag = getattr(exc.__cause__, "diag", None)
    constraint = getattr(diag, "constraint_name", None) or ""
    field = _constraint_field(constraint) if constraint else None
    what = f"this {field.replace('_', ' ')}" if field else "these values"
    return Conflict(f"Something with {what} already exists.", code="already_exists", field=field)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, RequestDataTooBig):
        # DRF reads JSON and form bodies through ``request.body``, which stops at
        # DATA_UPLOAD_MAX_MEMORY_SIZE; answered here so DEBUG's technical page never shows.
        return Response(error_body("too_large", "The request body is too large."), status=413)
    if isinstance(exc, IntegrityError):
        exc = integrity_conflict(exc)
    if isinstance(exc, ServiceError):
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status_code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: let Django log it and answer 500
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        first = next(iter(fields.items()), None)
        message = "Invalid input."
        if first:
            name, errors = first
            text = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], str) else "invalid"
            message = f"Invalid input: {text}" if name == "non_field_errors" else f"Invalid input for {name}: {text}"
        response.data = error_body("invalid", message, fields)
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        response.data = error_body(str(code), str(detail))
    return response


def _json_error(status_code: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status_code)


@csrf_exempt  # a token-authenticated POST to an unknown path is a 404, not a CSRF failure
def api_not_found(request: HttpRequest, exception: Exception | None = None, **kwargs: Any) -> JsonResponse:
    return _json_error(status.HTTP_404_NOT_FOUND, "not_found", "No such endpoint or object.")


def api_server_error(request: HttpRequest) -> JsonResponse:
    return _json_error(status.HTTP_500_INTERNAL_SERVER_ERROR, "server_error", "Internal error; it has been logged.")


def _allow_blank_formats(schemas: dict[str, Any]) -> None:
    """Optional e-mail / URL fields read back as ``""`` when unset: say so in response schemas.

    ``format: email`` alone would make every blank contact address a schema violation.
    """
    for name, component in schemas.items():
        if name.endswith("Request"):
            continue
        for prop in component.get("properties", {}).values():
            if prop.get("type") == "string" and prop.get("format") in {"email", "uri"}:
                fmt = prop.pop("format")
                del prop["type"]
                prop["anyOf"] = [{"type": "string", "format": fmt}, {"type": "string", "maxLength": 0}]


def error_schema_hook(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular post-processing: document the error shape on every operation."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "fields"],
                "properties": {
                    "code": {"type": "string", "example": "invalid"},
                    "message": {"type": "string", "example": "Invalid input for slug: This field is required."},
                    "fields": {
                        "type": "object",
                        "additionalProperties": {"type": "array", "items": {"type": "string"}},
                        "example": {"slug": ["This field is required."]},
                    },
                },
            }
        },
    }
    _allow_blank_formats(schemas)
    ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    descriptions = {
        "400": "Invalid input (body or query parameters); `fields` says what was wrong (nested fields as dotted "
        "paths, e.g. `upstreams.0.url`).",
        "413": "The request body is too large.",
        "414": "The URL (path and query string) is too long.",
        "401": "Not authenticated.",
        "403": "Your role does not allow this.",
        "404": "Not found, or not visible to you (for lists: a page past the end).",
        "409": "Conflicts with the current state.",
    }
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            responses = operation.setdefault("responses", {})
            # Every request may be refused for its URL or query string (NUL, invalid UTF-8, length).
            codes = ["400", "401", "403", "414"]
            if method in {"post", "put", "patch"}:
                codes.append("413")
            # Objects in the path, and page numbers past the end of a list, are 404.
            codes.append("404")
            if method in {"post", "delete", "put", "patch"}:
                codes.append("409")
            for code in codes:
                responses.setdefault(code, {"description": descriptions[code], **ref})
            for code, response in responses.items():
                # An error response a view documents itself (e.g. a 409 with its reason) has the one shape too.
                if code in descriptions and "content" not in response:
                    response.update(ref)
    return result
