"""Gateway nodes (the data plane) as the control plane knows them.

Nodes are platform infrastructure, not tenant-owned: only platform staff manage them, so
these models use plain managers (no tenant scope). A node authenticates with a bearer token
``gwn_<key id>_<secret>``; only the key id and a SHA-256 of the secret are stored.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.crypto import hash_secret
from core.validators import validate_single_line


class GatewayNode(models.Model):
    """One gateway process (ours, or a Kong / APISIX feeding logs) registered by staff."""

    PREFIX = "gwn"

    name = models.CharField(max_length=100, unique=True, validators=[validate_single_line])
    description = models.CharField(max_length=500, blank=True)
    key_id = models.CharField(max_length=24, unique=True)
    token_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    token_rotated_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # What the node last told us (heartbeat) and when we last heard from it (any request).
    last_seen_at = models.DateTimeField(null=True, blank=True)
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    software_version = models.CharField(max_length=100, blank=True)
    applied_config_version = models.BigIntegerField(null=True, blank=True)
    buffered_records = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def set_secret(self, key_id: str, secret: str) -> None:
        self.key_id = key_id
        self.token_hash = hash_secret(secret)

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ConfigState(models.Model):
    """The one row holding the gateway configuration version.

    Database triggers (migration 0001) bump ``version`` in the same transaction as any write
    to the tables a config snapshot is built from, so no service can forget to, and a node
    polling with ``If-None-Match`` sees every change (key revoked, subscription decided, plan
    edited, version published or retired, upstreams edited).
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    version = models.BigIntegerField(default=1)
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="configstate_single_row")]

    def __str__(self) -> str:
        return f"config v{self.version}"


class CallRecord(models.Model):
    """One call a gateway handled: a row of the raw, day-partitioned table ``gateways_callrecord``.

    The table is created by a RunSQL migration (``PARTITION BY RANGE (ts)``, daily partitions
    ``gateways_callrecord_pYYYYMMDD`` plus ``gateways_callrecord_default``) and written only by
    the intake in SQL (COPY + INSERT … SELECT); this unmanaged model exists for reads. There
    are no foreign keys on purpose: partitions are dropped whole by retention, and a deleted
    tenant or key must not block or cascade into history.
    """

    pk = models.CompositePrimaryKey("request_id", "ts")
    request_id = models.UUIDField()
    ts = models.DateTimeField()
    received_at = models.DateTimeField()
    node_id = models.BigIntegerField()
    batch_id = models.BigIntegerField(null=True)
    source = models.CharField(max_length=16)
    api_version_id = models.BigIntegerField(null=True)
    api_id = models.BigIntegerField(null=True)
    provider_tenant_id = models.BigIntegerField(null=True)
    endpoint = models.CharField(max_length=300, default="")
    method = models.CharField(max_length=10, default="")
    path = models.CharField(max_length=2048, default="")
    api_key_id = models.BigIntegerField(null=True)
    key_id = models.CharField(max_length=24, default="")
    application_id = models.BigIntegerField(null=True)
    consumer_tenant_id = models.BigIntegerField(null=True)
    plan_id = models.BigIntegerField(null=True)
    subscription_id = models.BigIntegerField(null=True)
    status = models.SmallIntegerField()
    latency_ms = models.FloatField(default=0)
    upstream_latency_ms = models.FloatField(null=True)
    request_bytes = models.BigIntegerField(default=0)
    response_bytes = models.BigIntegerField(default=0)
    client_ip = models.GenericIPAddressField(null=True)
    user_agent = models.CharField(max_length=512, default="")
    error = models.CharField(max_length=64, default="")
    # AI calls (docs/ai-gateway.md, "Call records"): all optional; '' / NULL on other calls.
    ai_route = models.CharField(max_length=160, default="", help_text="Public model name asked for.")
    ai_provider = models.CharField(max_length=64, default="")
    ai_model = models.CharField(max_length=128, default="")
    ai_input_tokens = models.IntegerField(null=True)
    ai_output_tokens = models.IntegerField(null=True)
    ai_cached_tokens = models.IntegerField(null=True, help_text="Cache-read part of the input tokens.")
    ai_cost = models.DecimalField(max_digits=18, decimal_places=8, null=True, help_text="USD; NULL = price unknown.")
    ai_ttft_ms = models.FloatField(null=True, help_text="Request start → first byte of the answer body sent.")

    class Meta:
        managed = False
        db_table = "gateways_callrecord"
        ordering = ["-ts"]

    def __str__(self) -> str:
        return f"{self.request_id} {self.method} {self.path} {self.status}"


class LogFormat(models.TextChoices):
    NATIVE = "native", "Native NDJSON / JSON"
    KONG = "kong", "Kong http-log"
    APISIX = "apisix", "APISIX http-logger"


class IngestBatch(models.Model):
    """One ``POST /gateway/v1/logs`` a node made, with its counts.

    ``batch_id`` is the node's ``X-Batch-Id`` (or a generated one when absent); unique per
    node, so a retried batch is answered from this row and nothing is inserted twice.
    """

    node = models.ForeignKey(GatewayNode, on_delete=models.PROTECT, related_name="batches")
    batch_id = models.CharField(max_length=100)
    format = models.CharField(max_length=16, choices=LogFormat.choices, default=LogFormat.NATIVE)
    received = models.IntegerField(default=0)
    accepted = models.IntegerField(default=0)
    duplicates = models.IntegerField(default=0)
    rejected = models.IntegerField(default=0)
    bytes = models.BigIntegerField(default=0, help_text="Body size as sent (compressed).")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["node", "batch_id"], name="ingestbatch_unique_per_node")]
        verbose_name_plural = "ingest batches"
        indexes = [models.Index(fields=["created_at"], name="ingestbatch_created_idx")]

    def __str__(self) -> str:
        return f"{self.node_id}/{self.batch_id}"


class QuarantinedRecord(models.Model):
    """A record the intake refused, kept (truncated) with the reason so staff can see what nodes send."""

    RAW_MAX_CHARS = 4096

    batch = models.ForeignKey(IngestBatch, on_delete=models.CASCADE, related_name="quarantined")
    node = models.ForeignKey(GatewayNode, on_delete=models.PROTECT, related_name="+")
    line = models.IntegerField(help_text="1-based line (NDJSON) or array index + 1 (JSON array).")
    reason = models.CharField(max_length=64)
    detail = models.CharField(max_length=300, blank=True)
    raw = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["created_at"], name="quarantine_created_idx"),
            models.Index(fields=["node", "created_at"], name="quarantine_node_idx"),
            models.Index(fields=["reason", "created_at"], name="quarantine_reason_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.batch_id}:{self.line} {self.reason}"
