"""Platform staff's pages: the overview, search, lists to drill into, an organisation, a user.

Staff are not members of the organisations they look at: these pages read across tenants on
purpose (the ``platform_*`` selectors), and the one write here is suspending an organisation
(``tenants.services.tenant_suspend`` / ``tenant_unsuspend``). The URL kwarg is ``organisation``,
not a tenant ``slug``: these are staff pages (a redirect to the staff sign-in for everyone
else), not tenant pages that answer strangers 404.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import islice
from typing import Any

import django_filters
from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from apis import selectors as api_selectors
from apis.filtersets import PlatformApiFilterSet
from core.errors import NotFound
from core.paging import paginate
from core.web import done, submit_form
from subscriptions import selectors as subscription_selectors
from tenants import selectors, services
from tenants.filtersets import PlatformTenantFilterSet, PlatformUserFilterSet
from tenants.forms import SuspendForm, UnsuspendForm
from tenants.models import Tenant, User

PAGE_SIZE = 50
#: Rows of each kind the overview and the search page show before "see all".
PREVIEW_ROWS = 10
#: Entries of an organisation's recent activity.
ACTIVITY_ROWS = 20


def _filtered(
    request: HttpRequest, filterset_class: type[django_filters.FilterSet], queryset: QuerySet
) -> tuple[QuerySet, list[str], bool]:
    """Apply a staff list's filters; a bad value is shown above the unfiltered list (400)."""
    filterset = filterset_class(request.GET, queryset=queryset)
    valid = filterset.is_valid()
    errors = [f"{name}: {error}" for name, errs in filterset.errors.items() for error in errs]
    return (filterset.qs if valid else queryset), errors, valid


def _list_page(
    request: HttpRequest,
    *,
    title: str,
    kind: str,
    filterset_class: type[django_filters.FilterSet],
    queryset: QuerySet,
    filters: list[tuple[str, str]],
) -> HttpResponse:
    rows, errors, valid = _filtered(request, filterset_class, queryset)
    page = paginate(request, rows, size=PAGE_SIZE)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "portal/platform_list.html",
        {
            "title": title,
            "kind": kind,
            "page": page,
            "filter_errors": errors,
            "filters": filters,
            "q": request.GET.get("q", ""),
            "query": query.urlencode(),
        },
        status=200 if valid else 400,
    )


@staff_member_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    """Counts that link to the lists behind them, the newest organisations and users, one search box."""
    tenants = selectors.platform_tenants()
    users = selectors.platform_users()
    return render(
        request,
        "portal/platform.html",
        {
            "tenants": tenants[:PREVIEW_ROWS],
            "users": users[:PREVIEW_ROWS],
            "tenant_count": tenants.count(),
            "suspended_count": tenants.filter(suspended_at__isnull=False).count(),
            "user_count": users.count(),
            "staff_count": users.filter(is_staff=True).count(),
            "api_count": api_selectors.platform_apis().count(),
            "waiting_count": subscription_selectors.approval_queue(None).count(),
        },
    )


@staff_member_required
@require_GET
def search(request: HttpRequest) -> HttpResponse:
    """One box over organisations, users and APIs: the first rows of each, with a link to all of them."""
    q = request.GET.get("q", "").strip()[:100]
    sections: list[dict[str, Any]] = []
    if q:
        for kind, title, filterset_class, queryset in (
            ("organisations", "Organisations", PlatformTenantFilterSet, selectors.platform_tenants()),
            ("users", "Users", PlatformUserFilterSet, selectors.platform_users()),
            ("apis", "APIs", PlatformApiFilterSet, api_selectors.platform_apis()),
        ):
            rows = filterset_class({"q": q}, queryset=queryset).qs
            sections.append({"kind": kind, "title": title, "rows": rows[:PREVIEW_ROWS], "count": rows.count()})
    return render(request, "portal/platform_search.html", {"q": q, "sections": sections})


@staff_member_required
@require_GET
def tenant_list(request: HttpRequest) -> HttpResponse:
    return _list_page(
        request,
        title="Organisations",
        kind="organisations",
        filterset_class=PlatformTenantFilterSet,
        queryset=selectors.platform_tenants(),
        filters=[("", "All"), ("suspended=true", "Suspended"), ("suspended=false", "Active")],
    )


@staff_member_required
@require_GET
def user_list(request: HttpRequest) -> HttpResponse:
    return _list_page(
        request,
        title="Users",
        kind="users",
        filterset_class=PlatformUserFilterSet,
        queryset=selectors.platform_users(),
        filters=[("", "All"), ("staff=true", "Staff")],
    )


@staff_member_required
@require_GET
def api_list(request: HttpRequest) -> HttpResponse:
    return _list_page(
        request,
        title="APIs",
        kind="apis",
        filterset_class=PlatformApiFilterSet,
        queryset=api_selectors.platform_apis(),
        filters=[("", "All"), ("visibility=public", "Public"), ("visibility=internal", "Internal")],
    )


def _found(getter: Callable[..., Any], *args: Any) -> Any:
    try:
        return getter(*args)
    except NotFound as error:
        raise Http404(error.message) from None


def _activity(tenant: Tenant) -> list[dict[str, Any]]:
    """The newest catalog changes, subscription events and suspensions, merged by time."""
    entries: list[dict[str, Any]] = []
    for audit in islice(api_selectors.tenant_audit_events(tenant), ACTIVITY_ROWS):
        what = f"{audit.action} {audit.target_label}"
        entries.append({"at": audit.created_at, "who": audit.actor_email, "what": what, "note": audit.note})
    for sub_event in islice(subscription_selectors.tenant_subscription_events(tenant), ACTIVITY_ROWS):
        what = f"{sub_event.action} #{sub_event.subscription_id}"
        entries.append({"at": sub_event.created_at, "who": sub_event.actor_email, "what": what, "note": sub_event.note})
    for suspension in islice(selectors.suspension_events(tenant), ACTIVITY_ROWS):
        what = f"organisation {suspension.action}"
        entries.append(
            {"at": suspension.created_at, "who": suspension.actor_email, "what": what, "note": suspension.reason}
        )
    entries.sort(key=lambda entry: entry["at"], reverse=True)
    return entries[:ACTIVITY_ROWS]


def _tenant_page(request: HttpRequest, tenant: Tenant, *, form: Any = None, status: int = 200) -> HttpResponse:
    members = list(selectors.tenant_members(tenant))
    if form is None:
        form = UnsuspendForm() if tenant.is_suspended else SuspendForm()
    return render(
        request,
        "portal/platform_tenant.html",
        {
            "tenant": tenant,
            "members": members,
            "apis": api_selectors.platform_apis().filter(tenant=tenant)[:PREVIEW_ROWS],
            "api_count": api_selectors.platform_apis().filter(tenant=tenant).count(),
            "counts": subscription_selectors.tenant_activity_counts(tenant),
            "activity": _activity(tenant),
            "form": form,
        },
        status=status,
    )


@staff_member_required
@require_GET
def tenant_detail(request: HttpRequest, organisation: str) -> HttpResponse:
    return _tenant_page(request, _found(selectors.platform_tenant, organisation))


@staff_member_required
@require_POST
def tenant_suspend(request: HttpRequest, organisation: str) -> HttpResponse:
    tenant = _found(selectors.platform_tenant, organisation)
    staff: User = request.user  # type: ignore[assignment]  # staff_member_required: a signed-in User
    return submit_form(
        request,
        SuspendForm(request.POST),
        run=lambda data: services.tenant_suspend(staff=staff, tenant=tenant, reason=data["reason"]),
        success=lambda t: done(
            request, f"{t.name} is suspended; its owners are told by e-mail.", "platform-tenant", t.slug
        ),
        page=lambda form, status: _tenant_page(request, tenant, form=form, status=status),
    )


@staff_member_required
@require_POST
def tenant_unsuspend(request: HttpRequest, organisation: str) -> HttpResponse:
    tenant = _found(selectors.platform_tenant, organisation)
    staff: User = request.user  # type: ignore[assignment]
    return submit_form(
        request,
        UnsuspendForm(request.POST),
        run=lambda data: services.tenant_unsuspend(staff=staff, tenant=tenant, note=data["note"]),
        success=lambda t: done(request, f"The suspension of {t.name} is lifted.", "platform-tenant", t.slug),
        page=lambda form, status: _tenant_page(request, tenant, form=form, status=status),
    )


@staff_member_required
@require_GET
def user_detail(request: HttpRequest, pk: int) -> HttpResponse:
    person = _found(selectors.platform_user, pk)
    return render(
        request,
        "portal/platform_user.html",
        {"person": person, "memberships": selectors.user_memberships(person)},
    )
