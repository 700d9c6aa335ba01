"""The node's settings: command-line options, each also readable from the environment.

``python -m gateway_node --portal URL --token TOKEN`` is the whole minimum; every option has
a ``GATEWAY_NODE_*`` variable (the token also from ``GATEWAY_NODE_TOKEN_FILE``), so the same
image runs under systemd, Kubernetes or ``./run`` without a config file.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path


class SettingsError(ValueError):
    """A setting is missing or unusable; the message says which and why."""


@dataclass
class Settings:
    portal_url: str
    token: str
    listen_host: str = "127.0.0.1"
    listen_port: int = 8080
    admin_host: str = "127.0.0.1"
    admin_port: int = 9180
    workers: int = 1
    state_dir: Path = Path("var/gateway-node")
    poll_interval: float = 2.0
    heartbeat_interval: float = 15.0
    redis_url: str | None = None
    batch_records: int = 1000
    batch_seconds: float = 1.0
    buffer_records: int = 100_000
    spool_max_bytes: int = 256 * 1024 * 1024
    max_body_bytes: int = 10 * 1024 * 1024
    trusted_proxies: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = field(default_factory=list)
    name: str = "node"
    breaker_failures: int = 5
    breaker_cooldown: float = 10.0
    upstream_max_idle: int = 256
    upstream_idle_timeout: float = 30.0
    keepalive_timeout: float = 75.0


def _address(value: str, what: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise SettingsError(f"{what} must be HOST:PORT, got {value!r}")
    return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104 - an explicit ":PORT" means all interfaces


def parser() -> argparse.ArgumentParser:
    env = os.environ.get
    p = argparse.ArgumentParser(
        prog="python -m gateway_node",
        description="The platform's reference gateway node: keys, limits, proxying, call logs.",
    )
    p.add_argument("--portal", default=env("GATEWAY_NODE_PORTAL_URL"), help="portal base URL [GATEWAY_NODE_PORTAL_URL]")
    p.add_argument("--token", default=env("GATEWAY_NODE_TOKEN"), help="node token gwn_… [GATEWAY_NODE_TOKEN(_FILE)]")
    p.add_argument("--listen", default=env("GATEWAY_NODE_LISTEN", "127.0.0.1:8080"), help="proxy HOST:PORT")
    p.add_argument("--admin", default=env("GATEWAY_NODE_ADMIN_LISTEN", "127.0.0.1:9180"), help="/healthz, /metrics")
    p.add_argument(
        "--workers",
        type=int,
        default=int(env("GATEWAY_NODE_WORKERS", "0")),
        help="worker processes sharing the port with SO_REUSEPORT (0 = one per core)",
    )
    p.add_argument("--state-dir", default=env("GATEWAY_NODE_STATE_DIR", "var/gateway-node"), help="snapshot, spool")
    p.add_argument("--poll-interval", type=float, default=float(env("GATEWAY_NODE_POLL_INTERVAL", "2")))
    p.add_argument("--heartbeat-interval", type=float, default=float(env("GATEWAY_NODE_HEARTBEAT_INTERVAL", "15")))
    p.add_argument("--redis", default=env("GATEWAY_NODE_REDIS_URL"), help="shared limit counters (optional)")
    p.add_argument("--batch-records", type=int, default=int(env("GATEWAY_NODE_BATCH_RECORDS", "1000")))
    p.add_argument("--batch-seconds", type=float, default=float(env("GATEWAY_NODE_BATCH_SECONDS", "1")))
    p.add_argument("--buffer-records", type=int, default=int(env("GATEWAY_NODE_BUFFER_RECORDS", "100000")))
    p.add_argument("--spool-max-mb", type=int, default=int(env("GATEWAY_NODE_SPOOL_MAX_MB", "256")))
    p.add_argument("--max-body-mb", type=int, default=int(env("GATEWAY_NODE_MAX_BODY_MB", "10")))
    p.add_argument(
        "--trusted-proxies",
        default=env("GATEWAY_NODE_TRUSTED_PROXIES", ""),
        help="comma-separated networks whose X-Forwarded-For is believed (your load balancer)",
    )
    p.add_argument("--name", default=env("GATEWAY_NODE_NAME", os.uname().nodename), help="for batch ids and logs")
    p.add_argument(
        "--breaker-failures",
        type=int,
        default=int(env("GATEWAY_NODE_BREAKER_FAILURES", "5")),
        help="consecutive failures that open a target's circuit breaker",
    )
    p.add_argument(
        "--breaker-cooldown",
        type=float,
        default=float(env("GATEWAY_NODE_BREAKER_COOLDOWN", "10")),
        help="seconds an open breaker waits before one probe",
    )
    p.add_argument(
        "--upstream-max-idle",
        type=int,
        default=int(env("GATEWAY_NODE_UPSTREAM_MAX_IDLE", "256")),
        help="idle keep-alive connections kept per upstream target",
    )
    p.add_argument(
        "--upstream-idle-timeout",
        type=float,
        default=float(env("GATEWAY_NODE_UPSTREAM_IDLE_TIMEOUT", "30")),
        help="seconds an idle upstream connection is kept",
    )
    p.add_argument(
        "--keepalive-timeout",
        type=float,
        default=float(env("GATEWAY_NODE_KEEPALIVE_TIMEOUT", "75")),
        help="seconds an idle client connection is kept",
    )
    p.add_argument("--worker-index", type=int, default=None, help=argparse.SUPPRESS)
    return p


def load(argv: list[str] | None = None) -> tuple[Settings, int | None]:
    """Settings from ``argv`` and the environment, and the worker index when this is a worker."""
    args = parser().parse_args(argv)
    token = args.token
    token_file = os.environ.get("GATEWAY_NODE_TOKEN_FILE")
    if not token and token_file:
        try:
            token = Path(token_file).read_text().strip()
        except OSError as exc:
            raise SettingsError(f"GATEWAY_NODE_TOKEN_FILE: {exc}") from exc
    if not args.portal:
        raise SettingsError("the portal URL is required: --portal URL or GATEWAY_NODE_PORTAL_URL")
    if not str(args.portal).startswith(("http://", "https://")):
        raise SettingsError(f"the portal URL must start with http:// or https://, got {args.portal!r}")
    if not token or not token.startswith("gwn_"):
        raise SettingsError("a node token gwn_… is required: --token, GATEWAY_NODE_TOKEN or GATEWAY_NODE_TOKEN_FILE")
    listen_host, listen_port = _address(args.listen, "--listen")
    admin_host, admin_port = _address(args.admin, "--admin")
    try:
        trusted = [ipaddress.ip_network(n.strip(), strict=False) for n in args.trusted_proxies.split(",") if n.strip()]
    except ValueError as exc:
        raise SettingsError(f"--trusted-proxies: {exc}") from exc
    for name in (
        "poll_interval",
        "heartbeat_interval",
        "batch_seconds",
        "breaker_cooldown",
        "upstream_idle_timeout",
        "keepalive_timeout",
    ):
        if getattr(args, name) <= 0:
            raise SettingsError(f"--{name.replace('_', '-')} must be > 0")
    for name in ("batch_records", "buffer_records", "spool_max_mb", "max_body_mb", "breaker_failures"):
        if getattr(args, name) < 1:
            raise SettingsError(f"--{name.replace('_', '-')} must be ≥ 1")
    workers = args.workers if args.workers > 0 else (os.cpu_count() or 1)
    settings = Settings(
        portal_url=str(args.portal).rstrip("/"),
        token=token,
        listen_host=listen_host,
        listen_port=listen_port,
        admin_host=admin_host,
        admin_port=admin_port,
        workers=workers,
        state_dir=Path(args.state_dir),
        poll_interval=args.poll_interval,
        heartbeat_interval=args.heartbeat_interval,
        redis_url=args.redis or None,
        batch_records=args.batch_records,
        batch_seconds=args.batch_seconds,
        buffer_records=args.buffer_records,
        spool_max_bytes=args.spool_max_mb * 1024 * 1024,
        max_body_bytes=args.max_body_mb * 1024 * 1024,
        trusted_proxies=trusted,
        name="".join(c if c.isalnum() or c in "-." else "-" for c in args.name)[:40] or "node",
        breaker_failures=args.breaker_failures,
        breaker_cooldown=args.breaker_cooldown,
        upstream_max_idle=max(0, args.upstream_max_idle),
        upstream_idle_timeout=args.upstream_idle_timeout,
        keepalive_timeout=args.keepalive_timeout,
    )
    return settings, args.worker_index
