"""Quota use on the consumer's pages: calls, and for plans with AI limits the tokens and cost of the
UTC day and month against them, read from the AI rollups the rollup wrote from raw records."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from analytics import selectors
from analytics.rollup import run_rollup
from analytics.tests.factories import call
from apis.models import Plan
from core.tests.queries import assert_flat_queries
from subscriptions.models import SubscriptionStatus
from subscriptions.tests.factories import ApplicationFactory, SubscriptionFactory, make_catalog, make_key, membership
from tenants.tests.factories import TenantFactory

NOW = dt.datetime(2026, 3, 15, 12, 30, tzinfo=dt.UTC)
TODAY = NOW.replace(hour=0, minute=0)
AI_MODEL: dict[str, Any] = {"ai_route": "acme/chat-small", "ai_provider": "openai", "ai_model": "gpt-4o-mini"}


def _ai_plan(catalog: Any, **limits: Any) -> Plan:
    defaults: dict[str, Any] = {
        "token_quota_per_day": 5000,
        "token_quota_per_month": 100_000,
        "cost_budget_per_day": Decimal("1"),
    }
    return Plan.objects.create(tenant=catalog.api.tenant, api=catalog.api, name="AI", **{**defaults, **limits})


@pytest.fixture
def shop(acme, globex, charlie):
    """Globex's application Shop subscribes to Acme's Orders API on a plan with token quotas per day
    and month, a daily cost budget and no monthly one; and to Billing on a plan without AI limits."""
    catalog = make_catalog(acme)
    billing = make_catalog(acme, slug="billing")
    app = ApplicationFactory(tenant=globex, name="Shop")
    plan = _ai_plan(catalog)
    subscription = SubscriptionFactory(application=app, plan=plan, version=catalog.v1, status=SubscriptionStatus.ACTIVE)
    SubscriptionFactory(application=app, plan=billing.free, version=billing.v1, status=SubscriptionStatus.ACTIVE)
    key, _ = make_key(membership(charlie, globex), app)
    dims = {
        "provider_tenant_id": acme.pk,
        "api_id": catalog.api.pk,
        "api_version_id": catalog.v1.pk,
        "consumer_tenant_id": globex.pk,
        "application_id": app.pk,
        "api_key_id": key.pk,
        "plan_id": plan.pk,
    }
    return {"catalog": catalog, "billing": billing, "app": app, "plan": plan, "sub": subscription, "dims": dims}


def _known_ai_calls(shop: dict[str, Any], globex: Any) -> None:
    """Today (NOW's UTC day): 1,702 tokens and $0.12000006; the month before today: 10,010 tokens and
    $1.50000001; plus calls that must not count."""
    dims = shop["dims"]
    call(TODAY + dt.timedelta(minutes=10), ai_input_tokens=1000, ai_output_tokens=200, ai_cost=Decimal("0.10000001"),
         **AI_MODEL, **dims)  # fmt: skip
    call(
        NOW - dt.timedelta(minutes=1),
        ai_input_tokens=300,
        ai_output_tokens=50,
        ai_cached_tokens=100,
        ai_cost=Decimal("0.02"),
        **AI_MODEL,
        **dims,
    )  # fmt: skip  (cached tokens are part of the input)
    # A stream cut off midway: the node charged what was counted.
    call(NOW - dt.timedelta(minutes=1), status=502, error="upstream_unavailable", ai_input_tokens=100,
         ai_output_tokens=10, ai_cost=Decimal("0.00000005"), **AI_MODEL, **dims)  # fmt: skip
    call(
        NOW - dt.timedelta(minutes=2), status=429, error="token_quota_exceeded", ai_route="acme/chat-small", **dims
    )  # fmt: skip  (refused: no tokens)
    call(
        NOW - dt.timedelta(hours=3),
        ai_route="acme/chat-large",
        ai_provider="ollama",
        ai_model="llama",
        ai_input_tokens=40,
        ai_output_tokens=2,
        **dims,
    )  # fmt: skip  (no price: tokens, no cost)
    call(
        TODAY - dt.timedelta(minutes=1),
        ai_input_tokens=10_000,
        ai_output_tokens=0,
        ai_cost=Decimal("1.5"),
        **AI_MODEL,
        **dims,
    )  # fmt: skip  (yesterday)
    call(
        TODAY.replace(day=1), ai_input_tokens=7, ai_output_tokens=3, ai_cost=Decimal("0.00000001"), **AI_MODEL, **dims
    )  # fmt: skip  (the month's first minute)
    # Not this subscription's: last month, another application of Globex, another organisation.
    call(TODAY.replace(day=1) - dt.timedelta(seconds=1), ai_input_tokens=999, ai_cost=Decimal("9"), **AI_MODEL, **dims)
    other_app = ApplicationFactory(tenant=globex, name="Other")
    call(NOW - dt.timedelta(minutes=5), ai_input_tokens=777, ai_cost=Decimal("7"), **AI_MODEL,
         **{**dims, "application_id": other_app.pk, "api_key_id": None})  # fmt: skip
    stranger = TenantFactory(slug="initech")
    call(NOW - dt.timedelta(minutes=5), ai_input_tokens=555, ai_cost=Decimal("5"), **AI_MODEL,
         **{**dims, "consumer_tenant_id": stranger.pk})  # fmt: skip
    run_rollup()


def test_tokens_and_cost_of_the_utc_day_and_month_against_the_plan(globex, shop):
    _known_ai_calls(shop, globex)
    usage = {u["subscription"].pk: u for u in selectors.quota_usage(shop["app"], now=NOW)}
    ai = usage[shop["sub"].pk]["ai"]
    assert (ai["day_tokens"], ai["day_token_quota"], ai["day_token_share"]) == (1702, 5000, 1702 / 5000)
    assert (ai["month_tokens"], ai["month_token_quota"]) == (11_712, 100_000)
    assert (ai["day_cost"], ai["day_cost_display"], ai["day_cost_budget"]) == (
        Decimal("0.12000006"), "$0.12000006", Decimal("1")
    )  # fmt: skip
    assert ai["day_cost_share"] == pytest.approx(0.12000006)
    assert (ai["month_cost"], ai["month_cost_budget"], ai["month_cost_share"]) == (Decimal("1.62000007"), None, None)
    # The calls quota as before: served calls only (the 502 and the refused one are not).
    assert usage[shop["sub"].pk]["day_calls"] == 3
    # A plan without AI limits has no AI figures.
    [billing] = [u for u in usage.values() if u["subscription"].pk != shop["sub"].pk]
    assert billing["ai"] is None


@pytest.mark.parametrize(
    ("hour_mark", "day_mark"),
    [
        (NOW.replace(minute=0), TODAY),  # the usual: today's hours and day not closed
        (TODAY - dt.timedelta(hours=2), TODAY - dt.timedelta(days=1)),  # yesterday's day not written yet
        (TODAY.replace(day=1), TODAY.replace(day=1)),  # no hour or day written this month: minutes only
    ],
)
def test_every_level_combination_counts_each_ai_call_once(globex, shop, hour_mark, day_mark):
    """Where the rollup has written hours and days (its watermarks) decides which level each part
    of the month is read from; the figures stay the same."""
    _known_ai_calls(shop, globex)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE analytics_watermark SET upto = %s WHERE level = 'hour'", [hour_mark])
        cursor.execute("UPDATE analytics_watermark SET upto = %s WHERE level = 'day'", [day_mark])
    [ai] = [u["ai"] for u in selectors.quota_usage(shop["app"], now=NOW) if u["ai"]]
    assert (ai["day_tokens"], ai["month_tokens"]) == (1702, 11_712)
    assert (ai["day_cost"], ai["month_cost"]) == (Decimal("0.12000006"), Decimal("1.62000007"))


def test_a_plan_with_only_a_per_minute_limit_shows_use_without_quotas(acme, globex, shop):
    catalog = make_catalog(acme, slug="chat")
    plan = _ai_plan(catalog, token_limit_per_minute=1000, token_quota_per_day=None, token_quota_per_month=None,
                    cost_budget_per_day=None)  # fmt: skip
    subscription = SubscriptionFactory(
        application=shop["app"], plan=plan, version=catalog.v1, status=SubscriptionStatus.ACTIVE
    )
    [ai] = [u["ai"] for u in selectors.quota_usage(shop["app"], now=NOW) if u["subscription"] == subscription]
    assert (ai["day_tokens"], ai["day_token_quota"], ai["day_token_share"]) == (0, None, None)
    assert (ai["month_cost"], ai["month_cost_budget"]) == (Decimal(0), None)


# --- the pages --------------------------------------------------------------------------------


def _today_calls(shop: dict[str, Any]) -> None:
    """Two AI calls at the start of the current UTC day (so always today and this month)."""
    start = timezone.now().astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    call(start, ai_input_tokens=1200, ai_output_tokens=300, ai_cost=Decimal("0.25"), **AI_MODEL, **shop["dims"])
    call(start, ai_input_tokens=40, ai_output_tokens=10, ai_cost=Decimal("0.00000003"), **AI_MODEL, **shop["dims"])
    run_rollup()


def _text(html: str, name: str) -> str:
    match = re.search(rf'data-quota="{name}">(.*?)</div>', html, re.S)
    assert match, f"no {name}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1))).strip()


def test_the_application_page_shows_tokens_and_cost_against_the_plan(client, charlie, shop):
    _today_calls(shop)
    client.force_login(charlie)
    body = client.get(f"/t/globex/analytics/apps/{shop['app'].pk}/").content.decode()
    row = body[body.index(f'data-quota-row="{shop["sub"].pk}"') :]
    row = row[: row.index("</tr>")]
    assert _text(row, "day-tokens") == "Tokens: 1,550 / 5,000 31 %"
    assert _text(row, "month-tokens") == "Tokens: 1,550 / 100,000 2 %"
    assert _text(row, "day-cost") == "Cost: $0.25000003 / $1 25 %"
    assert _text(row, "month-cost") == "Cost: $0.25000003 (no monthly budget)"
    assert 'max="5000" value="1550"' in row and 'max="1.0000" value="0.25000003"' in row
    assert "Token quotas count input + output tokens" in body
    # The plan without AI limits shows its calls only.
    billing = body[body.index("Billing API") :]
    billing = billing[: billing.index("</tr>")]
    assert "Tokens" not in billing and "Cost" not in billing


def test_no_ai_lines_for_plans_without_ai_limits(client, charlie, globex, acme):
    catalog = make_catalog(acme)
    app = ApplicationFactory(tenant=globex, name="Plain")
    SubscriptionFactory(application=app, plan=catalog.free, version=catalog.v1, status=SubscriptionStatus.ACTIVE)
    client.force_login(charlie)
    body = client.get(f"/t/globex/analytics/apps/{app.pk}/").content.decode()
    assert 'data-quota="day"' in body and "-tokens" not in body and "Token quotas count" not in body
    assert "data-quota" in client.get("/t/globex/").content.decode()
    assert "-tokens" not in client.get("/t/globex/").content.decode()


def test_the_dashboard_shows_tokens_and_cost_per_subscription(client, charlie, shop):
    _today_calls(shop)
    client.force_login(charlie)
    html = client.get("/t/globex/").content.decode()
    row = html[html.index(f'data-quota-row="{shop["sub"].pk}"') :]
    row = row[: row.index("</li>")]
    assert _text(row, "day").startswith("Today: 2")  # the two AI calls are calls too
    assert _text(row, "day-tokens") == "Tokens: 1,550 / 5,000 31 %"
    assert _text(row, "month-cost") == "Cost: $0.25000003 (no monthly budget)"


def test_the_ai_figures_cost_one_query_whatever_the_subscriptions(client, acme, charlie, globex, shop):
    _today_calls(shop)
    client.force_login(charlie)

    grown = [0]

    def grow() -> None:
        for i in range(grown[0], grown[0] + 3):
            catalog = make_catalog(acme, slug=f"ai-{i}")
            app = ApplicationFactory(tenant=globex, name=f"App {i}")
            plan = _ai_plan(catalog)
            SubscriptionFactory(application=app, plan=plan, version=catalog.v1, status=SubscriptionStatus.ACTIVE)
            dims = {**shop["dims"], "api_id": catalog.api.pk, "application_id": app.pk, "api_key_id": None}
            call(timezone.now() - dt.timedelta(seconds=5), ai_input_tokens=i + 1, **AI_MODEL, **dims)
        grown[0] += 3
        run_rollup()

    app_url = f"/t/globex/analytics/apps/{shop['app'].pk}/"
    _small, large = assert_flat_queries(client, app_url, grow)
    assert _text(large.content.decode(), "day-tokens") == "Tokens: 1,550 / 5,000 31 %"
    _small, large = assert_flat_queries(client, "/t/globex/", grow)
    assert large.content.decode().count('data-quota="day-tokens"') >= 4


def test_strangers_get_404(client, alice, charlie, acme, shop):
    client.force_login(alice)  # not a member of Globex
    assert client.get(f"/t/globex/analytics/apps/{shop['app'].pk}/").status_code == 404
    acme_app = ApplicationFactory(tenant=acme, name="Acme's own")
    client.force_login(charlie)  # Globex cannot name Acme's application
    assert client.get(f"/t/globex/analytics/apps/{acme_app.pk}/").status_code == 404
