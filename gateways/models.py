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
