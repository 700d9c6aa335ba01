"""Evaluating every enabled rule against the rollups, with hysteresis, and delivering the changes.

A run reads every figure in a handful of queries (``alerts.metrics``), compares each reading with
its rule and acts only on a change:

* no open incident and ``value ≥ threshold`` → fire: insert an open ``AlertEvent``;
* an open incident and ``value < threshold × RESOLVE_RATIO`` → resolve it (once);
* too little traffic for the metric (``value`` None) → nothing changes;
* an open incident whose subject is no longer watched (subscription ended, node revoked) → resolve.

Firing is an INSERT guarded by the partial unique index ``alertevent_one_open`` and resolving an
``UPDATE … WHERE resolved_at IS NULL``: whichever worker gets there first acts, a second one finds
nothing to do, so an incident is never delivered twice. Runs also take a transaction-level advisory
lock, so a second run at the same moment returns at once. Everything a run changes, and the
notices, mails and webhook deliveries it records, commit together (sent after commit).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from alerts import metrics
from alerts.models import (
    GUARDED_METRICS,
    QUOTA_LIMIT_FIELDS,
    QUOTA_METRICS,
    WINDOW_METRICS,
    AlertEvent,
    AlertRule,
    Metric,
    Scope,
)
from analytics.selectors import usd
from core import outbox
from gateways import selectors as gateway_selectors
from notifications.services import notify_users, webhook_event_emit
from subscriptions.models import Subscription, SubscriptionStatus
from tenants.models import Membership, User
from tenants.roles import Role

#: An open incident resolves only once its value falls below threshold × RESOLVE_RATIO, so a value
#: hovering around the threshold does not fire and resolve on every run.
RESOLVE_RATIO = 0.9
#: pg_try_advisory_xact_lock key of a run ("alerts").
LOCK_KEY = 0x616C_6572_7473
#: The plan fields of the AI limits the token and cost rules watch: only subscriptions whose plan
#: has one are read from the AI rollups.
_AI_QUOTA_FIELDS = tuple(
    f"{QUOTA_LIMIT_FIELDS[m]}{p}" for m in (Metric.TOKEN_QUOTA_USE, Metric.COST_BUDGET_USE) for p in ("day", "month")
)
FIRED = "alert.fired"
RESOLVED = "alert.resolved"


@dataclass(frozen=True)
class Reading:
    """One figure of a rule for one subject; ``value`` None: too little traffic to say."""

    subject: str
    label: str
    value: float | None
    detail: str = ""


@dataclass
class RunResult:
    ran: bool = True
    rules: int = 0
    fired: list[AlertEvent] = field(default_factory=list)
    resolved: list[AlertEvent] = field(default_factory=list)


# --- Readings -----------------------------------------------------------------------------------


def _window_readings(rules: list[AlertRule], now: datetime) -> dict[int, list[Reading]]:
    found: dict[int, list[Reading]] = {}
    for scope, side in ((Scope.API, "api"), (Scope.APPLICATION, "application")):
        chosen = [r for r in rules if r.scope == scope and r.metric in WINDOW_METRICS]
        targets = {_target_id(r): r.tenant_id for r in chosen if r.tenant_id is not None}
        stats = metrics.window_stats(side, targets, {r.window_minutes for r in chosen}, now=now)
        for rule in chosen:
            figures = stats.get((_target_id(rule), rule.window_minutes), metrics.WindowStats())
            found[rule.pk] = [_reading(rule, figures)]
    return found


def _target_id(rule: AlertRule) -> int:
    return rule.api_id if rule.scope == Scope.API else rule.application_id  # type: ignore[return-value]


def _reading(rule: AlertRule, figures: metrics.WindowStats) -> Reading:
    label = rule.target_name
    if rule.metric == Metric.REFUSED_CALLS:
        return Reading("", label, float(figures.refused), f"of {figures.calls:,} calls")
    detail = f"{figures.counted:,} calls"
    if rule.metric in GUARDED_METRICS and figures.counted < rule.min_calls:
        return Reading("", label, None, f"{detail}, fewer than {rule.min_calls}")
    value = figures.error_rate if rule.metric == Metric.ERROR_RATE else figures.p95_ms
    return Reading("", label, value, detail)


def _quota_readings(rules: list[AlertRule], now: datetime) -> dict[int, list[Reading]]:
    """Quota, token quota and cost budget use: one reading per active subscription of the rule's
    application whose plan has that limit of the period. A few queries whatever the number of rules:
    the subscriptions, the watermarks, and the calls and AI use of all of them at once."""
    chosen = [r for r in rules if r.metric in QUOTA_METRICS]
    if not chosen:
        return {}
    # Subscriptions of every watched application, across tenants: an internal job.
    subscriptions = list(
        Subscription.objects.unscoped()
        .filter(application_id__in={r.application_id for r in chosen}, status=SubscriptionStatus.ACTIVE)
        .select_related("plan", "api")
        .order_by("pk")
    )
    metrics_used = {r.metric for r in chosen}
    marks = metrics.watermarks() if subscriptions else {}
    calls: dict[tuple[int, int], metrics.QuotaCalls] = {}
    if Metric.QUOTA_USE in metrics_used:
        triples = ((s.consumer_tenant_id, s.application_id, s.api_id) for s in subscriptions)
        calls = metrics.quota_calls(triples, now=now, marks=marks)
    ai_use: dict[tuple[int, int], metrics.QuotaAiUse] = {}
    if metrics_used & {Metric.TOKEN_QUOTA_USE, Metric.COST_BUDGET_USE}:
        limited = [s for s in subscriptions if any(getattr(s.plan, f) for f in _AI_QUOTA_FIELDS)]
        triples = ((s.consumer_tenant_id, s.application_id, s.api_id) for s in limited)
        ai_use = metrics.quota_ai_use(triples, now=now, marks=marks)
    by_app: dict[int, list[Subscription]] = defaultdict(list)
    for subscription in subscriptions:
        by_app[subscription.application_id].append(subscription)
    found: dict[int, list[Reading]] = {}
    for rule in chosen:
        readings = []
        metric, period = Metric(rule.metric), rule.quota_period
        for subscription in by_app.get(rule.application_id or 0, []):
            limit = getattr(subscription.plan, f"{QUOTA_LIMIT_FIELDS[metric]}{period}")
            if not limit:
                continue  # no such limit of that period: nothing to watch
            pair = (subscription.application_id, subscription.api_id)
            if metric == Metric.QUOTA_USE:
                used: int | Decimal = getattr(calls.get(pair, metrics.QuotaCalls()), period)
                detail = f"{used:,} of {limit:,} calls this UTC {period}"
            elif metric == Metric.TOKEN_QUOTA_USE:
                used = getattr(ai_use.get(pair, metrics.QuotaAiUse()), f"{period}_tokens")
                detail = f"{used:,} of {limit:,} tokens this UTC {period}"
            else:
                used = getattr(ai_use.get(pair, metrics.QuotaAiUse()), f"{period}_cost")
                detail = f"{usd(Decimal(used))} of {usd(limit)} this UTC {period}"
            label = f"{subscription.api.name} ({subscription.plan.name})"
            value = float(Decimal(100) * Decimal(used) / Decimal(limit))
            readings.append(Reading(f"subscription:{subscription.pk}", label, value, detail))
        found[rule.pk] = readings
    return found


def _node_readings(rules: list[AlertRule], now: datetime) -> dict[int, list[Reading]]:
    chosen = [r for r in rules if r.metric == Metric.NODE_SILENT]
    if not chosen:
        return {}
    readings = []
    for node in gateway_selectors.nodes().filter(revoked_at__isnull=True):
        # A node that never connected counts from its registration (gateways.selectors.is_silent).
        silent = (now - (node.last_seen_at or node.created_at)).total_seconds()
        readings.append(Reading(f"node:{node.pk}", node.name, max(silent, 0.0), f"last heard {silent:.0f} s ago"))
    return {rule.pk: readings for rule in chosen}


def readings_for(rules: list[AlertRule], now: datetime) -> dict[int, list[Reading]]:
    """Every reading of every rule: a few queries whatever the number of rules."""
    return {**_window_readings(rules, now), **_quota_readings(rules, now), **_node_readings(rules, now)}


# --- Transitions -------------------------------------------------------------------------------


def _fmt(value: float | None, rule: AlertRule) -> str:
    if value is None:
        return "no reading"
    if rule.metric == Metric.REFUSED_CALLS:
        return f"{value:,.0f} calls"
    number = f"{value:,.1f}".removesuffix(".0") if rule.metric != Metric.P95_LATENCY else f"{value:,.0f}"
    return f"{number} {rule.unit}" if rule.unit != "%" else f"{number} %"


def _fire(rule: AlertRule, reading: Reading, now: datetime) -> AlertEvent | None:
    assert reading.value is not None
    message = f"{reading.label}: {_fmt(reading.value, rule)} ({reading.detail}); rule: {rule.condition}"
    try:
        with transaction.atomic():  # a savepoint: a conflict leaves the run's transaction usable
            return AlertEvent.objects.create(
                rule=rule,
                tenant_id=rule.tenant_id,
                subject=reading.subject,
                subject_label=reading.label[:200],
                fired_at=now,
                fired_value=reading.value,
                message=message[:300],
            )
    except IntegrityError:
        return None  # another worker opened this incident a moment ago: it delivers it


def _resolve(event: AlertEvent, rule: AlertRule, value: float | None, message: str, now: datetime) -> bool:
    updated = (
        AlertEvent.objects.unscoped()
        .filter(pk=event.pk, resolved_at__isnull=True)
        .update(resolved_at=now, resolved_value=value, resolve_message=message[:300])
    )
    if updated:
        event.resolved_at, event.resolved_value, event.resolve_message = now, value, message[:300]
    return bool(updated)


def evaluate(*, now: datetime | None = None) -> RunResult:
    """One evaluation of every enabled rule (see the module docstring); ``ran=False`` when another
    run holds the lock."""
    now = now or timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [LOCK_KEY])
            if not cursor.fetchone()[0]:
                return RunResult(ran=False)
        # Every organisation's rules: an internal job, not a tenant's request.
        rules = list(AlertRule.objects.unscoped().filter(enabled=True).select_related("tenant", "api", "application"))
        result = RunResult(rules=len(rules))
        if not rules:
            return result
        readings = readings_for(rules, now)
        open_events: dict[int, dict[str, AlertEvent]] = defaultdict(dict)
        for event in AlertEvent.objects.unscoped().filter(rule__enabled=True, resolved_at__isnull=True):
            open_events[event.rule_id][event.subject] = event
        for rule in rules:
            opened = open_events.get(rule.pk, {})
            seen = set()
            for reading in readings.get(rule.pk, []):
                seen.add(reading.subject)
                current = opened.get(reading.subject)
                if reading.value is None:
                    continue
                threshold = float(rule.threshold)
                if current is None and reading.value >= threshold:
                    event = _fire(rule, reading, now)
                    if event is not None:
                        result.fired.append(event)
                elif current is not None and reading.value < threshold * RESOLVE_RATIO:
                    text = f"{reading.label}: back to {_fmt(reading.value, rule)} ({reading.detail})"
                    if _resolve(current, rule, reading.value, text, now):
                        result.resolved.append(current)
            for subject, current in opened.items():
                if subject not in seen:
                    text = f"{current.subject_label}: no longer watched (ended, revoked or without that limit)"
                    if _resolve(current, rule, None, text, now):
                        result.resolved.append(current)
        rule_by_id = {r.pk: r for r in rules}
        _deliver(result, rule_by_id)
    return result


def close_open_events(rule: AlertRule, reason: str) -> int:
    """Resolve a rule's open incidents without delivering anything (the rule was disabled or changed)."""
    return (
        AlertEvent.objects.unscoped()
        .filter(rule=rule, resolved_at__isnull=True)
        .update(resolved_at=timezone.now(), resolve_message=reason[:300])
    )


# --- Delivery ----------------------------------------------------------------------------------


def rule_path(rule: AlertRule) -> str:
    if rule.tenant_id is None:
        return reverse("alerts:platform")
    return reverse("alerts:rule", args=[rule.tenant.slug, rule.pk])  # type: ignore[union-attr]


def payload(event: AlertEvent, rule: AlertRule) -> dict[str, Any]:
    """The ``data`` of an ``alert.fired`` / ``alert.resolved`` webhook event (docs/alerts.md)."""
    scope: dict[str, Any] = {"type": rule.scope}
    if rule.api is not None:
        scope.update(id=rule.api.pk, slug=rule.api.slug, name=rule.api.name)
    elif rule.application is not None:
        scope.update(id=rule.application.pk, name=rule.application.name)
    return {
        "rule": {"id": rule.pk, "name": rule.name, "condition": rule.condition},
        "scope": scope,
        "subject": {"key": event.subject, "label": event.subject_label},
        "metric": rule.metric,
        "unit": rule.unit,
        "threshold": float(rule.threshold),
        "window_minutes": rule.window_minutes if rule.metric in WINDOW_METRICS else None,
        "quota_period": rule.quota_period or None,
        "state": "firing" if event.resolved_at is None else "resolved",
        "value": event.fired_value if event.resolved_at is None else event.resolved_value,
        "fired_value": event.fired_value,
        "fired_at": event.fired_at,
        "resolved_at": event.resolved_at,
        "message": event.message if event.resolved_at is None else event.resolve_message,
        "url": f"{settings.SITE_URL}{rule_path(rule)}",
    }


def _recipients(tenant_ids: set[int]) -> dict[int, list[User]]:
    """Owners and admins of each tenant: one query."""
    found: dict[int, list[User]] = defaultdict(list)
    members = (
        Membership.objects.unscoped()  # the tenants of this run's incidents, several at once
        .filter(tenant_id__in=tenant_ids, role__in=[Role.OWNER, Role.ADMIN])
        .select_related("user")
        .order_by("pk")
    )
    for member in members:
        found[member.tenant_id].append(member.user)
    return found


def _deliver(result: RunResult, rules: dict[int, AlertRule]) -> None:
    changes = [(e, FIRED) for e in result.fired] + [(e, RESOLVED) for e in result.resolved]
    if not changes:
        return
    recipients = _recipients({e.tenant_id for e, _ in changes if e.tenant_id is not None})
    staff: list[User] | None = None
    for event, kind in changes:
        rule = rules[event.rule_id]
        verb = "fired" if kind == FIRED else "resolved"
        title = f"Alert {verb}: {rule.label}"
        body = event.message if kind == FIRED else event.resolve_message
        if rule.tenant is not None:
            notify_users(
                tenant=rule.tenant,
                users=recipients.get(rule.tenant.pk, []),
                kind=kind,
                title=title,
                body=body,
                url=rule_path(rule),
                email=rule.email,
            )
            webhook_event_emit(tenant=rule.tenant, event=kind, data=payload(event, rule))
        elif rule.email:
            # Platform rules belong to no organisation: no in-app notice; staff are e-mailed.
            if staff is None:
                staff = list(User.objects.filter(is_staff=True, is_active=True).order_by("pk"))
            link = f"{settings.SITE_URL}{rule_path(rule)}"
            outbox.enqueue_many(
                outbox.EMAIL,
                [
                    outbox.email_payload(
                        subject=f"[{settings.SITE_NAME}] {title}", body=f"{body}\n\n{link}\n", to=user.email
                    )
                    for user in staff
                ],
            )
