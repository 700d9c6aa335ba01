"""B7: streamed AI answers through the gateway node against a direct connection to the provider.

    .venv/bin/python bench/ai_gateway.py [--quick] [--chunks 32] [--chunk-delay-ms 2]

Two paths to one fake provider (``python -m gateway_node.ai.fake_provider``, loopback, its
deterministic demo answers; each answer is streamed as one server-sent event per word with
``--chunk-delay-ms`` between events):

* **direct**: the client posts ``/v1/chat/completions`` (``stream: true``) to the provider itself;
* **node**: the same request to ``python -m gateway_node`` (one worker) on an AI version's
  ``/chat/completions``, with key auth, the subscription check, call records and the
  OpenAI-compatible pass-through (``stream_options.include_usage`` injected, the usage chunk
  dropped, ``[DONE]`` once); and, as a third row, the Anthropic translation (**node→anthropic**:
  the node talks the Messages API to the fake provider and translates every event back).

The node gets its configuration from a small stand-in portal in this script (it serves one fixed
snapshot and counts the call records shipped to it): the figure is the node's, not the portal's.

Measured, paths interleaved over rounds (median of rounds):

* **time to first token** (request sent → first ``data:`` event with content received) at one
  connection, p50 / p99; *added* = node − direct;
* **per chunk**: (last event − first event) / (events − 1) against the direct path: the extra
  time each relayed event costs;
* **CPU per streamed response** of the node processes (``/proc`` ticks) at a fixed concurrency.

At the end the call records received are checked: one per response, and each one of the main
path with the provider's exact token counts (``fake_provider.demo_usage``). Prints a table,
writes ``var/bench/ai_gateway.json``; exits 1 when the added p50 time to first token is ≥ 1 ms
(the target).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httptools

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "var" / "bench" / "ai_gateway.json"
TARGET_ADDED_TTFT_P50_MS = 1.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
PROVIDER_KEY = "sk-bench-provider-0123456789"
CONSUMER_KEY = "apk_benchkey0001_" + "s" * 32
BASE = "/bench-ai/v1"
PUBLIC_MODEL = "bench/chat"


def say(message: str) -> None:
    print(message, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode} at start")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise SystemExit(f"{what} did not listen on {port} within {timeout:.0f} s")


def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{entry}/stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_seconds(root: int) -> float:
    total = 0
    for pid in process_tree(root):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


# --- the stand-in portal ------------------------------------------------------------------


def snapshot(provider_port: int) -> dict[str, Any]:
    key_id = CONSUMER_KEY.split("_")[1]
    secret = CONSUMER_KEY.split("_")[2]
    limits = dict.fromkeys(
        (
            "rate_limit_per_second",
            "rate_limit_per_minute",
            "quota_per_day",
            "quota_per_month",
            "token_limit_per_minute",
            "token_quota_per_day",
            "token_quota_per_month",
            "cost_budget_per_day",
            "cost_budget_per_month",
        )
    )
    route = {
        "api_id": 1,
        "provider_tenant_id": 1,
        "label": "v1",
        "status": "published",
        "upstreams": [],
        "connect_timeout_ms": 5000,
        "read_timeout_ms": 30000,
        "sunset_date": None,
        "endpoints": [{"method": "POST", "path": "/chat/completions"}, {"method": "GET", "path": "/models"}],
    }
    return {
        "version": 1,
        "generated_at": "2026-11-21T00:00:00Z",
        "routes": [
            {
                **route,
                "api_version_id": 1,
                "base_path": BASE,
                "kind": "ai",
                "ai": {"models": {PUBLIC_MODEL: 1, "bench/chat-anthropic": 2}},
            },
        ],
        "credentials": {
            key_id: {
                "key_hash": hashlib.sha256(secret.encode()).hexdigest(),
                "application_id": 1,
                "consumer_tenant_id": 2,
                "expires_at": None,
                "grace_ends_at": None,
                "revoked": False,
                "subscriptions": [
                    {
                        "subscription_id": 1,
                        "status": "active",
                        "api_id": 1,
                        "api_version_id": 1,
                        "plan_id": 1,
                        "limits": limits,
                    },
                ],
            }
        },
        "ai": {
            "providers": {
                "1": {
                    "slug": "fake-openai",
                    "kind": "openai",
                    "base_url": f"http://127.0.0.1:{provider_port}/v1",
                    "connect_timeout_ms": 5000,
                    "read_timeout_ms": 30000,
                    "credentials": [{"id": 1, "secret": PROVIDER_KEY, "priority": 0, "weight": 1}],
                },
                "2": {
                    "slug": "fake-anthropic",
                    "kind": "anthropic",
                    "base_url": f"http://127.0.0.1:{provider_port}",
                    "connect_timeout_ms": 5000,
                    "read_timeout_ms": 30000,
                    "credentials": [{"id": 2, "secret": PROVIDER_KEY, "priority": 0, "weight": 1}],
                },
            },
            "models": {
                "1": {
                    "provider_id": 1,
                    "model": "demo-chat",
                    "capability": "chat",
                    "context_window": 8192,
                    "prices": [{"from": "2020-01-01", "input": "0.50", "output": "1.50", "cached_input": None}],
                },
                "2": {
                    "provider_id": 2,
                    "model": "demo-chat",
                    "capability": "chat",
                    "context_window": 8192,
                    "prices": [{"from": "2020-01-01", "input": "0.50", "output": "1.50", "cached_input": None}],
                },
            },
            "routes": {
                "1": {
                    "name": PUBLIC_MODEL,
                    "capability": "chat",
                    "targets": [{"model_id": 1, "position": 0, "weight": 1}],
                },
                "2": {
                    "name": "bench/chat-anthropic",
                    "capability": "chat",
                    "targets": [{"model_id": 2, "position": 0, "weight": 1}],
                },
            },
        },
    }


class StandIn:
    """Serves one snapshot and counts the call records the node ships."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.records: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path.startswith("/gateway/v1/config"):
                    if self.headers.get("If-None-Match") == '"1"':
                        self._send(304)
                    else:
                        self._send(200, outer.body, {"ETag": '"1"', "Content-Type": "application/json"})
                else:
                    self._send(404)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.startswith("/gateway/v1/logs"):
                    if self.headers.get("Content-Encoding") == "gzip":
                        raw = gzip.decompress(raw)
                    rows = [json.loads(line) for line in raw.splitlines() if line.strip()]
                    with outer.lock:
                        outer.records.extend(rows)
                    n = len(rows)
                    self._send(200, json.dumps({"received": n, "accepted": n, "duplicates": 0, "rejected": 0}).encode())
                else:
                    self._send(200, b"{}")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


# --- the client -------------------------------------------------------------------------


class _Reader:
    def __init__(self) -> None:
        self.status = 0
        self.events: list[float] = []  # arrival time of each body piece holding a data event with content
        self.body = bytearray()
        self.done = False

    def on_status(self, _status: bytes) -> None:
        pass

    def on_body(self, data: bytes) -> None:
        now = time.perf_counter()
        self.body += data
        if b'"content"' in data or b'"text"' in data:
            self.events.append(now)

    def on_message_complete(self) -> None:
        self.done = True


def stream_once(port: int, path: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """One streamed request on a fresh connection: (ttft, per-event gaps, body)."""
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    reader = _Reader()
    parser = httptools.HttpResponseParser(reader)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        started = time.perf_counter()
        sock.sendall(head.encode() + body)
        while not reader.done:
            data = sock.recv(65536)
            if not data:
                break
            parser.feed_data(data)
    status = parser.get_status_code()
    if status != 200 or not reader.events:
        raise SystemExit(f"{path}: status {status}, body {bytes(reader.body)[:300]!r}")
    ttft = (reader.events[0] - started) * 1000
    span = (reader.events[-1] - reader.events[0]) * 1000
    return {"ttft_ms": ttft, "per_event_ms": span / max(1, len(reader.events) - 1), "events": len(reader.events)}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def request_body(model: str, words: int) -> bytes:
    text = " ".join(f"word{i}" for i in range(words))
    return json.dumps({"model": model, "stream": True, "messages": [{"role": "user", "content": text}]}).encode()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds and requests (a smoke run)")
    ap.add_argument("--chunks", type=int, default=32, help="words (= streamed events) per answer")
    ap.add_argument("--chunk-delay-ms", type=float, default=2.0)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args(argv)
    rounds = 2 if args.quick else 5
    per_round = 40 if args.quick else 150
    cpu_requests = 100 if args.quick else 600

    workdir = Path(tempfile.mkdtemp(prefix="bench-ai-"))
    provider_port, node_port, admin_port = free_port(), free_port(), free_port()
    provider = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway_node.ai.fake_provider",
            "--host",
            "127.0.0.1",
            "--port",
            str(provider_port),
            "--key",
            PROVIDER_KEY,
            "--chunk-delay-ms",
            str(args.chunk_delay_ms),
        ],
        cwd=ROOT,
    )
    node: subprocess.Popen[bytes] | None = None
    try:
        wait_listening(provider_port, provider, "the fake provider")
        standin = StandIn(json.dumps(snapshot(provider_port)).encode())
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_NODE_")}
        node = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gateway_node",
                "--portal",
                f"http://127.0.0.1:{standin.port}",
                "--token",
                "gwn_bench_" + "t" * 32,
                "--listen",
                f"127.0.0.1:{node_port}",
                "--admin",
                f"127.0.0.1:{admin_port}",
                "--workers",
                "1",
                "--state-dir",
                str(workdir / "state"),
                "--name",
                "bench-ai",
            ],
            cwd=ROOT,
            env=env,
        )
        wait_listening(node_port, node, "the node")
        deadline = time.monotonic() + 30
        warm = request_body(PUBLIC_MODEL, 4)
        while True:  # the node answers 503 no_config until its first poll applied the snapshot
            with contextlib.suppress(SystemExit):
                stream_once(node_port, f"{BASE}/chat/completions", {"X-API-Key": CONSUMER_KEY}, warm)
                break
            if time.monotonic() > deadline:
                raise SystemExit("the node did not serve the AI route within 30 s")
            time.sleep(0.2)

        body = request_body("demo-chat", args.chunks)
        paths = {
            "direct": (provider_port, "/v1/chat/completions", {"Authorization": f"Bearer {PROVIDER_KEY}"}, body),
            "node": (
                node_port,
                f"{BASE}/chat/completions",
                {"X-API-Key": CONSUMER_KEY},
                request_body(PUBLIC_MODEL, args.chunks),
            ),
            "node→anthropic": (
                node_port,
                f"{BASE}/chat/completions",
                {"X-API-Key": CONSUMER_KEY},
                request_body("bench/chat-anthropic", args.chunks),
            ),
        }
        samples: dict[str, list[dict[str, float]]] = {name: [] for name in paths}
        sent_through_node = 1
        for index in range(rounds):
            for name, (port, path, headers, payload) in paths.items():
                rows = [stream_once(port, path, headers, payload) for _ in range(per_round)]
                samples[name].append(
                    {
                        "ttft_p50": pct([r["ttft_ms"] for r in rows], 50),
                        "ttft_p99": pct([r["ttft_ms"] for r in rows], 99),
                        "per_event": statistics.median(r["per_event_ms"] for r in rows),
                        "events": rows[0]["events"],
                    }
                )
                if name != "direct":
                    sent_through_node += per_round
            say(f"round {index + 1}/{rounds} done")

        # CPU per streamed response at a fixed concurrency (node processes only).
        cpu: dict[str, float] = {}
        for name in ("node", "node→anthropic"):
            port, path, headers, payload = paths[name]
            before = cpu_seconds(node.pid)
            threads = []
            per_thread = cpu_requests // args.concurrency

            def work(
                port: int = port,
                path: str = path,
                headers: dict[str, str] = headers,
                payload: bytes = payload,
                count: int = per_thread,
            ) -> None:
                for _ in range(count):
                    stream_once(port, path, headers, payload)

            for _ in range(args.concurrency):
                thread = threading.Thread(target=work)
                thread.start()
                threads.append(thread)
            for thread in threads:
                thread.join()
            answered = per_thread * args.concurrency
            sent_through_node += answered
            cpu[name] = (cpu_seconds(node.pid) - before) / answered * 1000

        time.sleep(3.0)  # the shipper's age cut
        deadline = time.monotonic() + 20
        while len(standin.records) < sent_through_node and time.monotonic() < deadline:
            time.sleep(0.2)
        records = list(standin.records)
        from gateway_node.ai.fake_provider import demo_usage

        # Every record of the main route carries the provider's exact counts: the warm-up call's
        # (4 words) or the measured calls' (--chunks words), nothing else.
        allowed = {
            (u.input_tokens, u.output_tokens)
            for u in (demo_usage(json.loads(warm)), demo_usage(json.loads(paths["node"][3])))
        }
        served = [r for r in records if r.get("ai_route") == PUBLIC_MODEL and r.get("status") == 200]
        tokens_ok = bool(served) and all(
            (r.get("ai_input_tokens"), r.get("ai_output_tokens")) in allowed for r in served
        )
    finally:
        if node is not None and node.poll() is None:
            node.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.wait(15)
        provider.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            provider.wait(5)

    def med(name: str, key: str) -> float:
        return statistics.median(row[key] for row in samples[name])

    results: dict[str, Any] = {
        "chunks": args.chunks,
        "chunk_delay_ms": args.chunk_delay_ms,
        "rounds": rounds,
        "requests_per_round": per_round,
        "paths": {
            name: {
                "ttft_p50_ms": med(name, "ttft_p50"),
                "ttft_p99_ms": med(name, "ttft_p99"),
                "per_event_ms": med(name, "per_event"),
                "cpu_ms_per_response": cpu.get(name),
            }
            for name in paths
        },
        "records_expected": sent_through_node,
        "records_received": len(records),
        "output_tokens_exact": tokens_ok,
    }
    direct = results["paths"]["direct"]
    for name in ("node", "node→anthropic"):
        row = results["paths"][name]
        row["added_ttft_p50_ms"] = row["ttft_p50_ms"] - direct["ttft_p50_ms"]
        row["added_ttft_p99_ms"] = row["ttft_p99_ms"] - direct["ttft_p99_ms"]
        row["added_per_event_ms"] = row["per_event_ms"] - direct["per_event_ms"]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))

    say("")
    say(
        f"{'path':<16} {'TTFT p50':>9} {'p99':>8} {'added p50':>10} {'added p99':>10} "
        f"{'per event':>10} {'added':>8} {'CPU/resp':>9}"
    )
    for name, row in results["paths"].items():
        say(
            f"{name:<16} {row['ttft_p50_ms']:>7.3f}ms {row['ttft_p99_ms']:>6.3f}ms "
            f"{row.get('added_ttft_p50_ms', 0):>8.3f}ms {row.get('added_ttft_p99_ms', 0):>8.3f}ms "
            f"{row['per_event_ms']:>8.3f}ms {row.get('added_per_event_ms', 0):>6.3f}ms "
            + (f"{row['cpu_ms_per_response']:>7.3f}ms" if row["cpu_ms_per_response"] is not None else f"{'-':>9}")
        )
    say(
        f"call records: {len(records)} received of {sent_through_node} streamed through the node; "
        f"output tokens exact: {tokens_ok}"
    )
    added = results["paths"]["node"]["added_ttft_p50_ms"]
    ok = added < TARGET_ADDED_TTFT_P50_MS and len(records) == sent_through_node and tokens_ok
    verdict = "met" if added < TARGET_ADDED_TTFT_P50_MS else "MISSED"
    say(f"target: added time to first token p50 < {TARGET_ADDED_TTFT_P50_MS} ms: {verdict} ({added:.3f} ms)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
