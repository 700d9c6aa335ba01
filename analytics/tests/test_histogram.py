"""The shared latency histogram: bucket bounds, the SQL bucket index equals the Python one, percentiles."""

from __future__ import annotations

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
        cur.execute(
            "SELECT "
            + ", ".join(percentile_sql("%s::bigint[]", p) for p in (50, 95, 99, 100))
            + f", {percentile_sql('%s::bigint[]', 50)}",
            [hist] * 4 + [[0] * BUCKETS],
        )
        assert cur.fetchone() == (5.0, 100.0, 1500.0, 60000.0, None)
