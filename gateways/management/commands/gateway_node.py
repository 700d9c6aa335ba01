"""``manage.py gateway_node create NAME [--description …] | rotate NAME | issue NAME | revoke NAME | list``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import ServiceError
from gateways import selectors, services
from gateways.models import GatewayNode


class Command(BaseCommand):
    help = "Register gateway nodes and manage their tokens (a token is printed once, only a hash is kept)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="verb", required=True)
        create = sub.add_parser("create", help="Register a node and print its token once.")
        create.add_argument("name")
        create.add_argument("--description", default="")
        sub.add_parser("rotate", help="Print a new token; the old one stops at once.").add_argument("name")
        sub.add_parser(
            "issue", help="Print a token for NAME: register the node if missing, else rotate (./run uses this)."
        ).add_argument("name")
        sub.add_parser("revoke", help="Refuse the node's token from now on.").add_argument("name")
        sub.add_parser("list", help="The registered nodes.")

    def handle(self, *args: Any, verb: str, **options: Any) -> None:
        try:
            getattr(self, f"do_{verb}")(**options)
        except ServiceError as error:
            raise CommandError(error.message) from None

    def _node(self, name: str) -> GatewayNode:
        node = GatewayNode.objects.filter(name=name).first()
        if node is None:
            raise CommandError(f"No gateway node named “{name}”.")
        return node

    def _token(self, node: GatewayNode, token: str) -> None:
        self.stderr.write(f"Node “{node.name}” (id {node.pk}). Its token, shown only now:")
        # The token alone on stdout, so `TOKEN=$(manage.py gateway_node create edge-1)` works.
        self.stdout.write(token)

    def do_create(self, *, name: str, description: str, **_: Any) -> None:
        node, token = services.node_create(actor=None, name=name, description=description)
        self._token(node, token)

    def do_rotate(self, *, name: str, **_: Any) -> None:
        node, token = services.node_rotate(actor=None, node=self._node(name))
        self._token(node, token)

    def do_issue(self, *, name: str, **_: Any) -> None:
        node = GatewayNode.objects.filter(name=name).first()
        if node is None:
            node, token = services.node_create(actor=None, name=name, description="Started by ./run.")
        else:
            node, token = services.node_rotate(actor=None, node=node)
        self._token(node, token)

    def do_revoke(self, *, name: str, **_: Any) -> None:
        node = services.node_revoke(actor=None, node=self._node(name))
        self.stdout.write(f"Node “{node.name}” revoked at {node.revoked_at:%Y-%m-%d %H:%M:%S} UTC.")

    def do_list(self, **_: Any) -> None:
        nodes = selectors.annotate(list(selectors.nodes()))
        self.stdout.write(f"{'NAME':<24} {'KEY ID':<14} {'STATE':<8} {'LAST SEEN':<20} {'CONFIG':>8} SOFTWARE")
        for node in nodes:
            state = "revoked" if not node.is_active else ("silent" if node.silent else "active")  # type: ignore[attr-defined]
            seen = f"{node.last_seen_at:%Y-%m-%d %H:%M:%S}" if node.last_seen_at else "never"
            config = "—" if node.applied_config_version is None else str(node.applied_config_version)
            self.stdout.write(
                f"{node.name:<24} {node.key_id:<14} {state:<8} {seen:<20} {config:>8} {node.software_version}"
            )
