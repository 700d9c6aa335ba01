"""Cost of a call: the price effective on the day, Decimal arithmetic, 8 places."""

from __future__ import annotations

from decimal import Decimal

from gateway_node.ai.adapters.base import Usage
from gateway_node.ai.pricing import cost, price_for

PRICES = [
    {"from": "2026-03-01", "input": "0.15", "output": "0.60", "cached_input": "0.075"},
    {"from": "2026-01-01", "input": "0.30", "output": "1.20", "cached_input": None},
]


def test_the_newest_price_in_effect_on_the_day_is_used():
    assert price_for(PRICES, "2026-03-01") is PRICES[0]
    assert price_for(PRICES, "2026-02-28") is PRICES[1]
    assert price_for(PRICES, "2025-12-31") is None


def test_formula_with_cached_tokens():
    usage = Usage(input_tokens=2006, output_tokens=300, cached_tokens=1920)
    # (2006 - 1920) × 0.15 + 1920 × 0.075 + 300 × 0.60 = 12.9 + 144 + 180 = 336.9 per million
    assert cost(usage, PRICES, "2026-03-15") == Decimal("0.00033690")


def test_cached_tokens_cost_the_input_price_when_the_model_has_no_cached_price():
    usage = Usage(input_tokens=1000, output_tokens=10, cached_tokens=400)
    # 1000 × 0.30 + 10 × 1.20 = 312 per million
    assert cost(usage, PRICES, "2026-01-01") == Decimal("0.00031200")


def test_rounded_half_up_to_8_places():
    usage = Usage(input_tokens=1, output_tokens=0, cached_tokens=1)
    assert cost(usage, PRICES, "2026-03-02") == Decimal("0.00000008")  # 0.000000075
    assert format(cost(Usage(3, 0, 0), PRICES, "2026-03-02"), "f") == "0.00000045"  # exact: no rounding


def test_unknown_price_or_counts_give_no_cost():
    assert cost(Usage(10, 10, 0), PRICES, "2025-06-01") is None
    assert cost(Usage(10, 10, 0), [], "2026-06-01") is None
    assert cost(Usage(None, 10, None), PRICES, "2026-06-01") is None
    assert cost(Usage(10, None, None), PRICES, "2026-06-01") is None


def test_embeddings_have_a_cost_with_zero_output():
    assert cost(Usage(1_000_000, 0, None), PRICES, "2026-06-01") == Decimal("0.15000000")


def test_total_counts_missing_as_zero():
    assert Usage(5, None, None).total == 5
    assert Usage(5, 7, 2).total == 12
