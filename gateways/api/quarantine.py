"""REST for staff: /api/v1/platform/quarantine/ (records the call-log intake refused) and the ingest batches."""

from __future__ import annotations

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.permissions import IsAdminUser

from core.api import tags
from core.api.pagination import CursorPagination
from gateways import quarantine
from gateways.models import IngestBatch, QuarantinedRecord


class QuarantinedRecordSerializer(serializers.ModelSerializer):
    node_name = serializers.CharField(source="node.name", read_only=True)
    batch_id = serializers.CharField(source="batch.batch_id", read_only=True)

    class Meta:
        model = QuarantinedRecord
        fields = ["id", "node", "node_name", "batch_id", "line", "reason", "detail", "raw", "created_at"]
        read_only_fields = fields


class IngestBatchSerializer(serializers.ModelSerializer):
    class Meta:
        model = IngestBatch
        fields = [
            "id",
            "node",
            "batch_id",
            "format",
            "received",
            "accepted",
            "duplicates",
            "rejected",
            "bytes",
            "created_at",
        ]
        read_only_fields = fields


@extend_schema(tags=[tags.CALL_LOGS])
@extend_schema_view(
    list=extend_schema(summary="Quarantined call records, newest first (platform staff)"),
    retrieve=extend_schema(summary="One quarantined call record (platform staff)"),
)
class QuarantineViewSet(viewsets.ReadOnlyModelViewSet):
    """Call records the intake refused, with the reason (staff only: 403 for everyone else)."""

    permission_classes = [IsAdminUser]
    serializer_class = QuarantinedRecordSerializer
    pagination_class = CursorPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = quarantine.QuarantineFilterSet

    def get_queryset(self) -> QuerySet[QuarantinedRecord]:
        return quarantine.quarantined()


@extend_schema(tags=[tags.CALL_LOGS])
@extend_schema_view(
    list=extend_schema(summary="Log batches received from gateway nodes, newest first (platform staff)"),
    retrieve=extend_schema(summary="One log batch (platform staff)"),
)
class IngestBatchViewSet(viewsets.ReadOnlyModelViewSet):
    """Every ``POST /gateway/v1/logs`` with its counts (staff only)."""

    permission_classes = [IsAdminUser]
    serializer_class = IngestBatchSerializer
    pagination_class = CursorPagination

    def get_queryset(self) -> QuerySet[IngestBatch]:
        return IngestBatch.objects.order_by("-created_at", "-id")
