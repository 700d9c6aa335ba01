"""The shared latency histogram: bucket bounds, the SQL bucket index equals the Python one, percentiles."""

from __future__ import annotations

import random

import pytest
from django.db import connection

from analytics.histogram import (
    BOUNDS_MS,
    BUCKETS,
    bucket_index,
    bucket_index_sql,
    merge,
    percentile,
    percentile_sql,
)


def test_the_contract_shape() -> None:
    assert BUCKETS == 29
    assert BOUNDS_MS[0] == 1 and BOUNDS_MS[-1] == 60000 and len(BOUNDS_MS) == 28
    assert [bucket_index(x) for x in (0, 1, 1.0001, 2, 60000, 60000.5, 10**9)] == [0, 0, 1, 1, 27, 28, 28]
    assert bucket_index(-5) == 0  # gateway-generated errors may report a negative latency


@pytest.mark.django_db
def test_sql_bucket_index_equals_python() -> None:
    values = [
        -1.0,
        0.0,
        0.5,
        *(float(b) for b in BOUNDS_MS),
        *(b + 0.001 for b in BOUNDS_MS),
        *(b - 0.001 for b in BOUNDS_MS),
        1e9,
    ]
    with connection.cursor() as cur:
        cur.execute(f"SELECT x, {bucket_index_sql('x')} FROM unnest(%s::float8[]) AS t(x)", [values])
        got = dict(cur.fetchall())
        cur.execute(f"SELECT {bucket_index_sql('NULL::float8')}")
        assert cur.fetchone() == (None,)
    assert got == {x: bucket_index(x) for x in values}


@pytest.mark.django_db
def test_percentiles_from_a_histogram_python_and_sql() -> None:
    hist = [0] * BUCKETS
    hist[bucket_index(4)] = 50  # 50 calls at ≤ 5 ms
    hist[bucket_index(90)] = 45  # 45 calls at ≤ 100 ms
    hist[bucket_index(1200)] = 4  # 4 calls at ≤ 1500 ms
    hist[28] = 1  # one above 60 s: reads as 60000
    assert [percentile(hist, p) for p in (50, 95, 99, 100)] == [5.0, 100.0, 1500.0, 60000.0]
    assert percentile([0] * BUCKETS, 50) is None
    assert merge(hist, hist)[bucket_index(4)] == 100
    with connection.cursor() as cur:
        counters = [f"h[{i}]" for i in range(1, BUCKETS + 1)]
        one = "FROM (SELECT %s::bigint[] h) x"
        cur.execute(
            f"SELECT {', '.join(percentile_sql(counters, p) for p in (50, 95, 99, 100))} {one} "
            f"UNION ALL SELECT {percentile_sql(counters, 50)}, NULL, NULL, NULL {one}",
            [hist, [0] * BUCKETS],
        )
        assert cur.fetchall() == [(5.0, 100.0, 1500.0, 60000.0), (None, None, None, None)]
        # The same rule as percentile() on random histograms, edges included (ranks that fall
        # exactly on a running count, everything in one bucket, everything above 60 s).
        rng = random.Random(3)
        cases = [[0] * 28 + [5], [7] + [0] * 28, [1] * BUCKETS]
        cases += [[rng.choice([0, 0, 0, 1, 2, 19, 20, 400]) for _ in range(BUCKETS)] for _ in range(200)]
        quantiles = (50, 95, 99)
        rows = ", ".join(f"({n}, %s::bigint[])" for n in range(len(cases)))
        cur.execute(
            f"SELECT n, {', '.join(percentile_sql(counters, q) for q in quantiles)} FROM (VALUES {rows}) v(n, h)",
            cases,
        )
        got = {row[0]: row[1:] for row in cur.fetchall()}
        assert got == {n: tuple(percentile(case, q) for q in quantiles) for n, case in enumerate(cases)}
