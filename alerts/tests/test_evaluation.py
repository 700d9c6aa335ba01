"""Evaluation against rollups written by the real rollup from raw call records: each metric, the
hysteresis (fires once, resolves once, fires again), the traffic guard, quotas, node silence,
concurrency and the bounded number of queries."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts import evaluation
from alerts.evaluation import Reading, evaluate
from alerts.models import AlertEvent, AlertRule, Metric, Scope
from alerts.tests.conftest import Shop, rollup
from apis.models import Plan
from gateways.models import GatewayNode
from subscriptions.models import SubscriptionStatus
from subscriptions.tests.factories import ApplicationFactory

M = dt.timedelta(minutes=1)


def _rule(shop: Shop, metric: str, threshold: float, *, on: str = "api", **extra: object) -> AlertRule:
    target = {"api": shop.api} if on == "api" else {"application": shop.app}
    tenant = shop.api.tenant if on == "api" else shop.app.tenant
    return AlertRule.objects.create(
        tenant=tenant,
        scope=on,
        metric=metric,
        threshold=Decimal(str(threshold)),
        **target,
        **extra,
    )


def _events(rule: AlertRule) -> list[AlertEvent]:
    return list(AlertEvent.objects.unscoped().filter(rule=rule).order_by("fired_at", "pk"))


def test_error_rate_fires_once_resolves_once_and_fires_again(shop: Shop) -> None:
    t0 = shop.t0
    shop.calls(t0 - 15 * M, 80, spread=15)
    shop.calls(t0 - 15 * M, 20, status=500, spread=15)  # 20 %
    shop.calls(t0 + 20 * M, 100, spread=15)  # 0 %
    shop.calls(t0 + 60 * M, 90, spread=15)
    shop.calls(t0 + 60 * M, 10, status=503, error="upstream_error", spread=15)  # 10 %
    rollup()
    rule = _rule(shop, Metric.ERROR_RATE, 5, window_minutes=15)

    first = evaluate(now=t0)
    assert [e.fired_value for e in first.fired] == [20.0]
    for later in (t0 + dt.timedelta(seconds=30), t0 + M, t0 + 5 * M):  # still above: nothing new
        result = evaluate(now=later)
        assert (result.fired, result.resolved) == ([], [])
    resolved = evaluate(now=t0 + 35 * M)
    assert [e.pk for e in resolved.resolved] == [first.fired[0].pk]
    assert evaluate(now=t0 + 36 * M).resolved == []  # resolves once
    again = evaluate(now=t0 + 75 * M)
    assert [e.fired_value for e in again.fired] == [10.0]

    history = _events(rule)
    assert [(e.fired_value, e.resolved_value, e.resolved_at is None) for e in history] == [
        (20.0, 0.0, False),
        (10.0, None, True),
    ]
    assert history[0].message == "Orders API: 20 % (100 calls); rule: error rate ≥ 5 % over 15 min"


def test_error_rate_counts_5xx_of_the_calls_the_gateway_did_not_refuse(shop: Shop) -> None:
    t0 = shop.t0
    shop.calls(t0 - 5 * M, 50, spread=5)
    shop.calls(t0 - 5 * M, 30, status=404, spread=5)  # the upstream's 404s: the caller's mistakes
    shop.calls(t0 - 5 * M, 20, status=504, error="upstream_timeout", spread=5)
    shop.calls(t0 - 5 * M, 100, status=429, error="rate_limited", spread=5)  # refused: not counted
    rollup()
    rule = _rule(shop, Metric.ERROR_RATE, 20, on="application", window_minutes=5)
    assert [e.fired_value for e in evaluate(now=t0).fired] == [20.0]  # 20 of 100
    assert _events(rule)[0].message.startswith("Shop: 20 % (100 calls)")


def test_refused_calls_with_the_resolve_margin(shop: Shop) -> None:
    """Threshold 10 refusals in 5 minutes: 12 fires, 9 (≥ 10 × 0.9) keeps firing, 8 resolves."""
    t0 = shop.t0
    for start, refused in ((t0 - 5 * M, 12), (t0 + 10 * M, 9), (t0 + 20 * M, 8)):
        shop.calls(start, refused, status=401, error="unknown_key", spread=5)
        shop.calls(start, 5, status=400, spread=5)  # the upstream's 4xx: not refusals
        shop.calls(start, 5, status=502, error="upstream_error", spread=5)  # failures, not refusals
    rollup()
    rule = _rule(shop, Metric.REFUSED_CALLS, 10, window_minutes=5)
    assert [e.fired_value for e in evaluate(now=t0).fired] == [12.0]
    middle = evaluate(now=t0 + 15 * M)
    assert (middle.fired, middle.resolved) == ([], [])
    assert [e.resolved_value for e in evaluate(now=t0 + 25 * M).resolved] == [8.0]
    assert len(_events(rule)) == 1


def test_p95_latency_of_an_application_and_the_traffic_guard(shop: Shop) -> None:
    t0 = shop.t0
    shop.calls(t0 - 15 * M, 90, latency_ms=10, spread=15)
    shop.calls(t0 - 15 * M, 10, latency_ms=800, spread=15)  # p95 in the (700, 1000] bucket
    shop.calls(t0 - 15 * M, 300, status=429, error="rate_limited", latency_ms=1, spread=15)  # refused
    rollup()
    guarded = _rule(shop, Metric.P95_LATENCY, 500, on="application", window_minutes=15, min_calls=101)
    rule = _rule(shop, Metric.P95_LATENCY, 500, on="application", window_minutes=15, min_calls=100)
    result = evaluate(now=t0)
    assert [(e.rule_id, e.fired_value) for e in result.fired] == [(rule.pk, 1000.0)]
    assert _events(guarded) == []  # 100 counted calls (the refused ones are not): too few to judge


def test_too_little_traffic_neither_fires_nor_resolves(shop: Shop) -> None:
    t0 = shop.t0
    shop.calls(t0 - 5 * M, 20, status=500, spread=5)
    shop.calls(t0 + 10 * M, 3, spread=5)  # healthy, but only 3 calls
    rollup()
    rule = _rule(shop, Metric.ERROR_RATE, 50, window_minutes=5, min_calls=20)
    assert len(evaluate(now=t0).fired) == 1
    assert evaluate(now=t0 + 15 * M).resolved == []  # 3 calls say nothing: still firing
    assert evaluate(now=t0 + 60 * M).resolved == []  # no calls at all: still firing
    assert _events(rule)[0].resolved_at is None


def test_quota_use_of_the_day_and_month(shop: Shop) -> None:
    now = timezone.now()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    shop.calls(today, 8, spread=1)
    shop.calls(today, 3, status=429, error="quota_exceeded")  # refused calls use no quota
    rollup()
    day80 = _rule(shop, Metric.QUOTA_USE, 80, on="application", quota_period="day")
    day100 = _rule(shop, Metric.QUOTA_USE, 100, on="application", quota_period="day")
    month = _rule(shop, Metric.QUOTA_USE, 20, on="application", quota_period="month")
    fired = evaluate(now=now).fired
    assert sorted((e.rule_id, e.fired_value) for e in fired) == [(day80.pk, 80.0), (month.pk, 20.0)]
    assert fired[0].subject == f"subscription:{shop.subscription.pk}"
    assert fired[0].subject_label == "Orders API (Small)"
    assert "8 of 10 calls this UTC day" in _events(day80)[0].message
    assert _events(day100) == []
    # The next UTC day starts from zero: the day rule resolves, the month one holds.
    next_day = evaluate(now=today + dt.timedelta(days=1, minutes=5))
    if today.month == (today + dt.timedelta(days=1)).month:
        assert [e.rule_id for e in next_day.resolved] == [day80.pk]
    # A subscription that ends is no longer watched: its incidents close.
    shop.subscription.status = SubscriptionStatus.CANCELLED
    shop.subscription.save()
    closed = evaluate(now=now).resolved
    assert {e.rule_id for e in closed} >= {month.pk}
    assert all("no longer watched" in e.resolve_message for e in closed)


def test_node_silence(db) -> None:
    now = timezone.now()
    quiet = GatewayNode.objects.create(name="edge-1", key_id="k1", token_hash="0", last_seen_at=now - dt.timedelta(
        seconds=300))  # fmt: skip
    GatewayNode.objects.create(name="edge-2", key_id="k2", token_hash="0", last_seen_at=now)
    rule = AlertRule.objects.create(scope=Scope.PLATFORM, metric=Metric.NODE_SILENT, threshold=120)
    fired = evaluate(now=now).fired
    assert [(e.subject, e.subject_label) for e in fired] == [(f"node:{quiet.pk}", "edge-1")]
    assert evaluate(now=now + dt.timedelta(seconds=10)).fired == []
    GatewayNode.objects.filter(pk=quiet.pk).update(last_seen_at=now + dt.timedelta(seconds=20))
    assert [e.subject for e in evaluate(now=now + dt.timedelta(seconds=25)).resolved] == [f"node:{quiet.pk}"]
    # Silent again, then revoked: a revoked node is not expected to report, its incident closes.
    assert len(evaluate(now=now + dt.timedelta(seconds=400)).fired) == 2
    GatewayNode.objects.filter(pk=quiet.pk).update(revoked_at=now)
    closed = evaluate(now=now + dt.timedelta(seconds=401)).resolved
    assert [e.subject for e in closed] == [f"node:{quiet.pk}"]
    assert len(_events(rule)) == 3


def test_disabled_rules_are_not_evaluated(shop: Shop) -> None:
    shop.calls(shop.t0 - 5 * M, 30, status=500, spread=5)
    rollup()
    _rule(shop, Metric.ERROR_RATE, 5, window_minutes=5, enabled=False)
    assert evaluate(now=shop.t0).rules == 0


def test_a_second_worker_with_a_stale_view_neither_fires_nor_resolves_again(shop: Shop) -> None:
    """What two workers racing on the same rule would do: the unique open incident and the
    conditional resolve let exactly one of them act."""
    rule = _rule(shop, Metric.REFUSED_CALLS, 1, window_minutes=5)
    reading = Reading("", "Orders API", 5.0, "5 calls")
    now = timezone.now()
    first = evaluation._fire(rule, reading, now)
    assert first is not None
    assert evaluation._fire(rule, reading, now) is None  # the open incident exists: no second one
    stale = AlertEvent.objects.unscoped().get(pk=first.pk)
    assert evaluation._resolve(first, rule, 0.0, "back", now) is True
    assert evaluation._resolve(stale, rule, 0.0, "back", now) is False
    assert len(_events(rule)) == 1


def test_a_run_while_another_holds_the_lock_does_nothing(shop: Shop) -> None:
    shop.calls(shop.t0 - 5 * M, 30, status=500, spread=5)
    rollup()
    rule = _rule(shop, Metric.ERROR_RATE, 5, window_minutes=5)
    held, release = threading.Event(), threading.Event()

    def other_worker() -> None:
        other = connections.create_connection("default")
        try:
            with other.cursor() as cursor:
                cursor.execute("BEGIN")
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [evaluation.LOCK_KEY])
                held.set()
                release.wait(10)
                cursor.execute("ROLLBACK")
        finally:
            other.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        assert held.wait(10)
        assert evaluate(now=shop.t0).ran is False
    finally:
        release.set()
        thread.join()
    assert _events(rule) == []
    assert len(evaluate(now=shop.t0).fired) == 1


@pytest.mark.parametrize("n", [1000])
def test_queries_per_run_do_not_grow_with_the_rules(shop: Shop, n: int) -> None:
    """10 rules or 1,000 (on 100 APIs' worth of applications and the one API), of every metric of
    an API or application (quota, token quota and cost budget use included): the same queries."""
    # Limits far from reached: no rule fires (a change adds the queries of its deliveries).
    Plan.objects.for_tenant(shop.plan.tenant).filter(pk=shop.plan.pk).update(
        quota_per_day=1_000_000, token_quota_per_day=1000, cost_budget_per_month=Decimal(5)
    )
    shop.calls(shop.t0 - 5 * M, 30, spread=5)
    rollup()
    apps = [shop.app, *(ApplicationFactory(tenant=shop.app.tenant, name=f"App {i}") for i in range(99))]
    windowed = [Metric.ERROR_RATE, Metric.P95_LATENCY, Metric.REFUSED_CALLS]
    quotas = [(Metric.QUOTA_USE, "day"), (Metric.TOKEN_QUOTA_USE, "day"), (Metric.COST_BUDGET_USE, "month")]

    def rules(count: int) -> None:
        rows = []
        for i in range(count):
            metric, window = windowed[i % 3], (5, 15, 60)[i % 3]
            app = apps[(i // 5) % 100]  # the first 10 rules: Shop's (its subscription) and App 0's
            if i % 5 == 0:
                rows.append(AlertRule(tenant=shop.api.tenant, scope="api", api=shop.api, metric=metric,
                                      threshold=99, window_minutes=window))  # fmt: skip
            elif i % 5 == 1:
                rows.append(AlertRule(tenant=shop.app.tenant, scope="application", application=app,
                                      metric=metric, threshold=99, window_minutes=window))  # fmt: skip
            else:
                quota, period = quotas[i % 5 - 2]
                rows.append(AlertRule(tenant=shop.app.tenant, scope="application", application=app,
                                      metric=quota, threshold=99, quota_period=period))  # fmt: skip
        AlertRule.objects.bulk_create(rows)

    rules(10)
    with CaptureQueriesContext(connection) as few:
        result = evaluate(now=shop.t0)
    assert (result.rules, result.fired) == (10, [])
    assert sum("airollup" in q["sql"] for q in few.captured_queries) == 1  # the token and cost rules read
    AlertRule.objects.unscoped().all().delete()
    rules(n)
    with CaptureQueriesContext(connection) as many:
        result = evaluate(now=shop.t0)
    assert (result.rules, result.fired) == (n, [])
    print(f"\nqueries per evaluation run: {len(few)} with 10 rules, {len(many)} with {n} rules")
    assert len(many) == len(few) <= 12
