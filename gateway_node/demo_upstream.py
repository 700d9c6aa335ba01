"""A small upstream for the demo: Acme's Orders and Weather APIs, in memory.

``python -m gateway_node.demo_upstream`` serves the demo catalog's upstream addresses:
Orders on 127.0.0.1:9101, Weather on 9102 and 9103 (two targets with weights 3 : 1 in the
demo data, so the node's load balancing shows). Paths are those of the OpenAPI documents
under ``apis/demo/`` (``/orders``, ``/orders/{order_id}``, ``/current``, …), relative to the
version's base path, which the node cuts off.

It is a demo, not a benchmark upstream: the standard library's threaded server, HTTP/1.1
keep-alive, JSON answers shaped like the documents' schemas.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import secrets
import sys
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Json = dict[str, Any]


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class Orders:
    """Orders with the lifecycle the document describes; cancel only before pickup."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.orders: dict[str, Json] = {}
        self.by_idempotency: dict[str, str] = {}

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Json | None, headers: Any) -> tuple:
        if path == "/rates" and method == "GET":
            weight = int((query.get("weight_grams") or ["1000"])[0] or 1000)
            return 200, {
                "currency": "EUR",
                "rates": [
                    {"service": "standard", "amount": 495 + weight // 100, "days": 3},
                    {"service": "express", "amount": 1295 + weight // 50, "days": 1},
                ],
            }
        if path == "/orders" and method == "GET":
            status: str | None = (query.get("status") or [""])[0] or None
            with self.lock:
                items = [o for o in self.orders.values() if status in (None, o["status"])]
            items.sort(key=lambda o: o["created_at"], reverse=True)
            limit = max(1, min(100, int((query.get("limit") or ["20"])[0] or 20)))
            return 200, {"items": items[:limit], "next_cursor": None}
        if path == "/orders" and method == "POST":
            if not isinstance(body, dict) or not body.get("delivery"):
                return 400, {"error": {"code": "invalid", "message": "A delivery address is required."}}
            key = headers.get("Idempotency-Key")
            with self.lock:
                if key and key in self.by_idempotency:
                    return 201, self.orders[self.by_idempotency[key]]
                order_id = "ord_" + secrets.token_hex(6)
                order: Json = {
                    "id": order_id,
                    "reference": body.get("reference"),
                    "status": "created",
                    "pickup": body.get("pickup"),
                    "delivery": body.get("delivery"),
                    "parcels": body.get("parcels") or [],
                    "created_at": _now(),
                }
                self.orders[order_id] = order
                if key:
                    self.by_idempotency[key] = order_id
            return 201, order
        match = re.fullmatch(r"/orders/([^/]+)(/cancel|/tracking)?", path)
        if not match:
            return 404, {"error": {"code": "not_found", "message": "No such resource."}}
        order_id, tail = match.group(1), match.group(2)
        with self.lock:
            found = self.orders.get(order_id)
            if found is None:
                return 404, {"error": {"code": "not_found", "message": f"No order {order_id}."}}
            order = found
            if tail is None and method == "GET":
                return 200, order
            if tail is None and method == "PATCH":
                for field in ("reference", "delivery"):
                    if isinstance(body, dict) and field in body:
                        order[field] = body[field]
                return 200, order
            if tail == "/cancel" and method == "POST":
                if order["status"] != "created":
                    return 409, {"error": {"code": "conflict", "message": "Picked up orders cannot be cancelled."}}
                order["status"] = "cancelled"
                return 200, order
            if tail == "/tracking" and method == "GET":
                created = datetime.fromisoformat(str(order["created_at"]).replace("Z", "+00:00"))
                return 200, {
                    "order_id": order_id,
                    "status": order["status"],
                    "events": [{"at": created.isoformat().replace("+00:00", "Z"), "status": "created"}],
                }
        return 405, {"error": {"code": "method_not_allowed", "message": f"{method} is not allowed here."}}


class Weather:
    """Deterministic fake weather: the same point and hour give the same answer."""

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Json | None, headers: Any) -> tuple:
        if method != "GET":
            return 405, {"error": {"code": "method_not_allowed", "message": "Read-only API."}}
        lat = float((query.get("lat") or ["52.37"])[0] or 52.37)
        lon = float((query.get("lon") or ["4.90"])[0] or 4.90)
        base = round(12 + (lat % 7) - (lon % 3), 1)
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        if path == "/current":
            return 200, {"lat": lat, "lon": lon, "temperature_c": base, "wind_kph": 14, "conditions": "cloudy"}
        if path == "/forecast/hourly":
            hours = [
                {"at": (now + timedelta(hours=h)).isoformat().replace("+00:00", "Z"), "temperature_c": base + h % 5}
                for h in range(48)
            ]
            return 200, {"lat": lat, "lon": lon, "hours": hours}
        if path == "/forecast/daily":
            days = [
                {"date": (now + timedelta(days=d)).date().isoformat(), "high_c": base + 4, "low_c": base - 3}
                for d in range(7)
            ]
            return 200, {"lat": lat, "lon": lon, "days": days}
        if path == "/alerts":
            return 200, {"items": [{"id": "al_1", "severity": "moderate", "event": "Wind", "area": "North Sea coast"}]}
        if path.startswith("/alerts/"):
            return 200, {"id": path.rsplit("/", 1)[1], "severity": "moderate", "event": "Wind"}
        if path == "/stations":
            return 200, {"items": [{"id": "st_ams", "name": "Amsterdam"}, {"id": "st_rtm", "name": "Rotterdam"}]}
        match = re.fullmatch(r"/stations/([^/]+)/observations", path)
        if match:
            return 200, {"station_id": match.group(1), "observations": [{"at": _now(), "temperature_c": base}]}
        return 404, {"error": {"code": "not_found", "message": "No such resource."}}


def make_handler(api: Any, name: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = f"acme-demo-{name}"

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = None
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    self._send(400, {"error": {"code": "invalid_json", "message": "The body is not JSON."}})
                    return
            status, payload = api.handle(self.command, parts.path or "/", parse_qs(parts.query), body, self.headers)
            self._send(status, payload)

        def _send(self, status: int, payload: Json) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            # Shows what the node added: the consumer it authenticated and the request id.
            for header in ("X-Request-Id", "X-Consumer-Application-Id"):
                if self.headers.get(header):
                    self.send_header(f"X-Upstream-Saw-{header[2:]}", self.headers[header])
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the node's call log is the record of these calls

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway_node.demo_upstream", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--orders-port", type=int, default=9101)
    parser.add_argument("--weather-ports", default="9102,9103", help="comma-separated")
    args = parser.parse_args(argv)
    servers = [ThreadingHTTPServer((args.host, args.orders_port), make_handler(Orders(), "orders"))]
    for port in args.weather_ports.split(","):
        if port.strip():
            servers.append(ThreadingHTTPServer((args.host, int(port)), make_handler(Weather(), "weather")))
    for server in servers:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
    ports = ", ".join(str(s.server_address[1]) for s in servers)
    print(f"[demo-upstream] Orders and Weather on {args.host} ports {ports}", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
