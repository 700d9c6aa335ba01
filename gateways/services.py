"""Writes about gateway nodes: register, rotate the token, revoke. Platform staff only."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.crypto import make_prefixed_token
from core.errors import Conflict, Forbidden, NotFound
from core.validators import clean_text
from gateways.models import GatewayNode
from tenants.models import User


def _require_staff(user: User) -> None:
    if not (user.is_active and user.is_staff):
        raise Forbidden("Only platform staff manage gateway nodes.")


def _lock(node: GatewayNode) -> GatewayNode:
    found = GatewayNode.objects.select_for_update().filter(pk=node.pk).first()
    if found is None:
        raise NotFound("No such gateway node.")
    return found


@transaction.atomic
def node_create(*, actor: User, name: str, description: str = "") -> tuple[GatewayNode, str]:
    """Register a node; returns it and its token, shown once (only a hash is stored)."""
    _require_staff(actor)
    name = clean_text(name, field="name", max_length=100, required=True)
    description = clean_text(description, field="description", max_length=500)
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
def node_rotate(*, actor: User, node: GatewayNode) -> tuple[GatewayNode, str]:
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
def node_revoke(*, actor: User, node: GatewayNode) -> GatewayNode:
    """Refuse the node's token from now on (its history stays)."""
    _require_staff(actor)
    node = _lock(node)
    if node.revoked_at is None:
        node.revoked_at = timezone.now()
        node.save(update_fields=["revoked_at"])
    return node
