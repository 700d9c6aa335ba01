"""The demo upstream answers every operation of the demo APIs' OpenAPI documents."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from gateway_node.demo_upstream import Orders, Weather, make_handler

DEMO = Path(__file__).resolve().parents[2] / "apis" / "demo"


@pytest.fixture
def serve():
    servers = []

    def start(api) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(api, "test"))
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def call(url: str, method: str = "GET", body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def operations(spec: dict) -> list[tuple[str, str]]:
    return [
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def test_every_orders_operation_answers(serve):
    base = serve(Orders())
    status, order = call(base + "/orders", "POST", {"reference": "PO-1", "delivery": {"city": "Utrecht"}})
    assert status == 201 and order["status"] == "created"
    spec = yaml.safe_load((DEMO / "orders.yaml").read_text())
    for method, path in operations(spec):
        url = base + path.replace("{order_id}", order["id"])
        body = {"delivery": {"city": "Delft"}} if method in {"POST", "PATCH"} else None
        status, _ = call(url, method, body)
        assert status in {200, 201}, (method, path, status)
    assert call(base + "/orders/ord_missing")[0] == 404
    assert call(base + "/orders", "POST", {})[0] == 400


def test_every_weather_operation_answers(serve):
    base = serve(Weather())
    spec = json.loads((DEMO / "weather.json").read_text())
    for method, path in operations(spec):
        status, payload = call(
            base + path.replace("{alert_id}", "al_1").replace("{station_id}", "st_ams") + "?lat=52.1"
        )
        assert status == 200 and payload, (method, path)
    assert call(base + "/current", "POST", {})[0] == 405
