"""Token limits and cost budgets: windows, messages, Retry-After, and sharing through Redis."""

from __future__ import annotations

import asyncio
import calendar
import os
import uuid
from collections.abc import Awaitable
from decimal import Decimal

import pytest

from gateway_node.ai.tokens import COST_BUDGET, TOKEN_LIMIT, TOKEN_QUOTA, AiLimits, Exceeded, TokenBudget
from gateway_node.tests.upstreams import free_port

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/12")
# 2026-03-31 23:59:30 UTC: the last half minute of a day and of a month.
LATE = calendar.timegm((2026, 3, 31, 23, 59, 30))


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def verdict(budget: TokenBudget, sub: int, limits: AiLimits) -> Exceeded | None:
    answer = budget.check(sub, limits)
    return await answer if isinstance(answer, Awaitable) else answer


def test_plan_fields_from_the_snapshot():
    assert AiLimits.from_snapshot({"quota_per_day": 5}) is None  # no AI field: nothing to count
    limits = AiLimits.from_snapshot({"token_limit_per_minute": 100, "cost_budget_per_month": 12.5})
    assert limits == AiLimits(tokens_per_minute=100, cost_per_month=Decimal("12.5"))
    with pytest.raises(ValueError, match="cost_budget_per_day"):
        AiLimits.from_snapshot({"cost_budget_per_day": "lots"})


def test_the_call_crossing_the_limit_passes_the_next_is_refused_until_the_minute_ends():
    clock = Clock(LATE - 20)  # 23:59:10
    budget = TokenBudget(clock=clock)
    limits = AiLimits(tokens_per_minute=100)
    assert budget.check(1, limits) is None
    budget.charge(1, 150, None)  # charged after the answer: one call may overshoot
    refused = budget.check(1, limits)
    assert isinstance(refused, Exceeded)
    assert refused.reason == TOKEN_LIMIT
    assert refused.retry_after == 50  # to the end of the UTC minute
    assert "100 tokens per minute" in refused.message and "used: 150" in refused.message
    assert budget.check(2, limits) is None  # another subscription has its own count
    clock.now = LATE + 30  # the next minute
    assert budget.check(1, limits) is None


def test_day_and_month_quotas_point_retry_after_at_the_windows_end():
    clock = Clock(LATE)
    budget = TokenBudget(clock=clock)
    budget.charge(7, 1000, None)
    day = budget.check(7, AiLimits(tokens_per_day=1000))
    month = budget.check(7, AiLimits(tokens_per_month=999))
    assert isinstance(day, Exceeded) and isinstance(month, Exceeded)
    assert (day.reason, month.reason) == (TOKEN_QUOTA, TOKEN_QUOTA)
    assert day.retry_after == month.retry_after == 30
    clock.now = LATE + 31  # 1 April: a new day and a new month
    assert budget.check(7, AiLimits(tokens_per_day=1000, tokens_per_month=999)) is None
    assert budget.counted(7, "td") == 0


def test_cost_is_counted_exactly_in_decimal():
    budget = TokenBudget(clock=Clock(LATE))
    limits = AiLimits(cost_per_day=Decimal("0.000001"))
    for _ in range(19):
        budget.charge(3, 10, Decimal("0.00000005"))
    assert budget.check(3, limits) is None  # 0.00000095 < 0.000001
    budget.charge(3, 10, Decimal("0.00000005"))
    refused = budget.check(3, limits)
    assert isinstance(refused, Exceeded)
    assert refused.reason == COST_BUDGET
    assert "0.000001 USD per day" in refused.message
    assert budget.counted(3, "cd") == 100  # units of 10⁻⁸ USD


def test_a_call_without_cost_charges_no_cost():
    budget = TokenBudget(clock=Clock(LATE))
    budget.charge(4, 10, None)
    assert budget.counted(4, "cM") == 0
    assert budget.counted(4, "tM") == 10


def test_several_processes_share_one_budget_through_redis():
    prefix = f"gwt-test-{uuid.uuid4().hex[:8]}:"

    async def scenario() -> tuple[Exceeded | None, Exceeded | None, Exceeded | None]:
        one = TokenBudget(REDIS_URL, key_prefix=prefix)
        two = TokenBudget(REDIS_URL, key_prefix=prefix)
        await one.start()
        await two.start()
        try:
            limits = AiLimits(tokens_per_day=500, cost_per_month=Decimal("1"))
            before = await verdict(two, 9, limits)
            one.charge(9, 300, Decimal("0.25"))
            two.charge(9, 250, Decimal("0.25"))
            await one.close()  # waits for the background INCRBYs
            await two.close()
            three = TokenBudget(REDIS_URL, key_prefix=prefix)  # a fresh process: counted nothing itself
            await three.start()
            try:
                after = await verdict(three, 9, limits)
                budget = await verdict(three, 9, AiLimits(cost_per_month=Decimal("0.5")))
                assert three.redis_failures == 0
            finally:
                await three.close()
            return before, after, budget
        finally:
            await one.close()
            await two.close()

    before, after, budget = asyncio.run(scenario())
    assert before is None
    assert isinstance(after, Exceeded) and after.reason == TOKEN_QUOTA and "used: 550" in after.message
    assert isinstance(budget, Exceeded) and budget.reason == COST_BUDGET


def test_redis_away_means_counting_alone_without_raising():
    async def scenario() -> tuple[Exceeded | None, Exceeded | None, int]:
        budget = TokenBudget(f"redis://127.0.0.1:{free_port()}/0", timeout=0.1)
        await budget.start()
        limits = AiLimits(tokens_per_minute=10)
        first = await verdict(budget, 5, limits)
        budget.charge(5, 20, None)
        second = await verdict(budget, 5, limits)
        await budget.close()
        return first, second, budget.redis_failures

    first, second, failures = asyncio.run(scenario())
    assert first is None
    assert isinstance(second, Exceeded)  # this process's own count still enforces the limit
    assert failures >= 1
