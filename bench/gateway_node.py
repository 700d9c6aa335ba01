"""B6: the gateway node against nginx, in one run, on the same local upstream.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/14 \\
        .venv/bin/python bench/gateway_node.py [--quick] [--workers 1] [--profile]

Three paths to one upstream (an nginx worker answering ``GET /ping`` with a small JSON body,
started from ``bench/nginx/upstream.conf``):

* **direct**: the load generator talks to the upstream itself (the floor);
* **nginx**: Debian's nginx as a plain reverse proxy (``bench/nginx/proxy.conf``: the same
  worker count as the node, ``upstream { keepalive 64; }``, HTTP/1.1 upstream, ``access_log off``),
  installed with apt-get when missing;
* **node**: ``python -m gateway_node`` with key auth, rate limits and quotas (shared through
  Redis) and call logging to a real portal: gunicorn on a throwaway database
  (``bench_gateway_node_<pid>``, migrated, seeded with a provider, a consumer with an active
  subscription on a plan whose limits are counted but never reached, an API key and a node
  token; dropped at the end).

For each path, in rounds that interleave the paths (median of the rounds):

* ``wrk`` with a fixed connection count and duration: requests/s, p50/p99, and the **CPU time of
  the proxy processes** (nginx master + workers; node supervisor + workers) from
  ``/proc/<pid>/stat`` before and after, divided by the requests answered. That figure does not
  depend on how the two cores are shared with the load generator and the upstream; the
  throughput per core is its inverse (requests per CPU-second).
  Also the upstream's CPU per request and the connections it accepted during the run (its
  stub_status): a proxy that keeps its upstream connections alive opens none. (wrk's own
  p50/p99 there include the latency correction wrk 4 applies at the end of a run.)
* latency at **one connection** (requests one after another, raw latencies) and at a **fixed
  rate** (an open-loop client: each request has a scheduled send time and its latency runs
  from that time, so a stall counts against every request it delays, as wrk2 / oha do), both
  clients in this script; *added* latency is the path's p50 minus the direct p50. The proxy's
  CPU per request is also taken at the fixed rate, where every path gets the same load.

At the end, the call records the portal received are compared with the node's own count and
with the answers the clients got. ``--profile`` samples a node worker with py-spy (installed
into the venv when missing) during one extra run and prints the top functions.

Prints a table, writes ``var/bench/gateway_node.json``, and exits 1 when the node misses a
target (≥ 0.5 × nginx's requests per CPU-second; < 1 ms added p50).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
NGINX_DIR = Path(__file__).resolve().parent / "nginx"
OUT = ROOT / "var" / "bench" / "gateway_node.json"

TARGET_CPU_RATIO = 0.5  # node requests per CPU-second ≥ 0.5 × nginx's
TARGET_ADDED_P50_MS = 1.0
BASE_PATH = "/bench/v1"
UPSTREAM_PATH = "/ping"
CLK_TCK = os.sysconf("SC_CLK_TCK")

#: wrk reports through this script: the key header on every path (identical requests
#: everywhere), and one machine-readable line at the end.
WRK_LUA = r"""
wrk.method = "GET"
wrk.headers["X-API-Key"] = os.getenv("BENCH_API_KEY") or "none"
wrk.headers["User-Agent"] = "bench-wrk"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"mean_us":%.1f,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
"""


def say(message: str) -> None:
    print(message, flush=True)


# --- Tools -------------------------------------------------------------------------------------


def ensure_tool(binary: str, package: str) -> str:
    """The path of ``binary``; installs Debian's ``package`` with apt-get when missing and root."""
    for candidate in (shutil.which(binary), f"/usr/sbin/{binary}", f"/usr/bin/{binary}"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    if os.geteuid() != 0:
        raise SystemExit(f"{binary} is missing: install it first (sudo apt-get install -y {package}), then rerun.")
    say(f"installing {package} (apt-get)…")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    apt = shutil.which("apt-get") or "/usr/bin/apt-get"
    if subprocess.call([apt, "install", "-y", "--no-install-recommends", package], env=env) != 0:
        subprocess.call([apt, "update"], env=env)  # a fresh machine may have no package lists yet
        subprocess.check_call([apt, "install", "-y", "--no-install-recommends", package], env=env)
    found = shutil.which(binary) or f"/usr/sbin/{binary}"
    if not os.access(found, os.X_OK):
        raise SystemExit(f"{package} was installed but {binary} is not to be found")
    return found


def ensure_py_spy() -> str:
    spy = Path(sys.executable).parent / "py-spy"
    if not spy.exists():
        say("installing py-spy into the venv (profiling only; not a project requirement)…")
        subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "py-spy"])
    return str(spy)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes] | None, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode} before listening")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"{what} is not listening on port {port} after {timeout:.0f} s")


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - loopback URLs built here
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            return int(answer.status), answer.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()


def stop_process(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


# --- CPU time from /proc -----------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after the last ")".
    return raw[raw.rfind(")") + 2 :].split()


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants (nginx workers, node workers)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields:
                parents.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(parents.get(pid, ()))
    return tree


@dataclass
class Usage:
    """Resource counters of a process tree at one moment."""

    cpu_s: float = 0.0  # utime + stime of the whole tree
    root_cpu_s: float = 0.0  # of the root alone: nginx's master, the node's supervisor

    def __sub__(self, other: Usage) -> Usage:
        return Usage(self.cpu_s - other.cpu_s, self.root_cpu_s - other.root_cpu_s)


def usage(root: int | None) -> Usage:
    """CPU time of ``root``'s process tree (zeros when there is no such process)."""
    if root is None:
        return Usage()
    total = Usage()
    for pid in process_tree(root):
        fields = _stat(pid)
        if not fields:
            continue
        cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime: fields 14 and 15 of stat
        total.cpu_s += cpu
        if pid == root:
            total.root_cpu_s = cpu
    return total


def cpu_seconds(root: int | None) -> float:
    return usage(root).cpu_s


def upstream_status(port: int) -> tuple[int, int]:
    """Connections accepted and requests served by the upstream nginx so far (its stub_status;
    each reading counts as one of those requests)."""
    _, body = http_get(f"http://127.0.0.1:{port}/__stub_status")
    # "Active connections: 1 \nserver accepts handled requests\n 12 12 40 \n..."
    accepts, _handled, requests = body.decode().splitlines()[2].split()
    return int(accepts), int(requests)


# --- Load generators ---------------------------------------------------------------------------


def run_wrk(
    wrk: str, lua: Path, url: str, key: str, *, connections: int, threads: int, seconds: float
) -> dict[str, Any]:
    cmd = [
        wrk, "-t", str(min(threads, connections)), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
        "--timeout", "5s", "-s", str(lua), url,
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "BENCH_API_KEY": key}, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("WRKJSON "):
            result: dict[str, Any] = json.loads(line[len("WRKJSON ") :])
            result["errors"] = sum(
                result[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
            )
            return result
    raise SystemExit(f"wrk gave no result for {url}:\n{done.stdout}\n{done.stderr}")


def _read_response(sock: socket.socket, buf: bytes) -> tuple[int, bytes]:
    """Read one HTTP/1.1 response; returns its status and the bytes already read past it."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed before the response head")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, chunked = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:  # small bodies only: read to the last chunk
        while b"0\r\n\r\n" not in rest:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed inside a chunked body")
            rest += chunk
        return status, rest.partition(b"0\r\n\r\n")[2]
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed inside the body")
        rest += chunk
    return status, rest[length:]


def fixed_rate(port: int, path: str, key: str, *, rate: float, seconds: float, connections: int) -> dict[str, Any]:
    """An open-loop client: request ``i`` is due at ``start + i / rate`` on connection ``i % connections``.

    Latency runs from the *due* time, not from the moment the request left: when a connection
    is still waiting for an earlier answer, the delay counts against the requests queued behind
    it (the coordinated-omission correction of wrk2 and oha). Threads with blocking sockets:
    ``time.sleep`` wakes within tens of microseconds, where an event loop's timers round to the
    millisecond.
    """
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-API-Key: {key}\r\nUser-Agent: bench-fixed-rate\r\n\r\n"
    ).encode()
    total = max(1, int(rate * seconds))
    interval = 1.0 / rate
    latencies = [0.0] * total
    errors = [0] * connections
    ready = threading.Barrier(connections + 1)
    start_at = [0.0]

    def worker(index: int) -> None:
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ready.wait()
        ready.wait()  # the main thread sets the start time between the two
        buf = b""
        try:
            for i in range(index, total, connections):
                due = start_at[0] + i * interval
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                sock.sendall(request)
                status, buf = _read_response(sock, buf)
                latencies[i] = time.perf_counter() - due
                if status != 200:
                    errors[index] += 1
        finally:
            sock.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(connections)]
    for thread in threads:
        thread.start()
    ready.wait()
    start_at[0] = time.perf_counter() + 0.05
    ready.wait()
    for thread in threads:
        thread.join()
    ordered = sorted(latencies)
    elapsed = max(time.perf_counter() - start_at[0], 1e-9)
    return {
        "rate": rate,
        "connections": connections,
        "requests": total,
        "achieved_rate": round(total / elapsed, 1),
        "errors": sum(errors),
        "p50_ms": round(_pct(ordered, 50) * 1000, 3),
        "p90_ms": round(_pct(ordered, 90) * 1000, 3),
        "p99_ms": round(_pct(ordered, 99) * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
    }


def sequential(port: int, path: str, key: str, *, seconds: float) -> dict[str, Any]:
    """One connection, one request after another: the latency of each, raw.

    Not ``wrk -c1``: wrk 4 "corrects" its latencies at the end of a run with the mean interval
    per connection, which at one connection (intervals of tens of microseconds) turns every
    scheduler hiccup into hundreds of synthetic samples and makes its p99 meaningless. This
    client costs a few microseconds per request, the same on every path, so it cancels out of
    the added latency.
    """
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-API-Key: {key}\r\nUser-Agent: bench-sequential\r\n\r\n"
    ).encode()
    latencies: list[float] = []
    errors = 0
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = b""
        clock = time.perf_counter
        end = clock() + seconds
        while (started := clock()) < end:
            sock.sendall(request)
            status, buf = _read_response(sock, buf)
            latencies.append(clock() - started)
            errors += status != 200
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "p50_ms": round(_pct(latencies, 50) * 1000, 4),
        "p90_ms": round(_pct(latencies, 90) * 1000, 4),
        "p99_ms": round(_pct(latencies, 99) * 1000, 4),
        "max_ms": round(latencies[-1] * 1000, 3),
    }


def _pct(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of a sorted list."""
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


# --- nginx -------------------------------------------------------------------------------------


def nginx_conf(template: str, workdir: Path, **values: Any) -> Path:
    text = (NGINX_DIR / template).read_text()
    # As root, nginx drops its workers to "nobody", whose group Debian calls "nogroup".
    values["USER"] = "user nobody nogroup;" if os.geteuid() == 0 else ""
    values["DIR"] = str(workdir)
    for name, value in values.items():
        text = text.replace(f"@{name}@", str(value))
    leftover = re.search(r"@[A-Z_]+@", text)
    if leftover:
        raise SystemExit(f"{template}: no value for the placeholder {leftover.group()}")
    path = workdir / template
    path.write_text(text)
    return path


def start_nginx(nginx: str, conf: Path, workdir: Path, port: int, what: str) -> subprocess.Popen[bytes]:
    check = subprocess.run(
        [nginx, "-t", "-q", "-p", str(workdir), "-c", str(conf)], capture_output=True, text=True, check=False
    )
    if check.returncode != 0:
        raise SystemExit(f"{what}: nginx refuses its config:\n{check.stderr}")
    proc = subprocess.Popen([nginx, "-p", str(workdir), "-c", str(conf), "-g", "daemon off;"])
    wait_listening(port, proc, what)
    return proc


# --- System calls per request (perf) ------------------------------------------------------------

#: Counted one by one; the rest only appear in the total.
SYSCALLS = (
    "read", "write", "writev", "readv", "recvfrom", "sendto", "recvmsg", "sendmsg", "epoll_wait", "epoll_pwait",
    "epoll_ctl", "connect", "socket", "close", "accept4", "getpid", "getsockopt", "setsockopt", "futex", "ioctl",
)  # fmt: skip


def start_perf(root: int, seconds: float) -> subprocess.Popen[str] | None:
    """``perf stat`` counting the system calls (and context switches) of ``root``'s process tree
    for ``seconds``, on the kernel's syscall tracepoints; None when perf is missing."""
    perf = shutil.which("perf")
    if perf is None:
        return None
    events = ["raw_syscalls:sys_enter", "context-switches", *(f"syscalls:sys_enter_{n}" for n in SYSCALLS)]
    pids = ",".join(str(pid) for pid in process_tree(root))
    return subprocess.Popen(
        [perf, "stat", "-x", ",", "-e", ",".join(events), "-p", pids, "--", "sleep", f"{seconds:g}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def perf_counts(proc: subprocess.Popen[str]) -> dict[str, int] | None:
    _, err = proc.communicate()
    counts: dict[str, int] = {}
    for line in err.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[0].strip().isdigit():
            name = fields[2].replace("syscalls:sys_enter_", "").replace("raw_syscalls:sys_enter", "total")
            counts[name] = int(fields[0])
    return counts if "total" in counts else None  # not allowed (perf_event_paranoid), no tracepoints


# --- A bare Python proxy: the floor for any Python node -----------------------------------------


def bare_proxy_main(port: int, upstream_port: int, workers: int) -> int:
    """``--bare-proxy``: ``workers`` processes of :func:`bare_proxy_worker` sharing ``port``
    (``SO_REUSEPORT``, as the node's workers do), under this one process, whose tree is measured."""
    children = [
        subprocess.Popen([sys.executable, __file__, "--bare-proxy-worker", str(port), str(upstream_port)])
        for _ in range(workers)
    ]

    def stop(*_: object) -> None:
        for child in children:
            child.terminate()

    signal.signal(signal.SIGTERM, stop)
    for child in children:
        child.wait()
    return 0


def bare_proxy_worker(port: int, upstream_port: int) -> None:
    """The least a Python reverse proxy on uvloop + httptools does: parse the request, cut the
    base path, send it on a pooled keep-alive upstream connection, relay the answer's bytes.
    No keys, limits, records, timeouts, retries or header rewriting; GET only, answers with a
    Content-Length. Not a product: it measures what the event loop, the parser and the system
    calls cost here, i.e. how much of the node's CPU per request is its own work."""
    import asyncio

    import httptools
    import uvloop

    pool: list[Upstream] = []

    class Upstream(asyncio.Protocol):
        def __init__(self) -> None:
            self.parser = httptools.HttpResponseParser(self)
            self.client: Client | None = None
            self.chunks: list[bytes] = []
            self.transport: asyncio.Transport | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport  # type: ignore[assignment]

        def data_received(self, data: bytes) -> None:
            self.chunks.append(data)
            self.parser.feed_data(data)

        def on_message_complete(self) -> None:
            client, self.client = self.client, None
            answer, self.chunks = b"".join(self.chunks), []
            pool.append(self)
            if client is not None and client.transport is not None:
                client.transport.write(answer)

        def connection_lost(self, exc: Exception | None) -> None:
            if self in pool:
                pool.remove(self)
            if self.client is not None and self.client.transport is not None:
                self.client.transport.close()

    class Client(asyncio.Protocol):
        def __init__(self) -> None:
            self.parser = httptools.HttpRequestParser(self)
            self.url = b""
            self.transport: asyncio.Transport | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport  # type: ignore[assignment]

        def connection_lost(self, exc: Exception | None) -> None:
            self.transport = None

        def data_received(self, data: bytes) -> None:
            self.parser.feed_data(data)

        def on_url(self, url: bytes) -> None:
            self.url = url

        def on_message_complete(self) -> None:
            request = b"GET %s HTTP/1.1\r\nHost: upstream\r\n\r\n" % self.url[len(BASE_PATH) :]
            if pool:
                upstream = pool.pop()
                upstream.client = self
                assert upstream.transport is not None
                upstream.transport.write(request)
            else:
                asyncio.get_running_loop().create_task(self.connect(request))

        async def connect(self, request: bytes) -> None:
            loop = asyncio.get_running_loop()
            transport, upstream = await loop.create_connection(Upstream, "127.0.0.1", upstream_port)
            upstream.client = self
            transport.write(request)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        await loop.create_server(Client, "127.0.0.1", port, reuse_port=True, backlog=4096)
        await asyncio.Event().wait()

    uvloop.run(serve())


# --- The portal and the node -------------------------------------------------------------------


def _db_url(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _admin_sql(base_url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(_db_url(base_url, "postgres"), autocommit=True) as conn:
        conn.execute(sql)


@dataclass
class Seeded:
    key: str
    token: str
    node_id: int


def seed(upstream_url: str) -> Seeded:
    """A provider's published API on the bench upstream, a consumer subscribed to it on a plan
    with every limit set (so they are all counted) but far out of reach, its key, a node token."""
    from django.utils import timezone

    from apis.models import Api, ApiVersion, Endpoint, Plan, VersionStatus
    from gateways import services as gateway_services
    from subscriptions.models import Application, Subscription, SubscriptionStatus
    from subscriptions.services import key_create
    from tenants.models import Membership, Tenant, User
    from tenants.roles import Role

    provider = Tenant.objects.create(name="Bench Provider", slug="bench-provider")
    consumer = Tenant.objects.create(name="Bench Consumer", slug="bench-consumer")
    user = User.objects.create_user(email="bench@consumer.example", password=None)
    member = Membership.objects.create(tenant=consumer, user=user, role=Role.OWNER)
    api = Api.objects.create(tenant=provider, name="Bench", slug="bench", visibility="public")
    version = ApiVersion.objects.create(
        tenant=provider,
        api=api,
        label="v1",
        base_path=BASE_PATH,
        upstreams=[{"url": upstream_url, "weight": 1}],
        status=VersionStatus.PUBLISHED,
        published_at=timezone.now(),
    )
    Endpoint.objects.create(tenant=provider, version=version, method="GET", path=UPSTREAM_PATH)
    plan = Plan.objects.create(
        tenant=provider,
        api=api,
        name="Bench",
        rate_limit_per_second=1_000_000,
        rate_limit_per_minute=60_000_000,
        quota_per_day=1_000_000_000,
        quota_per_month=30_000_000_000,
    )
    application = Application.objects.create(tenant=consumer, name="Bench client")
    Subscription.objects.create(
        consumer_tenant=consumer,
        provider_tenant=provider,
        application=application,
        api=api,
        version=version,
        plan=plan,
        status=SubscriptionStatus.ACTIVE,
    )
    member = Membership.objects.for_tenant(consumer).select_related("tenant", "user").get(pk=member.pk)
    _, key = key_create(actor=member, application=application, name="bench")
    node, token = gateway_services.node_create(actor=None, name="bench-node")
    return Seeded(key=key, token=token, node_id=node.pk)


def portal_counts(db_url: str) -> dict[str, Any]:
    """What the portal stored from the node's log batches."""
    import psycopg

    with psycopg.connect(db_url, autocommit=True) as conn:
        received, accepted, duplicates, rejected, batches = conn.execute(
            "SELECT coalesce(sum(received), 0), coalesce(sum(accepted), 0), coalesce(sum(duplicates), 0),"
            " coalesce(sum(rejected), 0), count(*) FROM gateways_ingestbatch"
        ).fetchone() or (0, 0, 0, 0, 0)
        (rows,) = conn.execute("SELECT count(*) FROM gateways_callrecord").fetchone() or (0,)
        statuses: dict[Any, Any] = dict(conn.execute("SELECT status, count(*) FROM gateways_callrecord GROUP BY 1"))
        errors: dict[Any, Any] = dict(conn.execute("SELECT error, count(*) FROM gateways_callrecord GROUP BY 1"))
        reasons: dict[Any, Any] = dict(
            conn.execute("SELECT reason, count(*) FROM gateways_quarantinedrecord GROUP BY 1")
        )
    return {
        "batches": int(batches),
        "received": int(received),
        "accepted": int(accepted),
        "duplicates": int(duplicates),
        "rejected": int(rejected),
        "raw_rows": int(rows),
        "by_status": {str(k): int(v) for k, v in statuses.items()},
        "by_error": {str(k or "-"): int(v) for k, v in errors.items()},
        "quarantine_reasons": {str(k): int(v) for k, v in reasons.items()},
    }


def node_figures(admin_port: int) -> dict[str, Any]:
    """Requests answered (sum over status classes) and records still buffered, from the admin port."""
    _, metrics = http_get(f"http://127.0.0.1:{admin_port}/metrics")
    answered, buffered = 0, 0.0
    for line in metrics.decode().splitlines():
        if line.startswith("gateway_requests_total{"):
            answered += int(float(line.rsplit(" ", 1)[1]))
        elif line.startswith("gateway_log_buffer_records "):
            buffered = float(line.rsplit(" ", 1)[1])
    return {"answered": answered, "buffered": int(buffered)}


# --- The run -----------------------------------------------------------------------------------


@dataclass
class Target:
    """One way to the upstream, and what was measured on it."""

    name: str
    label: str
    url: str  # what the load generator requests
    port: int
    proxy: subprocess.Popen[bytes] | None  # whose CPU is the proxy's (None: direct)
    runs: list[dict[str, Any]] = field(default_factory=list)
    one_connection: list[dict[str, Any]] = field(default_factory=list)
    fixed: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Bench:
    args: argparse.Namespace
    wrk: str
    lua: Path
    key: str
    upstream: subprocess.Popen[bytes]
    upstream_port: int
    portal: subprocess.Popen[bytes] | None = None
    answered_by_node: int = 0  # answers the clients got from the node, warm-ups included

    def saturated(self, path: Target, seconds: float, record: bool = True) -> dict[str, Any]:
        """One wrk run at the fixed connection count, with the CPU of proxy, upstream and portal."""
        proxy_pid = path.proxy.pid if path.proxy else None
        proxy_before, upstream_before = usage(proxy_pid), cpu_seconds(self.upstream.pid)
        portal_before, (accepts_before, _) = self._portal_cpu(path), upstream_status(self.upstream_port)
        load_before = os.getloadavg()[0]
        result = run_wrk(
            self.wrk, self.lua, path.url, self.key,
            connections=self.args.connections, threads=self.args.threads, seconds=seconds,
        )  # fmt: skip
        proxy = usage(proxy_pid) - proxy_before
        upstream_cpu = cpu_seconds(self.upstream.pid) - upstream_before
        portal_cpu = self._portal_cpu(path) - portal_before
        # Minus the stub_status request itself.
        upstream_connections = upstream_status(self.upstream_port)[0] - accepts_before - 1
        if path.name == "node":
            self.answered_by_node += result["requests"]
        n = max(1, result["requests"])
        figures = {
            "requests": result["requests"],
            "errors": result["errors"],
            "rps": round(result["requests"] / (result["duration_us"] / 1e6), 1),
            "p50_ms": result["p50_us"] / 1000,
            "p99_ms": result["p99_us"] / 1000,
            "proxy_cpu_s": round(proxy.cpu_s, 2),
            "proxy_cpu_us_per_request": round(proxy.cpu_s / n * 1e6, 2) if proxy_pid else None,
            "requests_per_proxy_cpu_second": round(n / proxy.cpu_s) if proxy_pid and proxy.cpu_s > 0 else None,
            "proxy_root_cpu_s": round(proxy.root_cpu_s, 2) if proxy_pid else None,
            "proxy_root_cpu_share": round(proxy.root_cpu_s / proxy.cpu_s, 3) if proxy_pid and proxy.cpu_s else None,
            "upstream_connections_opened": upstream_connections,
            "upstream_cpu_us_per_request": round(upstream_cpu / n * 1e6, 2),
            "portal_cpu_us_per_request": round(portal_cpu / n * 1e6, 2) if path.name == "node" else None,
            "load_before": round(load_before, 2),
        }
        if record:
            path.runs.append(figures)
        return figures

    def syscalls(self, path: Target) -> dict[str, Any] | None:
        """System calls per request of the proxy during a saturated run (not one of the measured
        runs: the tracepoints cost the traced process a little). perf counts the whole wrk run;
        the requests are the upstream's count (each proxied request reaches it once)."""
        if path.proxy is None:
            return None
        seconds = max(3.0, self.args.seconds / 2)
        perf = start_perf(path.proxy.pid, seconds + 2.5)
        if perf is None:
            return None
        time.sleep(1.0)  # perf attached and counting
        _, served_before = upstream_status(self.upstream_port)
        result = run_wrk(
            self.wrk, self.lua, path.url, self.key,
            connections=self.args.connections, threads=self.args.threads, seconds=seconds,
        )  # fmt: skip
        requests = max(1, upstream_status(self.upstream_port)[1] - served_before - 1)
        if path.name == "node":
            self.answered_by_node += result["requests"]
        counts = perf_counts(perf)
        if counts is None:
            return None
        per_request = {name: round(n / requests, 2) for name, n in sorted(counts.items(), key=lambda kv: -kv[1]) if n}
        return {"requests": requests, "per_request": per_request}

    def idle_cpu(self, path: Target, seconds: float = 3.0) -> float:
        """The proxy's CPU with no traffic at all (timers, polling, background loops), in ms per s."""
        assert path.proxy is not None
        before = cpu_seconds(path.proxy.pid)
        time.sleep(seconds)
        return round((cpu_seconds(path.proxy.pid) - before) / seconds * 1000, 1)

    def _portal_cpu(self, path: Target) -> float:
        return cpu_seconds(self.portal.pid) if self.portal is not None and path.name == "node" else 0.0

    def one_connection(self, path: Target) -> dict[str, Any]:
        result = sequential(path.port, urlsplit(path.url).path, self.key, seconds=self.args.latency_seconds)
        if path.name == "node":
            self.answered_by_node += result["requests"]
        path.one_connection.append(result)
        return result

    def fixed_rate(self, path: Target) -> dict[str, Any]:
        """The open-loop run; also the proxy's CPU per request at this modest, equal rate (at
        saturation nginx handles many events per wake-up, which a slower proxy never gets to)."""
        target = urlsplit(path.url).path
        proxy_pid = path.proxy.pid if path.proxy else None
        before = cpu_seconds(proxy_pid)
        result = fixed_rate(
            path.port, target, self.key,
            rate=self.args.rate, seconds=self.args.latency_seconds, connections=self.args.rate_connections,
        )  # fmt: skip
        cpu = cpu_seconds(proxy_pid) - before
        result["proxy_cpu_us_per_request"] = round(cpu / result["requests"] * 1e6, 2) if proxy_pid else None
        if path.name == "node":
            self.answered_by_node += result["requests"]
        path.fixed.append(result)
        return result


def median_of(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(values) if values else None


def summarise(paths: list[Target]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path in paths:
        out[path.name] = {
            "label": path.label,
            "rps": median_of(path.runs, "rps"),
            "p50_ms": median_of(path.runs, "p50_ms"),
            "p99_ms": median_of(path.runs, "p99_ms"),
            "proxy_cpu_us_per_request": median_of(path.runs, "proxy_cpu_us_per_request"),
            "requests_per_proxy_cpu_second": median_of(path.runs, "requests_per_proxy_cpu_second"),
            "upstream_cpu_us_per_request": median_of(path.runs, "upstream_cpu_us_per_request"),
            "upstream_connections_opened": median_of(path.runs, "upstream_connections_opened"),
            "proxy_root_cpu_share": median_of(path.runs, "proxy_root_cpu_share"),
            "portal_cpu_us_per_request": median_of(path.runs, "portal_cpu_us_per_request"),
            "errors": sum(r["errors"] for r in path.runs + path.one_connection + path.fixed),
            "one_connection_p50_ms": median_of(path.one_connection, "p50_ms"),
            "one_connection_p99_ms": median_of(path.one_connection, "p99_ms"),
            "fixed_rate_p50_ms": median_of(path.fixed, "p50_ms"),
            "fixed_rate_p99_ms": median_of(path.fixed, "p99_ms"),
            "fixed_rate_proxy_cpu_us_per_request": median_of(path.fixed, "proxy_cpu_us_per_request"),
            "runs": path.runs,
            "one_connection_runs": path.one_connection,
            "fixed_rate_runs": path.fixed,
        }
    direct = out.get("direct")
    for name, entry in out.items():
        for kind, runs in (("one_connection", "one_connection_runs"), ("fixed_rate", "fixed_rate_runs")):
            # Paired by round (the paths of a round run within a minute of each other), then the
            # median: the machine's state drifts between rounds (an idle core takes tens of
            # microseconds to wake, a busy one does not), and a difference of medians would
            # mix rounds.
            pairs = zip(entry[runs], direct[runs], strict=False) if direct else []
            added = [mine["p50_ms"] - base["p50_ms"] for mine, base in pairs]
            entry[f"added_{kind}_p50_ms"] = round(statistics.median(added), 3) if added else None
        if name != "direct":
            entry["added_saturated_p50_ms"] = (
                round(entry["p50_ms"] - direct["p50_ms"], 3) if direct and entry["p50_ms"] is not None else None
            )
    return out


@contextlib.contextmanager
def portal_and_node(
    args: argparse.Namespace, base_db_url: str, redis_url: str, upstream_url: str, workdir: Path
) -> Iterator[tuple[Seeded, subprocess.Popen[bytes], subprocess.Popen[bytes], int, int, str]]:
    """A throwaway database, the portal on it (gunicorn), and the node; all gone afterwards."""
    db_name = f"bench_gateway_node_{os.getpid()}"
    db_url = _db_url(base_db_url, db_name)
    _admin_sql(base_db_url, f'CREATE DATABASE "{db_name}"')
    portal: subprocess.Popen[bytes] | None = None
    node: subprocess.Popen[bytes] | None = None
    try:
        os.environ.update(
            DATABASE_URL=db_url, REDIS_URL=redis_url, DJANGO_SETTINGS_MODULE="portal.settings", PORTAL_TESTING="1"
        )
        import django
        from django.core.management import call_command

        django.setup()
        started = time.perf_counter()
        call_command("migrate", verbosity=0)
        seeded = seed(upstream_url)
        from django.db import connections

        connections.close_all()
        say(f"portal database {db_name} migrated and seeded in {time.perf_counter() - started:.1f} s")

        portal_port = free_port()
        portal_env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_NODE_")}
        node_env = dict(portal_env)
        # The bench portal serves no static files: whitenoise's warning about it is noise here.
        portal_env["PYTHONWARNINGS"] = "ignore:No directory at:UserWarning"
        portal = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "portal.wsgi:application", "--bind", f"127.0.0.1:{portal_port}",
             "--workers", str(args.portal_workers), "--log-level", "warning"],
            cwd=ROOT, env=portal_env,
        )  # fmt: skip
        wait_listening(portal_port, portal, "the portal (gunicorn)", timeout=60)

        node_port, admin_port = free_port(), free_port()
        cmd = [
            sys.executable, "-m", "gateway_node", "--portal", f"http://127.0.0.1:{portal_port}",
            "--token", seeded.token, "--listen", f"127.0.0.1:{node_port}", "--admin", f"127.0.0.1:{admin_port}",
            "--workers", str(args.workers), "--state-dir", str(workdir / "node-state"), "--redis", redis_url,
            "--name", "bench",
        ]  # fmt: skip
        node = subprocess.Popen(cmd, cwd=ROOT, env=node_env)
        deadline = time.monotonic() + 60
        while True:
            if node.poll() is not None:
                raise SystemExit(f"the node exited with {node.returncode} at start")
            with contextlib.suppress(OSError):
                if http_get(f"http://127.0.0.1:{admin_port}/healthz", timeout=2)[0] == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit("the node did not report healthy (config applied by every worker) within 60 s")
            time.sleep(0.1)
        yield seeded, portal, node, node_port, admin_port, db_url
    finally:
        stop_process(node, timeout=30)
        stop_process(portal)
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        _admin_sql(base_db_url, f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


def profile_node(args: argparse.Namespace, bench: Bench, node_path: Target, workdir: Path) -> dict[str, Any]:
    """Sample one node worker with py-spy during a saturated run: where its CPU time goes (own
    time per function and per file, and inclusive time of the node's functions), as shares of
    the busy samples (py-spy leaves out a thread idling in epoll)."""
    assert node_path.proxy is not None
    workers = [pid for pid in process_tree(node_path.proxy.pid) if pid != node_path.proxy.pid]
    if not workers:
        return {}
    spy = ensure_py_spy()
    out = workdir / "py-spy.txt"
    seconds = max(3, round(args.seconds))
    sampler = subprocess.Popen(
        [spy, "record", "--pid", str(workers[0]), "--duration", str(seconds), "--rate", "250",
         "--format", "raw", "--output", str(out), *(["--native"] if args.native else ["--nonblocking"])],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(0.5)
    bench.saturated(node_path, seconds, record=False)
    sampler.wait(seconds + 30)
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    by_file: Counter[str] = Counter()
    total = 0
    for line in out.read_text().splitlines() if out.exists() else []:
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        # "Gate.admit (gateway_node/gate.py:391)": one function, whatever the line.
        frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]
        own[frames[-1]] += n
        by_file[frames[-1].rpartition("(")[2].rstrip(")") or "?"] += n
        for frame in set(frames):  # a recursive frame counts once per sample
            inclusive[frame] += n
    if not total:
        return {}

    def share(counter: Counter[str], top: int) -> list[dict[str, Any]]:
        return [{"where": where, "share": round(n / total, 4)} for where, n in counter.most_common(top)]

    return {
        "samples": total,
        "own": share(own, 25),
        "by_file": share(by_file, 12),
        # Only the node's own functions: the inclusive figure of asyncio's run loop says nothing.
        "inclusive_node": share(Counter({k: v for k, v in inclusive.items() if "gateway_node/" in k}), 40),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="B6 gateway node vs nginx")
    parser.add_argument("--quick", action="store_true", help="short runs, one round: a fast check")
    parser.add_argument("--workers", type=int, default=1, help="node workers = nginx worker_processes (default 1)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections in the throughput runs")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each throughput run")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds over the paths (median reported)")
    parser.add_argument("--latency-seconds", type=float, default=4.0, help="length of each latency run")
    parser.add_argument("--rate", type=float, default=1000.0, help="fixed-rate client: requests per second")
    parser.add_argument("--rate-connections", type=int, default=8, help="fixed-rate client: connections")
    parser.add_argument("--portal-workers", type=int, default=2, help="gunicorn workers of the bench portal")
    parser.add_argument(
        "--paths",
        default="direct,nginx,node,bare",
        help="which paths to run, comma-separated (bare: a bare uvloop proxy, the floor for Python)",
    )
    parser.add_argument("--bare-proxy", nargs=2, type=int, metavar=("PORT", "UPSTREAM"), help=argparse.SUPPRESS)
    parser.add_argument("--bare-proxy-worker", nargs=2, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--profile", action="store_true", help="sample a node worker with py-spy during a run")
    parser.add_argument(
        "--syscalls", action="store_true", help="count each proxy's system calls per request (perf) in an extra run"
    )
    parser.add_argument("--native", action="store_true", help="with --profile: also sample C frames (uvloop, syscalls)")
    if "--quick" in (sys.argv[1:] if argv is None else argv):  # smaller defaults; explicit options still win
        parser.set_defaults(seconds=3.0, rounds=1, latency_seconds=2.0, rate=500.0)
    args = parser.parse_args(argv)
    if args.bare_proxy_worker:
        bare_proxy_worker(*args.bare_proxy_worker)
        return 0
    if args.bare_proxy:
        listen_port, upstream_port = args.bare_proxy
        return bare_proxy_main(listen_port, upstream_port, workers=args.workers)
    wanted = [p.strip() for p in args.paths.split(",") if p.strip()]
    if set(wanted) - {"direct", "nginx", "node", "bare"} or not wanted:
        parser.error("--paths takes direct, nginx, node and/or bare")

    nginx = ensure_tool("nginx", "nginx-light")
    wrk = ensure_tool("wrk", "wrk")
    base_db_url = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/14"
    load_at_start = os.getloadavg()
    say(f"load average at start: {' '.join(f'{x:.2f}' for x in load_at_start)} ({os.cpu_count()} cores)")

    workdir = Path(tempfile.mkdtemp(prefix="b6-"))
    workdir.chmod(0o755)  # nginx workers run as nobody when we are root
    (workdir / "tmp").mkdir()
    lua = workdir / "bench.lua"
    lua.write_text(WRK_LUA)
    started: list[tuple[subprocess.Popen[bytes], int]] = []  # and the signal that stops it gracefully
    try:
        upstream_port = free_port()
        upstream = start_nginx(
            nginx, nginx_conf("upstream.conf", workdir, PORT=upstream_port), workdir, upstream_port, "upstream"
        )
        started.append((upstream, signal.SIGQUIT))
        upstream_url = f"http://127.0.0.1:{upstream_port}"
        paths = []
        if "direct" in wanted:
            paths.append(Target("direct", "direct to the upstream", upstream_url + UPSTREAM_PATH, upstream_port, None))
        if "nginx" in wanted:
            proxy_port = free_port()
            conf = nginx_conf("proxy.conf", workdir, PORT=proxy_port, WORKERS=args.workers, UPSTREAM_PORT=upstream_port)
            proxy = start_nginx(nginx, conf, workdir, proxy_port, "nginx proxy")
            started.append((proxy, signal.SIGQUIT))
            paths.append(
                Target("nginx", "nginx proxy_pass", f"http://127.0.0.1:{proxy_port}{BASE_PATH}{UPSTREAM_PATH}",
                      proxy_port, proxy)
            )  # fmt: skip
        if "bare" in wanted:
            bare_port = free_port()
            bare = subprocess.Popen(
                [sys.executable, __file__, "--bare-proxy", str(bare_port), str(upstream_port),
                 "--workers", str(args.workers)]
            )  # fmt: skip
            started.append((bare, signal.SIGTERM))
            wait_listening(bare_port, bare, "the bare uvloop proxy")
            paths.append(
                Target("bare", "bare uvloop proxy (reference)",
                      f"http://127.0.0.1:{bare_port}{BASE_PATH}{UPSTREAM_PATH}", bare_port, bare)
            )  # fmt: skip

        with contextlib.ExitStack() as stack:
            key, node_info = "none", None
            if "node" in wanted:
                seeded, portal, node, node_port, admin_port, db_url = stack.enter_context(
                    portal_and_node(args, base_db_url, redis_url, upstream_url, workdir)
                )
                key = seeded.key
                node_info = (portal, node, admin_port, db_url)
                paths.append(
                    Target("node", "gateway node (keys, limits, logs)",
                          f"http://127.0.0.1:{node_port}{BASE_PATH}{UPSTREAM_PATH}", node_port, node)
                )  # fmt: skip
            order = ["direct", "nginx", "node", "bare"]
            paths.sort(key=lambda p: order.index(p.name))
            bench = Bench(args, wrk, lua, key, upstream, upstream_port, portal=node_info[0] if node_info else None)
            for path in paths:  # one sane answer per path before measuring anything
                status, body = http_get(path.url, {"X-API-Key": key})
                if path.name == "node":
                    bench.answered_by_node += 1
                if status != 200:
                    raise SystemExit(f"{path.label} answered {status}: {body[:300]!r}")

            say(f"\neach round, per path: wrk {args.threads} thread(s) × {args.connections} connections × "
                f"{args.seconds:g} s; one connection × {args.latency_seconds:g} s; {args.rate:g} req/s over "
                f"{args.rate_connections} connections × {args.latency_seconds:g} s. {args.rounds} round(s), "
                f"{args.workers} proxy worker(s)")  # fmt: skip
            for path in paths:  # warm-up: pools, caches, the node's first batches
                bench.saturated(path, 2, record=False)
            time.sleep(1.5)  # the node ships its last batch of the warm-up
            idle = {path.name: bench.idle_cpu(path) for path in paths if path.proxy is not None}
            for round_no in range(args.rounds):
                for path in paths:
                    f = bench.saturated(path, args.seconds)
                    one = bench.one_connection(path)
                    fixed = bench.fixed_rate(path)
                    cpu = f"{f['proxy_cpu_us_per_request']:.1f} µs/req" if f["proxy_cpu_us_per_request"] else "-"
                    say(
                        f"  round {round_no + 1} {path.name:<7} {f['rps']:>9,.0f} req/s, proxy CPU {cpu}, "
                        f"errors {f['errors'] + one['errors'] + fixed['errors']}, load {f['load_before']}; "
                        f"p50 1 conn {one['p50_ms']:.3f} ms, fixed rate {fixed['p50_ms']:.3f} ms "
                        f"(achieved {fixed['achieved_rate']:g} req/s)"
                    )

            syscalls: dict[str, Any] = {}
            if args.syscalls:
                for path in paths:
                    counted = bench.syscalls(path)
                    if counted:
                        syscalls[path.name] = counted
            hot: dict[str, Any] = {}
            if args.profile and node_info:
                node_path = next(p for p in paths if p.name == "node")
                hot = profile_node(args, bench, node_path, workdir)

            records = None
            if node_info:
                records = check_records(bench, node_info[2], node_info[3], profiled=bool(hot))

        results = {
            "workers": args.workers,
            "connections": args.connections,
            "wrk_threads": args.threads,
            "seconds": args.seconds,
            "rounds": args.rounds,
            "fixed_rate": args.rate,
            "cores": os.cpu_count(),
            "load_at_start": [round(x, 2) for x in load_at_start],
            "load_at_end": [round(x, 2) for x in os.getloadavg()],
            "paths": summarise(paths),
            "idle_cpu_ms_per_s": idle,
            "records": records,
            "profile": hot,
            "syscalls": syscalls,
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    finally:
        for proc, sig in reversed(started):
            stop_process(proc, sig)
        shutil.rmtree(workdir, ignore_errors=True)

    return report(results)


def check_records(bench: Bench, admin_port: int, db_url: str, *, profiled: bool) -> dict[str, Any]:
    """Wait until the node has shipped everything, then compare the three counts."""
    deadline = time.monotonic() + 30
    while True:
        node = node_figures(admin_port)
        portal = portal_counts(db_url)
        settled = node["buffered"] == 0 and portal["received"] >= node["answered"]
        if settled or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    # wrk stops with requests in flight: the node answers them to a closed socket (and logs
    # them), so the node may count up to one request per connection per wrk run more than wrk.
    return {
        "client_answers": bench.answered_by_node,
        "node_answered": node["answered"],
        "node_buffered": node["buffered"],
        "portal": portal,
        "match": portal["received"] == node["answered"] == portal["accepted"] and portal["rejected"] == 0,
        "profiled_run_included": profiled,
        "settled": settled,
    }


def _fmt(value: float | None, spec: str) -> str:
    return format(value, spec) if value is not None else "-"


def report(results: dict[str, Any]) -> int:
    paths = results["paths"]
    say(
        f"\nB6 gateway node vs nginx: {results['workers']} worker(s) each, wrk {results['wrk_threads']} thread × "
        f"{results['connections']} connections × {results['seconds']:g} s, median of {results['rounds']} round(s); "
        f"load {results['load_at_start'][0]} → {results['load_at_end'][0]} on {results['cores']} cores"
    )
    nginx_eff = paths.get("nginx", {}).get("requests_per_proxy_cpu_second")
    say(f"{'path':<36}{'req/s':>9}{'p50 ms':>8}{'p99 ms':>8}{'CPU µs/req':>11}{'req/CPU-s':>11}{'× nginx':>8}")
    for entry in paths.values():
        eff = entry["requests_per_proxy_cpu_second"]
        ratio = eff / nginx_eff if eff and nginx_eff else None
        say(
            f"{entry['label']:<36}{_fmt(entry['rps'], ',.0f'):>9}{_fmt(entry['p50_ms'], '.2f'):>8}"
            f"{_fmt(entry['p99_ms'], '.2f'):>8}{_fmt(entry['proxy_cpu_us_per_request'], '.1f'):>11}"
            f"{_fmt(eff, ',.0f'):>11}{_fmt(ratio, '.2f'):>8}"
        )
    say(f"\n{'latency (ms)':<36}{'1 conn p50':>11}{'p99':>8}{'added':>8}{'fixed p50':>11}{'p99':>8}{'added':>8}")
    for entry in paths.values():
        say(
            f"{entry['label']:<36}{_fmt(entry['one_connection_p50_ms'], '.3f'):>11}"
            f"{_fmt(entry['one_connection_p99_ms'], '.3f'):>8}{_fmt(entry['added_one_connection_p50_ms'], '.3f'):>8}"
            f"{_fmt(entry['fixed_rate_p50_ms'], '.3f'):>11}{_fmt(entry['fixed_rate_p99_ms'], '.3f'):>8}"
            f"{_fmt(entry['added_fixed_rate_p50_ms'], '.3f'):>8}"
        )
    say(f"\n{'other figures (medians)':<36}{'upstream conns opened':>22}{'upstream CPU µs/req':>20}"
        f"{'master/supervisor CPU':>22}{'CPU µs/req at fixed rate':>26}")  # fmt: skip
    for entry in paths.values():
        root_share = entry["proxy_root_cpu_share"]
        say(
            f"{entry['label']:<36}{_fmt(entry['upstream_connections_opened'], ',.0f'):>22}"
            f"{_fmt(entry['upstream_cpu_us_per_request'], '.1f'):>20}"
            f"{f'{root_share * 100:.1f} %' if root_share is not None else '-':>22}"
            f"{_fmt(entry['fixed_rate_proxy_cpu_us_per_request'], '.1f'):>26}"
        )
    if results["idle_cpu_ms_per_s"]:
        idle = ", ".join(f"{paths[k]['label']} {v:g}" for k, v in results["idle_cpu_ms_per_s"].items())
        say(f"proxy CPU with no traffic (ms per s, 10 ms ticks over 3 s): {idle}")
    if paths.get("node", {}).get("portal_cpu_us_per_request") is not None:
        say(f"portal (log intake) CPU per node request: {paths['node']['portal_cpu_us_per_request']:.1f} µs")

    ok = True
    verdicts: dict[str, Any] = {}
    node = paths.get("node")
    if node and nginx_eff and node["requests_per_proxy_cpu_second"]:
        ratio = node["requests_per_proxy_cpu_second"] / nginx_eff
        verdicts["cpu_ratio"] = round(ratio, 3)
        verdicts["rps_ratio"] = round(node["rps"] / paths["nginx"]["rps"], 3)
        met = ratio >= TARGET_CPU_RATIO
        ok &= met
        say(
            f"\nnode / nginx requests per CPU-second: {ratio:.2f} ({'meets' if met else 'MISSES'} the "
            f"≥ {TARGET_CPU_RATIO} target); requests/s ratio on the shared cores: {verdicts['rps_ratio']:.2f}"
        )
    if node:
        for kind, label in (("one_connection", "one connection"), ("fixed_rate", f"{results['fixed_rate']:g} req/s")):
            added = node[f"added_{kind}_p50_ms"]
            if added is None:
                continue
            met = added < TARGET_ADDED_P50_MS
            ok &= met
            verdicts[f"added_{kind}_p50_ms"] = added
            say(f"node added p50 at {label}: {added:.3f} ms ({'meets' if met else 'MISSES'} the "
                f"< {TARGET_ADDED_P50_MS:g} ms target)")  # fmt: skip
        bare = paths.get("bare")
        if bare and bare["proxy_cpu_us_per_request"] and node["proxy_cpu_us_per_request"]:
            saturated = node["proxy_cpu_us_per_request"] - bare["proxy_cpu_us_per_request"]
            fixed = (node["fixed_rate_proxy_cpu_us_per_request"] or 0) - (
                bare["fixed_rate_proxy_cpu_us_per_request"] or 0
            )
            verdicts["node_minus_bare_cpu_us_per_request"] = round(saturated, 1)
            say(
                f"the node's own work (its CPU per request minus the bare uvloop proxy's): {saturated:.1f} µs "
                f"saturated, {fixed:.1f} µs at {results['fixed_rate']:g} req/s"
            )
        errors = node["errors"]
        if errors:
            ok = False
            say(f"the node answered {errors} request(s) with an error status or failed them: the figures are suspect")
    records = results["records"]
    if records:
        portal = records["portal"]
        say(
            f"call records: clients got {records['client_answers']:,} answers from the node, the node counted "
            f"{records['node_answered']:,}, the portal received {portal['received']:,} in {portal['batches']} "
            f"batches (accepted {portal['accepted']:,}, duplicates {portal['duplicates']}, rejected "
            f"{portal['rejected']}); {'they match' if records['match'] else 'MISMATCH'}"
        )
        if portal["quarantine_reasons"]:
            say(f"  quarantined: {portal['quarantine_reasons']}")
        ok &= bool(records["match"])
    if results["syscalls"]:
        say("\nsystem calls per request (perf, one extra run per proxy):")
        for name, counted in results["syscalls"].items():
            calls = ", ".join(f"{k} {v:g}" for k, v in counted["per_request"].items() if v >= 0.05)
            say(f"  {paths[name]['label']:<36}{calls}")
    profile = results["profile"]
    if profile:
        for title, rows in (
            ("own time by function", profile["own"]),
            ("own time by file", profile["by_file"]),
            ("inclusive time of the node's functions", profile["inclusive_node"]),
        ):
            say(f"\nnode worker profile (py-spy, {profile['samples']} busy samples), {title}:")
            for row in rows:
                say(f"  {row['share'] * 100:5.1f}%  {row['where']}")
    results["verdicts"] = verdicts
    results["targets_met"] = ok
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    say(f"\nwritten to {OUT.relative_to(ROOT)}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
