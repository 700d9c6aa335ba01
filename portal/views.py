"""Site-level pages: landing, post-login routing, platform overview, health check."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render

from core import health
from tenants import selectors


def home(request: HttpRequest) -> HttpResponse:
    """Anonymous: the landing page. Signed in: your first organisation, or onboarding."""
    if not request.user.is_authenticated:
        return render(request, "portal/landing.html")
    first = selectors.memberships_for_user(request.user).first()
    if first is None:
        return redirect("onboarding")
    return redirect("tenants:dashboard", slug=first.tenant.slug)


@staff_member_required
def platform_overview(request: HttpRequest) -> HttpResponse:
    tenants = selectors.platform_tenants()
    users = selectors.platform_users()
    return render(
        request,
        "portal/platform.html",
        {
            "tenants": tenants[:100],
            "users": users[:100],
            "tenant_count": tenants.count(),
            "user_count": users.count(),
        },
    )


def healthz(request: HttpRequest) -> JsonResponse:
    """Readiness for load balancers: database, broker and the age of the beat/worker heartbeat.

    503 names the component that is down. Cheap: one ``SELECT 1``, one Redis ping and one GET.
    """
    healthy, report = health.check()
    return JsonResponse(report, status=200 if healthy else 503)


def server_error(request: HttpRequest) -> HttpResponse:
    """500 handler: the API's JSON error shape under /api/, a plain page elsewhere."""
    if request.path.startswith("/api/"):
        from core.api.errors import api_server_error

        return api_server_error(request)
    return render(request, "500.html", status=500)
