"""Real processes and servers for the end-to-end journey tests (test_journey_browser.py,
test_ai_journey_browser.py), and the browser steps both journeys take.

An upstream API on loopback (a stdlib HTTP server in a thread) and the gateway node started
as users start it, ``python -m gateway_node``, in a subprocess. The steps take a journey's
``Person`` (a browser context with ``page``, ``submit``, ``click_link`` and ``flash``) and
go through the pages only. Nothing here touches Django.
"""

from __future__ import annotations

import json
import os
import re
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
KEY_PATTERN = r"apk_\w+_\w{20,}"


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


# --- Steps through the pages -------------------------------------------------------------------


def register_node(staff: Any, name: str, state_dir: Path) -> NodeProcess:
    """A signed-in staff member registers a gateway node on /platform/nodes/; it starts with
    the token the page shows (once)."""
    staff.page.click("#platform-menu")  # a Bootstrap dropdown: opens in place
    staff.click_link("a:text-is('Gateway nodes')")
    staff.page.fill("input[name=name]", name)
    staff.submit("button:text-is('Register')")
    token = staff.page.locator("#token-value").inner_text().strip()
    assert token.startswith("gwn_"), token
    return NodeProcess(portal=staff.base, token=token, state_dir=state_dir).start()


def register_api(person: Any, org: str, name: str, slug: str, summary: str) -> None:
    """Register a public API from the APIs page; ends on the API's page."""
    person.click_link("#nav-apis")
    person.click_link("a:text-is('Register an API')")
    person.page.fill("input[name=name]", name)
    person.page.fill("input[name=slug]", slug)
    person.page.fill("input[name=summary]", summary)
    person.page.select_option("select[name=visibility]", "public")
    person.submit("main form button[type=submit]")
    assert person.page.url == f"{person.base}/t/{org}/apis/{slug}/", person.flash()


def add_approval_plan(person: Any, name: str, **fields: str) -> str:
    """From an API's page: a plan that needs approval, with ``fields`` (input name → value) filled;
    the plans table's text."""
    person.click_link("a:text-is('New plan')")
    person.page.fill("input[name=name]", name)
    for field, value in fields.items():
        person.page.fill(f"input[name={field}]", value)
    person.page.check("input[name=approval_required]")
    person.submit("main form button[type=submit]")
    plans = person.page.locator("table.plan-table").inner_text()
    assert name in plans and "approval needed" in plans, plans
    return plans


def create_application(person: Any, name: str) -> None:
    person.click_link("#nav-applications")
    person.page.fill("input[name=name]", name)
    person.submit("button:text-is('Create application')")
    assert person.page.locator("main h1").inner_text() == name, person.flash()


def open_in_catalog(person: Any, query: str, api_name: str) -> None:
    """Search the catalog for ``query`` and open the card of ``api_name``."""
    person.click_link("#nav-catalog")
    person.page.fill("#catalog-q", query)
    person.page.locator(".catalog-card", has_text=api_name).wait_for()
    person.click_link(f".catalog-card >> text={api_name}")


def request_access(person: Any, application: str, use_case: str) -> None:
    """From an API's catalog page: ask for its (first) plan for ``application``."""
    person.click_link("#plans >> text=Subscribe")
    person.page.select_option("select[name=application]", label=application)
    person.page.fill("textarea[name=use_case]", use_case)
    person.submit("button:text-is('Request access')")
    assert "will review it" in person.flash(), person.flash()


def approve_selected(person: Any) -> None:
    """On the approval dashboard, with rows checked: approve them; the queue is empty after."""
    person.submit("button:text-is('Approve selected')")
    assert person.page.locator("#queue-empty").is_visible(), person.flash()


def create_key(person: Any, application: str, name: str = "production") -> str:
    """Open ``application`` and create a key; the key as the page shows it (this once)."""
    person.click_link("#nav-applications")
    person.click_link(f"#application-table >> text={application}")
    person.page.fill("#new-key-card input[name=name]", name)
    person.submit("button:text-is('Create key')")
    key = person.page.locator("#key-value").inner_text().strip()
    assert re.fullmatch(KEY_PATTERN, key), key
    return key


def assert_key_not_shown_again(person: Any) -> None:
    person.page.reload()
    assert person.page.locator("#key-value").count() == 0, "the key is shown a second time"
