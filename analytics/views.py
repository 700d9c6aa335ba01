"""Analytics pages: tenant overview, provider view per API, consumer view per application, the
call-log explorer and its CSV exports, and the staff platform overview.

Dashboards read rollups only (analytics.selectors); the explorer reads the raw call table with
a bounded time range. Query strings are validated by the REST query serializers, so the web
and REST accept exactly the same parameters.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET
from rest_framework import serializers as drf

from analytics import exports, selectors
from analytics.api import serializers as s
from apis import selectors as api_selectors
from apis.models import Api
from core.errors import InvalidInput, NotFound
from core.filters import is_id
from subscriptions import selectors as subscription_selectors
from tenants import selectors as tenant_selectors
from tenants.roles import Perm
from tenants.web import TenantRequest, tenant_view

EMPTY_HELP = (
    "No calls recorded yet. Register a gateway node (Platform → Gateway nodes), point your "
    "gateway's log output at /gateway/v1/logs, or post sample traffic with "
    "`manage.py gateway_send_samples`. Rollups appear within a minute."
)


def _parse(query_class: type[drf.Serializer], params: QueryDict, **overrides: Any) -> tuple[dict[str, Any], list[str]]:
    """Validated parameters, or the defaults plus the problems to show (a page never 400s on them)."""
    data = params.copy()
    for key, value in overrides.items():
        data[key] = value
    serializer = query_class(data=data)
    try:
        if serializer.is_valid():
            return dict(serializer.validated_data), []
        problems = [f"{field}: {msg}" for field, msgs in serializer.errors.items() for msg in msgs]
    except InvalidInput as error:
        problems = [f"{error.field}: {error.message}" if error.field else error.message]
    fallback = query_class(data=overrides)
    fallback.is_valid(raise_exception=True)
    return dict(fallback.validated_data), problems


def _found(callable_: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return callable_(*args, **kwargs)
    except NotFound:
        raise Http404("Not found.") from None


def _dashboard(scope: selectors.Scope, window: selectors.Window, tops: list[tuple[str, str]]) -> dict[str, Any]:
    """What every dashboard shows: totals, the series (chart + table), trends and some top-N tables."""
    stats = selectors.timeseries_stats(scope, window)
    series = [{"t": moment, **point.as_dict()} for moment, point in stats]
    chart = {
        "labels": [point["t"] for point in series],
        "calls": [point["calls"] for point in series],
        "errors": [point["errors_4xx"] + point["errors_5xx"] for point in series],
        "p50": [point["p50_ms"] for point in series],
        "p95": [point["p95_ms"] for point in series],
        "p99": [point["p99_ms"] for point in series],
    }
    # The totals are the sum of the series (one query saved over the same rows).
    totals = selectors.Stats.sum(point for _, point in stats)
    return {
        "window": window,
        "totals": totals.as_dict(),
        "series": [point for point in series if point["calls"]],
        "chart": chart,
        "trends": selectors.trends(scope, window, limit=5),
        "tops": [(title, by, selectors.top(scope, window, by)) for title, by in tops],
        # Shown only when the period had AI calls (one query over the AI rollups either way).
        "ai": selectors.ai_usage(scope, window) if scope.node_id is None else None,
        "empty": totals.calls == 0,
        "empty_help": EMPTY_HELP,
        "ranges": ["1h", "24h", "7d", "30d"],
    }


@tenant_view(Perm.TENANT_VIEW)
@require_GET
def overview(request: TenantRequest) -> HttpResponse:
    data, problems = _parse(s.WindowQuery, request.GET)
    window = data["window"]
    provider = selectors.scope_for(request.tenant, "provider")
    consumer = selectors.scope_for(request.tenant, "consumer")
    apis = selectors.top(provider, window, "apis")
    # Slugs of the top APIs only, not of every API of the provider.
    ids = [item["key"]["api_id"] for item in apis]
    slugs = dict(Api.objects.for_tenant(request.tenant).filter(pk__in=ids).values_list("pk", "slug"))
    for item in apis:
        item["slug"] = slugs.get(item["key"]["api_id"])
    context = {
        "window": window,
        "problems": problems,
        "provider": selectors.totals(provider, window).as_dict(),
        "consumer": selectors.totals(consumer, window).as_dict(),
        "provider_trends": selectors.trends(provider, window, limit=5),
        "apis": apis,
        "applications": selectors.top(consumer, window, "applications"),
        "empty_help": EMPTY_HELP,
        "ranges": ["1h", "24h", "7d", "30d"],
    }
    return render(request, "analytics/overview.html", context)


@tenant_view(Perm.APIS_VIEW)
@require_GET
def api_dashboard(request: TenantRequest, api_slug: str) -> HttpResponse:
    api = _found(api_selectors.api_for_tenant, request.tenant, api_slug)
    versions = list(api_selectors.version_rows(api))  # the menu: labels, not OpenAPI documents
    label = request.GET.get("version", "")
    version = next((v for v in versions if v.label == label), None)
    data, problems = _parse(s.WindowQuery, request.GET)
    scope = selectors.scope_for(
        request.tenant, "provider", api_id=api.pk, api_version_id=version.pk if version else None
    )
    tops = [
        ("Top endpoints", "endpoints"),
        ("Top consumers", "consumers"),
        ("Status codes", "statuses"),
        ("Refused by the gateway", "errors"),
    ]
    context = {
        "api": api,
        "versions": versions,
        "version": version,
        "keep": [("version", version.label)] if version else [],
        "problems": problems,
        "calls_url": reverse("analytics:calls", args=[request.tenant.slug]) + f"?side=provider&api={api.pk}",
        "csv_query": f"side=provider&api={api.pk}" + (f"&version={version.pk}" if version else ""),
        **_dashboard(scope, data["window"], tops),
    }
    context["ai_csv_url"] = _ai_csv_url(request, context["csv_query"], data["window"])
    return render(request, "analytics/api.html", context)


@tenant_view(Perm.TENANT_VIEW)
@require_GET
def app_dashboard(request: TenantRequest, pk: int) -> HttpResponse:
    application = _found(subscription_selectors.application_for, request.tenant, pk)
    keys = list(subscription_selectors.application_keys(application))
    key_pk = request.GET.get("key", "")
    key = next((k for k in keys if str(k.pk) == key_pk), None)
    data, problems = _parse(s.WindowQuery, request.GET)
    scope = selectors.scope_for(
        request.tenant, "consumer", application_id=application.pk, api_key_id=key.pk if key else None
    )
    tops = [("By API", "apis"), ("By key", "keys"), ("Status codes", "statuses"), ("Refused by the gateway", "errors")]
    quota = selectors.quota_usage(application)
    context = {
        "application": application,
        "keys": keys,
        "key": key,
        "keep": [("key", key.pk)] if key else [],
        "problems": problems,
        "quota": quota,
        "quota_has_ai": any(q["ai"] for q in quota),
        "calls_url": reverse("analytics:calls", args=[request.tenant.slug]) + f"?side=consumer&application={pk}",
        "csv_query": f"side=consumer&application={pk}" + (f"&key={key.pk}" if key else ""),
        **_dashboard(scope, data["window"], tops),
    }
    context["ai_csv_url"] = _ai_csv_url(request, context["csv_query"], data["window"])
    return render(request, "analytics/app.html", context)


def _ai_csv_url(request: TenantRequest, scope_query: str, window: selectors.Window) -> str:
    """The AI usage export of what the page shows (its scope and period)."""
    period: dict[str, str] = {"range": window.range_key}
    if window.range_key == "custom":
        period.update({"from": window.start.isoformat(), "to": window.end.isoformat()})
    return reverse("analytics:ai-csv", args=[request.tenant.slug]) + f"?{scope_query}&{urlencode(period)}"


def _scope(request: TenantRequest, data: dict[str, Any]) -> selectors.Scope:
    from analytics.api.views import scope_from

    return _found(scope_from, request.tenant, data)


@tenant_view(Perm.TENANT_VIEW)
@require_GET
def calls(request: TenantRequest) -> HttpResponse:
    params: QueryDict = request.GET.copy()
    if "side" not in params and not Api.objects.for_tenant(request.tenant).exists():
        # An organisation that publishes no API can only mean its own applications' calls.
        params["side"] = "consumer"
    data, problems = _parse(s.CallQuery, params)
    scope = _scope(request, data)
    try:
        rows, next_cursor = selectors.calls(scope, data["filter"], after=data.get("cursor", ""), size=data["page_size"])
    except InvalidInput as error:
        problems.append(error.message)
        rows, next_cursor = selectors.calls(scope, data["filter"], size=data["page_size"])
    next_query = None
    if next_cursor:
        query = request.GET.copy()
        query["cursor"] = next_cursor
        next_query = query.urlencode()
    export = request.GET.copy()
    export.pop("cursor", None)
    context = {
        "rows": rows,
        "data": data,
        "flt": data["filter"],
        "problems": problems,
        "next_query": next_query,
        "export_query": export.urlencode(),
        "side": data["side"],
        "empty_help": EMPTY_HELP,
    }
    return render(request, "analytics/calls.html", context)


@tenant_view(Perm.TENANT_VIEW)
@require_GET
def call_detail(request: TenantRequest, request_id: uuid.UUID) -> HttpResponse:
    data, _ = _parse(s.CallSideQuery, request.GET)
    record = _found(selectors.call_detail, _scope(request, data), request_id)
    return render(request, "analytics/call.html", {"call": record, "side": data["side"]})


def _strict(query_class: type[drf.Serializer], params: QueryDict) -> dict[str, Any]:
    """Exports take no defaults for bad input: a 400 page saying what is wrong."""
    serializer = query_class(data=params)
    try:
        if serializer.is_valid():
            return dict(serializer.validated_data)
        problems = "; ".join(f"{f}: {m}" for f, msgs in serializer.errors.items() for m in msgs)
    except InvalidInput as error:
        problems = error.message
    raise InvalidInput(problems)


def _bad_request(error: InvalidInput) -> HttpResponse:
    return HttpResponse(error.message, status=400, content_type="text/plain; charset=utf-8")


@tenant_view(Perm.TENANT_VIEW)
@require_GET
def calls_csv(request: TenantRequest) -> HttpResponseBase:
    try:
        data = _strict(s.CallQuery, request.GET)
    except InvalidInput as error:
        return _bad_request(error)
    return exports.calls_csv(_scope(request, data), data["filter"], f"{request.tenant.slug}-calls.csv")


@tenant_view(Perm.TENANT_VIEW)
@require_GET
def timeseries_csv(request: TenantRequest) -> HttpResponseBase:
    try:
        data = _strict(s.AnalyticsQuery, request.GET)
    except InvalidInput as error:
        return _bad_request(error)
    window = data["window"]
    return exports.timeseries_csv(
        _scope(request, data), window, f"{request.tenant.slug}-timeseries-{window.range_key}.csv"
    )


@tenant_view(Perm.TENANT_VIEW)
@require_GET
def ai_csv(request: TenantRequest) -> HttpResponseBase:
    """AI usage of a period per model and per application / API, as on the dashboards."""
    try:
        data = _strict(s.AnalyticsQuery, request.GET)
    except InvalidInput as error:
        return _bad_request(error)
    window = data["window"]
    return exports.ai_csv(_scope(request, data), window, f"{request.tenant.slug}-ai-usage-{window.range_key}.csv")


@staff_member_required
@require_GET
def platform(request: HttpRequest) -> HttpResponse:
    """All traffic on the platform, per node (staff only)."""
    data, problems = _parse(s.WindowQuery, request.GET)
    tops = [
        ("Per node", "nodes"),
        ("Top APIs", "apis"),
        ("Status codes", "statuses"),
        ("Refused by the gateway", "errors"),
    ]
    # ?provider=<slug> (from staff's organisation page): the traffic to that organisation's APIs.
    # ?api=<id> (from this page's trends, which compare APIs platform-wide): one API, its endpoints.
    provider, api = None, None
    scope = selectors.platform_scope()
    keep: list[tuple[str, Any]] = []
    if request.GET.get("api"):
        chosen = request.GET["api"]
        api = api_selectors.platform_apis().filter(pk=chosen).first() if is_id(chosen) else None
        if api is None:
            raise Http404("No such API.")
        provider = api.tenant
        scope = selectors.platform_scope(api_id=api.pk)
        keep = [("api", api.pk)]
    elif request.GET.get("provider"):
        try:
            provider = tenant_selectors.platform_tenant(request.GET["provider"])
        except NotFound:
            raise Http404("No such organisation.") from None
        scope = selectors.Scope(side="provider", tenant_id=provider.pk)
        keep = [("provider", provider.slug)]
    context = {
        "problems": problems,
        "provider": provider,
        "api": api,
        "keep": keep,
        **_dashboard(scope, data["window"], tops),
    }
    return render(request, "analytics/platform.html", context)
