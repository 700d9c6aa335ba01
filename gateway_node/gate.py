"""The gate: who may call what, and the record of every call.

It compiles the portal's config snapshot (docs/gateway-protocol.md) into dictionaries the
hot path reads without parsing anything, decides each request from its head alone
(route → key → subscription → limits, see :meth:`Gate.admit`), and turns every finished
call, allowed or refused, into a native call record for the shipper.

Versions of kind ``ai`` / ``prompt`` (docs/ai-gateway.md) go the same way, then through the
plan's token limits and cost budgets, and end in a :class:`~gateway_node.contracts.Handle`:
the node answers them itself (``gateway_node.ai.handler``).

A new snapshot is compiled aside and swapped in by one assignment, so a request sees either
the old config or the new one, never a mix.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache, partial
from typing import Any, Protocol

from gateway_node.ai.handler import ENDPOINTS, AiCall, AiHandler, AiSurface
from gateway_node.ai.routing import AiConfig, compile_ai
from gateway_node.ai.tokens import AiLimits, Exceeded, TokenBudget
from gateway_node.contracts import (
    CallRecord,
    Decision,
    Forward,
    Handle,
    Headers,
    Limits,
    Outcome,
    Refuse,
    RequestHead,
    error_body,
)
from gateway_node.metrics import Metrics

KEY_PREFIX = "apk"
#: Headers a client must not be able to forge: the node sets them for the upstream.
CONSUMER_HEADERS = (
    b"x-consumer-application-id",
    b"x-consumer-tenant-id",
    b"x-consumer-subscription-id",
    b"x-consumer-plan-id",
    b"x-consumer-key-id",
)
_STRIP_KEY_HEADER = frozenset({b"x-api-key", *CONSUMER_HEADERS})
_STRIP_BEARER = frozenset({b"x-api-key", b"authorization", *CONSUMER_HEADERS})


class VerdictLike(Protocol):
    allowed: bool
    error: str
    headers: Headers


class LimiterLike(Protocol):
    def check(self, counter: str, limits: Limits) -> VerdictLike | Awaitable[VerdictLike]: ...


class BalancerFactory(Protocol):
    def balancer(self, upstreams: list[tuple[str, int]]) -> Any: ...


# --- The compiled snapshot ------------------------------------------------------------------


@dataclass(slots=True)
class Route:
    """One published or deprecated API version."""

    api_version_id: int
    api_id: int
    base_path: str
    base_len: int
    balancer: Any
    connect_timeout: float
    read_timeout: float
    sunset: str | None
    #: (method, path) → endpoint name, for paths without parameters
    static: dict[tuple[str, str], str]
    #: method → [(compiled pattern, endpoint name)], most specific (fewest parameters) first
    templated: dict[str, list[tuple[re.Pattern[str], str]]]
    #: AI and prompt versions: what the node answers itself (None: a REST version, proxied)
    surface: AiSurface | None = None

    def endpoint(self, method: str, rest: str) -> str:
        """The OpenAPI operation a call matched (``GET /orders/{id}``), else ``other``."""
        name = self.static.get((method, rest))
        if name is not None:
            return name
        for pattern, name in self.templated.get(method, ()):
            if pattern.fullmatch(rest):
                return name
        return "other"


@dataclass(slots=True)
class Subscription:
    subscription_id: int
    status: str
    plan_id: int
    limits: Limits
    counter: str
    headers: Headers
    ai_limits: AiLimits | None = None  # token limits and cost budgets (None: none)


#: A parsed client address: (IP version, the address as an integer).
_Address = tuple[int, int]


@dataclass(slots=True)
class KeyRestriction:
    """A key's own restrictions, compiled once per snapshot (docs/subscriptions.md, "Key restrictions").

    A key without restrictions has none of this (``Credential.restriction`` is None): it costs
    one attribute test per call.
    """

    #: (IP version, network address as int, netmask as int) per allowed range; None: anywhere
    networks: tuple[tuple[int, int, int], ...] | None
    #: APIs the key may call; None: every API its application subscribes to
    api_ids: frozenset[int] | None
    #: the key's own rate limit (a per-minute bucket) and its counter; None: the plan's only
    limits: Limits | None
    counter: str

    def allows_address(self, address: _Address | None) -> bool:
        networks = self.networks
        if networks is None:
            return True
        if address is None:
            return False
        version, value = address
        return any(v == version and value & mask == network for v, network, mask in networks)

    @classmethod
    def from_snapshot(cls, key_id: str, raw: dict[str, Any] | None) -> KeyRestriction | None:
        if not raw:
            return None
        networks = []
        for text in raw.get("cidrs") or ():
            net = ipaddress.ip_network(str(text), strict=False)
            networks.append((net.version, int(net.network_address), int(net.netmask)))
        api_ids = raw.get("api_ids") or ()
        rate = raw.get("rate_limit_per_minute")
        restriction = cls(
            networks=tuple(networks) if networks else None,
            api_ids=frozenset(int(i) for i in api_ids) if api_ids else None,
            limits=Limits(rate_per_minute=int(rate)) if rate else None,
            counter=f"k:{key_id}",
        )
        if restriction.networks is None and restriction.api_ids is None and restriction.limits is None:
            return None
        return restriction


@lru_cache(maxsize=4096)
def parse_address(text: str) -> _Address | None:
    """A client address for range checks; an IPv4-mapped IPv6 address counts as its IPv4 one.

    Cached: a restricted key is used from a few addresses, and parsing costs ~2 µs a call."""
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return 4, int(ip.ipv4_mapped)
    return ip.version, int(ip)


@dataclass(slots=True)
class Credential:
    key_id: str
    key_hash: bytes
    application_id: int
    consumer_tenant_id: int
    expires_at: float | None
    revoked: bool
    #: api_version_id → the application's subscription that covers it
    subscriptions: dict[int, Subscription]
    #: the key's own restrictions (None: none, the common case)
    restriction: KeyRestriction | None = None


@dataclass(slots=True)
class Compiled:
    version: int
    routes: dict[str, Route]
    credentials: dict[str, Credential]
    #: key id → the snapshot's raw entry, to reuse unchanged credentials at the next version
    raw_credentials: dict[str, Any] = field(default_factory=dict)
    #: base path → (raw route entry, compiled route), the same for routes
    raw_routes: dict[str, tuple[Any, Route]] = field(default_factory=dict)
    #: providers, models and model routes of the AI versions
    ai: AiConfig = field(default_factory=AiConfig)

    def match(self, path: str) -> Route | None:
        """The route whose base path is the longest prefix of ``path`` on a segment boundary."""
        routes = self.routes
        route = routes.get(path)
        if route is not None:
            return route
        end = len(path)
        while True:
            end = path.rfind("/", 0, end)
            if end <= 0:
                return None
            route = routes.get(path[:end])
            if route is not None:
                return route


_PARAM = re.compile(r"\{[^/{}]+\}")


def _endpoint_tables(
    endpoints: Iterable[dict[str, str]],
) -> tuple[dict[tuple[str, str], str], dict[str, list[tuple[re.Pattern[str], str]]]]:
    static: dict[tuple[str, str], str] = {}
    templated: dict[str, list[tuple[int, re.Pattern[str], str]]] = {}
    for endpoint in endpoints:
        method = str(endpoint.get("method", "")).upper()
        path = str(endpoint.get("path", ""))
        if not method or not path.startswith("/"):
            continue
        name = f"{method} {path}"
        if "{" not in path:
            static[(method, path)] = name
            continue
        parts = _PARAM.split(path)
        pattern = re.compile("[^/]+".join(re.escape(part) for part in parts))
        templated.setdefault(method, []).append((path.count("{"), pattern, name))
    ordered = {
        method: [(pattern, name) for _, pattern, name in sorted(items, key=lambda item: item[0])]
        for method, items in templated.items()
    }
    return static, ordered


def _epoch(value: Any) -> float | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def _limits(raw: dict[str, Any] | None) -> Limits:
    raw = raw or {}
    return Limits(
        rate_per_second=raw.get("rate_limit_per_second") or None,
        rate_per_minute=raw.get("rate_limit_per_minute") or None,
        quota_per_day=raw.get("quota_per_day") or None,
        quota_per_month=raw.get("quota_per_month") or None,
    )


def compile_snapshot(
    snapshot: dict[str, Any], balancers: BalancerFactory, previous: Compiled | None = None
) -> Compiled:
    """Turn the portal's JSON snapshot into lookup tables. Raises ValueError when malformed.

    With ``previous``, a credential whose raw entry did not change is reused as it is: a new
    version usually changes a handful of keys, and rebuilding 10,000 credentials costs ~0.5 s
    of a worker's event loop (comparing them ~10 ms).
    """
    raw_before = previous.raw_credentials if previous else {}
    try:
        version = int(snapshot["version"])
        routes: dict[str, Route] = {}
        raw_routes: dict[str, tuple[Any, Route]] = {}
        routes_before = previous.raw_routes if previous else {}
        for raw in snapshot.get("routes", ()):
            base_path = str(raw["base_path"]).rstrip("/") or "/"
            before = routes_before.get(base_path)
            if before is not None and before[0] == raw:
                routes[base_path] = before[1]
                raw_routes[base_path] = before
                continue
            kind = str(raw.get("kind") or "rest")
            surface = None
            if kind in ("ai", "prompt"):
                surface = AiSurface.from_snapshot(kind, raw.get("ai"))
                static = {(method, rest): name for (of, rest), (method, name) in ENDPOINTS.items() if of == kind}
                templated: dict[str, list[tuple[re.Pattern[str], str]]] = {}
                balancer = None
            elif kind == "rest":
                upstreams = [(str(u["url"]), int(u.get("weight") or 1)) for u in raw.get("upstreams", ())]
                static, templated = _endpoint_tables(raw.get("endpoints") or ())
                balancer = balancers.balancer(upstreams)
            else:
                continue  # a kind this node does not know (a newer portal): not served
            routes[base_path] = Route(
                api_version_id=int(raw["api_version_id"]),
                api_id=int(raw["api_id"]),
                base_path=base_path,
                base_len=len(base_path),
                balancer=balancer,
                connect_timeout=(raw.get("connect_timeout_ms") or 5000) / 1000,
                read_timeout=(raw.get("read_timeout_ms") or 30000) / 1000,
                sunset=raw.get("sunset_date"),
                static=static,
                templated=templated,
                surface=surface,
            )
            raw_routes[base_path] = (raw, routes[base_path])
        credentials: dict[str, Credential] = {}
        # One Limits object per subscription, shared by all its keys: the limiter compares a
        # counter's limits by identity first, so keys of one application alternating cost nothing.
        limits_of: dict[int, Limits] = {}
        raw_credentials = snapshot.get("credentials") or {}
        for key_id, raw in raw_credentials.items():
            if previous is not None and raw_before.get(key_id) == raw:
                credentials[key_id] = previous.credentials[key_id]
                continue
            application_id = int(raw["application_id"])
            consumer = int(raw["consumer_tenant_id"])
            subscriptions = {}
            for sub in raw.get("subscriptions", ()):
                sub_id = int(sub["subscription_id"])
                plan_id = int(sub["plan_id"])
                subscriptions[int(sub["api_version_id"])] = Subscription(
                    subscription_id=sub_id,
                    status=str(sub["status"]),
                    plan_id=plan_id,
                    limits=limits_of.setdefault(sub_id, _limits(sub.get("limits"))),
                    ai_limits=AiLimits.from_snapshot(sub.get("limits")),
                    counter=f"s:{sub_id}",
                    headers=[
                        (b"x-consumer-application-id", str(application_id).encode()),
                        (b"x-consumer-tenant-id", str(consumer).encode()),
                        (b"x-consumer-subscription-id", str(sub_id).encode()),
                        (b"x-consumer-plan-id", str(plan_id).encode()),
                        (b"x-consumer-key-id", key_id.encode()),
                    ],
                )
            credentials[str(key_id)] = Credential(
                key_id=str(key_id),
                key_hash=str(raw["key_hash"]).encode(),
                application_id=application_id,
                consumer_tenant_id=consumer,
                expires_at=_epoch(raw.get("expires_at")),
                revoked=bool(raw.get("revoked")),
                subscriptions=subscriptions,
                restriction=KeyRestriction.from_snapshot(str(key_id), raw.get("restrictions")),
            )
        ai = compile_ai(snapshot.get("ai"))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"malformed config snapshot: {exc!r}") from exc
    return Compiled(
        version=version,
        routes=routes,
        credentials=credentials,
        raw_credentials=raw_credentials,
        raw_routes=raw_routes,
        ai=ai,
    )


# --- Refusals ---------------------------------------------------------------------------------

_MESSAGES = {
    "no_config": (503, "The gateway has no configuration yet; try again shortly."),
    "unknown_route": (404, "No API is published at this path."),
    "missing_key": (401, "Send your API key in the X-API-Key header (or Authorization: Bearer)."),
    "unknown_key": (401, "This API key is not known."),
    "revoked": (401, "This API key was revoked."),
    "expired": (401, "This API key has expired."),
    "no_subscription": (403, "This key's application has no subscription to this API."),
    "subscription_pending": (403, "This key's subscription is waiting for the provider's approval."),
    "subscription_suspended": (403, "This key's subscription is suspended."),
    "rate_limited": (429, "Rate limit exceeded; slow down (see Retry-After)."),
    "quota_exceeded": (429, "Quota exhausted for this period (see Retry-After)."),
    # Key restrictions: say what was wrong, never what is allowed.
    "key_ip_not_allowed": (403, "This API key may not be used from this client address."),
    "key_api_not_allowed": (403, "This API key may not call this API."),
    "key_rate_limited": (429, "This API key's own rate limit is exceeded; slow down (see Retry-After)."),
    "unknown_endpoint": (404, "This AI API has no such endpoint."),
    "method_not_allowed": (405, "This endpoint does not take this method (see Allow)."),
}
_AUTH_HEADERS: dict[int, Headers] = {401: [(b"www-authenticate", b'ApiKey realm="gateway"')]}
_CANNED = {code: error_body(code, message) for code, (_, message) in _MESSAGES.items()}


@dataclass(slots=True)
class CallContext:
    """What the gate learned about a call, handed back in :meth:`Gate.finish`."""

    route: Route | None = None
    rest: str = ""
    key_id: str = ""
    application_id: int | None = None
    ai: AiCall | None = None  # an AI call: what the handler learnt, for the record


@dataclass(slots=True)
class _Verdict:
    allowed: bool
    error: str
    headers: Headers


def _remaining(headers: Headers) -> int | None:
    for name, value in headers:
        if name == b"ratelimit-remaining":
            return int(value)
    return None


def _tighter(plan: VerdictLike, own: VerdictLike) -> VerdictLike:
    """The plan's verdict, with the RateLimit-* headers of whichever limit has fewer calls left."""
    if not plan.allowed:
        return plan
    mine = _remaining(own.headers)
    theirs = _remaining(plan.headers)
    if mine is None or (theirs is not None and theirs <= mine):
        return plan
    return _Verdict(True, "", list(own.headers))


def _refuse(reason: str, context: CallContext, headers: Headers | None = None) -> Refuse:
    status = _MESSAGES[reason][0]
    extra = list(_AUTH_HEADERS.get(status, ()))
    if headers:
        extra.extend(headers)
    return Refuse(status=status, body=_CANNED[reason], error=reason, headers=extra, context=context)


# --- Timestamps without datetime per call ---------------------------------------------------


class _Clock:
    """RFC 3339 UTC timestamps, formatting the date and time once per second."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def rfc3339(self, wall: float) -> str:
        second = int(wall)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{int((wall - second) * 1_000_000):06d}Z"


# --- The gate -----------------------------------------------------------------------------------


@dataclass
class GateOptions:
    #: Networks whose X-Forwarded-For is believed (a load balancer in front of the node).
    trusted_proxies: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = field(default_factory=list)
    forwarded_proto: bytes = b"http"
    #: The largest request body of an AI call (chat messages with images can be large).
    ai_max_body: int = 10 * 1024 * 1024


class Gate:
    """Decides requests from the current snapshot and records every call."""

    def __init__(
        self,
        *,
        balancers: BalancerFactory,
        limiter: LimiterLike,
        emit: Callable[[CallRecord], None],
        metrics: Metrics | None = None,
        options: GateOptions | None = None,
        clock: Callable[[], float] = time.time,
        tokens: TokenBudget | None = None,
        ai_handler: AiHandler | None = None,
    ) -> None:
        """``tokens`` counts the AI token limits and cost budgets (alone by default);
        ``ai_handler`` answers AI calls (one with its own provider pools by default)."""
        self.balancers = balancers
        self.limiter = limiter
        self.emit = emit
        self.metrics = metrics or Metrics()
        self.options = options or GateOptions()
        self.clock = clock
        self.compiled: Compiled | None = None
        self._stamp = _Clock()
        self.tokens = tokens or (ai_handler.tokens if ai_handler else TokenBudget())
        self.ai_handler = ai_handler or AiHandler(tokens=self.tokens)

    # -- config

    def apply(self, snapshot: dict[str, Any]) -> None:
        """Compile and swap in a snapshot (raises ValueError and keeps the old one when malformed)."""
        compiled = compile_snapshot(snapshot, self.balancers, self.compiled)
        self.compiled = compiled  # one assignment: requests see the old or the new config
        self.metrics.config_version = compiled.version
        self.metrics.config_applied_at = time.time()

    @property
    def version(self) -> int | None:
        return self.compiled.version if self.compiled else None

    # -- requests

    def admit(self, head: RequestHead) -> Decision | Awaitable[Decision]:
        """Route → key → the key's restrictions → subscription → limits (the key's own, then the
        plan's); the reasons as docs/gateway-node.md lists them.

        The route comes first, so a scan of paths learns nothing about keys.
        """
        context = CallContext()
        compiled = self.compiled
        if compiled is None:
            return _refuse("no_config", context)
        path = head.path
        route = compiled.match(path)
        if route is None:
            return _refuse("unknown_route", context)
        context.route = route
        context.rest = path[route.base_len :] or "/"

        presented, strip = self._credential(head)
        if presented is None:
            return _refuse("missing_key", context)
        prefix, _, remainder = presented.partition("_")
        key_id, _, secret = remainder.partition("_")
        credential = compiled.credentials.get(key_id) if prefix == KEY_PREFIX and secret else None
        if credential is None:
            return _refuse("unknown_key", context)
        digest = hashlib.sha256(secret.encode()).hexdigest().encode()
        if not hmac.compare_digest(digest, credential.key_hash):
            return _refuse("unknown_key", context)
        context.key_id = key_id
        context.application_id = credential.application_id
        if credential.revoked:
            return _refuse("revoked", context)
        if credential.expires_at is not None and credential.expires_at <= self.clock():
            return _refuse("expired", context)
        restriction = credential.restriction
        if restriction is not None:
            if restriction.networks is not None and not restriction.allows_address(parse_address(self.client_ip(head))):
                return _refuse("key_ip_not_allowed", context)
            if restriction.api_ids is not None and route.api_id not in restriction.api_ids:
                return _refuse("key_api_not_allowed", context)
        subscription = credential.subscriptions.get(route.api_version_id)
        if subscription is None:
            return _refuse("no_subscription", context)
        if subscription.status != "active":
            reason = "subscription_pending" if subscription.status == "pending" else "subscription_suspended"
            return _refuse(reason, context)
        if route.surface is not None:
            # Before the limits: a call to no endpoint of an AI API costs the plan nothing.
            refusal = self._ai_call(head, route, compiled, subscription, context)
            if refusal is not None:
                return refusal
        if restriction is not None and restriction.limits is not None:
            # The key's own limit first: it is the tighter one, and a call it refuses must not
            # spend the plan's counters, which the application's other keys share.
            own = self.limiter.check(restriction.counter, restriction.limits)
            if isinstance(own, Awaitable):
                return self._key_limit_later(own, head, route, subscription, strip, context)
            return self._after_key_limit(own, head, route, subscription, strip, context)
        verdict = self.limiter.check(subscription.counter, subscription.limits)
        if isinstance(verdict, Awaitable):
            return self._admit_later(verdict, head, route, subscription, strip, context)
        return self._after_limits(verdict, head, route, subscription, strip, context)

    def _after_key_limit(
        self,
        own: VerdictLike,
        head: RequestHead,
        route: Route,
        subscription: Subscription,
        strip: frozenset[bytes],
        context: CallContext,
    ) -> Decision | Awaitable[Decision]:
        if not own.allowed:
            return _refuse("key_rate_limited", context, own.headers)
        verdict = self.limiter.check(subscription.counter, subscription.limits)
        if isinstance(verdict, Awaitable):
            return self._admit_later(verdict, head, route, subscription, strip, context, own)
        return self._after_limits(_tighter(verdict, own), head, route, subscription, strip, context)

    async def _key_limit_later(
        self,
        pending: Awaitable[VerdictLike],
        head: RequestHead,
        route: Route,
        subscription: Subscription,
        strip: frozenset[bytes],
        context: CallContext,
    ) -> Decision:
        decision = self._after_key_limit(await pending, head, route, subscription, strip, context)
        if isinstance(decision, Refuse | Forward | Handle):
            return decision
        return await decision

    async def _admit_later(
        self,
        pending: Awaitable[VerdictLike],
        head: RequestHead,
        route: Route,
        subscription: Subscription,
        strip: frozenset[bytes],
        context: CallContext,
        own: VerdictLike | None = None,
    ) -> Decision:
        verdict = await pending
        if own is not None:
            verdict = _tighter(verdict, own)
        decision = self._after_limits(verdict, head, route, subscription, strip, context)
        if isinstance(decision, Refuse | Forward | Handle):
            return decision
        return await decision

    def _after_limits(
        self,
        verdict: VerdictLike,
        head: RequestHead,
        route: Route,
        subscription: Subscription,
        strip: frozenset[bytes],
        context: CallContext,
    ) -> Decision | Awaitable[Decision]:
        if not verdict.allowed:
            return _refuse(verdict.error or "rate_limited", context, verdict.headers)
        if route.surface is not None:
            return self._ai_budget(verdict, route, subscription, context)
        rest_start = route.base_len
        target = head.target[rest_start:]
        if not target or target[:1] == b"?":
            target = b"/" + target
        response_headers = list(verdict.headers)
        if route.sunset:
            response_headers.append((b"sunset", route.sunset.encode()))
            response_headers.append((b"deprecation", b"true"))
        return Forward(
            balancer=route.balancer,
            path=target,
            connect_timeout=route.connect_timeout,
            read_timeout=route.read_timeout,
            strip=strip,
            add=[*self._forwarded(head), *subscription.headers],
            response_headers=response_headers,
            context=context,
        )

    # -- AI calls

    def _ai_call(
        self, head: RequestHead, route: Route, compiled: Compiled, subscription: Subscription, context: CallContext
    ) -> Refuse | None:
        """Note the AI endpoint asked for, or refuse a path / method the AI API does not have."""
        surface = route.surface
        assert surface is not None
        endpoint = ENDPOINTS.get((surface.kind, context.rest))
        if endpoint is None:
            return _refuse("unknown_endpoint", context)
        method, name = endpoint
        if head.method != method:
            return _refuse("method_not_allowed", context, [(b"allow", method.encode())])
        context.ai = AiCall(
            surface=surface, config=compiled.ai, endpoint=name, subscription_id=subscription.subscription_id
        )
        return None

    def _ai_budget(
        self, verdict: VerdictLike, route: Route, subscription: Subscription, context: CallContext
    ) -> Decision | Awaitable[Decision]:
        limits = subscription.ai_limits
        if limits is None or context.ai is None or context.ai.endpoint == "GET /models":
            return self._handle(verdict, route, context)
        exceeded = self.tokens.check(subscription.subscription_id, limits)
        if isinstance(exceeded, Awaitable):
            return self._ai_budget_later(exceeded, verdict, route, context)
        return self._after_budget(exceeded, verdict, route, context)

    async def _ai_budget_later(
        self, pending: Awaitable[Exceeded | None], verdict: VerdictLike, route: Route, context: CallContext
    ) -> Decision:
        return self._after_budget(await pending, verdict, route, context)

    def _after_budget(
        self, exceeded: Exceeded | None, verdict: VerdictLike, route: Route, context: CallContext
    ) -> Decision:
        if exceeded is None:
            return self._handle(verdict, route, context)
        headers = [*verdict.headers, (b"retry-after", str(exceeded.retry_after).encode())]
        return Refuse(
            status=429,
            body=error_body(exceeded.reason, exceeded.message),
            error=exceeded.reason,
            headers=headers,
            context=context,
        )

    def _handle(self, verdict: VerdictLike, route: Route, context: CallContext) -> Handle:
        call = context.ai
        assert call is not None
        response_headers = list(verdict.headers)
        if route.sunset:
            response_headers.append((b"sunset", route.sunset.encode()))
            response_headers.append((b"deprecation", b"true"))
        return Handle(
            run=partial(self.ai_handler.serve, call),
            max_body=self.options.ai_max_body,
            response_headers=response_headers,
            context=context,
        )

    @staticmethod
    def _credential(head: RequestHead) -> tuple[str | None, frozenset[bytes]]:
        value = head.header(b"x-api-key")
        if value:
            return value.strip().decode("latin-1"), _STRIP_KEY_HEADER
        value = head.header(b"authorization")
        if value and value[:7].lower() == b"bearer ":
            return value[7:].strip().decode("latin-1"), _STRIP_BEARER
        return None, _STRIP_KEY_HEADER

    def client_ip(self, head: RequestHead) -> str:
        """The caller's address: the peer, or X-Forwarded-For's last untrusted hop behind trusted proxies."""
        trusted = self.options.trusted_proxies
        peer = head.client_ip
        if not trusted:
            return peer
        forwarded = head.header(b"x-forwarded-for")
        if not forwarded or not _in(peer, trusted):
            return peer
        hops = [hop.strip() for hop in forwarded.decode("latin-1").split(",") if hop.strip()]
        for hop in reversed(hops):
            if not _in(hop, trusted):
                return hop
        return hops[0] if hops else peer

    def _forwarded(self, head: RequestHead) -> Headers:
        peer = head.client_ip
        forwarded = head.header(b"x-forwarded-for") if self.options.trusted_proxies else None
        chain = forwarded + b", " + peer.encode() if forwarded else peer.encode()
        headers = [
            (b"x-request-id", head.request_id.encode()),
            (b"x-forwarded-for", chain),
            (b"x-forwarded-proto", self.options.forwarded_proto),
        ]
        host = head.header(b"host")
        if host:
            headers.append((b"x-forwarded-host", host))
        return headers

    # -- records

    def finish(self, head: RequestHead, decision: Decision, outcome: Outcome) -> None:
        """Turn a finished call into a call record and count it."""
        context = decision.context if isinstance(decision.context, CallContext) else CallContext()
        route = context.route
        latency_ms = round(max(0.0, (outcome.finished or time.monotonic()) - head.started) * 1000, 3)
        error = decision.error if isinstance(decision, Refuse) else outcome.error
        user_agent = head.header(b"user-agent")
        # The record's id must be unique per call: the portal deduplicates on it, so a client
        # sending the same X-Request-Id twice must not make its second call vanish. The id
        # the node generated is used as is; a client's own id stays in the headers only.
        record_id = head.request_id if head.header(b"x-request-id") is None else uuid.uuid4().hex
        record = CallRecord(
            request_id=record_id,
            ts=self._stamp.rfc3339(head.started_wall),
            method=head.method,
            path=head.path[:2048],
            status=outcome.status or 499,
            latency_ms=latency_ms,
            api_version_id=route.api_version_id if route else None,
            endpoint=route.endpoint(head.method, context.rest) if route else "",
            key_id=context.key_id,
            application_id=context.application_id,
            upstream_latency_ms=(
                round(outcome.upstream_latency_ms, 3) if outcome.upstream_latency_ms is not None else None
            ),
            request_bytes=outcome.request_bytes,
            response_bytes=outcome.response_bytes,
            client_ip=self.client_ip(head),
            user_agent=user_agent.decode("latin-1")[:512] if user_agent else "",
            error=error,
        )
        call = context.ai
        if call is not None and call.route_name:
            _ai_fields(record, call)
            if call.provider:
                self.metrics.observe_ai(call.provider, record.ai_input_tokens, record.ai_output_tokens)
        self.metrics.observe(outcome.status or 499, latency_ms, error, refused=isinstance(decision, Refuse))
        self.emit(record)


def _ai_fields(record: CallRecord, call: AiCall) -> None:
    record.ai_route = call.route_name
    record.ai_provider = call.provider
    record.ai_model = call.model
    usage = call.usage
    if usage is not None:
        record.ai_input_tokens = usage.input_tokens
        record.ai_output_tokens = usage.output_tokens
        record.ai_cached_tokens = usage.cached_tokens
    if call.cost is not None:
        record.ai_cost = f"{call.cost:f}"
    record.ai_ttft_ms = call.ttft_ms


def _in(address: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)
