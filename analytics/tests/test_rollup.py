"""The rollup is exact: every level equals a fresh GROUP BY over raw after a mixed workload with
late data and duplicates; a run killed halfway and run again is exact; two runners never double
count; retention trims minutes and hours but never days."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings

from analytics.histogram import BUCKETS
from analytics.models import (
    SUMMARIES,
    SUMMARY_LEVELS,
    AiRollupDay,
    AiRollupHour,
    AiRollupMinute,
    AiTenantSummaryDay,
    AiTenantSummaryHour,
    DirtyBucket,
    ProviderSummaryDay,
    ProviderSummaryHour,
    RollupDay,
    RollupHour,
    RollupMinute,
    Watermark,
)
from analytics.rollup import delete_expired_rollups, run_rollup
from analytics.tasks import rollup_task
from analytics.tests.oracle import Traffic, actual, assert_rollups_exact, expected, insert_raw
from portal.tests.support import subprocess_database_url

ROOT = Path(__file__).resolve().parents[2]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _snapshot() -> dict[str, Any]:
    return {level: actual(level) for level in ("minute", "hour", "day")} | {
        "watermarks": sorted(Watermark.objects.values_list("level", "upto", "seen_upto"))
    }


def _mixed_workload(traffic: Traffic) -> None:
    """Three batches with runs between them; late records below the watermark; resent duplicates."""
    now = _now()
    insert_raw(traffic.batch(1500, now - dt.timedelta(hours=3), dt.timedelta(hours=3)))
    insert_raw(traffic.batch(200, now - dt.timedelta(hours=27), dt.timedelta(hours=2)))
    first = run_rollup()
    assert first.ran and first.rows["minute"] > 0
    assert Watermark.objects.get(level="minute").upto <= now

    # Fresh traffic, records from two hours ago (a node's buffer after an outage), and a resend.
    insert_raw(traffic.batch(400, now - dt.timedelta(minutes=2), dt.timedelta(minutes=2)))
    late = traffic.batch(60, now - dt.timedelta(hours=2), dt.timedelta(minutes=30))
    assert insert_raw(late) == 60
    resent = traffic.sent[:50]
    assert insert_raw(resent) == 0  # the raw primary key drops duplicates: counted once
    second = run_rollup()
    assert second.late_buckets > 0  # the late minutes were marked dirty and recomputed

    insert_raw(traffic.batch(40, now - dt.timedelta(hours=26), dt.timedelta(hours=1)))  # late by a day
    third = run_rollup()
    assert third.late_buckets > 0
    assert not DirtyBucket.objects.exists()


def test_every_level_equals_a_fresh_group_by_over_raw(committed_db: None, catalog: list[dict[str, Any]]) -> None:
    _mixed_workload(Traffic(catalog))
    assert_rollups_exact()
    # The endpoint matching the oracle agrees with covers each case.
    endpoints = {key[4] for key in actual("minute")}
    assert {"GET /orders/{id}", "GET /orders/search", "POST /orders", "GET /customers/{cid}/orders/{oid}"} <= endpoints
    assert {"other", ""} <= endpoints
    # Histograms: 29 counters that add up to the calls.
    for row in RollupHour.objects.all():
        assert len(row.latency_hist) == BUCKETS and sum(row.latency_hist) == row.calls
        assert sum(row.upstream_hist) == row.upstream_count
    # Nothing new: another run changes nothing (idempotent).
    before = _snapshot()
    assert rollup_task()["ran"] is True
    after = _snapshot()
    assert {k: v for k, v in after.items() if k != "watermarks"} == {
        k: v for k, v in before.items() if k != "watermarks"
    }


def _run_in_a_process_killed_after(step: str) -> int:
    """Run the rollup in a separate process that SIGKILLs itself inside the transaction after ``step``."""
    url = subprocess_database_url()
    code = (
        "import os, signal, django; django.setup()\n"
        "from analytics.rollup import run_rollup\n"
        "def die(step):\n"
        "    if step == os.environ['KILL_AFTER']:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "run_rollup(after_step=die)\n"
        "raise SystemExit('not killed')\n"
    )
    env = {**os.environ, "DATABASE_URL": url, "KILL_AFTER": step, "DJANGO_SETTINGS_MODULE": "portal.settings"}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, timeout=120, check=False).returncode


def test_a_run_killed_halfway_and_run_again_is_exact(committed_db: None, catalog: list[dict[str, Any]]) -> None:
    traffic = Traffic(catalog, seed=11)
    now = _now()
    insert_raw(traffic.batch(800, now - dt.timedelta(hours=2), dt.timedelta(hours=2)))
    run_rollup()
    insert_raw(traffic.batch(300, now - dt.timedelta(minutes=5), dt.timedelta(minutes=5)))
    insert_raw(traffic.batch(40, now - dt.timedelta(minutes=90), dt.timedelta(minutes=20)))  # late
    before = _snapshot()

    # The worker dies with the minute and hour levels written but not committed.
    assert _run_in_a_process_killed_after("hour") == -9
    assert _snapshot() == before  # rolled back: nothing half-done is visible
    # An exception half-way (a bug, a statement timeout) rolls back the same way.
    with pytest.raises(RuntimeError):
        run_rollup(after_step=lambda step: (_ for _ in ()).throw(RuntimeError(step)) if step == "minute" else None)
    assert _snapshot() == before

    assert run_rollup().late_buckets > 0  # the late records are still found after the crash
    assert_rollups_exact()


def test_concurrent_runners_do_not_double_count(committed_db: None, catalog: list[dict[str, Any]]) -> None:
    traffic = Traffic(catalog, seed=3)
    now = _now()
    insert_raw(traffic.batch(600, now - dt.timedelta(hours=1), dt.timedelta(hours=1)))
    holding, release = threading.Event(), threading.Event()
    results: list[Any] = []

    def first_runner() -> None:
        try:
            results.append(
                run_rollup(after_step=lambda step: (holding.set(), release.wait(30)) if step == "day" else None)
            )
        finally:
            connection.close()

    thread = threading.Thread(target=first_runner)
    thread.start()
    assert holding.wait(30)
    # While the first run holds the lock (its rows not yet committed), a second one steps aside.
    second = run_rollup()
    assert second.ran is False
    assert rollup_task()["ran"] is False
    release.set()
    thread.join(30)
    assert results and results[0].ran
    assert_rollups_exact()
    # Running again right after changes nothing.
    before = _snapshot()
    run_rollup()
    assert {k: v for k, v in _snapshot().items() if k != "watermarks"} == {
        k: v for k, v in before.items() if k != "watermarks"
    }


@override_settings(ROLLUP_MINUTE_RETENTION_DAYS=14)
def test_late_data_older_than_the_minute_retention_is_summed_from_raw(
    committed_db: None, catalog: list[dict[str, Any]]
) -> None:
    """An hour whose minutes retention already trimmed is recomputed from raw, not from the
    one surviving minute (which would lose the calls of the trimmed ones)."""
    traffic = Traffic(catalog, seed=5)
    hour = (_now() - dt.timedelta(days=20)).replace(minute=0, second=0, microsecond=0)
    insert_raw(traffic.batch(30, hour, dt.timedelta(minutes=50)))
    run_rollup()
    assert delete_expired_rollups()["minute"] > 0  # those minutes are past retention
    insert_raw(traffic.batch(5, hour + dt.timedelta(minutes=55), dt.timedelta(minutes=4)))  # late, same hour
    run_rollup()
    for level in ("hour", "day"):
        assert actual(level) == expected(level)
    assert sum(RollupHour.objects.filter(bucket=hour).values_list("calls", flat=True)) == 35


def test_retention_trims_minutes_and_hours_in_batches_and_keeps_days(db: None) -> None:
    now = _now()
    row = {"status": 200, "latency_hist": [0] * BUCKETS, "upstream_hist": [0] * BUCKETS}
    for i in range(5):
        RollupMinute.objects.create(bucket=now - dt.timedelta(days=15, minutes=i), **row)
        RollupHour.objects.create(bucket=now - dt.timedelta(days=401, hours=i), **row)
        RollupDay.objects.create(bucket=now - dt.timedelta(days=3000 + i), **row)
    RollupMinute.objects.create(bucket=now - dt.timedelta(days=13), **row)
    RollupHour.objects.create(bucket=now - dt.timedelta(days=399), **row)
    # Hour summaries are trimmed with the hour rollups; day summaries are kept like the day rollups.
    for days in (401, 402, 399):
        ProviderSummaryHour.objects.create(bucket=now - dt.timedelta(days=days), **row)
    ProviderSummaryDay.objects.create(bucket=now - dt.timedelta(days=3000), **row)
    # AI rollups are trimmed with the call rollups of their level; AI days are kept.
    ai = {"ttft_hist": [0] * BUCKETS, "latency_hist": [0] * BUCKETS}
    for model, days in ((AiRollupMinute, 15), (AiRollupMinute, 13), (AiRollupHour, 401), (AiRollupDay, 3000)):
        model.objects.create(bucket=now - dt.timedelta(days=days), **ai)
    for summary, days in ((AiTenantSummaryHour, 401), (AiTenantSummaryHour, 399), (AiTenantSummaryDay, 3000)):
        summary.objects.create(bucket=now - dt.timedelta(days=days), **ai)

    assert delete_expired_rollups(batch_size=2) == {
        "minute": 5,
        "hour": 5,
        "ai minute": 1,
        "ai hour": 1,
        **{
            f"{shape} summary {level}": 0
            for shape in SUMMARIES
            for level in ("minute", "hour")
            if level in SUMMARY_LEVELS[shape]
        },
        "provider summary hour": 2,
        "aitenant summary hour": 1,
        "aimodel summary hour": 0,
    }
    assert RollupMinute.objects.count() == 1 and RollupHour.objects.count() == 1
    assert RollupDay.objects.count() == 5
    assert ProviderSummaryHour.objects.count() == 1 and ProviderSummaryDay.objects.count() == 1
    assert (AiRollupMinute.objects.count(), AiRollupHour.objects.count(), AiRollupDay.objects.count()) == (1, 0, 1)
    assert (AiTenantSummaryHour.objects.count(), AiTenantSummaryDay.objects.count()) == (1, 1)


def test_the_beat_schedule_runs_the_rollup_every_interval() -> None:
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["analytics-rollup"]
    assert entry["task"] == "analytics.tasks.rollup_task" and entry["schedule"] == 30.0
    assert rollup_task.acks_late is True
    assert settings.CELERY_BEAT_SCHEDULE["analytics-expire-rollups"]["task"] == "analytics.tasks.expire_rollups_task"


def test_dashboards_read_the_same_numbers_from_the_summaries(
    committed_db: None, catalog: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every dashboard read of an hour or day window (AI usage included) gives the same figures from
    the summary it picks as from the full rollup (SUMMARIES and AI_SUMMARIES emptied: the choosers
    fall back to the full tables)."""
    from analytics import selectors

    _mixed_workload(Traffic(catalog, seed=5))
    tenant_id, api_id = catalog[0]["tenant_id"], catalog[0]["api_id"]
    scopes = [
        selectors.platform_scope(),
        selectors.platform_scope(node_id=1),
        selectors.Scope("provider", tenant_id),
        selectors.Scope("provider", tenant_id, api_id=api_id),
        selectors.Scope("consumer", 900),
        selectors.Scope("consumer", 901, application_id=101),
    ]

    now = _now()

    def reads() -> list[Any]:
        found: list[Any] = []
        for range_key in ("7d", "30d"):
            window = selectors.window_for(range_key, now=now)
            for scope in scopes:
                found += [selectors.totals(scope, window), selectors.timeseries(scope, window)]
                found += [selectors.top(scope, window, by, limit=3) for by in selectors.DIMENSIONS]
                found.append(selectors.trends(scope, window))
                if scope.node_id is None:  # AI usage is not kept per node
                    found.append(selectors.ai_usage(scope, window))
        return found

    def plain(value: Any, loose: bool) -> Any:
        # Float sums may differ in the last bits with the order of addition; all else is exact.
        if isinstance(value, float):
            return pytest.approx(value, rel=1e-12) if loose else value
        if isinstance(value, dict):
            return {k: plain(v, loose) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v, loose) for v in value]
        if isinstance(value, selectors.Stats):
            return plain(vars(value), loose)
        return value

    summaries = plain(reads(), loose=True)
    assert selectors.table_for(scopes[0], "hour") == "analytics_platformsummaryhour"
    assert selectors.table_for(scopes[0], "minute") == "analytics_platformsummaryminute"
    assert selectors.totals(scopes[0], selectors.window_for("7d")).calls > 0
    platform_ai = {"ai_route", "ai_provider", "ai_model", "provider_tenant_id"}
    assert selectors.ai_table_for("day", platform_ai) == "analytics_aitenantsummaryday"
    assert selectors.ai_usage(scopes[0], selectors.window_for("30d"))["totals"]["calls"] > 0
    monkeypatch.setattr(selectors, "SUMMARIES", {})
    monkeypatch.setattr(selectors, "AI_SUMMARIES", {})
    assert selectors.table_for(scopes[0], "hour") == "analytics_rolluphour"
    assert selectors.ai_table_for("day", platform_ai) == "analytics_airollupday"
    assert plain(reads(), loose=False) == summaries


def test_the_open_hour_and_day_are_not_written_and_the_dashboards_count_them_from_finer_levels(
    committed_db: None, catalog: list[dict[str, Any]]
) -> None:
    """Hours and days are written once closed; a chart or total over the current hour or day
    still counts every call exactly once (read from the minutes / hours the rollup has)."""
    from analytics import selectors

    traffic = Traffic(catalog, seed=11)
    now = _now()
    hour = now.replace(minute=0, second=0, microsecond=0)
    day = hour.replace(hour=0)
    insert_raw(traffic.batch(60, day - dt.timedelta(hours=6), dt.timedelta(hours=5)))  # yesterday
    if hour > day:
        insert_raw(traffic.batch(50, day, hour - day))  # earlier today
    insert_raw(traffic.batch(40, hour, now - hour))  # this hour
    assert run_rollup().ran
    assert not RollupHour.objects.filter(bucket__gte=hour).exists()
    assert not RollupDay.objects.filter(bucket__gte=day).exists()
    assert RollupDay.objects.filter(bucket=day - dt.timedelta(days=1)).exists()

    def sent(start: dt.datetime, end: dt.datetime) -> int:
        return sum(1 for row in traffic.sent if start <= row["ts"] < end)

    platform = selectors.platform_scope()
    week = selectors.window_for("7d", now=now)
    series = selectors.timeseries(platform, week)
    assert (series[-1]["t"], series[-1]["calls"]) == (hour, sent(hour, now + dt.timedelta(minutes=1)))
    assert sum(point["calls"] for point in series) == len(traffic.sent)
    month = selectors.timeseries(platform, selectors.window_for("30d", now=now))
    assert (month[-1]["t"], month[-1]["calls"]) == (day, sent(day, now + dt.timedelta(minutes=1)))
    today = selectors.window_for("custom", start=day, end=day + dt.timedelta(days=1), now=now)
    assert selectors.totals(platform, today).calls == sent(day, day + dt.timedelta(days=1))
    assert selectors.totals(platform, selectors.window_for("30d", now=now)).calls == len(traffic.sent)


@override_settings(ROLLUP_LATE_MARGIN_SECONDS=0)  # else records received a moment ago are checked again
def test_a_quiet_run_writes_nothing_and_a_closed_hour_is_written_once(
    committed_db: None, catalog: list[dict[str, Any]]
) -> None:
    """A run with nothing new re-sums no hour and no day (it used to re-sum the whole open day)."""
    traffic = Traffic(catalog, seed=12)
    now = _now()
    insert_raw(traffic.batch(100, now - dt.timedelta(hours=3), dt.timedelta(hours=3)))
    first = run_rollup()
    assert first.rows["hour"] > 0
    again = run_rollup()
    assert again.rows["hour"] == again.rows["day"] == 0
    assert again.rows["hour summaries"] == again.rows["day summaries"] == 0
    assert_rollups_exact()


def test_a_watermark_read_before_the_rollup_moved_it_gives_the_same_numbers(
    committed_db: None, catalog: list[dict[str, Any]]
) -> None:
    """Dashboards read the watermarks just before their query; if the rollup moves them in
    between, the older watermark only sends more of the window to the finer levels."""
    from analytics import selectors

    traffic = Traffic(catalog, seed=13)
    now = _now()
    insert_raw(traffic.batch(200, now - dt.timedelta(hours=30), dt.timedelta(hours=30)))
    assert run_rollup().ran
    platform = selectors.platform_scope()
    windows = [selectors.window_for(key, now=now) for key in ("24h", "7d", "30d")]

    def figures(loose: bool = False) -> list[Any]:
        # Float sums (avg_ms) may differ in the last bits with the order of addition.
        return [
            (
                selectors.totals(platform, w).calls,
                [{k: pytest.approx(v, rel=1e-9) if loose and isinstance(v, float) else v for k, v in point.items()}
                 for point in selectors.timeseries(platform, w)],
            )
            for w in windows
        ]  # fmt: skip

    current = figures()
    assert current[-1][0] == len(traffic.sent)
    for level, back in (("hour", dt.timedelta(hours=5)), ("day", dt.timedelta(days=1))):
        mark = Watermark.objects.get(level=level)
        Watermark.objects.filter(level=level).update(upto=mark.upto - back)
    stale = figures(loose=True)
    for (calls, series), (calls_now, series_now) in zip(stale, current, strict=True):
        assert calls == calls_now
        for point, point_now in zip(series, series_now, strict=True):
            assert point == point_now, (point, point_now)
