"""The numbers behind the dashboards: percentiles, windows, trends, quota, scoping, pagination."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from analytics import selectors
from analytics.histogram import bucket_index
from analytics.tests.factories import call, hist_of, rollup
from core.errors import InvalidInput, NotFound
from subscriptions.models import SubscriptionStatus
from subscriptions.tests.factories import ApplicationFactory, SubscriptionFactory, make_catalog

NOW = datetime(2026, 3, 15, 12, 30, tzinfo=UTC)


def test_percentile_reads_the_bucket_upper_bound():
    hist = hist_of(*([4] * 90 + [120] * 9 + [90000]))
    assert selectors.percentile(hist, 0.5) == 5
    assert selectors.percentile(hist, 0.95) == 150
    assert selectors.percentile(hist, 0.99) == 150
    assert selectors.percentile(hist, 1.0) == 60000  # overflow
    assert selectors.percentile([0] * selectors.HIST_SIZE, 0.5) is None


@pytest.mark.parametrize(
    ("key", "level", "step", "points"),
    [
        ("1h", "minute", timedelta(minutes=1), 61),
        ("24h", "minute", timedelta(minutes=15), 97),
        ("7d", "hour", timedelta(hours=1), 169),
        ("30d", "day", timedelta(days=1), 31),
    ],
)
def test_presets_pick_the_granularity(key, level, step, points):
    window = selectors.window_for(key, now=NOW)
    assert (window.level, window.step) == (level, step)
    assert len(window.buckets()) == points
    assert window.start <= NOW - selectors.RANGES[key] and window.end > NOW


def test_custom_range_is_checked():
    start = NOW - timedelta(days=3)
    window = selectors.window_for("custom", start=start, end=NOW)
    assert window.level == "hour" and window.start == start.replace(minute=0)
    for args, field in [((NOW, start), "to"), ((None, NOW), "from"), ((NOW - timedelta(days=500), NOW), "from")]:
        with pytest.raises(InvalidInput) as error:
            selectors.window_for("custom", start=args[0], end=args[1])
        assert error.value.field == field
    with pytest.raises(InvalidInput):
        selectors.window_for("2w")


@pytest.fixture
def catalog(acme):
    return make_catalog(acme)


def test_provider_scope_sees_only_calls_to_its_apis(acme, globex, catalog):
    window = selectors.window_for("1h", now=NOW)
    t = NOW - timedelta(minutes=5)
    rollup("minute", t, calls=7, provider_tenant_id=acme.pk, api_id=catalog.api.pk, consumer_tenant_id=globex.pk)
    rollup("minute", t, calls=3, provider_tenant_id=globex.pk, consumer_tenant_id=acme.pk)
    assert selectors.totals(selectors.scope_for(acme, "provider"), window).calls == 7
    assert selectors.totals(selectors.scope_for(acme, "consumer"), window).calls == 3
    assert selectors.totals(selectors.scope_for(globex, "consumer"), window).calls == 7
    assert selectors.totals(selectors.platform_scope(), window).calls == 10
    with pytest.raises(NotFound):
        selectors.scope_for(globex, "provider", api_id=catalog.api.pk)
    with pytest.raises(NotFound):
        selectors.scope_for(globex, "provider", api_version_id=catalog.v1.pk)


def test_consumer_scope_checks_applications_and_keys(acme, globex, catalog, alice):
    from subscriptions.tests.factories import make_key, membership
    from tenants.tests.factories import TenantFactory

    app = ApplicationFactory(tenant=acme, name="Mine")
    initech = make_catalog(TenantFactory(slug="initech"), slug="payroll")
    SubscriptionFactory(application=app, plan=initech.free, version=initech.v1, status=SubscriptionStatus.ACTIVE)
    key, _ = make_key(membership(alice, acme), app)
    assert selectors.scope_for(acme, "consumer", application_id=app.pk, api_key_id=key.pk).api_key_id == key.pk
    for kwargs in ({"application_id": app.pk}, {"api_key_id": key.pk}):
        with pytest.raises(NotFound):
            selectors.scope_for(globex, "consumer", **kwargs)
        # Globex provides nothing Acme's app subscribes to: its provider side cannot name it either
        with pytest.raises(NotFound):
            selectors.scope_for(globex, "provider", **kwargs)
    globex_catalog = make_catalog(globex, slug="stock")
    SubscriptionFactory(application=app, plan=globex_catalog.free, version=globex_catalog.v1)
    assert selectors.scope_for(globex, "provider", application_id=app.pk, api_key_id=key.pk).side == "provider"


def test_timeseries_fills_gaps_and_reads_percentiles(acme, catalog):
    window = selectors.window_for("1h", now=NOW)
    scope = selectors.scope_for(acme, "provider")
    first = window.start + timedelta(minutes=2)
    rollup("minute", first, calls=90, latency_ms=4, provider_tenant_id=acme.pk, api_id=catalog.api.pk)
    rollup("minute", first, calls=10, status=503, latency_ms=900, provider_tenant_id=acme.pk, api_id=catalog.api.pk)
    points = selectors.timeseries(scope, window)
    assert len(points) == len(window.buckets())
    point = points[2]
    assert point["t"] == first and point["calls"] == 100 and point["errors_5xx"] == 10
    assert point["error_rate"] == 0.1 and point["p50_ms"] == 5 and point["p95_ms"] == 1000
    assert points[0]["calls"] == 0 and points[0]["p95_ms"] is None


def test_top_endpoints_statuses_and_refusals(acme, catalog):
    window = selectors.window_for("24h", now=NOW)
    scope = selectors.scope_for(acme, "provider")
    t = NOW - timedelta(hours=2)
    base = {"provider_tenant_id": acme.pk, "api_id": catalog.api.pk}
    rollup("minute", t, calls=5, endpoint="GET /orders", **base)
    rollup("minute", t, calls=9, endpoint="GET /orders/{id}", **base)
    rollup("minute", t, calls=4, status=429, error="rate_limited", endpoint="GET /orders/{id}", **base)
    endpoints = selectors.top(scope, window, "endpoints")
    assert [(e["key"]["endpoint"], e["calls"]) for e in endpoints] == [("GET /orders/{id}", 13), ("GET /orders", 5)]
    assert endpoints[0]["label"] == "Orders API · GET /orders/{id}"
    assert [(s["label"], s["calls"]) for s in selectors.top(scope, window, "statuses")] == [("200", 14), ("429", 4)]
    assert [(e["label"], e["calls"]) for e in selectors.top(scope, window, "errors")] == [("rate_limited", 4)]
    assert selectors.totals(scope, window).refused == 4


def test_trends_compare_with_the_previous_period(acme, catalog):
    window = selectors.window_for("24h", now=NOW)
    previous = window.previous()
    scope = selectors.scope_for(acme, "provider")
    base = {"provider_tenant_id": acme.pk, "api_id": catalog.api.pk}
    now_t, before_t = window.start + timedelta(hours=1), previous.start + timedelta(hours=1)
    # /slow got slower (p95 10 → 100 ms), /flaky started failing, /steady did not change
    rollup("minute", before_t, calls=100, latency_ms=10, endpoint="GET /slow", **base)
    rollup("minute", now_t, calls=100, latency_ms=100, endpoint="GET /slow", **base)
    rollup("minute", before_t, calls=100, latency_ms=10, endpoint="GET /flaky", **base)
    rollup("minute", now_t, calls=95, latency_ms=10, endpoint="GET /flaky", **base)
    rollup("minute", now_t, calls=5, status=500, latency_ms=10, endpoint="GET /flaky", **base)
    rollup("minute", before_t, calls=100, latency_ms=10, endpoint="GET /steady", **base)
    rollup("minute", now_t, calls=300, latency_ms=10, endpoint="GET /steady", **base)
    result = selectors.trends(scope, window)
    current = result["current"]
    assert current["calls"] == 500 and current["previous_calls"] == 300
    assert current["calls_change"] == pytest.approx(2 / 3)
    assert current["error_rate"] == pytest.approx(0.01) and current["previous_error_rate"] == 0
    assert current["error_rate_change"] == pytest.approx(0.01)
    assert result["by"] == "endpoints"
    changed = [(c["key"]["endpoint"], c["highlight"]) for c in result["changes"]]
    assert changed == [("GET /slow", True), ("GET /flaky", True), ("GET /steady", False)]
    slow = result["changes"][0]
    assert (slow["previous_p95_ms"], slow["p95_ms"], slow["p95_change"]) == (10, 100, 9.0)


def test_trends_rank_in_sql_as_the_documented_rule_says(acme, catalog):
    """The ranking runs in SQL over every endpoint; the same rule in Python (percentile(), the
    score, ties by calls then endpoint) on random traffic picks the same endpoints in the same order."""
    window = selectors.window_for("24h", now=NOW)
    previous = window.previous()
    scope = selectors.scope_for(acme, "provider")
    base = {"provider_tenant_id": acme.pk, "api_id": catalog.api.pk}
    rng = random.Random(8)
    latencies = [1, 3, 12, 40, 90, 180, 450, 1200, 70000]
    expected = {}
    for n in range(25):
        endpoint = f"GET /e{n}"
        sides = {}
        for side, start in (("now", window.start), ("before", previous.start)):
            hist, calls, errors = [0] * selectors.HIST_SIZE, 0, 0
            if rng.random() < 0.85:  # some endpoints are new, some vanished
                for hour in rng.sample(range(20), rng.randint(1, 3)):  # distinct rows
                    count, latency = rng.randint(1, 40), rng.choice(latencies)
                    status = rng.choice([200, 200, 200, 404, 500])
                    rollup(
                        "minute",
                        start + timedelta(hours=hour),
                        calls=count,
                        status=status,
                        latency_ms=latency,
                        endpoint=endpoint,
                        **base,
                    )
                    hist[bucket_index(latency)] += count
                    calls += count
                    errors += count if status >= 400 else 0
            sides[side] = (calls, errors, selectors.percentile(hist, 0.95))
        (calls, errors, p95), (b_calls, b_errors, b_p95) = sides["now"], sides["before"]
        p95_change = abs((p95 - b_p95) / b_p95) if p95 is not None and b_p95 else 0
        rate_change = abs(errors / calls - b_errors / b_calls) if calls and b_calls else 0
        if calls or b_calls:
            expected[endpoint] = (-(p95_change + 10 * rate_change), -calls, endpoint, p95, b_p95)
    ranked = sorted(expected.values())[:7]
    result = selectors.trends(scope, window, limit=7)
    got = [(c["key"]["endpoint"], c["p95_ms"], c["previous_p95_ms"]) for c in result["changes"]]
    assert got == [(endpoint, p95, b_p95) for _s, _c, endpoint, p95, b_p95 in ranked]
    assert [c["score"] for c in result["changes"]] == pytest.approx([-r[0] for r in ranked])


def test_platform_trends_compare_apis_and_one_api_its_endpoints(acme, globex, catalog):
    other = make_catalog(globex, slug="things")
    window = selectors.window_for("24h", now=NOW)
    previous = window.previous()
    now_t, before_t = window.start + timedelta(hours=1), previous.start + timedelta(hours=1)
    orders = {"provider_tenant_id": acme.pk, "api_id": catalog.api.pk}
    theirs = {"provider_tenant_id": globex.pk, "api_id": other.api.pk}
    for t, latency in ((before_t, 10), (now_t, 100)):  # Orders got slower on one endpoint
        rollup("minute", t, calls=50, latency_ms=latency, endpoint="GET /orders/{id}", **orders)
        rollup("minute", t, calls=50, latency_ms=10, endpoint="GET /orders", **orders)
    for t in (before_t, now_t):  # the other provider's API did not change
        rollup("minute", t, calls=80, latency_ms=20, endpoint="GET /things", **theirs)
    platform = selectors.trends(selectors.platform_scope(), window)
    assert platform["by"] == "apis"
    assert [(c["label"], c["highlight"]) for c in platform["changes"]] == [
        (catalog.api.name, True),
        (other.api.name, False),
    ]
    assert platform["changes"][0]["key"] == {"api_id": catalog.api.pk}
    assert (platform["changes"][0]["previous_p95_ms"], platform["changes"][0]["p95_ms"]) == (10, 100)
    one_api = selectors.trends(selectors.platform_scope(api_id=catalog.api.pk), window)
    assert one_api["by"] == "endpoints"
    assert [c["key"]["endpoint"] for c in one_api["changes"]] == ["GET /orders/{id}", "GET /orders"]


def test_quota_usage_counts_utc_day_and_month_against_the_plan(acme, globex, catalog):
    app = ApplicationFactory(tenant=globex, name="Shop")
    SubscriptionFactory(application=app, plan=catalog.free, version=catalog.v1, status=SubscriptionStatus.ACTIVE)
    dims = {"application_id": app.pk, "consumer_tenant_id": globex.pk, "api_id": catalog.api.pk}
    today = NOW.replace(hour=0, minute=30)
    # Each level on its own here: the day rows say what the earlier days held.
    rollup("minute", today, calls=120, coarser=False, **dims)
    rollup("minute", today, calls=30, status=429, error="quota_exceeded", coarser=False, **dims)  # refused
    rollup("minute", today - timedelta(hours=1), calls=999, coarser=False, **dims)  # yesterday: not today
    rollup("day", datetime(2026, 3, 1, tzinfo=UTC), calls=1000, **dims)
    rollup("day", datetime(2026, 3, 14, tzinfo=UTC), calls=500, **dims)
    rollup("day", datetime(2026, 3, 15, tzinfo=UTC), calls=120, **dims)  # today's partial day row: not twice
    rollup("day", datetime(2026, 2, 28, tzinfo=UTC), calls=7, **dims)  # last month
    [usage] = selectors.quota_usage(app, now=NOW)
    assert (usage["day_calls"], usage["day_quota"], usage["day_share"]) == (120, 1000, 0.12)
    assert (usage["month_calls"], usage["month_quota"]) == (1620, None)


def test_call_log_cursor_pages_through_everything_once(acme, catalog):
    scope = selectors.scope_for(acme, "provider")
    same_ts = NOW - timedelta(minutes=1)
    ids = {call(same_ts if i % 2 else NOW - timedelta(seconds=i), provider_tenant_id=acme.pk) for i in range(25)}
    call(NOW - timedelta(minutes=2), provider_tenant_id=acme.pk + 1000)  # someone else's
    flt = selectors.call_filter(start=NOW - timedelta(hours=1), end=NOW + timedelta(seconds=1))
    seen, cursor, pages = [], "", 0
    while True:
        rows, cursor = selectors.calls(scope, flt, after=cursor, size=10)
        seen += [(r["ts"], r["request_id"]) for r in rows]
        pages += 1
        if cursor is None:
            break
    assert pages == 3 and {s[1] for s in seen} == ids and len(seen) == 25
    assert seen == sorted(seen, reverse=True)
    with pytest.raises(InvalidInput):
        selectors.calls(scope, flt, after="bm90IGpzb24")
    with pytest.raises(InvalidInput):
        selectors.call_filter(start=NOW - timedelta(days=40), end=NOW)


def test_call_filters_and_detail(acme, globex, catalog):
    scope = selectors.scope_for(acme, "provider")
    t = NOW - timedelta(minutes=3)
    hit = call(t, status=404, path="/acme/orders/v1/orders/7", provider_tenant_id=acme.pk, api_id=catalog.api.pk)
    call(t, status=200, path="/acme/orders/v1/orders/7", provider_tenant_id=acme.pk)
    call(t, status=404, path="/acme/other_%", provider_tenant_id=acme.pk)
    flt = selectors.call_filter(start=NOW - timedelta(hours=1), end=NOW, status=404, path="/acme/orders/")
    rows, _ = selectors.calls(scope, flt)
    assert [r["request_id"] for r in rows] == [hit]
    rows, _ = selectors.calls(
        scope, selectors.call_filter(start=NOW - timedelta(hours=1), end=NOW, path="/acme/other_")
    )
    assert len(rows) == 1  # _ and % are literal
    assert selectors.call_detail(scope, hit)["api_name"] == "Orders API"
    with pytest.raises(NotFound):
        selectors.call_detail(selectors.scope_for(globex, "provider"), hit)


def test_queries_read_the_narrowest_table_with_their_dimensions() -> None:
    from analytics.selectors import Scope, platform_scope, table_for

    provider, consumer = Scope("provider", 1), Scope("consumer", 2)
    assert table_for(platform_scope(), "hour") == "analytics_platformsummaryhour"
    assert table_for(platform_scope(), "minute") == "analytics_platformsummaryminute"
    assert table_for(provider, "day") == "analytics_tenantsummaryday"
    assert table_for(provider, "minute") == "analytics_tenantsummaryminute"
    assert table_for(Scope("provider", 1, api_id=4), "minute") == "analytics_apisummaryminute"
    assert table_for(Scope("provider", 1, api_id=4), "day") == "analytics_apisummaryday"
    assert table_for(platform_scope(), "hour", ("api_id",)) == "analytics_apisummaryhour"  # platform trends
    assert table_for(platform_scope(), "day", ("status",)) == "analytics_statussummaryday"
    assert table_for(provider, "day", ("status",)) == "analytics_nodesummaryday"
    assert table_for(platform_scope(node_id=3), "hour") == "analytics_nodesummaryhour"
    assert table_for(provider, "hour", ("api_id", "endpoint")) == "analytics_endpointsummaryhour"
    assert table_for(Scope("provider", 1, api_id=4), "hour", ("status",)) == "analytics_providersummaryhour"
    assert table_for(consumer, "day") == "analytics_applicationsummaryday"
    assert table_for(consumer, "day", ("api_id", "status")) == "analytics_consumersummaryday"
    assert table_for(consumer, "day", ("status",)) == "analytics_consumerstatussummaryday"  # a consumer's statuses
    assert table_for(provider, "day", ("consumer_tenant_id", "application_id")) == "analytics_callersummaryday"
    api_consumers = table_for(Scope("provider", 1, api_id=4), "hour", ("consumer_tenant_id", "application_id"))
    assert api_consumers == "analytics_apicallersummaryhour"
    assert table_for(Scope("provider", 1, api_id=4), "hour", ("endpoint",)) == "analytics_endpointsummaryhour"
    assert table_for(platform_scope(), "day", ("application_id",)) == "analytics_applicationsummaryday"
    # Key × endpoint, node × API: only the full rollup has both; minutes have only the two narrowest.
    assert table_for(Scope("consumer", 2, api_key_id=5), "hour", ("api_id", "endpoint")) == "analytics_rolluphour"
    assert table_for(platform_scope(node_id=1, api_id=2), "day") == "analytics_rollupday"
    assert table_for(platform_scope(), "minute", ("endpoint",)) == "analytics_rollupminute"
    consumer_endpoints = table_for(consumer, "day", ("api_id", "endpoint"))
    assert consumer_endpoints == "analytics_consumerendpointsummaryday"  # a consumer's top endpoints, trends


def test_long_windows_read_whole_coarser_buckets_inside_and_the_finer_level_at_the_edges() -> None:
    from analytics.selectors import pieces

    start, end = datetime(2026, 3, 8, 10, 0, tzinfo=UTC), datetime(2026, 3, 15, 11, 0, tzinfo=UTC)
    assert pieces(start, end, "hour") == [
        ("hour", start, datetime(2026, 3, 9, tzinfo=UTC)),
        ("day", datetime(2026, 3, 9, tzinfo=UTC), datetime(2026, 3, 15, tzinfo=UTC)),
        ("hour", datetime(2026, 3, 15, tzinfo=UTC), end),
    ]
    start, end = datetime(2026, 3, 14, 10, 45, tzinfo=UTC), datetime(2026, 3, 15, 10, 38, tzinfo=UTC)
    assert pieces(start, end, "minute") == [
        ("minute", start, datetime(2026, 3, 14, 11, tzinfo=UTC)),
        ("hour", datetime(2026, 3, 14, 11, tzinfo=UTC), datetime(2026, 3, 15, 10, tzinfo=UTC)),
        ("minute", datetime(2026, 3, 15, 10, tzinfo=UTC), end),
    ]
    # Less than one coarser bucket: the window's own level only.
    short = (datetime(2026, 3, 15, 10, 5, tzinfo=UTC), datetime(2026, 3, 15, 10, 50, tzinfo=UTC))
    assert pieces(*short, "minute") == [("minute", *short)]


def test_migration_0011_fills_the_summary_buckets_earlier_migrations_left_empty(acme, globex, catalog):
    """Summaries created empty on a database that already had rollups: the migration fills every
    missing bucket from its level, exactly as the rollup would, and touches nothing else."""
    import importlib

    from django.db import connection

    migration = importlib.import_module("analytics.migrations.0011_backfill_missing_summary_buckets")
    base = {"provider_tenant_id": acme.pk, "api_id": catalog.api.pk, "consumer_tenant_id": globex.pk}
    for hours, calls, status, latency in ((3, 5, 200, 10), (2, 7, 500, 100), (26, 4, 404, 30)):
        rollup("minute", NOW - timedelta(hours=hours), calls=calls, status=status, latency_ms=latency,
               endpoint="GET /orders", application_id=7, **base)  # fmt: skip
    tables = [
        f"analytics_{shape}summary{level}" for shape, (_d, levels) in migration.SHAPES.items() for level in levels
    ]

    def snapshot() -> dict[str, list[tuple]]:
        found = {}
        with connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f"SELECT * FROM {table}")
                names = [column.name for column in cursor.description]
                found[table] = sorted(
                    tuple(str(v) for k, v in zip(names, row, strict=True) if k != "id") for row in cursor.fetchall()
                )
        return found

    def backfill() -> None:
        with connection.cursor() as cursor:
            for shape, (_dims, levels) in migration.SHAPES.items():
                for level in levels:
                    cursor.execute(migration.backfill_sql(shape, level))

    written = snapshot()
    assert all(written[table] for table in tables)  # every summary has rows to lose
    with connection.cursor() as cursor:
        for table in tables:  # created empty, as 0003 to 0007 did
            cursor.execute(f"DELETE FROM {table}")
    backfill()
    assert snapshot() == written
    with connection.cursor() as cursor:  # one bucket of one summary missing, the rest written
        cursor.execute("DELETE FROM analytics_endpointsummaryhour WHERE bucket = %s", [_hour(NOW, 2)])
        assert cursor.rowcount > 0
    backfill()
    assert snapshot() == written  # only the missing bucket came back, nothing twice
    backfill()
    assert snapshot() == written


def _hour(now: datetime, hours_back: int) -> datetime:
    moment = now - timedelta(hours=hours_back)
    return moment.replace(minute=0, second=0, microsecond=0)
