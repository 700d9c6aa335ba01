"""Writes about gateway nodes: register, rotate the token, revoke. Platform staff only."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.crypto import make_prefixed_token
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from core.validators import clean_text
from gateways.models import GatewayNode
from tenants.models import User


def _require_staff(user: User | None) -> None:
    """Staff only. ``None`` is the operator at the command line (``manage.py gateway_node``):
    shell access to the server is already full trust, so no user account is needed."""
    if user is None:
        return
    if not (user.is_active and user.is_staff):
        raise Forbidden("Only platform staff manage gateway nodes.")


def _lock(node: GatewayNode) -> GatewayNode:
    found = GatewayNode.objects.select_for_update().filter(pk=node.pk).first()
    if found is None:
        raise NotFound("No such gateway node.")
    return found


def check_node_name_free(name: str) -> None:
    if GatewayNode.objects.filter(name=name).exists():
        raise Conflict(f"A node named “{name}” exists already.", code="already_exists", field="name")


@transaction.atomic
def node_create(*, actor: User | None, name: str, description: str = "") -> tuple[GatewayNode, str]:
    """Register a node; returns it and its token, shown once (only a hash is stored)."""
    _require_staff(actor)
    name = clean_text(name, field="name", max_length=100, required=True)
    description = clean_text(description, field="description", max_length=500)
    check_node_name_free(name)
    plaintext, key_id, secret = make_prefixed_token(GatewayNode.PREFIX)
    node = GatewayNode(name=name, description=description, created_by=actor)
    node.set_secret(key_id, secret)
    try:
        with transaction.atomic():
            node.save()
    except IntegrityError:
        raise Conflict(f"A node named “{name}” exists already.", code="already_exists", field="name") from None
    return node, plaintext


@transaction.atomic
def node_rotate(*, actor: User | None, node: GatewayNode) -> tuple[GatewayNode, str]:
    """Give the node a new token; the old one stops working at once."""
    _require_staff(actor)
    node = _lock(node)
    if node.revoked_at is not None:
        raise Conflict("A revoked node cannot get a new token; register a new node.", code="node_revoked")
    plaintext, key_id, secret = make_prefixed_token(GatewayNode.PREFIX)
    node.set_secret(key_id, secret)
    node.token_rotated_at = timezone.now()
    node.save(update_fields=["key_id", "token_hash", "token_rotated_at"])
    return node, plaintext


@transaction.atomic
def node_revoke(*, actor: User | None, node: GatewayNode) -> GatewayNode:
    """Refuse the node's token from now on (its history stays)."""
    _require_staff(actor)
    node = _lock(node)
    if node.revoked_at is None:
        node.revoked_at = timezone.now()
        node.save(update_fields=["revoked_at"])
    return node


#: Bounds of what a node may report (a bigint column, a display string).
MAX_REPORTED = 2**62


def node_heartbeat(
    *, node: GatewayNode, software_version: str, applied_config_version: int | None, buffered_records: int
) -> int:
    """Store what a node reports about itself; returns the current config version.

    A plain UPDATE by primary key (no lock, no model save): heartbeats arrive every few
    seconds from every node and must not contend with staff editing the node.
    """
    from gateways.snapshot import current_version

    software_version = clean_text(software_version, field="software_version", max_length=100)
    for field, value in (("applied_config_version", applied_config_version), ("buffered_records", buffered_records)):
        if value is not None and not 0 <= value <= MAX_REPORTED:
            raise InvalidInput(f"{field} must be between 0 and {MAX_REPORTED}.", field=field)
    now = timezone.now()
    updated = GatewayNode.objects.filter(pk=node.pk, revoked_at__isnull=True).update(
        software_version=software_version,
        applied_config_version=applied_config_version,
        buffered_records=buffered_records,
        last_heartbeat_at=now,
        last_seen_at=now,
    )
    if not updated:
        raise NotFound("No such gateway node.")
    return current_version()
