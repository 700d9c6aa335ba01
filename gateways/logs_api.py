"""``POST /gateway/v1/logs``: the call-log intake as nodes (and Kong / APISIX) call it.

The body is read here, not by a DRF parser: its size is checked against
GATEWAY_LOGS_MAX_BYTES before it is read in full, a gzip body is inflated in bounded chunks
(GATEWAY_LOGS_MAX_INFLATED_BYTES), and the records are handed to ``gateways.intake``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotAuthenticated
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import tags
from core.api.errors import error_body
from core.errors import PayloadTooLarge
from gateways import intake
from gateways.auth import NodeTokenAuthentication
from gateways.models import GatewayNode, LogFormat

#: Seconds a node should wait before retrying after a 503.
RETRY_AFTER_SECONDS = 5
_READ_CHUNK = 64 * 1024


class IsGatewayNode(BasePermission):
    """Only a request authenticated with an active node token (``request.auth`` is the node)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, GatewayNode)


class _RawBodyParser(BaseParser):
    """Declares the accepted media types for content negotiation and the schema; the view reads the body."""

    media_type = "application/x-ndjson"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        return None


class _JsonRawParser(_RawBodyParser):
    media_type = "application/json"


_Answer = inline_serializer(
    "IngestAnswer",
    {
        "batch_id": serializers.CharField(),
        "received": serializers.IntegerField(),
        "accepted": serializers.IntegerField(),
        "duplicates": serializers.IntegerField(),
        "rejected": serializers.IntegerField(),
        "errors": serializers.ListField(
            child=inline_serializer(
                "IngestError", {"line": serializers.IntegerField(), "reason": serializers.CharField()}
            )
        ),
        "warnings": serializers.ListField(
            child=inline_serializer(
                "IngestWarning", {"line": serializers.IntegerField(), "reason": serializers.CharField()}
            )
        ),
    },
)


def _read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing (413) as soon as it passes ``limit`` bytes; Content-Length checked first."""
    django_request = request._request
    declared = django_request.META.get("CONTENT_LENGTH") or ""
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = django_request.read(_READ_CHUNK)
        if not chunk:
            break
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


class _JsonOnly(BaseContentNegotiation):
    """Always JSON. DRF's default would read ``?format=`` as a renderer override and 404 on ``kong``."""

    def select_parser(self, request: Request, parsers: Any) -> Any:
        media = (request.content_type or "").split(";")[0].strip().lower()
        return next((p for p in parsers if p.media_type == media), None)

    def select_renderer(self, request: Request, renderers: Any, format_suffix: str | None = None) -> Any:
        return renderers[0], renderers[0].media_type


class LogsView(APIView):
    """Batches of call records from a gateway node."""

    content_negotiation_class = _JsonOnly
    renderer_classes = [JSONRenderer]

    authentication_classes = [NodeTokenAuthentication]
    permission_classes = [IsGatewayNode]
    parser_classes = [_RawBodyParser, _JsonRawParser]
    throttle_classes: list[Any] = []

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, (OperationalError, InterfaceError)):
            # The database is down or the connection broke: nothing was committed, the node
            # keeps its batch and sends it again (with the same X-Batch-Id) after a pause.
            response = Response(
                error_body("unavailable", "The database is unavailable; retry this batch later."), status=503
            )
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        if isinstance(exc, NotAuthenticated):
            exc = NotAuthenticatedNode()
        return super().handle_exception(exc)

    @extend_schema(
        operation_id="gateway_logs_post",
        tags=[tags.GATEWAY_PROTOCOL],
        summary="Send a batch of call records",
        description=(
            "NDJSON (`application/x-ndjson`) or a JSON array (`application/json`) of call records, "
            "optionally `Content-Encoding: gzip`. Native records, Kong `http-log` or APISIX `http-logger` "
            "entries (`?format=`, or detected per entry). `received = accepted + duplicates + rejected`; "
            "rejected records are quarantined with the reason. A 200 means committed. "
            "See docs/gateway-protocol.md, section Logs."
        ),
        parameters=[
            OpenApiParameter("format", OpenApiTypes.STR, OpenApiParameter.QUERY, enum=LogFormat.values, required=False),
            OpenApiParameter(
                "X-Batch-Id",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=False,
                description="Makes a retry idempotent: a batch id already seen from this node is answered "
                "with the stored counts and nothing is inserted.",
            ),
        ],
        request={"application/x-ndjson": OpenApiTypes.STR, "application/json": OpenApiTypes.ANY},
        responses={
            200: _Answer,
            400: OpenApiResponse(description="Unknown format or a corrupt gzip stream."),
            401: OpenApiResponse(description="Missing, invalid or revoked node token."),
            413: OpenApiResponse(description="Body (compressed or inflated) or record count over the limits."),
            503: OpenApiResponse(description="Database unavailable: retry the same batch after Retry-After."),
        },
        examples=[
            OpenApiExample(
                "answer",
                response_only=True,
                value={
                    "batch_id": "b-1",
                    "received": 3,
                    "accepted": 1,
                    "duplicates": 1,
                    "rejected": 1,
                    "errors": [{"line": 3, "reason": "invalid_json"}],
                    "warnings": [],
                },
            )
        ],
    )
    def post(self, request: Request) -> Response:
        node = request.auth
        assert isinstance(node, GatewayNode)  # IsGatewayNode let the request in
        fmt = request.query_params.get("format") or None
        if fmt is not None and fmt not in LogFormat.values:
            return Response(
                error_body("invalid", f"Unknown format “{fmt[:20]}”: native, kong or apisix.", {"format": ["unknown"]}),
                status=400,
            )
        batch_id = (request.headers.get("X-Batch-Id") or "").strip()
        if len(batch_id) > 100 or any(ord(c) < 32 for c in batch_id):
            return Response(
                error_body("invalid", "X-Batch-Id: at most 100 printable characters.", {"X-Batch-Id": ["invalid"]}),
                status=400,
            )
        body = _read_body(request, settings.GATEWAY_LOGS_MAX_BYTES)
        encoding = (request.headers.get("Content-Encoding") or "identity").strip().lower()
        if encoding == "gzip":
            try:
                text = intake.inflate(body, limit=settings.GATEWAY_LOGS_MAX_INFLATED_BYTES)
            except ValueError as exc:
                return Response(error_body("invalid_gzip", str(exc)), status=400)
        elif encoding in ("identity", ""):
            text = body
        else:
            return Response(error_body("unsupported_encoding", "Content-Encoding: gzip or none."), status=415)
        outcome = intake.ingest(node=node, body=text, fmt=fmt, batch_id=batch_id or None, body_bytes=len(body))
        return Response(outcome.as_dict(), status=200)


class NotAuthenticatedNode(NotAuthenticated):
    default_detail = "A gateway node token is required (Authorization: Bearer gwn_…)."
