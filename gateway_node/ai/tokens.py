"""Token limits and cost budgets of AI calls, per subscription.

A plan may limit the tokens (input + output, as the provider counts them) per minute, per UTC
day and per UTC month, and the cost (USD) per UTC day and per UTC month. A call's tokens and
cost are only known after its answer, so the budget is **charged after** each answer
(:meth:`TokenBudget.charge`, also for a stream cut short: what was counted) and **enforced
on the next request** (:meth:`TokenBudget.check`): the call that crosses a limit completes,
the one after is refused. All windows are fixed calendar windows in UTC: the minute
(``:00`` to ``:59``, not a sliding 60 s), the day, the month; Retry-After points at the
window's end.

**Alone** (no Redis) the counts live in this process. **Shared** (Redis, the node's
``--redis``): each charge is an ``INCRBY`` on one key per window
(``gwt:{s:<sub>}:<window>:<label>``, expiring after the window ends), and each check reads
the keys with one ``MGET``, so several nodes and workers share one budget. Costs are counted
in units of 10⁻⁸ USD (integers: exact). The charge is sent in the background; the check is
one round trip before the call (bounded by ``timeout``). When Redis fails, the process counts
alone (its own charges, kept locally all along) and tries Redis again after
``retry_interval`` seconds; nothing raises into the request path.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.asyncio import Redis

TOKEN_LIMIT = "token_limit_exceeded"
TOKEN_QUOTA = "token_quota_exceeded"
COST_BUDGET = "cost_budget_exceeded"

#: Cost counting unit: 10⁻⁸ USD (the precision of a call's cost).
COST_UNIT = Decimal("0.00000001")
#: Redis keys outlive their window by this much (a node whose clock lags a little still finds them).
KEY_MARGIN = 3600

# Windows: (name, key tag, reason when exceeded, what the message calls it)
_TOKENS_MINUTE = ("tokens_per_minute", "tm", TOKEN_LIMIT, "tokens per minute")
_TOKENS_DAY = ("tokens_per_day", "td", TOKEN_QUOTA, "tokens per day (UTC)")
_TOKENS_MONTH = ("tokens_per_month", "tM", TOKEN_QUOTA, "tokens per month (UTC)")
_COST_DAY = ("cost_per_day", "cd", COST_BUDGET, "USD per day (UTC)")
_COST_MONTH = ("cost_per_month", "cM", COST_BUDGET, "USD per month (UTC)")
_WINDOWS = (_TOKENS_MINUTE, _TOKENS_DAY, _TOKENS_MONTH, _COST_DAY, _COST_MONTH)


@dataclass(slots=True, frozen=True)
class AiLimits:
    """A plan's AI limits as the snapshot gives them; None means none."""

    tokens_per_minute: int | None = None
    tokens_per_day: int | None = None
    tokens_per_month: int | None = None
    cost_per_day: Decimal | None = None  # USD
    cost_per_month: Decimal | None = None

    @property
    def any(self) -> bool:
        return any(getattr(self, window[0]) is not None for window in _WINDOWS)

    @classmethod
    def from_snapshot(cls, raw: dict[str, Any] | None) -> AiLimits | None:
        """The five plan fields (docs/ai-gateway.md); None when the plan sets none of them."""
        raw = raw or {}

        def count(name: str) -> int | None:
            value = raw.get(name)
            return int(value) if value is not None and not isinstance(value, bool) else None

        def money(name: str) -> Decimal | None:
            value = raw.get(name)
            if value is None or isinstance(value, bool):
                return None
            try:
                return Decimal(str(value))
            except InvalidOperation as exc:
                raise ValueError(f"{name} is not a number: {value!r}") from exc

        limits = cls(
            tokens_per_minute=count("token_limit_per_minute"),
            tokens_per_day=count("token_quota_per_day"),
            tokens_per_month=count("token_quota_per_month"),
            cost_per_day=money("cost_budget_per_day"),
            cost_per_month=money("cost_budget_per_month"),
        )
        return limits if limits.any else None


@dataclass(slots=True, frozen=True)
class Exceeded:
    """Why a call is refused: the reason code, seconds to the window's end, a message."""

    reason: str
    retry_after: int
    message: str


def _window(tag: str, now: float) -> tuple[str, float]:
    """(label, end as epoch seconds) of the window ``tag`` holding ``now``."""
    if tag == "tm":
        start = math.floor(now / 60) * 60
        return str(int(start)), start + 60
    day = time.gmtime(now)
    if tag in ("td", "cd"):
        start = calendar.timegm((day.tm_year, day.tm_mon, day.tm_mday, 0, 0, 0))
        return f"{day.tm_year:04d}{day.tm_mon:02d}{day.tm_mday:02d}", start + 86400
    year, month = day.tm_year, day.tm_mon
    following = calendar.timegm((year + month // 12, month % 12 + 1, 1, 0, 0, 0))
    return f"{year:04d}{month:02d}", following


def _units(window: tuple[str, str, str, str], limits: AiLimits) -> int | None:
    """The limit of ``window`` in counting units (tokens, or 10⁻⁸ USD), None when unlimited."""
    value = getattr(limits, window[0])
    if value is None:
        return None
    if window[1].startswith("c"):
        return int((Decimal(value) / COST_UNIT).to_integral_value())
    return int(value)


def _shown(window: tuple[str, str, str, str], units: int) -> str:
    if window[1].startswith("c"):
        return f"{(Decimal(units) * COST_UNIT).normalize():f}"
    return str(units)


class TokenBudget:
    """Counts AI tokens and cost per subscription and window; alone or shared through Redis."""

    def __init__(
        self,
        redis_url: str | None = None,
        *,
        key_prefix: str = "gwt:",
        timeout: float = 0.25,
        retry_interval: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis_url = redis_url
        self.key_prefix = key_prefix
        self.timeout = timeout
        self.retry_interval = retry_interval
        self.clock = clock
        #: (subscription, tag) → (window label, units counted by this process)
        self._local: dict[tuple[int, str], tuple[str, int]] = {}
        self._client: Redis | None = None
        self._down_until = 0.0  # monotonic; Redis is not asked before
        self._tasks: set[asyncio.Task[None]] = set()
        #: Figures for the tests: Redis failures seen.
        self.redis_failures = 0

    async def start(self) -> None:
        """Connect to Redis when configured (never fails: Redis away means counting alone)."""
        if not self.redis_url:
            return
        from redis.asyncio import Redis

        self._client = Redis.from_url(
            self.redis_url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout, retry_on_timeout=False
        )

    async def close(self) -> None:
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=2.0)
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.aclose()
            self._client = None

    @property
    def shared(self) -> bool:
        return self._client is not None and time.monotonic() >= self._down_until

    # -- the request path

    def check(self, subscription: int, limits: AiLimits) -> Exceeded | Awaitable[Exceeded | None] | None:
        """Whether the subscription may make another AI call: None, or why not.

        Local counting answers at once; shared counting returns an awaitable (one ``MGET``)."""
        now = self.clock()
        if self.shared:
            return self._check_shared(subscription, limits, now)
        return self._verdict(limits, now, lambda tag, label: self._counted(subscription, tag, label))

    def charge(self, subscription: int, tokens: int, cost: Decimal | None) -> None:
        """Count one answer's tokens and cost (non-blocking: Redis is told in the background)."""
        now = self.clock()
        amounts: list[tuple[str, int, str, float]] = []
        cost_units = int((cost / COST_UNIT).to_integral_value()) if cost else 0
        for _name, tag, _reason, _what in _WINDOWS:
            amount = cost_units if tag.startswith("c") else tokens
            if amount <= 0:
                continue
            label, end = _window(tag, now)
            before = self._local.get((subscription, tag))
            counted = before[1] if before is not None and before[0] == label else 0
            self._local[(subscription, tag)] = (label, counted + amount)
            amounts.append((tag, amount, label, end))
        if amounts and self.shared:
            task = asyncio.get_running_loop().create_task(self._charge_shared(subscription, amounts, now))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def counted(self, subscription: int, tag: str) -> int:
        """This process's count for the current window ``tag`` (for tests and metrics)."""
        return self._counted(subscription, tag, _window(tag, self.clock())[0])

    # -- internals

    def _counted(self, subscription: int, tag: str, label: str) -> int:
        entry = self._local.get((subscription, tag))
        return entry[1] if entry is not None and entry[0] == label else 0

    def _verdict(self, limits: AiLimits, now: float, count: Callable[[str, str], int]) -> Exceeded | None:
        for window in _WINDOWS:
            limit = _units(window, limits)
            if limit is None:
                continue
            label, end = _window(window[1], now)
            used = count(window[1], label)
            if used >= limit:
                wait = max(1, math.ceil(end - now))
                return Exceeded(
                    window[2],
                    wait,
                    f"The plan's limit of {_shown(window, limit)} {window[3]} is used up "
                    f"(used: {_shown(window, used)}); retry in {wait} s.",
                )
        return None

    def _key(self, subscription: int, tag: str, label: str) -> str:
        # The hash tag keeps a subscription's keys on one slot of a Redis cluster.
        return f"{self.key_prefix}{{s:{subscription}}}:{tag}:{label}"

    async def _check_shared(self, subscription: int, limits: AiLimits, now: float) -> Exceeded | None:
        client = self._client
        assert client is not None
        wanted = []
        for window in _WINDOWS:
            if _units(window, limits) is not None:
                label, _ = _window(window[1], now)
                wanted.append((window[1], label))
        try:
            async with asyncio.timeout(self.timeout * 2):
                values = await client.mget([self._key(subscription, tag, label) for tag, label in wanted])
        except Exception:  # noqa: BLE001 - any Redis trouble: count alone for a while
            self._redis_failed()
            return self._verdict(limits, now, lambda tag, label: self._counted(subscription, tag, label))
        shared = {tag: int(value or 0) for (tag, _), value in zip(wanted, values, strict=True)}
        # This process's own charges may not have reached Redis yet: never count less than them.
        return self._verdict(
            limits, now, lambda tag, label: max(shared.get(tag, 0), self._counted(subscription, tag, label))
        )

    async def _charge_shared(self, subscription: int, amounts: list[tuple[str, int, str, float]], now: float) -> None:
        client = self._client
        if client is None:
            return
        try:
            async with asyncio.timeout(self.timeout * 4):
                pipe = client.pipeline(transaction=False)
                for tag, amount, label, end in amounts:
                    key = self._key(subscription, tag, label)
                    pipe.incrby(key, amount)
                    pipe.expire(key, max(1, math.ceil(end - now)) + KEY_MARGIN)
                await pipe.execute()
        except Exception:  # noqa: BLE001 - the charge stays counted locally
            self._redis_failed()

    def _redis_failed(self) -> None:
        self.redis_failures += 1
        self._down_until = time.monotonic() + self.retry_interval
