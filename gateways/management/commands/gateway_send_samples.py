"""``manage.py gateway_send_samples --node NAME [--token T] [--url URL] [--records N]``.

Posts the Kong and APISIX sample entries (bench/samples/) and N generated native records
(bench/traffic.py, over this database's routed versions and keys) to ``POST /gateway/v1/logs``
as the node, over HTTP like a real gateway, and prints each answer. A node that does not exist
is registered first (its token is printed once). For an existing node pass its token
(``--token`` or GATEWAY_NODE_TOKEN), or ``--rotate`` to give it a new one (the old one stops).

The samples are re-stamped to now with fresh request ids (derived from the original id and the
new time), as if the gateways had just served them, so they show on the dashboards.
"""

from __future__ import annotations

import copy
import gzip
import json
import os
import sys
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from gateways import services
from gateways.formats import REQUEST_ID_NAMESPACE
from gateways.models import GatewayNode

SAMPLES = Path(settings.BASE_DIR) / "bench" / "samples"
BATCH_SIZE = 1000


def _restamp_kong(entries: list[dict[str, Any]], now_ms: int) -> list[dict[str, Any]]:
    out = []
    for i, entry in enumerate(copy.deepcopy(entries)):
        entry["started_at"] = now_ms - 1000 * (len(entries) - i)
        request = entry.setdefault("request", {})
        request["id"] = uuid.uuid5(REQUEST_ID_NAMESPACE, f"{request.get('id')}|{entry['started_at']}").hex
        out.append(entry)
    return out


def _restamp_apisix(entries: list[dict[str, Any]], now_ms: int) -> list[dict[str, Any]]:
    out = []
    for i, entry in enumerate(copy.deepcopy(entries)):
        entry["start_time"] = now_ms - 1000 * (len(entries) - i)
        headers = entry.setdefault("request", {}).setdefault("headers", {})
        headers["x-request-id"] = str(
            uuid.uuid5(REQUEST_ID_NAMESPACE, f"{headers.get('x-request-id')}|{entry['start_time']}")
        )
        out.append(entry)
    return out


class Command(BaseCommand):
    help = "Post the Kong/APISIX samples and generated traffic to /gateway/v1/logs as a node."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--node", required=True, help="node name (registered if missing)")
        parser.add_argument("--token", default=os.environ.get("GATEWAY_NODE_TOKEN", ""), help="the node's token")
        parser.add_argument("--rotate", action="store_true", help="give an existing node a new token and use it")
        parser.add_argument("--url", default="http://localhost:8000", help="the portal's base URL")
        parser.add_argument("--records", type=int, default=1000, help="generated native records to send")
        parser.add_argument("--seed", type=int, default=None)

    def handle(self, *args: Any, node: str, token: str, rotate: bool, url: str, records: int, **options: Any) -> None:
        token = self._token(node, token, rotate)
        endpoint = url.rstrip("/") + "/gateway/v1/logs"
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        kong = SAMPLES / "kong-http-log.json"
        if kong.exists():
            entries = _restamp_kong(json.loads(kong.read_text()), now_ms)
            self._post(endpoint, token, json.dumps(entries).encode(), "application/json", "kong")
        apisix = SAMPLES / "apisix-http-logger.ndjson"
        if apisix.exists():
            lines = [json.loads(line) for line in apisix.read_text().splitlines() if line.strip()]
            body = "\n".join(json.dumps(e) for e in _restamp_apisix(lines, now_ms)).encode()
            self._post(endpoint, token, body, "application/x-ndjson", "apisix")
        if records > 0:
            traffic = _traffic_module()
            generated = traffic.generate(
                records, traffic.universe_from_db(), seed=options["seed"] or now_ms % 1_000_000
            )
            for chunk in traffic.batches(generated, BATCH_SIZE):
                self._post(endpoint, token, traffic.ndjson(chunk), "application/x-ndjson", None)

    def _token(self, name: str, token: str, rotate: bool) -> str:
        node = GatewayNode.objects.filter(name=name).first()
        if node is None:
            node, token = services.node_create(actor=None, name=name, description="created by gateway_send_samples")
            self.stderr.write(f"Registered node “{name}”; its token (shown once): {token}")
        elif rotate:
            node, token = services.node_rotate(actor=None, node=node)
            self.stderr.write(f"Rotated the token of “{name}” (the old one stopped): {token}")
        elif not token:
            raise CommandError(
                f"Node “{name}” exists: pass its token (--token or GATEWAY_NODE_TOKEN), or --rotate to replace it."
            )
        return token

    def _post(self, endpoint: str, token: str, body: bytes, content_type: str, fmt: str | None) -> None:
        url = endpoint + (f"?format={fmt}" if fmt else "")
        request = urllib.request.Request(  # noqa: S310 (the operator's URL)
            url,
            data=gzip.compress(body),
            method="POST",
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": content_type,
                "Content-Encoding": "gzip",
                "X-Batch-Id": str(uuid.uuid4()),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 (the operator's URL)
                answer = json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise CommandError(f"{url}: HTTP {error.code} {error.read()[:300]!r}") from None
        except urllib.error.URLError as error:
            raise CommandError(f"{url}: {error.reason} (is the portal running? --url)") from None
        self.stdout.write(
            f"{fmt or 'native':<7} received {answer['received']:>5}  accepted {answer['accepted']:>5}  "
            f"duplicates {answer['duplicates']:>4}  rejected {answer['rejected']:>3}"
        )


def _traffic_module() -> Any:
    """bench/traffic.py (a script directory, not an installed package)."""
    root = str(settings.BASE_DIR)
    if root not in sys.path:
        sys.path.insert(0, root)
    from bench import traffic

    return traffic
