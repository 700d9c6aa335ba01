"""Site-level pages: landing, post-login routing, platform overview, health check."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render

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
    """Liveness + database reachability, for load balancers."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - any database failure means "not ready"
        return JsonResponse({"status": "error", "database": "unreachable"}, status=503)
    return JsonResponse({"status": "ok"})


def server_error(request: HttpRequest) -> HttpResponse:
    """500 handler: the API's JSON error shape under /api/, a plain page elsewhere."""
    if request.path.startswith("/api/"):
        from core.api.errors import api_server_error

        return api_server_error(request)
    return render(request, "500.html", status=500)
