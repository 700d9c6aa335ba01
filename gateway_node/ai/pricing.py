"""What a call cost, from the provider's token counts and the model's prices.

Prices come from the snapshot (docs/ai-gateway.md): decimal strings in USD per million
tokens, newest first, each effective from a UTC date. Cost = (input − cached) × input price
+ cached × (cached price, or the input price when the model has none) + output × output
price, per million, in ``Decimal``, rounded half-up to 8 places. Unknown price or unknown
token counts → ``None`` (the record then carries no ``ai_cost``): a cost is never guessed.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from gateway_node.ai.adapters.base import Usage

__all__ = ["cost", "price_for"]

_MILLION = Decimal(1_000_000)
_PLACES = Decimal("0.00000001")


def price_for(prices: list[dict[str, Any]], day: str) -> dict[str, Any] | None:
    """The first (newest) price effective on ``day`` ("YYYY-MM-DD"), or None."""
    for price in prices:
        if str(price.get("from") or "") <= day:
            return price
    return None


def cost(usage: Usage, prices: list[dict[str, Any]], day: str) -> Decimal | None:
    """The call's cost in USD (8 places), or None when the price or the counts are unknown."""
    if usage.input_tokens is None or usage.output_tokens is None:
        return None
    price = price_for(prices, day)
    if price is None:
        return None
    try:
        input_price = Decimal(str(price["input"]))
        output_price = Decimal(str(price["output"]))
        cached_raw = price.get("cached_input")
        cached_price = input_price if cached_raw is None else Decimal(str(cached_raw))
    except (KeyError, InvalidOperation):
        return None
    cached = min(usage.cached_tokens or 0, usage.input_tokens)
    total = (usage.input_tokens - cached) * input_price + cached * cached_price + usage.output_tokens * output_price
    return (total / _MILLION).quantize(_PLACES, rounding=ROUND_HALF_UP)
