"""Upstream targets, weighted round-robin over them, and a passive circuit breaker per target.

- A :class:`Target` is one upstream URL. It owns its keep-alive :class:`~gateway_node.upstream.Pool`
  and its breaker, so both are shared by every route that names the same URL.
- A :class:`Balancer` is one route's list of ``(target, weight)``; :meth:`Balancer.pick` is
  nginx's smooth weighted round-robin (weights 5, 1, 1 give a a b a c a a, not a a a a a b c),
  skipping targets whose breaker is open.
- The :class:`UpstreamRegistry` hands out balancers: the same upstream list gives the same
  object, so a config snapshot re-applied every few seconds keeps the round-robin position,
  the breakers' state and the pools' connections.

The breaker is passive: it learns only from real calls. ``failures`` consecutive failures
(connect error or timeout, reset, read timeout, an answer 502 / 503 / 504) open it; after
``cooldown`` seconds exactly one call goes through as a probe (half-open); its success closes
the breaker, its failure opens it for another cool-down.
"""

from __future__ import annotations

import ssl
import time
import weakref
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import urlsplit

from gateway_node.upstream import Pool, PoolSettings

CLOSED, OPEN, HALF_OPEN = 0, 1, 2
_STATE_NAMES = {CLOSED: "closed", OPEN: "open", HALF_OPEN: "half_open"}


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    #: Consecutive failures that open a target's breaker.
    failures: int = 5
    #: Seconds an open breaker refuses calls before it lets one probe through.
    cooldown: float = 10.0


class Target:
    """One upstream URL (``http://127.0.0.1:9101`` or ``https://h/prefix``) with its pool and breaker."""

    __slots__ = (
        "__weakref__",
        "authority",
        "breaker",
        "failures",
        "host",
        "open_until",
        "path_prefix",
        "pool",
        "port",
        "ssl",
        "state",
        "url",
    )

    def __init__(
        self,
        url: str,
        *,
        pool: PoolSettings | None = None,
        breaker: BreakerSettings | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"upstream URL must be http:// or https://, got {url!r}")
        if not parts.hostname or parts.username is not None or parts.query or parts.fragment:
            raise ValueError(f"upstream URL needs a host and no user, query or fragment: {url!r}")
        tls = parts.scheme == "https"
        default_port = 443 if tls else 80
        port = parts.port or default_port  # raises ValueError for a bad port
        self.url = url
        self.host = parts.hostname
        self.port = port
        self.ssl: ssl.SSLContext | None = (ssl_context or ssl.create_default_context()) if tls else None
        self.path_prefix = parts.path.rstrip("/").encode("latin-1")
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.authority = (host if port == default_port else f"{host}:{port}").encode("latin-1")
        self.pool = Pool(self.host, port, ssl_context=self.ssl, settings=pool)
        self.breaker = breaker or BreakerSettings()
        self.state = CLOSED
        self.failures = 0
        self.open_until = 0.0

    def __repr__(self) -> str:
        return f"<Target {self.url} {self.breaker_state}>"

    @property
    def breaker_state(self) -> str:
        """``closed``, ``open`` or ``half_open`` (for metrics and tests)."""
        return _STATE_NAMES[self.state]

    def available(self, now: float) -> bool:
        state = self.state
        if state == CLOSED:
            return True
        return state == OPEN and now >= self.open_until

    def acquire(self, now: float) -> bool:
        """Called for the target :meth:`Balancer.pick` chose; True when this call is the probe."""
        if self.state == OPEN:
            self.state = HALF_OPEN  # nobody else gets through until the probe reports
            return True
        return False

    def success(self) -> None:
        """A call got an answer that was not 502 / 503 / 504."""
        if self.state == OPEN:
            return  # a late answer to a call sent before the breaker opened: the probe decides
        self.state = CLOSED
        self.failures = 0

    def failure(self) -> None:
        self.failures += 1
        if self.state == HALF_OPEN or (self.state == CLOSED and self.failures >= self.breaker.failures):
            self.state = OPEN
            self.open_until = time.monotonic() + self.breaker.cooldown

    def release(self, probe: bool) -> None:
        """A call ended without telling anything about the upstream (the client went away, a
        stale keep-alive connection): a probe's turn passes to the next call."""
        if probe and self.state == HALF_OPEN:
            self.state = OPEN
            self.open_until = time.monotonic()


class _Peer:
    __slots__ = ("current", "target", "weight")

    def __init__(self, target: Target, weight: int) -> None:
        self.target = target
        self.weight = weight
        self.current = 0


class Balancer:
    """Smooth weighted round-robin over one route's targets."""

    __slots__ = ("__weakref__", "_peers", "invalid", "targets")

    def __init__(self, peers: list[tuple[Target, int]], invalid: list[str] | None = None) -> None:
        self._peers = [_Peer(target, weight) for target, weight in peers if weight > 0]
        self.targets = [peer.target for peer in self._peers]
        #: Upstream URLs of the route that could not be used (bad scheme, no host).
        self.invalid = invalid or []

    def pick(self, exclude: Collection[Target] = ()) -> Target | None:
        """The next target, skipping ``exclude`` and open breakers; None when none is left.

        nginx's algorithm: every available peer gains its weight, the richest is chosen and
        pays the sum of the weights; over a cycle each peer is chosen ``weight`` times, spread
        out rather than in runs."""
        now = time.monotonic()
        peers = self._peers
        if len(peers) == 1:
            target = peers[0].target
            if target in exclude or not target.available(now):
                return None
            target.acquire(now)
            return target
        best: _Peer | None = None
        total = 0
        for peer in peers:
            target = peer.target
            if (exclude and target in exclude) or not target.available(now):
                continue
            peer.current += peer.weight
            total += peer.weight
            if best is None or peer.current > best.current:
                best = peer
        if best is None:
            return None
        best.current -= total
        best.target.acquire(now)
        return best.target


class UpstreamRegistry:
    """Every target and balancer of one worker process."""

    def __init__(
        self,
        *,
        pool: PoolSettings | None = None,
        breaker: BreakerSettings | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.pool_settings = pool or PoolSettings()
        self.breaker_settings = breaker or BreakerSettings()
        self._ssl = ssl_context
        self._targets: dict[str, Target] = {}
        # Weak: a balancer lives as long as a compiled snapshot refers to it. The gate compiles
        # a new snapshot while the old one is still in use, so an unchanged route gets the very
        # same balancer back.
        self._balancers: weakref.WeakValueDictionary[tuple[tuple[str, int], ...], Balancer] = (
            weakref.WeakValueDictionary()
        )

    def target(self, url: str) -> Target:
        target = self._targets.get(url)
        if target is None:
            if self._ssl is None and url.startswith("https:"):
                self._ssl = ssl.create_default_context()
            target = Target(url, pool=self.pool_settings, breaker=self.breaker_settings, ssl_context=self._ssl)
            self._targets[url] = target
        return target

    def balancer(self, upstreams: list[tuple[str, int]]) -> Balancer:
        """The balancer for a route's ``(url, weight)`` list; the same list gives the same object.

        URLs that cannot be used are left out (listed in ``Balancer.invalid``): one bad URL
        must not stop a whole snapshot from applying. A route with no usable target answers
        503 ``upstream_unavailable``."""
        key = tuple((str(url), int(weight)) for url, weight in upstreams)
        balancer = self._balancers.get(key)
        if balancer is not None:
            return balancer
        peers: list[tuple[Target, int]] = []
        invalid: list[str] = []
        for url, weight in key:
            try:
                peers.append((self.target(url), weight))
            except ValueError:
                invalid.append(url)
        balancer = Balancer(peers, invalid)
        self._balancers[key] = balancer
        self._forget_unused()
        return balancer

    def _forget_unused(self) -> None:
        """Drop targets no live balancer names. Their idle connections close at once; those in
        use close when their call ends (a closed pool takes nothing back)."""
        used = {id(target) for balancer in list(self._balancers.values()) for target in balancer.targets}
        for url, target in list(self._targets.items()):
            if id(target) not in used:
                target.pool.close()
                del self._targets[url]

    @property
    def targets(self) -> list[Target]:
        return list(self._targets.values())

    async def close(self) -> None:
        """Close every idle upstream connection (at shutdown)."""
        for target in self._targets.values():
            target.pool.close()
