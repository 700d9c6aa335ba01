"""Site-level pages: landing, post-login routing, platform overview, health check."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views import csrf, defaults

from core import health
from core.paging import paginate
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
    tenants = paginate(request, selectors.platform_tenants(), param="tenants_page")
    users = paginate(request, selectors.platform_users(), param="users_page")
    return render(
        request,
        "portal/platform.html",
        {"tenants": tenants, "users": users, "tenant_count": tenants.total, "user_count": users.total},
    )


def healthz(request: HttpRequest) -> JsonResponse:
    """Readiness for load balancers: database, broker and the age of the beat/worker heartbeat.

    503 names the component that is down. Cheap: one ``SELECT 1``, one Redis ping and one GET.
    """
    healthy, report = health.check()
    return JsonResponse(report, status=200 if healthy else 503)


def server_error(request: HttpRequest) -> HttpResponse:
    """500 handler: the API's JSON error shape under /api/, a plain page elsewhere."""
    if _api(request):
        from core.api.errors import api_server_error

        return api_server_error(request)
    return render(request, "500.html", status=500)


# --- Error handlers: the API's JSON error shape under /api/, Django's pages elsewhere ----


def _api(request: HttpRequest) -> bool:
    """JSON answers: the REST API and the gateway node protocol."""
    from portal.middleware import JSON_PREFIXES

    return request.path_info.startswith(JSON_PREFIXES)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """400 handler. Django answers an oversize body (``RequestDataTooBig``) with 400: say 413."""
    from core.api.errors import error_body

    if isinstance(exception, RequestDataTooBig):
        message = "The request body is too large."
        if _api(request):
            return JsonResponse(error_body("too_large", message), status=413)
        return HttpResponse(f"<!doctype html><title>413</title><p>{message}</p>", status=413)
    if _api(request):
        return JsonResponse(error_body("bad_request", "Bad request."), status=400)
    return defaults.bad_request(request, exception or Exception())


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    from core.api.errors import error_body

    if _api(request):
        return JsonResponse(error_body("permission_denied", "You may not do this."), status=403)
    return defaults.permission_denied(request, exception or Exception())


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _api(request):
        from core.api.errors import api_not_found

        return api_not_found(request)
    return defaults.page_not_found(request, exception)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: JSON under /api/ (DRF views check CSRF themselves; plain Django views do not)."""
    from core.api.errors import error_body

    if _api(request):
        message = f"CSRF check failed: {reason}" if reason else "CSRF check failed."
        return JsonResponse(error_body("csrf_failed", message), status=403)
    return csrf.csrf_failure(request, reason)
