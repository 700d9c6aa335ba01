"""Real processes and servers for the end-to-end journey test (test_journey_browser.py).

An upstream API on loopback (a stdlib HTTP server in a thread) and the gateway node started
as users start it, ``python -m gateway_node``, in a subprocess. Nothing here touches Django.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for a child process that needs a port number up front)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.1) -> T:
    """Call ``check`` until it returns something truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


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


@dataclass
class Seen:
    """One request as the upstream received it."""

    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Upstream:
    """A tiny shipment-tracking API: ``GET /shipments/<id>`` answers JSON naming the shipment.

    Every request it receives is kept in ``seen`` (headers with lower-case names), so a test can
    check what the gateway forwarded.
    """

    seen: list[Seen] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @staticmethod
    def answer_for(path: str) -> dict[str, Any]:
        """The JSON body the upstream answers for ``path`` (tests compare what came through the node)."""
        return {"id": path.rstrip("/").rsplit("/", 1)[-1], "status": "in transit", "carrier": "Parcel Works"}

    def __enter__(self) -> Upstream:
        seen = self.seen
        answer_for = self.answer_for

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the node's upstream pool expects

            def do_GET(self) -> None:
                seen.append(Seen("GET", self.path, {k.lower(): v for k, v in self.headers.items()}))
                body = json.dumps(answer_for(self.path.split("?", 1)[0])).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: pytest shows the test's own output

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, name="journey-upstream", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


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
