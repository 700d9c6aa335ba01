"""Usage figures on the organisation dashboard: the provider's calls today, the consumer's quota use."""

from __future__ import annotations

from django.utils import timezone

from analytics import selectors
from apis.models import Api
from tenants.dashboard import Contribution, Panel
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
    return contribution
