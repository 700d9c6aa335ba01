"""Token quota and cost budget rules: Globex's Shop calls Acme's Orders API, an AI API, on a plan
with a daily token quota and a monthly cost budget, and Billing on a plan without AI limits. The
AI calls are raw call records the real rollup turns into the AI rollups the quota bars read."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from alerts import evaluation, services
from alerts.evaluation import evaluate, readings_for
from alerts.models import AlertEvent, AlertRule, Metric
from alerts.tests.conftest import Shop, rollup
from analytics.tests.factories import call
from apis.models import Plan
from core.errors import InvalidInput
from notifications.models import Notification
from subscriptions.models import SubscriptionStatus
from subscriptions.tests.factories import ApplicationFactory, SubscriptionFactory, make_catalog

#: A fixed past moment, so the day and month are known (the rollup writes any past bucket).
NOW = dt.datetime(2026, 3, 15, 12, 30, tzinfo=dt.UTC)
TODAY = NOW.replace(hour=0, minute=0)
AI_MODEL: dict[str, Any] = {"ai_route": "acme/chat-small", "ai_provider": "openai", "ai_model": "gpt-4o-mini"}


@pytest.fixture
def ai_shop(shop: Shop, acme) -> Shop:
    """Orders' plan gets 5,000 tokens a day and a $2 monthly budget (no monthly token quota, no
    daily budget); Shop also subscribes to Billing, whose plan has no AI limit."""
    Plan.objects.for_tenant(shop.plan.tenant).filter(pk=shop.plan.pk).update(
        token_quota_per_day=5000, cost_budget_per_month=Decimal(2)
    )
    billing = make_catalog(acme, slug="billing")
    SubscriptionFactory(application=shop.app, plan=billing.free, version=billing.v1, status=SubscriptionStatus.ACTIVE)
    return shop


def _ai_call(shop: Shop, ts: dt.datetime, *, tokens: int = 0, cost: str = "0", **extra: Any) -> None:
    """One AI call of Shop on Orders: ``tokens`` split 3:1 between input and output."""
    fields = {**shop.dims, **AI_MODEL, **extra}
    call(ts, ai_input_tokens=tokens - tokens // 4, ai_output_tokens=tokens // 4, ai_cost=Decimal(cost), **fields)


def _rule(shop: Shop, metric: str, threshold: float, period: str, **extra: Any) -> AlertRule:
    return AlertRule.objects.create(
        tenant=shop.app.tenant, scope="application", application=shop.app, metric=metric,
        threshold=Decimal(str(threshold)), quota_period=period, **extra,
    )  # fmt: skip


def _events(rule: AlertRule) -> list[AlertEvent]:
    return list(AlertEvent.objects.unscoped().filter(rule=rule).order_by("fired_at", "pk"))


# --- Evaluation -------------------------------------------------------------------------------


def test_token_quota_of_the_day_fires_at_80_percent_and_resolves_below_90_percent_of_it(ai_shop: Shop) -> None:
    shop = ai_shop
    _ai_call(shop, TODAY + dt.timedelta(minutes=5), tokens=3000, cost="0.30")
    _ai_call(shop, NOW - dt.timedelta(minutes=3), tokens=1000, cost="0.10")  # 4,000 of 5,000 today: 80 %
    call(
        NOW - dt.timedelta(minutes=2), status=429, error="token_quota_exceeded", ai_route="acme/chat-small", **shop.dims
    )  # fmt: skip  (refused: no tokens)
    _ai_call(shop, TODAY - dt.timedelta(minutes=1), tokens=9000)  # yesterday: not today's
    # Tomorrow 3,700 tokens (74 %: under 80 %, not under 72 %), the day after 3,500 (70 %).
    _ai_call(shop, TODAY + dt.timedelta(days=1, hours=1), tokens=3700)
    _ai_call(shop, TODAY + dt.timedelta(days=2, hours=1), tokens=3500)
    rollup()
    rule = _rule(shop, Metric.TOKEN_QUOTA_USE, 80, "day")
    higher = _rule(shop, Metric.TOKEN_QUOTA_USE, 90, "day")

    fired = evaluate(now=NOW).fired
    assert [(e.rule_id, e.fired_value, e.subject) for e in fired] == [
        (rule.pk, 80.0, f"subscription:{shop.subscription.pk}")
    ]
    assert fired[0].message == (
        "Orders API (Small): 80 % (4,000 of 5,000 tokens this UTC day); rule: token quota use ≥ 80 % of the UTC day"
    )
    assert evaluate(now=NOW + dt.timedelta(minutes=1)).fired == []  # fires once
    held = evaluate(now=TODAY + dt.timedelta(days=1, hours=2))
    assert (held.fired, held.resolved) == ([], [])  # 74 %: between 72 and 80 %, nothing changes
    resolved = evaluate(now=TODAY + dt.timedelta(days=2, hours=2)).resolved
    assert [(e.pk, e.resolved_value) for e in resolved] == [(fired[0].pk, 70.0)]
    assert resolved[0].resolve_message == "Orders API (Small): back to 70 % (3,500 of 5,000 tokens this UTC day)"
    assert _events(higher) == []


def test_cost_budget_of_the_month_fires_at_80_percent_and_tells_the_consumer(
    ai_shop: Shop, globex, django_capture_on_commit_callbacks
) -> None:
    shop = ai_shop
    _ai_call(shop, TODAY.replace(day=1), tokens=100, cost="0.50")  # the month's first minute
    _ai_call(shop, TODAY.replace(day=10, hour=8), tokens=100, cost="0.70")
    _ai_call(shop, NOW - dt.timedelta(minutes=1), tokens=100, cost="0.40")  # $1.60 of $2: 80 %
    _ai_call(shop, TODAY.replace(day=1) - dt.timedelta(seconds=1), tokens=100, cost="5")  # last month
    other = ApplicationFactory(tenant=globex, name="Other")
    _ai_call(shop, NOW - dt.timedelta(minutes=1), tokens=100, cost="9", application_id=other.pk)  # not Shop's
    rollup()
    rule = _rule(shop, Metric.COST_BUDGET_USE, 80, "month", email=True)
    full = _rule(shop, Metric.COST_BUDGET_USE, 100, "month")

    with django_capture_on_commit_callbacks(execute=True):
        fired = evaluate(now=NOW).fired
    assert [(e.rule_id, e.fired_value) for e in fired] == [(rule.pk, 80.0)]
    assert _events(full) == []
    notice = Notification.objects.for_tenant(globex).get()
    assert notice.title == "Alert fired: Shop: cost budget use ≥ 80 % of the UTC month"
    assert notice.body == (
        "Orders API (Small): 80 % ($1.60 of $2.00 this UTC month); rule: cost budget use ≥ 80 % of the UTC month"
    )
    data = json.loads(json.dumps(evaluation.payload(fired[0], rule), default=str))
    assert {k: data[k] for k in ("metric", "unit", "threshold", "value", "quota_period", "window_minutes")} == {
        "metric": "cost_budget_use",
        "unit": "%",
        "threshold": 80.0,
        "value": 80.0,
        "quota_period": "month",
        "window_minutes": None,
    }
    assert data["rule"]["condition"] == "cost budget use ≥ 80 % of the UTC month"
    assert data["subject"] == {"key": f"subscription:{shop.subscription.pk}", "label": "Orders API (Small)"}

    # The next month starts from zero: resolves.
    resolved = evaluate(now=dt.datetime(2026, 4, 1, 0, 5, tzinfo=dt.UTC)).resolved
    assert [(e.rule_id, e.resolved_value) for e in resolved] == [(rule.pk, 0.0)]


def test_subscriptions_whose_plan_has_no_such_limit_are_skipped(ai_shop: Shop) -> None:
    """Orders' plan has a daily token quota and a monthly budget, Billing's no AI limit at all."""
    shop = ai_shop
    _ai_call(shop, NOW - dt.timedelta(minutes=1), tokens=5000, cost="2")
    rollup()
    day_tokens = _rule(shop, Metric.TOKEN_QUOTA_USE, 50, "day")
    month_tokens = _rule(shop, Metric.TOKEN_QUOTA_USE, 50, "month")
    day_cost = _rule(shop, Metric.COST_BUDGET_USE, 50, "day")
    month_cost = _rule(shop, Metric.COST_BUDGET_USE, 50, "month")
    readings = readings_for([day_tokens, month_tokens, day_cost, month_cost], NOW)
    watched = f"subscription:{shop.subscription.pk}"
    rules = (day_tokens, month_tokens, day_cost, month_cost)
    found = {rule.pk: [(r.subject, r.value) for r in readings[rule.pk]] for rule in rules}
    assert found == {
        day_tokens.pk: [(watched, 100.0)],
        month_tokens.pk: [],
        day_cost.pk: [],
        month_cost.pk: [(watched, 100.0)],
    }
    assert len(evaluate(now=NOW).fired) == 2
    # The provider drops the budget: the incident closes, nothing is watched any more.
    Plan.objects.for_tenant(shop.plan.tenant).filter(pk=shop.plan.pk).update(cost_budget_per_month=None)
    closed = evaluate(now=NOW).resolved
    assert [(e.rule_id, e.resolved_value) for e in closed] == [(month_cost.pk, None)]
    assert "no longer watched" in closed[0].resolve_message


def test_a_plan_without_ai_limits_reads_no_ai_rollup(shop: Shop) -> None:
    """Only subscriptions whose plan has an AI limit are read from the AI rollups."""
    rule = _rule(shop, Metric.TOKEN_QUOTA_USE, 80, "day")
    with CaptureQueriesContext(connection) as queries:
        assert readings_for([rule], NOW) == {rule.pk: []}
    assert not [q for q in queries.captured_queries if "airollup" in q["sql"]]


# --- Validation -------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["token_quota_use", "cost_budget_use"])
def test_the_period_is_required_and_api_rules_refuse_them(shop: Shop, metric: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        services.rule_create(actor=shop.charlie, application=shop.app, metric=metric, threshold=80)
    assert (refused.value.field, refused.value.message) == (
        "quota_period",
        "Choose the limit of the day or of the month.",
    )
    with pytest.raises(InvalidInput) as refused:
        services.rule_create(actor=shop.alice, api=shop.api, metric=metric, threshold=80, quota_period="day")
    assert refused.value.field == "metric" and "A rule on an API watches" in refused.value.message
    with pytest.raises(InvalidInput) as refused:
        services.rule_create(actor=shop.charlie, application=shop.app, metric=metric, threshold=120, quota_period="day")
    assert refused.value.field == "threshold" and "Between 1 and 100 %" in refused.value.message
    rule = services.rule_create(actor=shop.charlie, application=shop.app, metric=metric, threshold=80,
                                quota_period="month")  # fmt: skip
    words = "token quota use" if metric == "token_quota_use" else "cost budget use"
    assert rule.label == f"Shop: {words} ≥ 80 % of the UTC month"
    # Another metric keeps no period.
    changed = services.rule_update(actor=shop.charlie, rule=rule, metric="error_rate", threshold=5)
    assert changed.quota_period == ""


def test_the_database_ties_the_period_to_the_metric(shop: Shop) -> None:
    with pytest.raises(IntegrityError):
        _rule(shop, Metric.TOKEN_QUOTA_USE, 80, "")


def test_the_new_rule_page(client, shop: Shop) -> None:
    client.force_login(shop.charlie.user)
    url = reverse("alerts:rule-create", args=["globex"])
    page = client.get(url).content.decode()
    assert 'value="token_quota_use"' in page and 'value="cost_budget_use"' in page
    assert "Token quota use</strong>" in page and "Cost budget use</strong>" in page
    fields = {"target": f"application:{shop.app.pk}", "metric": "token_quota_use", "threshold": "80",
              "window_minutes": "15", "min_calls": "20", "enabled": "on"}  # fmt: skip
    bad = client.post(url, fields)
    assert bad.status_code == 400 and "Choose the limit of the day or of the month." in bad.content.decode()
    assert client.post(url, {**fields, "quota_period": "day"}).status_code == 302
    rule = AlertRule.objects.for_tenant(shop.app.tenant).get()
    assert (rule.metric, rule.quota_period, rule.label) == (
        "token_quota_use",
        "day",
        "Shop: token quota use ≥ 80 % of the UTC day",
    )
    acme = {**fields, "target": f"api:{shop.api.pk}", "quota_period": "day"}
    client.force_login(shop.alice.user)
    refused = client.post(reverse("alerts:rule-create", args=["acme"]), acme)
    assert refused.status_code == 400 and "A rule on an API watches" in refused.content.decode()


def test_rest(api, shop: Shop) -> None:
    api.force_authenticate(shop.charlie.user)
    url = "/api/v1/tenants/globex/alerts/rules/"
    body = {"application": shop.app.pk, "metric": "cost_budget_use", "threshold": "100"}
    missing = api.post(url, body, format="json")
    assert missing.status_code == 400 and missing.json()["error"]["fields"].keys() == {"quota_period"}
    created = api.post(url, {**body, "quota_period": "month"}, format="json")
    assert created.status_code == 201, created.content
    assert (created.json()["metric"], created.json()["quota_period"], created.json()["condition"]) == (
        "cost_budget_use",
        "month",
        "cost budget use ≥ 100 % of the UTC month",
    )
    api.force_authenticate(shop.alice.user)
    on_api = {"api": "orders", "metric": "token_quota_use", "threshold": "80", "quota_period": "day"}
    refused = api.post("/api/v1/tenants/acme/alerts/rules/", on_api, format="json")
    assert refused.status_code == 400 and refused.json()["error"]["fields"].keys() == {"metric"}
