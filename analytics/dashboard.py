"""Usage figures on the organisation dashboard: the provider's calls today, the consumer's quota use."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone

from analytics import selectors
from apis.models import Api
from subscriptions.models import ApiKey
from tenants.dashboard import Contribution, Panel, Step
from tenants.web import TenantRequest


def contribute(request: TenantRequest) -> Contribution:
    tenant = request.tenant
    contribution = Contribution()
    now = timezone.now()
    if Api.objects.for_tenant(tenant).exists():
        window = selectors.today_window(now)
        today = selectors.totals(selectors.scope_for(tenant, "provider"), window)
        contribution.panels.append(
            Panel("provider", 20, "analytics/partials/dashboard_today.html", {"today": today, "window": window})
        )
    usage = selectors.tenant_quota_usage(tenant, now=now)
    if usage:
        contribution.panels.append(Panel("consumer", 20, "analytics/partials/dashboard_quota.html", {"quota": usage}))
    # A key the gateway has verified, or calls counted this month: the organisation has called an API.
    called = any(q["month_calls"] for q in usage) or (
        ApiKey.objects.for_tenant(tenant).filter(last_used_at__isnull=False).exists()
    )
    contribution.steps.append(
        Step(
            "consume",
            50,
            "Make a first call",
            called,
            reverse("apis:catalog"),
            "Copy a snippet from the API's reference and send it with your key.",
        )
    )
    return contribution
