"""AI usage: the AI rollups are exact (a fresh GROUP BY over raw after late records and re-runs),
and the provider's and consumer's dashboards, the REST endpoint and the CSV show it, scoped."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from analytics.models import AiRollupDay, AiRollupHour, AiRollupMinute
from analytics.rollup import run_rollup
from analytics.tests.factories import call
from analytics.tests.oracle import Traffic, actual_ai, assert_ai_rollups_exact, expected_ai
from analytics.tests.test_rollup import _mixed_workload
from core.tests.queries import assert_flat_queries
from subscriptions.models import SubscriptionStatus
from subscriptions.tests.factories import ApplicationFactory, SubscriptionFactory, make_catalog, make_key, membership

# --- the rollup -------------------------------------------------------------------------------


def test_ai_rollups_equal_a_fresh_group_by_over_raw(committed_db: None, catalog: list[dict[str, Any]]) -> None:
    """Three batches with runs between them, records late by hours and by a day, resent duplicates:
    every AI rollup row at every level is what a GROUP BY over the raw AI calls gives."""
    _mixed_workload(Traffic(catalog, seed=21))
    assert_ai_rollups_exact()
    for model in (AiRollupMinute, AiRollupHour, AiRollupDay):
        assert model.objects.exists(), model
    rows = list(AiRollupHour.objects.all())
    # The workload covers every measure: unknown costs, cached tokens, refused calls, no ttft.
    assert sum(r.cost_unknown for r in rows) > 0 and sum(r.cached_tokens for r in rows) > 0
    assert sum(r.errors for r in rows) > 0 and sum(r.ttft_count for r in rows) < sum(r.calls for r in rows)
    assert any(r.ai_model == "" for r in rows) and any(r.ai_route == "" for r in rows)
    for row in rows:
        assert sum(row.ttft_hist) == row.ttft_count and sum(row.latency_hist) == row.calls
    # The dashboards' read (whole days, hours at the edges, the open hour and day from finer levels)
    # counts every AI call of the window once, with the exact cost.
    from analytics import selectors

    ai_calls = list(expected_ai("minute").items())
    for range_key in ("24h", "7d", "30d"):
        window = selectors.window_for(range_key)
        inside = [m for (bucket, *_), m in ai_calls if window.start <= bucket < window.end]
        totals = selectors.ai_usage(selectors.platform_scope(), window)["totals"]
        assert totals["calls"] == sum(m["calls"] for m in inside), range_key
        assert totals["cost"] == sum((m["cost"] for m in inside), Decimal(0)), range_key
        assert totals["input_tokens"] == sum(m["input_tokens"] for m in inside), range_key
    # Run again with nothing new: the same rows.
    before = {level: actual_ai(level) for level in ("minute", "hour", "day")}
    run_rollup()
    assert {level: actual_ai(level) for level in ("minute", "hour", "day")} == before


def test_known_ai_calls_give_exact_tokens_and_cost_and_a_late_one_is_added(committed_db: None) -> None:
    """Decimal costs sum exactly at every level; a record arriving after its hour was written is
    counted by the next run; calls that are not AI calls never reach the AI rollups."""
    yesterday = timezone.now().astimezone(dt.UTC).replace(hour=10, minute=0, second=0, microsecond=0)
    yesterday -= dt.timedelta(days=1)
    ai = {"ai_route": "acme/chat", "ai_provider": "openai", "ai_model": "gpt-4o-mini", "provider_tenant_id": 7}
    call(yesterday + dt.timedelta(minutes=1), ai_input_tokens=1000, ai_output_tokens=10, ai_cached_tokens=600,
         ai_cost=Decimal("0.10000001"), ai_ttft_ms=120.0, **ai)  # fmt: skip
    call(yesterday + dt.timedelta(minutes=2), ai_input_tokens=2000, ai_output_tokens=20,
         ai_cost=Decimal("0.20000002"), ai_ttft_ms=480.0, **ai)  # fmt: skip
    call(yesterday + dt.timedelta(minutes=3), ai_input_tokens=5, ai_output_tokens=0, **ai)  # no price known
    call(yesterday + dt.timedelta(minutes=4), status=502, error="upstream_error", latency_ms=30000.0,
         ai_route="acme/chat", provider_tenant_id=7)  # fmt: skip
    call(
        yesterday + dt.timedelta(minutes=5), ai_input_tokens=99, ai_cost=Decimal("9"), provider_tenant_id=7
    )  # no model
    run_rollup()
    hour = AiRollupHour.objects.get(bucket=yesterday, ai_model="gpt-4o-mini")
    assert (hour.calls, hour.errors, hour.input_tokens, hour.output_tokens, hour.cached_tokens) == (3, 0, 3005, 30, 600)
    assert (hour.cost, hour.cost_unknown, hour.ttft_count, hour.ttft_sum) == (Decimal("0.30000003"), 1, 2, 600.0)
    refused = AiRollupHour.objects.get(bucket=yesterday, ai_model="")
    assert (refused.calls, refused.errors, refused.input_tokens, refused.cost_unknown) == (1, 1, 0, 0)
    assert AiRollupDay.objects.get(bucket=yesterday.replace(hour=0), ai_model="gpt-4o-mini").cost == Decimal(
        "0.30000003"
    )
    assert sum(r.calls for r in AiRollupDay.objects.all()) == 4  # the call without model or route is not an AI call

    call(yesterday + dt.timedelta(minutes=50), ai_input_tokens=1, ai_output_tokens=1,
         ai_cost=Decimal("0.00000001"), **ai)  # fmt: skip
    assert run_rollup().late_buckets >= 1
    hour = AiRollupHour.objects.get(bucket=yesterday, ai_model="gpt-4o-mini")
    assert (hour.calls, hour.cost, hour.input_tokens) == (4, Decimal("0.30000004"), 3006)
    assert AiRollupDay.objects.get(bucket=yesterday.replace(hour=0), ai_model="gpt-4o-mini").cost == Decimal(
        "0.30000004"
    )
    for level in ("minute", "hour", "day"):
        assert actual_ai(level) == expected_ai(level)


# --- the dashboards, REST and CSV -------------------------------------------------------------


@pytest.fixture
def ai_traffic(acme, globex, alice, charlie):
    """Globex's application Shop calls Acme's Orders API (an AI surface) half an hour ago: two
    priced calls of one model, one of another model with no price, one refused; plain calls too."""
    catalog = make_catalog(acme)
    app = ApplicationFactory(tenant=globex, name="Shop")
    SubscriptionFactory(application=app, plan=catalog.free, version=catalog.v1, status=SubscriptionStatus.ACTIVE)
    key, _ = make_key(membership(charlie, globex), app)
    dims = {
        "provider_tenant_id": acme.pk,
        "api_id": catalog.api.pk,
        "api_version_id": catalog.v1.pk,
        "consumer_tenant_id": globex.pk,
        "application_id": app.pk,
        "api_key_id": key.pk,
        "plan_id": catalog.free.pk,
    }
    at = timezone.now() - dt.timedelta(minutes=30)
    small = {"ai_route": "acme/chat-small", "ai_provider": "openai", "ai_model": "gpt-4o-mini"}
    call(at, ai_input_tokens=1000, ai_output_tokens=200, ai_cached_tokens=400, ai_cost=Decimal("0.10000001"),
         ai_ttft_ms=140.0, **small, **dims)  # fmt: skip
    call(at, ai_input_tokens=1400, ai_output_tokens=100, ai_cost=Decimal("0.20000002"), ai_ttft_ms=420.0,
         **small, **dims)  # fmt: skip
    call(at, ai_route="acme/chat-large", ai_provider="anthropic", ai_model="claude-x", ai_input_tokens=50,
         ai_output_tokens=5, **dims)  # fmt: skip
    call(at, status=429, error="token_limited", ai_route="acme/chat-small", **dims)
    for _ in range(3):
        call(at, **dims)  # plain REST calls
    run_rollup()
    return {"catalog": catalog, "app": app, "key": key, "dims": dims}


def test_the_provider_api_page_shows_ai_usage_per_model_and_application(client, alice, ai_traffic):
    client.force_login(alice)
    for query in ("", "?range=1h", "?range=7d", "?range=30d", "?version=v1"):
        body = client.get(f"/t/acme/analytics/apis/orders/{query}").content.decode()
        assert 'data-total="calls">7<' in body, query  # every call, AI or not
        section = body[body.index('id="ai-usage"') :]
        assert "4 AI calls" in section, query
        assert 'data-ai="input_tokens">2,450<' in section and 'data-ai="output_tokens">305<' in section
        assert 'data-ai="cached_tokens">400<' in section
        assert 'data-ai="cost">$0.30000003<' in section and "+ 1 call of unknown cost" in section
        assert 'data-ai="ttft">150.0 / 500.0 ms<' in section  # bucket upper bounds of 140 and 420 ms
        assert 'data-ai="errors">1<' in section
    models = section[section.index('data-ai-top="models"') : section.index('data-ai-top="applications"')]
    assert models.index("gpt-4o-mini") < models.index("claude-x")  # busiest first
    assert "<td>acme/chat-small</td><td>openai</td><td>gpt-4o-mini</td><td>2</td>" in models
    assert "<td>acme/chat-small</td><td>—</td><td>—</td><td>1</td><td>1</td>" in models  # refused: no model
    per_app = section[section.index('data-ai-top="applications"') :]
    assert "<td>Globex Retail · Shop</td><td>4</td>" in per_app
    catalog = ai_traffic["catalog"]  # the export is of what the page shows: here version v1
    assert (
        f"/t/acme/analytics/ai.csv?side=provider&amp;api={catalog.api.pk}&amp;version={catalog.v1.pk}&amp;range=24h"
        in body
    )


def test_the_consumer_application_page_shows_ai_usage_per_api(client, charlie, ai_traffic):
    client.force_login(charlie)
    app = ai_traffic["app"]
    body = client.get(f"/t/globex/analytics/apps/{app.pk}/?range=24h").content.decode()
    section = body[body.index('id="ai-usage"') :]
    assert 'data-ai="cost">$0.30000003<' in section and 'data-ai="input_tokens">2,450<' in section
    assert "<td>Orders API</td><td>4</td>" in section[section.index('data-ai-top="apis"') :]


def test_no_ai_section_without_ai_traffic(client, alice, charlie, acme):
    make_catalog(acme)
    client.force_login(alice)
    now = timezone.now()
    call(now - dt.timedelta(minutes=5), provider_tenant_id=acme.pk)
    run_rollup()
    body = client.get("/t/acme/analytics/apis/orders/").content.decode()
    assert 'id="ai-usage"' not in body


def test_the_ai_section_costs_the_same_queries_with_more_models_and_applications(client, alice, globex, ai_traffic):
    client.force_login(alice)
    dims = ai_traffic["dims"]

    def grow() -> None:
        at = timezone.now() - dt.timedelta(minutes=20)
        for i in range(4):
            app = ApplicationFactory(tenant=globex, name=f"App {i}")
            call(at, ai_route=f"acme/model-{i}", ai_provider="ollama", ai_model=f"llama-{i}", ai_input_tokens=i,
                 **{**dims, "application_id": app.pk, "api_key_id": None})  # fmt: skip
        run_rollup()

    _small, large = assert_flat_queries(client, "/t/acme/analytics/apis/orders/", grow)
    assert "llama-3" in large.content.decode() and "Globex Retail · App 3" in large.content.decode()


def test_rest_ai_usage(api, alice, charlie, ai_traffic):
    api.force_authenticate(alice)
    base = "/api/v1/tenants/acme/analytics/ai/"
    body = api.get(f"{base}?range=24h").json()
    totals = body["totals"]
    assert (totals["calls"], totals["errors"], totals["input_tokens"], totals["output_tokens"]) == (4, 1, 2450, 305)
    assert (totals["cached_tokens"], totals["cost"], totals["cost_unknown"]) == (400, "0.30000003", 1)
    assert (totals["ttft_count"], totals["ttft_p50_ms"], totals["ttft_p95_ms"], totals["ttft_avg_ms"]) == (
        2, 150.0, 500.0, 280.0
    )  # fmt: skip
    assert body["window"]["level"] == "minute" and body["by"] == "applications"
    assert [(m["key"]["ai_model"], m["calls"], m["cost"]) for m in body["models"]] == [
        ("gpt-4o-mini", 2, "0.30000003"),
        ("claude-x", 1, "0.00000000"),  # ties by route: chat-large before chat-small
        ("", 1, "0.00000000"),
    ]
    assert [(i["label"], i["calls"]) for i in body["items"]] == [("Globex Retail · Shop", 4)]
    catalog = ai_traffic["catalog"]
    assert api.get(f"{base}?api={catalog.api.pk}&version={catalog.v1.pk}").json()["totals"]["calls"] == 4
    assert api.get(f"{base}?side=consumer").json()["totals"]["calls"] == 0  # Acme's applications made none
    response = api.get(f"{base}?range=2w")
    assert response.status_code == 400 and "range" in response.json()["error"]["fields"]

    api.force_authenticate(charlie)
    consumer = api.get("/api/v1/tenants/globex/analytics/ai/?side=consumer").json()
    assert consumer["by"] == "apis" and [(i["label"], i["calls"]) for i in consumer["items"]] == [("Orders API", 4)]
    # A stranger: not a member of Acme, and Globex's provider side cannot name Acme's API.
    assert api.get(base).status_code == 404
    response = api.get(f"/api/v1/tenants/globex/analytics/ai/?side=provider&api={catalog.api.pk}")
    assert response.status_code == 404 and response.json()["error"]["code"] == "api_not_found"


def test_ai_usage_csv(client, alice, charlie, ai_traffic):
    client.force_login(alice)
    response = client.get(f"/t/acme/analytics/ai.csv?side=provider&api={ai_traffic['catalog'].api.pk}&range=24h")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["group"], r["label"], r["calls"], r["cost"]) for r in rows] == [
        ("total", "all AI calls", "4", "0.30000003"),
        ("model", "acme/chat-small · openai · gpt-4o-mini", "2", "0.30000003"),
        ("model", "acme/chat-large · anthropic · claude-x", "1", "0"),
        ("model", "acme/chat-small", "1", "0"),
        ("applications", "Globex Retail · Shop", "4", "0.30000003"),
    ]
    assert client.get("/t/acme/analytics/ai.csv?range=2w").status_code == 400
    client.force_login(charlie)
    assert client.get("/t/acme/analytics/ai.csv").status_code == 404


def test_staff_platform_page_shows_ai_usage_per_provider(client, alice, ai_traffic):
    alice.is_staff = True
    alice.save()
    client.force_login(alice)
    body = client.get("/platform/analytics/?range=24h").content.decode()
    section = body[body.index('id="ai-usage"') :]
    assert 'data-ai="cost">$0.30000003<' in section
    assert "<td>Acme Logistics</td><td>4</td>" in section[section.index('data-ai-top="providers"') :]


def test_the_migration_fills_the_ai_rollups_the_rollup_has_passed(committed_db: None, catalog: list[dict[str, Any]]):
    """A database holding AI calls before the AI rollups existed: migration 0012 computes every
    bucket below each level's watermark from raw, as the rollup would have."""
    import importlib

    from django.db import connection

    from analytics.models import Watermark
    from analytics.tests.oracle import materialised_until

    migration = importlib.import_module("analytics.migrations.0012_ai_rollups")
    _mixed_workload(Traffic(catalog, seed=23))
    with connection.cursor() as cur:
        for level in ("minute", "hour", "day"):
            cur.execute(f"DELETE FROM analytics_airollup{level}")  # as before the migration
            cur.execute(migration.backfill_sql(level))
    minute_mark = Watermark.objects.get(level="minute").upto
    for level in ("minute", "hour", "day"):
        until = materialised_until(level) or minute_mark
        want = {k: v for k, v in expected_ai(level).items() if k[0] < until}
        assert want and actual_ai(level) == want, level
    run_rollup()  # the rollup goes on from there
    assert_ai_rollups_exact()


def test_the_call_page_shows_the_ai_fields(client, alice, ai_traffic):
    client.force_login(alice)
    request_id = call(
        timezone.now() - dt.timedelta(minutes=1), ai_route="acme/chat-small", ai_provider="openai",
        ai_model="gpt-4o-mini", ai_input_tokens=1000, ai_cached_tokens=400, ai_output_tokens=20,
        ai_ttft_ms=141.3, **ai_traffic["dims"],
    )  # fmt: skip
    body = client.get(f"/t/acme/analytics/calls/{request_id}/?side=provider").content.decode()
    assert (
        "acme/chat-small → openai gpt-4o-mini · 1000 in (400 cached) / 20 out tokens · cost unknown"
        " · first token after 141.3 ms"
    ) in body


def test_the_split_lists_the_busiest_callers_with_their_own_figures(alice, globex, ai_traffic, monkeypatch):
    """A provider's AI callers are ranked on their calls and only the first AI_MAX_ROWS listed, each
    with its own exact tokens and cost (the totals still count every caller)."""
    from analytics import selectors

    dims = ai_traffic["dims"]
    at = timezone.now() - dt.timedelta(minutes=10)
    model = {"ai_route": "acme/chat-small", "ai_provider": "openai", "ai_model": "gpt-4o-mini"}
    for name, calls in (("Busy", 6), ("Quiet", 1), ("Middle", 5)):
        app = ApplicationFactory(tenant=globex, name=name)
        for _ in range(calls):
            call(at, ai_input_tokens=10, ai_output_tokens=1, ai_cost=Decimal("0.00000010"), **model,
                 **{**dims, "application_id": app.pk, "api_key_id": None})  # fmt: skip
    run_rollup()
    monkeypatch.setattr(selectors, "AI_MAX_ROWS", 2)
    scope = selectors.scope_for(ai_traffic["catalog"].api.tenant, "provider", api_id=ai_traffic["catalog"].api.pk)
    usage = selectors.ai_usage(scope, selectors.window_for("24h"))
    assert [(i["label"], i["calls"], i["input_tokens"], i["cost"]) for i in usage["items"]] == [
        ("Globex Retail · Busy", 6, 60, Decimal("0.00000060")),
        ("Globex Retail · Middle", 5, 50, Decimal("0.00000050")),
    ]
    assert usage["totals"]["calls"] == 4 + 12
