"""The fixed log-scale latency histogram shared by the rollups and the dashboards.

28 upper bounds in milliseconds plus one overflow bucket: 29 counters. A latency ``x`` falls in
the first bucket ``i`` with ``x <= BOUNDS_MS[i]``, else in the overflow bucket 28. Histograms of
the same shape add element-wise, so a minute, hour or day histogram is the exact sum of its
parts, and percentiles are read from the merged counts (the upper bound of the bucket where the
cumulative count reaches p; the overflow bucket reads as 60000 ms).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from itertools import accumulate

BOUNDS_MS: list[float] = [
    1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700,
    1000, 1500, 2000, 3000, 5000, 7000, 10000, 15000, 20000, 30000, 60000,
]  # fmt: skip
BUCKETS = len(BOUNDS_MS) + 1  # 29: the last one counts everything above 60 s
OVERFLOW = BUCKETS - 1


def bucket_index(latency_ms: float) -> int:
    """The bucket of one latency: first i with latency <= BOUNDS_MS[i], else the overflow bucket."""
    return bisect_left(BOUNDS_MS, latency_ms)  # == len(BOUNDS_MS) == OVERFLOW above the last bound


def empty() -> list[int]:
    """A histogram with no calls."""
    return [0] * BUCKETS


def merge(*histograms: Sequence[int]) -> list[int]:
    """Element-wise sum (the histograms of two buckets → the histogram of both)."""
    total = empty()
    for hist in histograms:
        for i, count in enumerate(hist):
            total[i] += count
    return total


def percentile(hist: Sequence[int], p: float) -> float | None:
    """The p-th percentile (0 < p <= 100) read from a histogram; None when it counts no call.

    The answer is the upper bound of the bucket where the cumulative count first reaches
    ``p`` % of the total, so it over-estimates by at most one bucket width (≤ 50 % on this scale).
    """
    cumulative = list(accumulate(hist))  # a dashboard reads thousands of these: C loops, not Python ones
    total = cumulative[-1] if cumulative else 0
    if total <= 0:
        return None
    # The first bucket whose cumulative count reaches the rank (past the last: the overflow bound).
    i = bisect_left(cumulative, total * p / 100.0)
    return float(BOUNDS_MS[min(i, len(BOUNDS_MS) - 1)])


def _case(column: str, lo: int, hi: int) -> str:
    """A balanced CASE over bucket indexes lo..hi: at most 5 comparisons per row."""
    if lo == hi:
        return str(lo)
    mid = (lo + hi) // 2
    return f"CASE WHEN {column} <= {BOUNDS_MS[mid]} THEN {_case(column, lo, mid)} ELSE {_case(column, mid + 1, hi)} END"


def bucket_index_sql(column: str) -> str:
    """A SQL expression giving the 0-based bucket index of ``column`` (a binary search in CASEs).

    Faster than the ``unnest(ARRAY[…]) WITH ORDINALITY`` search (no subquery per row) and exactly
    equal to :func:`bucket_index`. NULL latencies give NULL (they are counted nowhere).
    """
    return f"CASE WHEN {column} IS NULL THEN NULL ELSE {_case(column, 0, OVERFLOW)} END"


def percentile_sql(counters: Sequence[str], p: float) -> str:
    """A SQL expression reading the p-th percentile from the histogram's 29 counters (SQL
    expressions: columns, sums, or ``h[1]`` … ``h[29]`` of an array).

    :func:`percentile`'s rule in the same float8 arithmetic: the upper bound of the first bucket
    whose running count reaches ``total * p / 100``; NULL when the counters count no call (or are
    NULL, as on the missing side of an outer join). A binary search in CASEs over the running
    sums: five comparisons per row, no subquery (a CASE per bucket was 4 × slower, an
    ``unnest … WITH ORDINALITY`` subquery 7 ×).
    """
    # Built from our own constants and column expressions chosen by the caller, never user input.
    values = [f"({counter})::float8" for counter in counters]
    total = "(" + " + ".join(values) + ")"
    rank = f"{total} * {float(p)!r}::float8 / 100.0::float8"

    def search(lo: int, hi: int) -> str:  # the first bucket in [lo, hi] whose running count reaches the rank
        if lo == hi:
            return f"{float(BOUNDS_MS[min(lo, len(BOUNDS_MS) - 1)])!r}::float8"
        mid = (lo + hi) // 2
        return (
            f"CASE WHEN {' + '.join(values[: mid + 1])} >= {rank} THEN {search(lo, mid)} ELSE {search(mid + 1, hi)} END"
        )

    return f"CASE WHEN coalesce({total}, 0) <= 0 THEN NULL ELSE {search(0, len(values) - 1)} END"
