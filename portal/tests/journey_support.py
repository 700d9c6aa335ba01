"""Real processes and servers for the end-to-end journey test (test_journey_browser.py).

An upstream API on loopback (a stdlib HTTP server in a thread) and the gateway node started
as users start it, ``python -m gateway_node``, in a subprocess. Nothing here touches Django.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from gateway_node.tests.upstreams import Reply, Seen, Upstream, free_port, json_reply, wait_for

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def http_get(
    url: str, headers: dict[str, str] | None = None, timeout: float = 10.0
) -> tuple[int, dict[str, str], bytes]:
    """``(status, headers, body)`` of a GET (header names lower-cased: they are case-insensitive).

    An HTTP error status is an answer, not an exception.
    """
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def shipments_upstream() -> Upstream:
    """A tiny shipment-tracking API: ``GET /shipments/<id>`` answers :func:`shipment` as JSON.

    Every request it receives is kept in ``requests``, so a test can check what the gateway
    forwarded.
    """

    def handler(seen: Seen) -> Reply:
        return json_reply(shipment(seen.path))

    return Upstream(handler)


def shipment(path: str) -> dict[str, Any]:
    """The JSON body the upstream answers for ``path`` (tests compare what came through the node)."""
    return {"id": path.rstrip("/").rsplit("/", 1)[-1], "status": "in transit", "carrier": "Parcel Works"}


@dataclass
class NodeProcess:
    """``python -m gateway_node`` in a subprocess, its output in ``<state_dir>/node.log``."""

    portal: str
    token: str
    state_dir: Path
    port: int = 0
    admin: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.state_dir / "node.log"

    def start(self) -> NodeProcess:
        self.port, self.admin = free_port(), free_port()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "gateway_node",
            "--portal",
            self.portal,
            "--token",
            self.token,
            "--listen",
            f"127.0.0.1:{self.port}",
            "--admin",
            f"127.0.0.1:{self.admin}",
            "--workers",
            "1",
            "--state-dir",
            str(self.state_dir),
            "--poll-interval",
            "0.5",
            "--heartbeat-interval",
            "0.5",
            "--batch-seconds",
            "0.2",
        ]
        # The node imports nothing from Django: its environment need not carry the portal's settings.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GATEWAY_NODE_"))}
        env["PYTHONPATH"] = str(ROOT)
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def health(self) -> dict[str, Any] | None:
        """The admin port's ``/healthz`` JSON, or None while nothing answers there."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"the node exited with {self.proc.returncode}:\n{self.output()}")
        try:
            status, _, body = http_get(f"http://127.0.0.1:{self.admin}/healthz", timeout=2)
        except OSError:
            return None
        return json.loads(body) if status in (200, 503) else None

    def wait_config(self, version: int, timeout: float = 15.0) -> dict[str, Any]:
        """Wait until the node's workers applied config ``version`` (or a later one)."""

        def applied() -> dict[str, Any] | None:
            health = self.health()
            if health and health.get("status") == "ok" and (health.get("config_version") or 0) >= version:
                return health
            return None

        try:
            return wait_for(applied, timeout=timeout, what=f"the node to apply config version {version}")
        except AssertionError as error:
            raise AssertionError(f"{error}; last health {self.health()}\n{self.output()}") from None

    def stop(self) -> int | None:
        """SIGTERM (the node flushes its log buffer), then SIGKILL if it lingers."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        return self.proc.returncode
