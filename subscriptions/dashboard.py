"""The dashboard's provider and consumer panels and the consumer's getting-started steps.

Every figure comes from an aggregate or a short, limited list: the query count does not
depend on how many APIs, applications, subscriptions or keys the organisation has.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from apis.models import ROUTED_STATUSES, Api, VersionStatus
from subscriptions.models import LIVE_STATUSES, ApiKey, Application, KeyPurpose, Subscription, SubscriptionStatus
from tenants.dashboard import Contribution, Panel, Step
from tenants.permissions import can
from tenants.roles import Perm
from tenants.web import TenantRequest

#: How many APIs / applications a panel lists by name (the rest are behind "All …").
SHOWN = 5
#: A key expiring within this is "expiring soon".
EXPIRING_SOON = timedelta(days=14)


def _api_state(api: Api) -> tuple[str, str]:
    """(label, badge status) of an API from its versions' states."""
    if api.live_versions:  # type: ignore[attr-defined]
        return "Live", VersionStatus.PUBLISHED
    if api.draft_versions:  # type: ignore[attr-defined]
        return "Draft", VersionStatus.DRAFT
    if api.version_count:  # type: ignore[attr-defined]
        return "Retired", VersionStatus.RETIRED
    return "No version yet", VersionStatus.DRAFT


def provider_panel(request: TenantRequest) -> Panel | None:
    tenant = request.tenant
    apis = list(
        Api.objects.for_tenant(tenant)
        .annotate(
            version_count=Count("versions"),
            live_versions=Count("versions", filter=Q(versions__status__in=ROUTED_STATUSES)),
            draft_versions=Count("versions", filter=Q(versions__status=VersionStatus.DRAFT)),
        )
        .order_by("-updated_at", "pk")[:SHOWN]
    )
    if not apis:
        return None
    shown = apis[:SHOWN]
    # Counted even when the list is short, so the query count is the same at every size.
    api_total = Api.objects.for_tenant(tenant).count()
    provided = Subscription.objects.for_provider(tenant)
    per_api = dict(
        provided.filter(api_id__in=[a.pk for a in shown], status=SubscriptionStatus.ACTIVE)
        .values("api_id")
        .annotate(n=Count("consumer_tenant", distinct=True))
        .values_list("api_id", "n")
    )
    figures = provided.aggregate(
        subscribers=Count("consumer_tenant", distinct=True, filter=Q(status=SubscriptionStatus.ACTIVE)),
        waiting=Count("pk", filter=Q(awaiting_since__isnull=False)),
    )
    rows = []
    for api in shown:
        label, status = _api_state(api)
        rows.append({"api": api, "state": label, "status": status, "subscribers": per_api.get(api.pk, 0)})
    return Panel(
        "provider",
        10,
        "subscriptions/partials/dashboard_provider.html",
        {
            "rows": rows,
            "api_total": api_total,
            "more": api_total > len(shown),
            "subscribers": figures["subscribers"],
            "waiting": figures["waiting"],
            "can_decide": can(request.membership, Perm.SUBSCRIPTIONS_APPROVE),
        },
    )


def contribute(request: TenantRequest) -> Contribution:
    tenant = request.tenant
    slug = tenant.slug
    now = timezone.now()
    applications = list(Application.objects.for_tenant(tenant).order_by("name", "pk")[:SHOWN])
    app_total = Application.objects.for_tenant(tenant).count() if applications else 0
    by_state = dict(
        Subscription.objects.for_consumer(tenant)
        .order_by()
        .values("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    keys = (
        ApiKey.objects.for_tenant(tenant)
        .exclude(purpose=KeyPurpose.CONSOLE)
        .aggregate(
            live=Count("pk", filter=Q(revoked_at__isnull=True) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))),
            expiring=Count(
                "pk", filter=Q(revoked_at__isnull=True, expires_at__gt=now, expires_at__lte=now + EXPIRING_SOON)
            ),
        )
    )
    contribution = Contribution()
    provider = provider_panel(request)
    if provider:
        contribution.panels.append(provider)
    if applications or by_state:
        contribution.panels.append(
            Panel(
                "consumer",
                10,
                "subscriptions/partials/dashboard_consumer.html",
                {
                    "applications": applications,
                    "app_total": app_total,
                    "more": app_total > SHOWN,
                    "live_keys": keys["live"],
                    "expiring_keys": keys["expiring"],
                    "expiring_days": EXPIRING_SOON.days,
                    "states": [
                        {"status": value, "label": label, "count": by_state.get(value, 0)}
                        for value, label in SubscriptionStatus.choices
                        if by_state.get(value)
                    ],
                    "subscription_total": sum(by_state.values()),
                },
            )
        )
    apps_page = reverse("subscriptions:applications", args=[slug])
    first_app = reverse("subscriptions:application", args=[slug, applications[0].pk]) if applications else apps_page
    catalog = reverse("apis:catalog")
    subscribed = any(by_state.get(status) for status in LIVE_STATUSES)
    contribution.steps = [
        Step("consume", 10, "Browse the catalog", bool(applications or by_state), catalog, "Find an API to call."),
        Step("consume", 20, "Create an application", bool(applications), apps_page, "The program that calls the API."),
        Step("consume", 30, "Subscribe to an API", subscribed, catalog, "Choose a plan on the API's catalog page."),
        Step("consume", 40, "Create an API key", keys["live"] > 0, first_app, "Shown once; store it safely."),
    ]
    return contribution
