"""Web pages: an organisation's alert rules with their state and history (all of them, or those of
one API or application), a rule's page, and staff's node-silence rules on /platform/alerts/."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from alerts import selectors, services
from alerts.forms import AlertRuleForm, PlatformRuleForm
from alerts.models import AlertRule
from apis import selectors as api_selectors
from core.errors import Forbidden, NotFound
from core.filters import is_id
from core.paging import paginate
from core.web import done, submit_form
from subscriptions import selectors as subscription_selectors
from tenants.models import Membership
from tenants.permissions import can
from tenants.roles import Perm
from tenants.web import TenantRequest, tenant_view

EVENTS_PAGE_SIZE = 25


def _may_manage(membership: Membership) -> bool:
    """Rules on APIs need apis.edit, on applications apps.edit (the same roles today)."""
    return can(membership, Perm.APIS_EDIT) or can(membership, Perm.APPS_EDIT)


#: APIs and applications the new-rule form's menu lists at most (each); beyond, a search narrows it.
TARGET_MENU_SIZE = 200


def _capped(rows: QuerySet, query: str, wanted: str) -> tuple[list[Any], bool]:
    """The first TARGET_MENU_SIZE ``rows`` by name (matching ``query``), ``wanted`` (an id) always
    among them; and whether there were more."""
    rows_shown = rows.filter(name__icontains=query) if query else rows
    found = list(rows_shown.order_by("name", "pk")[: TARGET_MENU_SIZE + 1])
    more = len(found) > TARGET_MENU_SIZE
    found = found[:TARGET_MENU_SIZE]
    if is_id(wanted) and all(row.pk != int(wanted) for row in found):
        extra = rows.filter(pk=int(wanted)).first()
        if extra is not None:
            found.insert(0, extra)
    return found, more


def _targets(request: TenantRequest, wanted: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The form's APIs and applications, each capped at TARGET_MENU_SIZE by name (an organisation
    with 2,000 applications got a 120 KB, 120 ms page) and narrowed by ``?target_q=``; the target
    asked for (``wanted``: ``api:<id>`` / ``application:<id>``, posted or from the query) is always
    listed. Returns the form's keyword arguments and what the page says about the menu."""
    # Printable text only (a NUL would be refused by PostgreSQL), bounded like every search box.
    query = "".join(ch for ch in request.GET.get("target_q", "") if ch.isprintable())[:100].strip()
    kind, _, pk = wanted.partition(":")
    apis, more_apis = _capped(api_selectors.tenant_apis(request.tenant), query, pk if kind == "api" else "")
    applications, more_apps = _capped(
        subscription_selectors.tenant_applications(request.tenant), query, pk if kind == "application" else ""
    )
    menu = {"query": query, "size": TARGET_MENU_SIZE, "cut": more_apis or more_apps}
    menu["searchable"] = menu["cut"] or bool(query)
    return {"apis": apis, "applications": applications}, menu


def _filter(request: TenantRequest) -> dict[str, Any]:
    """The API (``?api=<id>``) or application (``?application=<id>``) the page narrows to; 404 if not ours."""
    found: dict[str, Any] = {}
    raw_api, raw_app = request.GET.get("api", ""), request.GET.get("application", "")
    if raw_api:
        api = api_selectors.tenant_apis(request.tenant).filter(pk=raw_api).first() if raw_api.isdigit() else None
        if api is None:
            raise NotFound("No such API.")
        found["api"] = api
    elif raw_app:
        found["application"] = subscription_selectors.application_for(request.tenant, raw_app)
    return found


@tenant_view()
def rule_list(request: TenantRequest) -> HttpResponse:
    narrowed = _filter(request)
    api, application = narrowed.get("api"), narrowed.get("application")
    rules = selectors.tenant_rules(
        request.tenant,
        api_id=api.pk if api else None,
        application_id=application.pk if application else None,
    )
    events = selectors.tenant_events(request.tenant)
    if api is not None:
        events = events.filter(rule__api=api)
    if application is not None:
        events = events.filter(rule__application=application)
    query = f"?api={api.pk}" if api else f"?application={application.pk}" if application else ""
    context = {
        "rules": paginate(request, rules),
        "events": paginate(request, events, param="events_page", size=EVENTS_PAGE_SIZE, count=False),
        "api": api,
        "application": application,
        "create_url": reverse("alerts:rule-create", args=[request.tenant.slug]) + query,
        "can_manage": _may_manage(request.membership),
    }
    return render(request, "alerts/list.html", context)


@tenant_view()
def rule_create(request: TenantRequest) -> HttpResponse:
    if not _may_manage(request.membership):
        raise Forbidden("Your role (Viewer) does not allow you to manage alert rules.")
    narrowed = _filter(request)
    initial: dict[str, Any] = {}
    if "api" in narrowed:
        initial["target"] = f"api:{narrowed['api'].pk}"
    elif "application" in narrowed:
        initial["target"] = f"application:{narrowed['application'].pk}"
    targets, menu = _targets(request, str(request.POST.get("target") or initial.get("target", "")))
    form = AlertRuleForm(request.POST or None, initial=initial, **targets)

    def page(form: AlertRuleForm, status: int) -> HttpResponse:
        return render(request, "alerts/form.html", {"form": form, "menu": menu}, status=status)

    return submit_form(
        request,
        form,
        run=lambda _data: services.rule_create(actor=request.membership, **form.service_kwargs()),
        success=lambda rule: done(request, "Alert rule created.", "alerts:rule", slug=request.tenant.slug, pk=rule.pk),
        page=page,
    )


def _rule_initial(rule: AlertRule) -> dict[str, Any]:
    names = ("name", "metric", "threshold", "window_minutes", "quota_period", "min_calls", "email", "enabled")
    return {name: getattr(rule, name) for name in names}


@tenant_view()
def rule_detail(request: TenantRequest, pk: int) -> HttpResponse:
    """The rule, its state and history; POST saves the edit form."""
    rule = selectors.rule_for(request.tenant, pk)
    can_manage = _may_manage(request.membership)
    if request.method == "POST" and not can_manage:
        raise Forbidden("Your role (Viewer) does not allow you to manage alert rules.")
    form = AlertRuleForm(request.POST or None, initial=_rule_initial(rule), apis=[], applications=[], editing=True)

    def page(form: AlertRuleForm, status: int) -> HttpResponse:
        events = paginate(
            request,
            selectors.rule_events(rule),
            size=EVENTS_PAGE_SIZE,
            count=False,
            path=reverse("alerts:rule", args=[request.tenant.slug, rule.pk]),
        )
        context = {"rule": rule, "form": form, "events": events, "can_manage": can_manage}
        return render(request, "alerts/rule.html", context, status=status)

    return submit_form(
        request,
        form,
        run=lambda data: services.rule_update(actor=request.membership, rule=rule, **data),
        success=lambda rule: done(request, "Alert rule saved.", "alerts:rule", slug=request.tenant.slug, pk=rule.pk),
        page=page,
    )


@tenant_view()
@require_POST
def rule_toggle(request: TenantRequest, pk: int) -> HttpResponse:
    rule = selectors.rule_for(request.tenant, pk)
    services.rule_update(actor=request.membership, rule=rule, enabled=not rule.enabled)
    messages.success(request, "Alert rule disabled." if rule.enabled else "Alert rule enabled.")
    return redirect("alerts:rule", slug=request.tenant.slug, pk=rule.pk)


@tenant_view()
@require_POST
def rule_delete(request: TenantRequest, pk: int) -> HttpResponse:
    rule = selectors.rule_for(request.tenant, pk)
    services.rule_delete(actor=request.membership, rule=rule)
    messages.success(request, f"Alert rule “{rule.label}” deleted with its history.")
    return redirect("alerts:list", slug=request.tenant.slug)


# --- Platform (staff) --------------------------------------------------------------------------


@staff_member_required
def platform(request: HttpRequest) -> HttpResponse:
    """Node-silence rules, their state and history; POST adds a rule."""
    form = PlatformRuleForm(request.POST or None)

    def page(form: PlatformRuleForm, status: int) -> HttpResponse:
        context = {
            "form": form,
            "rules": paginate(request, selectors.platform_rules()),
            "events": paginate(
                request,
                selectors.platform_events(),
                param="events_page",
                size=EVENTS_PAGE_SIZE,
                count=False,
                path=reverse("alerts:platform"),
            ),
        }
        return render(request, "alerts/platform.html", context, status=status)

    return submit_form(
        request,
        form,
        run=lambda data: services.platform_rule_create(user=request.user, **data),  # type: ignore[arg-type]
        success=lambda rule: done(request, "Platform alert rule created.", "alerts:platform"),
        page=page,
    )


@staff_member_required
def platform_rule(request: HttpRequest, pk: int) -> HttpResponse:
    rule = selectors.platform_rule(pk)
    form = PlatformRuleForm(request.POST or None, initial=_rule_initial(rule))

    def page(form: PlatformRuleForm, status: int) -> HttpResponse:
        return render(request, "alerts/platform_rule.html", {"rule": rule, "form": form}, status=status)

    return submit_form(
        request,
        form,
        run=lambda data: services.platform_rule_update(user=request.user, rule=rule, **data),  # type: ignore[arg-type]
        success=lambda _rule: done(request, "Platform alert rule saved.", "alerts:platform"),
        page=page,
    )


@staff_member_required
@require_POST
def platform_rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = selectors.platform_rule(pk)
    services.platform_rule_delete(user=request.user, rule=rule)  # type: ignore[arg-type]
    messages.success(request, "Platform alert rule deleted with its history.")
    return redirect("alerts:platform")
