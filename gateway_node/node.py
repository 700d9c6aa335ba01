"""Process layout: one supervisor, N worker processes sharing the proxy port (SO_REUSEPORT).

- Each **worker** is a whole node in miniature: its own event loop (uvloop), config poller,
  gate, limiter, upstream pools and log shipper. Nothing on the hot path crosses a process
  boundary. It answers its figures on a Unix socket (``<state>/run/w<i>.sock``).
- The **supervisor** starts and restarts the workers, serves ``/healthz`` and ``/metrics``
  on the admin port (summing the workers' figures), and sends the heartbeat with the sum of
  the workers' buffered records and the lowest config version any of them applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gateway_node import SOFTWARE
from gateway_node.metrics import render
from gateway_node.settings import Settings

#: A worker that dies this soon after starting, this many times in a row, stops the node
#: (a port in use, a bad setting): restarting it forever would only hide the message.
FAST_FAIL_SECONDS = 3.0
FAST_FAIL_LIMIT = 3
#: How long a stopping worker gives calls in flight and the last log batches.
DRAIN_SECONDS = 10.0


def say(message: str) -> None:
    """Operator messages go to stderr; the hot path never logs."""
    print(f"[gateway-node] {message}", file=sys.stderr, flush=True)


def run_dir(settings: Settings) -> Path:
    path = settings.state_dir / "run"
    if len(str(path.resolve())) > 90:  # Unix socket paths are limited to ~107 bytes
        digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:10]
        path = Path(tempfile.gettempdir()) / f"gateway-node-{digest}"
    return path


def worker_socket(settings: Settings, index: int) -> Path:
    return run_dir(settings) / f"w{index}.sock"


# --- Worker ---------------------------------------------------------------------------------------


def adopt_orphan_spools(spool_root: Path, workers: int, own: Path) -> int:
    """Move spooled batches of worker slots that no longer exist (fewer workers than last time)
    into ``own``, so a restart with fewer workers still sends them. Returns how many moved."""
    moved = 0
    if not spool_root.is_dir():
        return 0
    for slot in spool_root.iterdir():
        if not slot.is_dir() or not slot.name.startswith("w") or not slot.name[1:].isdigit():
            continue
        if int(slot.name[1:]) < workers:
            continue
        for item in slot.iterdir():
            if item.is_file():
                os.replace(item, own / item.name)
                moved += 1
    return moved


async def worker_main(settings: Settings, index: int) -> int:
    from gateway_node.ai.tokens import TokenBudget
    from gateway_node.balancer import BreakerSettings, UpstreamRegistry
    from gateway_node.gate import Gate, GateOptions
    from gateway_node.http11 import HttpLimits, serve, shutdown
    from gateway_node.limits import Limiter
    from gateway_node.metrics import Metrics
    from gateway_node.portal_client import ConfigSource
    from gateway_node.shipper import Shipper
    from gateway_node.upstream import PoolSettings

    settings.state_dir.mkdir(parents=True, exist_ok=True)
    spool_root = settings.state_dir / "spool"
    spool = spool_root / f"w{index}"
    spool.mkdir(parents=True, exist_ok=True)
    if index == 0:
        moved = adopt_orphan_spools(spool_root, settings.workers, spool)
        if moved:
            say(f"worker 0 took over {moved} spooled batch(es) of workers that no longer run")

    registry = UpstreamRegistry(
        pool=PoolSettings(max_idle=settings.upstream_max_idle, idle_timeout=settings.upstream_idle_timeout),
        breaker=BreakerSettings(failures=settings.breaker_failures, cooldown=settings.breaker_cooldown),
    )
    limiter = Limiter(redis_url=settings.redis_url)
    tokens = TokenBudget(redis_url=settings.redis_url)  # AI token limits and cost budgets
    shipper = Shipper(
        portal_url=settings.portal_url,
        token=settings.token,
        spool_dir=spool,
        instance=f"{settings.name}-w{index}-{os.getpid()}",
        batch_records=settings.batch_records,
        batch_seconds=settings.batch_seconds,
        buffer_records=settings.buffer_records,
        spool_max_bytes=settings.spool_max_bytes,
    )
    metrics = Metrics()
    gate = Gate(
        balancers=registry,
        limiter=limiter,
        emit=shipper.add,
        metrics=metrics,
        options=GateOptions(trusted_proxies=settings.trusted_proxies),
        tokens=tokens,
    )
    config = ConfigSource(
        portal_url=settings.portal_url,
        token=settings.token,
        state_dir=settings.state_dir,
        interval=settings.poll_interval,
        on_snapshot=gate.apply,
    )
    await limiter.start()
    await tokens.start()
    if not await config.load_initial():
        say(f"worker {index}: no config yet (portal unreachable, no saved snapshot); answering 503 until it comes")

    server = await serve(
        gate,
        registry,
        host=settings.listen_host,
        port=settings.listen_port,
        reuse_port=True,
        limits=HttpLimits(max_body_bytes=settings.max_body_bytes, keepalive_timeout=settings.keepalive_timeout),
    )

    def figures() -> dict[str, Any]:
        return metrics.snapshot(
            worker=index,
            pid=os.getpid(),
            workers=1,
            buffered_records=shipper.depth,
            spooled_records=shipper.spooled_records,
            dropped_records=shipper.dropped_records,
            batches_sent=shipper.batches_sent,
            records_acked=shipper.records_acked,
            log_retries=shipper.retries,
            quarantined_records=shipper.quarantined_records,
            log_auth_failures=shipper.auth_failures,
            config_checked_at=config.last_success,
            config_failures=config.failures,
        )

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(json.dumps(figures()).encode() + b"\n")
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    sock_path = worker_socket(settings, index)
    sock_path.parent.mkdir(parents=True, exist_ok=True)
    sock_path.unlink(missing_ok=True)
    status_server = await asyncio.start_unix_server(answer, path=str(sock_path))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    polling = asyncio.create_task(config.run())
    shipping = asyncio.create_task(shipper.run())
    await stop.wait()

    # Graceful stop: no new connections, idle keep-alive ones closed, calls in flight allowed
    # to finish, then the logs flushed (those calls' records included).
    deadline = time.monotonic() + DRAIN_SECONDS
    dropped = await shutdown(server, DRAIN_SECONDS)
    if dropped:
        say(f"worker {index}: {dropped} connection(s) still busy after {DRAIN_SECONDS:.0f} s were dropped")
    polling.cancel()
    # What the drain left of the budget, at least a second; what cannot be sent is spooled.
    await shipper.close(timeout=max(1.0, deadline - time.monotonic()))
    shipping.cancel()
    await limiter.close()
    await tokens.close()
    await gate.ai_handler.client.close()
    await registry.close()
    status_server.close()
    sock_path.unlink(missing_ok=True)
    return 0


def run_worker(settings: Settings, index: int) -> int:
    import uvloop

    return uvloop.run(worker_main(settings, index))


# --- Supervisor ----------------------------------------------------------------------------------


class Supervisor:
    def __init__(self, settings: Settings, argv: list[str]) -> None:
        self.settings = settings
        self.argv = argv
        self.children: dict[int, subprocess.Popen[bytes]] = {}
        self.started: dict[int, float] = {}
        self.fast_fails: dict[int, int] = {}
        self.figures: list[dict[str, Any]] = []
        self.stopping = False
        self.failed = False

    def spawn(self, index: int) -> None:
        cmd = [sys.executable, "-m", "gateway_node", *self.argv, "--worker-index", str(index)]
        self.children[index] = subprocess.Popen(cmd)
        self.started[index] = time.monotonic()

    async def collect(self) -> list[dict[str, Any]]:
        """Every live worker's figures (a worker that does not answer within 1 s is left out)."""

        async def one(index: int) -> dict[str, Any] | None:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_unix_connection(str(worker_socket(self.settings, index))), 1.0
                )
                line = await asyncio.wait_for(reader.readline(), 1.0)
                writer.close()
                return dict(json.loads(line))
            except (TimeoutError, OSError, ValueError):
                return None

        answers = await asyncio.gather(*(one(i) for i in range(self.settings.workers)))
        self.figures = [a for a in answers if a is not None]
        return self.figures

    async def watch(self) -> None:
        """Restart workers that exit; give up on one that keeps dying at start."""
        while not self.stopping:
            for index, proc in list(self.children.items()):
                code = proc.poll()
                if code is None or self.stopping:
                    continue
                lived = time.monotonic() - self.started[index]
                self.fast_fails[index] = self.fast_fails.get(index, 0) + 1 if lived < FAST_FAIL_SECONDS else 0
                if self.fast_fails[index] >= FAST_FAIL_LIMIT:
                    say(f"worker {index} keeps exiting at start (code {code}); stopping the node")
                    self.failed = True
                    self.stopping = True
                    return
                say(f"worker {index} exited with {code}; restarting it")
                self.spawn(index)
            await asyncio.sleep(0.5)

    async def admin(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """``GET /healthz`` and ``GET /metrics``; anything else 404. One request per connection."""
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        parts = head.split(b" ", 2)
        path = parts[1].split(b"?", 1)[0] if len(parts) > 1 else b""
        figures = await self.collect()
        if path == b"/metrics":
            status, ctype, body = 200, b"text/plain; version=0.0.4", render(figures).encode()
        elif path == b"/healthz":
            configured = [f for f in figures if f.get("config_version") is not None]
            ok = len(configured) == self.settings.workers
            versions = [f["config_version"] for f in configured]
            body = json.dumps(
                {
                    "status": "ok" if ok else "starting" if not self.stopping else "stopping",
                    "software": SOFTWARE,
                    "workers": self.settings.workers,
                    "workers_answering": len(figures),
                    "workers_configured": len(configured),
                    "config_version": min(versions) if versions else None,
                    "buffered_records": sum(int(f.get("buffered_records") or 0) for f in figures),
                }
            ).encode()
            status, ctype = (200 if ok else 503), b"application/json"
        else:
            status, ctype, body = (
                404,
                b"application/json",
                b'{"error":{"code":"not_found","message":"Try /healthz or /metrics."}}',
            )
        reason = {200: b"OK", 404: b"Not Found", 503: b"Service Unavailable"}[status]
        writer.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
            % (status, reason, ctype, len(body))
            + body
        )
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    async def heartbeat(self) -> None:
        from gateway_node.portal_client import heartbeat_loop

        async def refresh() -> None:
            while not self.stopping:
                await self.collect()
                await asyncio.sleep(1.0)

        def applied() -> int | None:
            versions = [f["config_version"] for f in self.figures if f.get("config_version") is not None]
            return min(versions) if versions else None

        def depth() -> int:
            return sum(int(f.get("buffered_records") or 0) for f in self.figures)

        refresher = asyncio.create_task(refresh())
        try:
            await heartbeat_loop(
                portal_url=self.settings.portal_url,
                token=self.settings.token,
                interval=self.settings.heartbeat_interval,
                software=SOFTWARE,
                applied_version=applied,
                depth=depth,
                on_config_version=lambda version: None,  # each worker polls on its own
            )
        finally:
            refresher.cancel()

    async def main(self) -> int:
        settings = self.settings
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        run_dir(settings).mkdir(parents=True, exist_ok=True)
        try:
            admin = await asyncio.start_server(self.admin, settings.admin_host, settings.admin_port)
        except OSError as exc:
            say(f"cannot listen on the admin address {settings.admin_host}:{settings.admin_port}: {exc}")
            return 2
        for index in range(settings.workers):
            self.spawn(index)
        say(
            f"{SOFTWARE}: {settings.workers} worker(s) on http://{settings.listen_host}:{settings.listen_port}, "
            f"admin on http://{settings.admin_host}:{settings.admin_port} (/healthz, /metrics), "
            f"portal {settings.portal_url}"
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        watcher = asyncio.create_task(self.watch())
        beats = asyncio.create_task(self.heartbeat())
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({watcher, stopper}, return_when=asyncio.FIRST_COMPLETED)
        self.stopping = True
        beats.cancel()
        watcher.cancel()
        admin.close()
        for proc in self.children.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + DRAIN_SECONDS + 5
        for proc in self.children.values():
            while proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            if proc.poll() is None:
                say(f"worker pid {proc.pid} did not stop in time; killing it")
                proc.kill()
        say("stopped")
        return 1 if self.failed else 0


def run_supervisor(settings: Settings, argv: list[str]) -> int:
    import uvloop

    return uvloop.run(Supervisor(settings, argv).main())
