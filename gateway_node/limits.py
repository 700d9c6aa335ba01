"""Rate limits and quotas, counted per subscription, alone or shared by every node through Redis.

A plan (:class:`~gateway_node.contracts.Limits`) may have a rate per second and / or per minute
(token buckets) and a quota per UTC calendar day and / or month (fixed windows). The gate asks
:meth:`Limiter.check` once per request with the subscription's counter name (``"s:9"``): the
plan is sold to the subscription, so all keys of an application draw from the same counters.

**Alone** (no Redis) every count is exact and in memory.

**Shared** (Redis): a process never asks Redis per request. It takes *leases* (batches of units)
from the shared counters with one atomic Lua script, spends them locally, and takes the next
lease in the background before the current one runs out. A lease is only granted out of what
the shared counter still has, so a quota is never exceeded; the price is undershoot: units
leased by a process and not spent yet. The operator's account of the algorithms, the Redis
keys and the exact bounds is docs/gateway-node-limits.md.

When Redis fails or is slow, a process counts alone (each process then enforces the full limit
on its own) and probes Redis again every ``retry_interval`` seconds; nothing raises into the
request path and no request waits longer than twice ``timeout`` (the lease call in flight, one
more).

Hot path: :meth:`Limiter.check` answers a :class:`Verdict` synchronously with no I/O, except
when a shared counter's lease is empty (the first call of a counter in a process, a burst
faster than the background refill): it then returns an awaitable that waits for the lease.
"""

from __future__ import annotations

import asyncio
import calendar
import hashlib
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway_node.contracts import Headers, Limits

if TYPE_CHECKING:
    from redis.asyncio import Redis

RATE_LIMITED = "rate_limited"
QUOTA_EXCEEDED = "quota_exceeded"

SECOND, MINUTE, DAY, MONTH = 0, 1, 2, 3
_DAY_SECONDS = 86400

#: Redis keys of a quota outlive the window by this much, so a node whose clock is a little
#: behind still finds the window's count.
QUOTA_KEY_MARGIN = 3600
#: Counters looked at per call while an idle sweep is going on: the sweep is spread over calls
#: so no single request pays for walking every counter.
SWEEP_CHUNK = 256

_LIMIT = b"ratelimit-limit"
_REMAINING = b"ratelimit-remaining"
_RESET = b"ratelimit-reset"
_RETRY_AFTER = b"retry-after"
_SMALL_INTS = tuple(str(i).encode() for i in range(1024))


def _ascii(n: int) -> bytes:
    return _SMALL_INTS[n] if 0 <= n < 1024 else str(n).encode()


@dataclass(slots=True)
class Verdict:
    """The limiter's answer for one call."""

    allowed: bool
    error: str  # "" | "rate_limited" | "quota_exceeded"
    #: RateLimit-Limit / -Remaining / -Reset of the tightest limit; Retry-After when refused.
    headers: Headers


#: The answer for plans without limits: one shared object, nothing allocated per call.
#: Nobody may mutate it (the gate copies headers before adding its own).
ALLOWED = Verdict(True, "", [])

# --- The Lua script -------------------------------------------------------------------------

#: One call leases from (or returns to) every limit of one counter, atomically.
#: KEYS: one per limit (all with the counter's hash tag, so a cluster keeps them on one slot).
#: ARGV[1]: the caller's clock (seconds). Then five values per key:
#:   kind  "b" (token bucket) | "q" (quota window)
#:   limit bucket capacity | quota
#:   x     bucket refill rate (units/s) | quota key TTL (s)
#:   want  units to lease (0: only return)
#:   back  units handed back (unspent lease). For a quota a negative value *adds* to the count:
#:         units spent while Redis was unreachable, reported when it is back.
#: Returns per key {granted, state}: state is a quota's count, or a bucket's tokens × 1000.
LEASE_SCRIPT = """
local now = tonumber(ARGV[1])
local out = {}
for i, key in ipairs(KEYS) do
  local a = 1 + (i - 1) * 5
  local kind = ARGV[a + 1]
  local limit = tonumber(ARGV[a + 2])
  local x = tonumber(ARGV[a + 3])
  local want = tonumber(ARGV[a + 4])
  local back = tonumber(ARGV[a + 5])
  local grant = 0
  if kind == 'b' then
    local s = redis.call('HMGET', key, 't', 'ts')
    local tokens = tonumber(s[1])
    local ts = tonumber(s[2])
    if tokens == nil or ts == nil then
      tokens = limit
      ts = now
    end
    if now > ts then
      tokens = tokens + (now - ts) * x
      ts = now
    end
    tokens = math.min(limit, tokens + back)
    if want > 0 and tokens >= 1 then
      grant = math.min(want, math.floor(tokens))
    end
    tokens = tokens - grant
    if tokens >= limit then
      redis.call('DEL', key)
    else
      redis.call('HSET', key, 't', tostring(tokens), 'ts', tostring(ts))
      redis.call('PEXPIRE', key, math.ceil((limit - tokens) / x * 1000) + 1000)
    end
    out[i] = {grant, math.floor(tokens * 1000)}
  else
    local used = tonumber(redis.call('GET', key) or '0')
    used = math.max(0, used - back)
    if want > 0 and used < limit then
      grant = math.min(want, limit - used)
    end
    used = used + grant
    if grant > 0 or back ~= 0 then
      redis.call('SET', key, used, 'EX', x)
    end
    out[i] = {grant, used}
  end
end
return out
"""
LEASE_SHA = hashlib.sha1(LEASE_SCRIPT.encode(), usedforsecurity=False).hexdigest()


# --- Counters ---------------------------------------------------------------------------------


def _window(kind: int, now: float) -> tuple[float, float, str]:
    """The UTC calendar day or month holding ``now``: (start, end, label for the Redis key)."""
    if kind == DAY:
        start = (now // _DAY_SECONDS) * _DAY_SECONDS
        return start, start + _DAY_SECONDS, time.strftime("%Y%m%d", time.gmtime(start))
    t = time.gmtime(now)
    year, month = t.tm_year, t.tm_mon
    following = (year + 1, 1) if month == 12 else (year, month + 1)
    start = calendar.timegm((year, month, 1, 0, 0, 0, 0, 0, 0))
    end = calendar.timegm((*following, 1, 0, 0, 0, 0, 0, 0))
    return float(start), float(end), f"{year:04d}{month:02d}"


class _Pool:
    """One limit of one counter: its exact local state and its shared lease."""

    __slots__ = (
        "base",
        "bucket",
        "end",
        "fetched_at",
        "held",
        "key",
        "kind",
        "label",
        "limit",
        "limit_b",
        "lmax",
        "low",
        "rate",
        "retry_at",
        "shared",
        "stamp",
        "start",
        "target",
        "tokens",
        "unsynced",
        "used",
    )

    def __init__(self, kind: int, limit: int, base: str, max_lease: int, lease_share: float) -> None:
        self.kind = kind
        self.bucket = kind <= MINUTE
        self.base = base  # the Redis key without the window: "gwl:{s:9}:d"
        self.key = base
        self.label = ""
        # Buckets: tokens and the clock at the last refill (0 = long ago, so it starts full).
        self.tokens = float(limit)
        self.stamp = 0.0
        # Quotas: the current window [start, end) and its count. Alone, ``used`` is this
        # process's count; shared, it is the shared count as of the last lease (which includes
        # the units this process holds).
        self.used = 0
        self.start = 0.0
        self.end = 0.0
        # Shared: units leased and not spent yet, the lease size aimed at, when to lease again.
        self.held = 0
        self.target = 1
        self.low = 0
        self.shared = float(limit)  # bucket: tokens left in Redis at ``fetched_at``
        self.fetched_at = 0.0
        self.retry_at = 0.0  # the shared counter had nothing left: no lease before this
        self.unsynced = 0  # quota units spent while Redis was away, not reported yet
        self.limit = limit
        self.rate = 0.0
        self.limit_b = b""
        self.lmax = 1
        self.set_limit(limit, max_lease, lease_share)

    def set_limit(self, limit: int, max_lease: int, lease_share: float) -> None:
        self.limit = limit
        self.limit_b = str(limit).encode()
        self.rate = float(limit) if self.kind == SECOND else limit / 60 if self.kind == MINUTE else 0.0
        # A lease is a small share of the limit, so one process cannot starve the others.
        self.lmax = max(1, min(max_lease, int(limit * lease_share)))
        self.target = min(self.target, self.lmax)
        self.low = self.target // 2
        self.tokens = min(self.tokens, float(limit))

    def refill(self, now: float) -> None:
        """Token bucket: add what ``rate`` earned since the last call, up to ``limit``."""
        elapsed = now - self.stamp
        self.stamp = now
        if elapsed > 0.0:
            tokens = self.tokens + elapsed * self.rate
            self.tokens = tokens if tokens < self.limit else self.limit

    def roll(self, now: float) -> None:
        """Enter the quota window holding ``now``: a new count, and leases of the old one are void."""
        self.start, self.end, self.label = _window(self.kind, now)
        self.key = f"{self.base}:{self.label}"
        self.used = 0
        self.held = 0
        self.unsynced = 0
        self.retry_at = 0.0

    def wait(self, available: float, now: float) -> float:
        """Seconds until one unit is available, given ``available`` units now."""
        if available >= 1.0:
            return 0.0
        if self.bucket:
            return (1.0 - max(0.0, available)) / self.rate
        return self.end - now


class _Counter:
    """Everything one counter (one subscription) has in this process."""

    __slots__ = ("closing", "fetch", "fetched_at", "limits", "name", "pools", "seen", "spent", "waiting")

    def __init__(self, name: str, limits: Limits) -> None:
        self.name = name
        self.limits = limits
        self.pools: list[_Pool] = []
        self.seen = 0.0
        self.fetch: asyncio.Future[None] | None = None  # the lease call in flight, if any
        self.fetched_at = 0.0
        self.spent = 0  # calls allowed since the last lease call: the counter's pace
        self.waiting = 0  # requests waiting for a lease
        self.closing = False  # dropped: hand its leases back


# Modes of counting, for the refusal's figures.
_LOCAL, _SHARED, _FALLBACK = 0, 1, 2


class Limiter:
    """Per-subscription rate limits and quotas for one node process (see the module docstring)."""

    def __init__(
        self,
        *,
        redis_url: str | None,
        clock: Callable[[], float] = time.time,
        timeout: float = 0.1,
        retry_interval: float = 1.0,
        max_lease: int = 256,
        lease_share: float = 0.05,
        lease_horizon: float = 0.5,
        quota_recheck: float = 1.0,
        bucket_recheck: float = 0.01,
        idle_ttl: float = 60.0,
        sweep_interval: float = 15.0,
        key_prefix: str = "gwl:",
    ) -> None:
        """
        :param redis_url: shared counters; None counts in this process alone.
        :param clock: UTC epoch seconds; quotas follow its calendar days and months.
        :param timeout: the longest one Redis call may take, connect included (a request waits
            at most two: the lease call in flight when it came, and one more).
        :param retry_interval: seconds (monotonic) between probes while Redis is unreachable.
        :param max_lease: the most units one lease takes.
        :param lease_share: a lease is at most this share of the limit (and at least 1 unit).
        :param lease_horizon: a lease aims to last this long at the counter's recent pace.
        :param quota_recheck: after a quota ran dry, ask Redis again at most this often
            (clock seconds): units handed back by other processes show up that late.
        :param bucket_recheck: the shortest wait before asking again a bucket that ran dry.
        :param idle_ttl: a counter unused this long is dropped (its lease handed back).
        :param sweep_interval: how often to look for idle counters.
        :param key_prefix: prefix of every Redis key.
        """
        self.redis_url = redis_url
        self._clock = clock
        self.timeout = timeout
        self.retry_interval = retry_interval
        self.max_lease = max(1, max_lease)
        self.lease_share = lease_share
        self.lease_horizon = lease_horizon
        self.quota_recheck = quota_recheck
        self.bucket_recheck = bucket_recheck
        self.idle_ttl = idle_ttl
        self.sweep_interval = sweep_interval
        self.key_prefix = key_prefix
        self._counters: dict[str, _Counter] = {}
        self._sweep_at = 0.0
        self._sweep_names: list[str] = []
        # Shared mode
        self._client: Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._up = False
        self._retry_mono = 0.0
        self._probe: asyncio.Task[None] | None = None
        self._pending: list[_Counter] = []
        self._flush_scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        #: Figures for metrics and tests: pipelines sent to Redis, lease scripts run in them,
        #: failed calls (timeouts, connection errors), checks that had to wait for a lease.
        self.round_trips = 0
        self.scripts_run = 0
        self.failures = 0
        self.waits = 0

    # -- lifecycle

    async def start(self) -> None:
        """Connect to Redis when configured. Never fails on Redis being away: it then counts
        alone and keeps probing. Raises ValueError for a malformed URL."""
        if not self.redis_url:
            return
        from redis.asyncio import Redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self._loop = asyncio.get_running_loop()
        self._client = Redis.from_url(
            self.redis_url,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
            # Our own timeout and fallback decide; the client's retries would only add waiting.
            retry=Retry(NoBackoff(), 0),
        )
        await self._probe_run()

    async def close(self) -> None:
        """Hand every unspent lease back to Redis (and report units counted while it was away),
        then disconnect. Afterwards the limiter counts alone."""
        client = self._client
        if client is None:
            return
        if self._probe is not None:
            self._probe.cancel()
        if self._tasks:  # lease calls in flight: let them land, so their units go back too
            await asyncio.wait(list(self._tasks), timeout=self.timeout * 2)
        states = [*self._counters.values(), *(s for s in self._pending if s.closing)]
        self._pending = []
        self._counters.clear()
        for state in states:
            state.closing = True
        # Also when Redis is away: the flush wakes every request still waiting on a lease
        # (they then count alone), and it returns at once when there is no Redis to talk to.
        await self._flush(states)
        self._client = None
        self._up = False
        await client.aclose()

    @property
    def shared(self) -> bool:
        """True while the counters are shared through Redis."""
        return self._client is not None and self._up

    @property
    def tracked(self) -> int:
        """How many counters this process keeps in memory."""
        return len(self._counters)

    # -- the hot path

    def check(self, counter: str, limits: Limits) -> Verdict | Awaitable[Verdict]:
        """Count one call against ``counter``'s limits. An allowed call takes one unit of every
        limit; a refused one takes none. Returns an awaitable only when it must wait for a
        shared lease (at most twice ``timeout``); it never raises for Redis trouble."""
        if limits.unlimited:
            return ALLOWED
        state = self._counters.get(counter)
        if state is None or state.limits is not limits:
            state = self._track(counter, limits)
        now = self._clock()
        state.seen = now
        if now >= self._sweep_at:
            self._sweep(now)
        if self._client is None:
            return self._local(state.pools, now)
        if self._up:
            verdict = self._shared(state, now)
            return self._wait(state) if verdict is None else verdict
        return self._fallback(state, now)

    def _local(self, pools: list[_Pool], now: float) -> Verdict:
        """Exact counting in this process: token buckets and calendar windows."""
        ok = True
        for pool in pools:
            if pool.bucket:
                pool.refill(now)
                if pool.tokens < 1.0:
                    ok = False
            else:
                if now >= pool.end:
                    pool.roll(now)
                if pool.used >= pool.limit:
                    ok = False
        if not ok:
            return self._refusal(pools, now, _LOCAL)
        tight = pools[0]
        least = 1 << 62
        for pool in pools:
            if pool.bucket:
                pool.tokens -= 1.0
                left = int(pool.tokens)
            else:
                pool.used += 1
                left = pool.limit - pool.used
            if left <= least:  # ties go to the longer period, whose reset is further away
                least = left
                tight = pool
        return Verdict(True, "", _headers(tight, least, now))

    def _shared(self, state: _Counter, now: float) -> Verdict | None:
        """Spend one unit of every limit's lease; None when a lease is empty and must be refilled."""
        pools = state.pools
        empty = False
        for pool in pools:
            if not pool.bucket and now >= pool.end:
                pool.roll(now)
            if pool.held < 1:
                empty = True
        if empty:
            for pool in pools:
                if pool.held < 1 and pool.retry_at > now:  # the shared counter is known to be dry
                    return self._refusal(pools, now, _SHARED)
            return None
        tight = pools[0]
        least = 1 << 62
        refill = False
        for pool in pools:
            held = pool.held - 1
            pool.held = held
            if held <= pool.low and pool.retry_at <= now:
                refill = True
            if pool.bucket:
                # Remaining = this process's lease + the shared bucket as last seen, refilled since.
                shared = pool.shared + (now - pool.fetched_at) * pool.rate
                left = int(held + shared)
            else:
                left = held + pool.limit - pool.used
            if left > pool.limit:
                left = pool.limit
            if left <= least:
                least = left
                tight = pool
        state.spent += 1
        if refill and state.fetch is None:
            self._request(state)  # in the background: this call is already decided
        return Verdict(True, "", _headers(tight, max(0, least), now))

    async def _wait(self, state: _Counter) -> Verdict:
        """Wait for a lease (shared by every request waiting on this counter), then decide."""
        self.waits += 1
        state.waiting += 1
        try:
            deadline = time.monotonic() + self.timeout
            while True:
                await self._request(state)
                now = self._clock()
                if not self.shared:
                    return self._fallback(state, now)
                verdict = self._shared(state, now)
                if verdict is not None:
                    return verdict
                if time.monotonic() >= deadline:
                    # Redis answers but the leases went to other waiters each time. Refusing
                    # keeps the guarantee (a quota is never exceeded) under such a stampede.
                    return self._busy(state.pools, now)
        finally:
            state.waiting -= 1

    def _fallback(self, state: _Counter, now: float) -> Verdict:
        """Redis is away: spend what is leased, then count alone (and probe Redis now and then)."""
        if self._probe is None and self._loop is not None and time.monotonic() >= self._retry_mono:
            self._probe = self._spawn(self._probe_run())
        pools = state.pools
        ok = True
        for pool in pools:
            if pool.bucket:
                pool.refill(now)
                if pool.held < 1 and pool.tokens < 1.0:
                    ok = False
            else:
                if now >= pool.end:
                    pool.roll(now)
                # Seeded with the shared count as last seen: a process allows at most what
                # was left of the quota then (all of it if it never saw the count).
                if pool.held < 1 and pool.used + pool.unsynced >= pool.limit:
                    ok = False
        if not ok:
            return self._refusal(pools, now, _FALLBACK)
        tight = pools[0]
        least = 1 << 62
        for pool in pools:
            if pool.held >= 1:
                pool.held -= 1
            elif pool.bucket:
                pool.tokens -= 1.0
            else:
                pool.unsynced += 1
            left = int(_available(pool, now, _FALLBACK))
            if left <= least:
                least = left
                tight = pool
        return Verdict(True, "", _headers(tight, max(0, least), now))

    def _refusal(self, pools: list[_Pool], now: float, mode: int) -> Verdict:
        """Refuse, naming the limit that keeps the caller waiting longest."""
        error = RATE_LIMITED
        worst = pools[0]
        longest = -1.0
        for pool in pools:
            wait = pool.wait(_available(pool, now, mode), now)
            if wait <= 0.0:
                continue
            if not pool.bucket:
                error = QUOTA_EXCEEDED  # waiting a second will not help: say so
            if wait >= longest:
                longest = wait
                worst = pool
        headers = _headers(worst, 0, now)
        headers.append((_RETRY_AFTER, _ascii(max(1, math.ceil(longest)))))
        return Verdict(False, error, headers)

    def _busy(self, pools: list[_Pool], now: float) -> Verdict:
        empty = next((pool for pool in pools if pool.held < 1), pools[0])
        headers = _headers(empty, 0, now)
        headers.append((_RETRY_AFTER, b"1"))
        return Verdict(False, RATE_LIMITED, headers)

    # -- counters

    def _track(self, counter: str, limits: Limits) -> _Counter:
        """The counter's state for these limits (new, or adapted when the plan changed)."""
        state = self._counters.get(counter)
        if state is not None and state.limits == limits:
            state.limits = limits  # an equal object from a newer snapshot
            return state
        if state is None:
            state = self._counters[counter] = _Counter(counter, limits)
        previous = {pool.kind: pool for pool in state.pools}
        pools = []
        base = f"{self.key_prefix}{{{counter}}}"
        for kind, value, suffix in (
            (SECOND, limits.rate_per_second, "s"),
            (MINUTE, limits.rate_per_minute, "m"),
            (DAY, limits.quota_per_day, "d"),
            (MONTH, limits.quota_per_month, "mo"),
        ):
            if not value or value < 1:
                continue
            pool = previous.get(kind)
            if pool is None:
                pool = _Pool(kind, int(value), f"{base}:{suffix}", self.max_lease, self.lease_share)
            else:  # keep its count and lease: a plan edit must not reset the period
                pool.set_limit(int(value), self.max_lease, self.lease_share)
            pools.append(pool)
        state.pools = pools
        state.limits = limits
        return state

    def _sweep(self, now: float) -> None:
        """Drop idle counters, a chunk per call. Alone, only counters that a new one would
        equal (buckets full, no quota used this window) go, so dropping changes no answer.
        Shared, an idle counter's lease is handed back first."""
        names = self._sweep_names
        if not names:
            names = self._sweep_names = list(self._counters)
        chunk = names[-SWEEP_CHUNK:]
        del names[-SWEEP_CHUNK:]
        idle_before = now - self.idle_ttl
        counters = self._counters
        for name in chunk:
            state = counters.get(name)
            if state is None or state.seen > idle_before or state.fetch is not None or state.waiting:
                continue
            if self._client is None:
                if not _at_rest(state.pools, now):
                    continue
            elif any(pool.held > 0 or pool.unsynced > 0 for pool in state.pools):
                if not self._up:
                    continue  # keep what is leased or owed until Redis is back
                state.closing = True
                self._pending.append(state)
                self._schedule_flush()
            del counters[name]
        self._sweep_at = now if names else now + self.sweep_interval

    # -- talking to Redis (never on the request's own stack)

    def _request(self, state: _Counter) -> asyncio.Future[None]:
        """The lease call for ``state``: the one in flight, or a new one in the next batch."""
        fut = state.fetch
        if fut is None:
            assert self._loop is not None
            fut = state.fetch = self._loop.create_future()
            self._pending.append(state)
            self._schedule_flush()
        return fut

    def _schedule_flush(self) -> None:
        # Every counter asking in this turn of the loop goes in one pipeline: one round trip.
        if not self._flush_scheduled and self._loop is not None:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush_now)

    def _flush_now(self) -> None:
        self._flush_scheduled = False
        batch, self._pending = self._pending, []
        if batch:
            self._spawn(self._flush(batch))

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        assert self._loop is not None
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _flush(self, batch: list[_Counter]) -> None:
        """One pipeline of lease scripts for ``batch``; on any failure, count alone."""
        client = self._client
        now = self._clock()
        try:
            if client is None or not self._up:
                return
            async with asyncio.timeout(self.timeout):  # the whole call, script reload included
                await self._lease(client, batch, now)
        except Exception:  # noqa: BLE001 - any trouble with Redis means: count alone for a while
            self._fail()
        finally:
            for state in batch:
                fut, state.fetch = state.fetch, None
                if fut is not None and not fut.done():
                    fut.set_result(None)

    async def _lease(self, client: Redis, batch: list[_Counter], now: float) -> None:
        from redis.exceptions import NoScriptError

        jobs = []
        for state in batch:
            keys, args, plan = self._plan(state, now)
            if plan:
                jobs.append((state, keys, args, plan))
        if not jobs:
            return
        results = await self._run(client, jobs)
        if any(isinstance(result, NoScriptError) for result in results):
            # Redis restarted (or flushed its scripts): load it and run what did not run.
            await client.script_load(LEASE_SCRIPT)
            again = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
            for i, result in zip(again, await self._run(client, [jobs[i] for i in again]), strict=True):
                results[i] = result
        failed = False
        for (state, _, _, plan), result in zip(jobs, results, strict=True):
            if not isinstance(result, list):  # an error reply
                failed = True
            elif not state.closing:
                self._apply(plan, result, now)
        if failed:
            self._fail()

    async def _run(self, client: Redis, jobs: list[tuple[_Counter, list[str], list[Any], list[Any]]]) -> list[Any]:
        pipe = client.pipeline(transaction=False)
        for _, keys, args, _ in jobs:
            pipe.evalsha(LEASE_SHA, len(keys), *keys, *args)
        self.round_trips += 1
        self.scripts_run += len(jobs)
        return await pipe.execute(raise_on_error=False)

    def _plan(self, state: _Counter, now: float) -> tuple[list[str], list[Any], list[tuple[_Pool, int, int, str]]]:
        """What to ask Redis for ``state``: per limit, units wanted and units handed back."""
        keys: list[str] = []
        args: list[Any] = [repr(now)]
        plan: list[tuple[_Pool, int, int, str]] = []
        target = 1
        if not state.closing:
            # Size the next lease by the counter's pace since the last lease call.
            elapsed = now - state.fetched_at
            pace = state.spent / elapsed if elapsed > 0.0 else math.inf
            wanted = pace * self.lease_horizon
            target = self.max_lease if wanted >= self.max_lease else math.ceil(wanted)
            state.spent = 0
            state.fetched_at = now
        for pool in state.pools:
            want = back = 0
            if not pool.bucket and now >= pool.end:
                pool.roll(now)
            if state.closing:
                back = pool.held
                pool.held = 0
            elif pool.held <= pool.low and pool.retry_at <= now:
                pool.target = max(1, min(pool.lmax, target))
                pool.low = pool.target // 2
                want = min(pool.lmax, max(pool.target, state.waiting)) - pool.held
            if not pool.bucket:
                back -= pool.unsynced
            if want > 0 or back != 0:
                keys.append(pool.key)
                if pool.bucket:
                    args += ("b", pool.limit, repr(pool.rate), max(0, want), max(0, back))
                else:
                    ttl = math.ceil(pool.end - now) + QUOTA_KEY_MARGIN
                    args += ("q", pool.limit, ttl, max(0, want), back)
                plan.append((pool, max(0, want), back, pool.label))
        return keys, args, plan

    def _apply(self, plan: list[tuple[_Pool, int, int, str]], result: list[Any], now: float) -> None:
        for (pool, want, back, label), (granted, value) in zip(plan, result, strict=True):
            granted = int(granted)
            if pool.bucket:
                pool.held += granted
                pool.shared = int(value) / 1000
                pool.fetched_at = now
                # Less than wanted: the shared bucket is dry until its next token.
                dry = max(self.bucket_recheck, (1.0 - pool.shared) / pool.rate)
                pool.retry_at = now + dry if granted < want else 0.0
                continue
            if label != pool.label:
                continue  # the window turned meanwhile: that lease expires with its key
            pool.held += granted
            pool.used = int(value)
            if back < 0:
                pool.unsynced = max(0, pool.unsynced + back)
            pool.retry_at = now + self.quota_recheck if granted < want else 0.0

    def _fail(self) -> None:
        self.failures += 1
        self._up = False
        self._retry_mono = time.monotonic() + self.retry_interval

    async def _probe_run(self) -> None:
        """Is Redis there? Loading the script answers that and readies it for the lease calls."""
        client = self._client
        try:
            if client is not None:
                async with asyncio.timeout(self.timeout):
                    await client.script_load(LEASE_SCRIPT)
                self._up = True
        except Exception:  # noqa: BLE001 - unreachable, slow, refusing: all mean "count alone"
            self._fail()
        finally:
            self._probe = None


def _available(pool: _Pool, now: float, mode: int) -> float:
    """Units this process may still spend on ``pool`` (mode: how it is counting)."""
    if mode == _LOCAL:
        return pool.tokens if pool.bucket else float(pool.limit - pool.used)
    if mode == _FALLBACK:
        if pool.bucket:
            return pool.held + pool.tokens
        return float(pool.held + pool.limit - pool.used - pool.unsynced)
    if pool.held >= 1:
        return float(pool.held)
    if pool.retry_at <= now:
        return 1.0  # not known to be dry: a lease call will tell
    if pool.bucket:
        # Known dry until retry_at: at least that long to wait, more if the estimate says so.
        shared = pool.shared + (now - pool.fetched_at) * pool.rate
        return min(shared, 1.0 - (pool.retry_at - now) * pool.rate)
    return 0.0


def _headers(pool: _Pool, left: int, now: float) -> Headers:
    """RateLimit-Limit / -Remaining / -Reset for ``pool``; Reset is when it is whole again
    (a bucket refilled to capacity, a quota's next window)."""
    reset = math.ceil((pool.limit - left) / pool.rate) if pool.bucket else math.ceil(pool.end - now)
    return [(_LIMIT, pool.limit_b), (_REMAINING, _ascii(left)), (_RESET, _ascii(reset))]


def _at_rest(pools: list[_Pool], now: float) -> bool:
    """Would a new counter answer exactly like this one? (Buckets full, no quota used.)"""
    for pool in pools:
        if pool.bucket:
            if pool.tokens + (now - pool.stamp) * pool.rate < pool.limit:
                return False
        elif pool.used and now < pool.end:
            return False
    return True
