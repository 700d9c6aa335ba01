"""Web pages: applications and keys (consumer), subscription pages (both sides), approval queues."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from core.errors import NotFound, ServiceError
from core.filters import is_id
from core.formatting import plural
from core.http import reveals_secret, take_revealed
from core.paging import paginate
from core.web import done, flash_service_error, perform, refusals, submit_form
from subscriptions import selectors, services
from subscriptions.filtersets import QueueFilterSet, StaffQueueFilterSet
from subscriptions.forms import (
    ApplicationForm,
    KeyForm,
    KeyRestrictionsForm,
    PlanChangeForm,
    ReasonForm,
    RotateForm,
    SubscribeForm,
)
from subscriptions.models import ApiKey, Subscription, SubscriptionStatus
from tenants.permissions import can
from tenants.roles import Perm
from tenants.web import AuthenticatedRequest, TenantRequest, tenant_view


def _found(getter: Any, *args: Any) -> Any:
    try:
        return getter(*args)
    except NotFound as error:
        raise Http404(error.message) from None


# --- Applications and keys -----------------------------------------------------------


@tenant_view()
def applications(request: TenantRequest) -> HttpResponse:
    def page(form: ApplicationForm, status: int) -> HttpResponse:
        live = Subscription.objects.for_consumer(request.tenant).filter(
            status__in=[SubscriptionStatus.PENDING, SubscriptionStatus.ACTIVE, SubscriptionStatus.SUSPENDED]
        )
        context = {
            "form": form,
            "applications": paginate(request, selectors.application_rows(request.tenant)),
            "subscriptions": paginate(
                request, selectors.subscription_rows(live).order_by("-created_at", "-id"), param="subs_page"
            ),
            "can_edit": can(request.membership, Perm.APPS_EDIT),
        }
        return render(request, "subscriptions/applications.html", context, status=status)

    return submit_form(
        request,
        ApplicationForm(request.POST or None),
        run=lambda data: services.application_create(actor=request.membership, **data),
        check=lambda data: refusals(lambda: services.check_application_name_free(request.tenant, data["name"])),
        success=lambda application: done(
            request,
            f"Application “{application.name}” created.",
            "subscriptions:application",
            slug=request.tenant.slug,
            pk=application.pk,
        ),
        page=page,
    )


@tenant_view(Perm.APPS_EDIT)
def application_edit(request: TenantRequest, pk: int) -> HttpResponse:
    application = _found(selectors.application_for, request.tenant, pk)
    initial = {
        "name": application.name,
        "description": application.description,
        "contact_email": application.contact_email,
    }
    return submit_form(
        request,
        ApplicationForm(request.POST or None, initial=initial),
        run=lambda data: services.application_update(actor=request.membership, application=application, **data),
        check=lambda data: refusals(
            lambda: services.check_application_name_free(request.tenant, data["name"], exclude_pk=application.pk)
        ),
        success=lambda _: done(
            request, "Application saved.", "subscriptions:application", slug=request.tenant.slug, pk=application.pk
        ),
        page=lambda form, status: render(
            request, "subscriptions/application_edit.html", {"form": form, "application": application}, status=status
        ),
    )


def _application_page(
    request: TenantRequest,
    application: Any,
    *,
    key_form: KeyForm | None = None,
    status: int = 200,
) -> HttpResponse:
    # Also the answer to a POST (new key, rotation): page links go to the application page.
    path = reverse("subscriptions:application", args=[request.tenant.slug, application.pk])
    keys = selectors.application_keys(application)
    return render(
        request,
        "subscriptions/application.html",
        {
            "application": application,
            "subscriptions": paginate(
                request,
                selectors.subscription_rows(Subscription.objects.for_consumer(request.tenant))
                .filter(application=application)
                .order_by("-created_at", "-id"),
                param="subs_page",
                path=path,
            ),
            "keys": paginate(request, keys, param="keys_page", path=path),
            "key_form": key_form or _key_form(application),
            "rotate_form": RotateForm(auto_id=False),  # one select per key row: no repeated id
            "created": _revealed_key(request, keys),
            "can_edit": can(request.membership, Perm.APPS_EDIT),
            "can_create_keys": selectors.has_active_subscription(application),
        },
        status=status,
    )


def _revealed_key(request: TenantRequest, keys: Any) -> dict[str, Any] | None:
    """The key created or rotated by the POST that redirected here, with its plaintext, once."""
    if request.method != "GET" or not (revealed := take_revealed(request)):
        return None
    found = {k.pk: k for k in keys.filter(pk__in=[revealed["key"], revealed.get("rotated") or 0])}
    if revealed["key"] not in found:
        return None
    return {
        "key": found[revealed["key"]],
        "plaintext": revealed["plaintext"],
        "rotated": found.get(revealed.get("rotated")),
    }


@tenant_view()
@reveals_secret
def application_detail(request: TenantRequest, pk: int) -> HttpResponse:
    return _application_page(request, _found(selectors.application_for, request.tenant, pk))


def _key_done(request: TenantRequest, application: Any, message: str, reveal: dict[str, Any]) -> HttpResponse:
    # POST/redirect/GET: the plaintext waits in the session for the next GET of the page, once.
    return done(
        request, message, "subscriptions:application", slug=request.tenant.slug, pk=application.pk, reveal=reveal
    )


def _key_form(application: Any, data: Any = None) -> KeyForm:
    apis, plan_limits = selectors.key_restriction_choices(application)
    return KeyForm(data, apis=apis, plan_limits=plan_limits)


@tenant_view(Perm.APPS_EDIT)
@require_POST
@reveals_secret
def key_create(request: TenantRequest, pk: int) -> HttpResponse:
    application = _found(selectors.application_for, request.tenant, pk)
    form = _key_form(application, request.POST)
    return submit_form(
        request,
        form,
        run=lambda data: services.key_create(actor=request.membership, application=application, **data),
        check=lambda data: refusals(
            lambda: services.check_key_name_free(application, data["name"].strip()),
            lambda: services.check_restrictions(application, **form.restrictions()),
        ),
        success=lambda result: _key_done(request, application, "", {"key": result[0].pk, "plaintext": result[1]}),
        page=lambda form, status: _application_page(request, application, key_form=form, status=status),
    )


def _key(request: HttpRequest, application: Any, key_pk: int) -> ApiKey:
    key = selectors.application_keys(application).filter(pk=key_pk).first()
    if key is None:
        raise Http404("No such key.")
    return key


@tenant_view()
def key_detail(request: TenantRequest, pk: int, key_pk: int) -> HttpResponse:
    """One key: what it is and its restrictions, which members who manage keys change here."""
    application = _found(selectors.application_for, request.tenant, pk)
    key = _key(request, application, key_pk)
    apis, plan_limits = selectors.key_restriction_choices(application)
    current = list(key.allowed_apis.all())
    initial = {
        "allowed_cidrs": "\n".join(key.allowed_cidrs),
        "allowed_apis": [api.pk for api in current],
        "rate_limit_per_minute": key.rate_limit_per_minute,
    }
    # An allowed API whose subscription ended since stays listed (ticked), so saving the form
    # does not drop it silently: unticking it is the user's choice.
    choices = apis + [api for api in current if api.pk not in {a.pk for a in apis}]
    form = KeyRestrictionsForm(request.POST or None, initial=initial, apis=choices, plan_limits=plan_limits)

    def page(form: KeyRestrictionsForm, status: int) -> HttpResponse:
        context = {
            "application": application,
            "key": key,
            "form": form,
            "allowed_apis": current,
            "can_edit": can(request.membership, Perm.APPS_EDIT) and key.status == "active",
        }
        return render(request, "subscriptions/key.html", context, status=status)

    return submit_form(
        request,
        form,
        run=lambda data: services.key_set_restrictions(actor=request.membership, key=key, **form.restrictions()),
        success=lambda _: done(
            request,
            f"Restrictions of “{key.name}” saved; gateways apply them within seconds. The key itself is unchanged.",
            "subscriptions:key-detail",
            slug=request.tenant.slug,
            pk=application.pk,
            key_pk=key.pk,
        ),
        page=page,
    )


@tenant_view(Perm.APPS_EDIT)
@require_POST
@reveals_secret
def key_rotate(request: TenantRequest, pk: int, key_pk: int) -> HttpResponse:
    application = _found(selectors.application_for, request.tenant, pk)
    key = _key(request, application, key_pk)

    def page(form: RotateForm, status: int) -> HttpResponse:
        if status == 400 and form.errors:
            messages.error(request, "Choose a grace period from the list.")
        return _application_page(request, application, status=status)

    return submit_form(
        request,
        RotateForm(request.POST),
        run=lambda data: services.key_rotate(
            actor=request.membership, key=key, grace=timedelta(hours=data["grace_hours"])
        ),
        success=lambda result: _key_done(
            request, application, "", {"key": result[0].pk, "plaintext": result[1], "rotated": key.pk}
        ),
        page=page,
        on_error=lambda form, error: flash_service_error(request, error),
    )


@tenant_view(Perm.APPS_EDIT)
@require_POST
def key_revoke(request: TenantRequest, pk: int, key_pk: int) -> HttpResponse:
    application = _found(selectors.application_for, request.tenant, pk)
    key = _key(request, application, key_pk)
    return perform(
        request,
        lambda: services.key_revoke(actor=request.membership, key=key),
        success=lambda _: done(
            request,
            f"Key “{key.name}” ({key.masked}) revoked; it is refused from now on.",
            "subscriptions:application",
            slug=request.tenant.slug,
            pk=application.pk,
        ),
        failure=lambda error: _application_page(request, application, status=error.status_code),
    )


# --- Subscribing ---------------------------------------------------------------------


#: Applications the subscribe form's menu lists at most; beyond, a search narrows it.
APPLICATION_MENU_SIZE = 200


def _application_menu(request: TenantRequest) -> tuple[list[Any], dict[str, Any]]:
    """The subscribe form's applications: all of them, or (an organisation with many) the first
    APPLICATION_MENU_SIZE by name matching ``?app_q=``; the application asked for by id
    (``?application=``, or the one posted) is always among them."""
    # Bounded like the other search boxes (a NUL never gets here: RequestHardening answers 400).
    query = request.GET.get("app_q", "").strip()[:100]
    rows = selectors.application_choices(request.tenant)
    if query:
        rows = rows.filter(name__icontains=query)
    apps = list(rows[: APPLICATION_MENU_SIZE + 1])
    more = len(apps) > APPLICATION_MENU_SIZE
    apps = apps[:APPLICATION_MENU_SIZE]
    total = rows.count() if more else len(apps)
    wanted = request.POST.get("application") or request.GET.get("application")
    if wanted and is_id(wanted) and all(a.pk != int(wanted) for a in apps):
        found = selectors.application_choices(request.tenant).filter(pk=int(wanted)).first()
        if found is not None:
            apps.insert(0, found)
    menu = {
        "query": query,
        "total": total,
        "shown": min(total, APPLICATION_MENU_SIZE),
        "searchable": more or bool(query),
    }
    return apps, menu


@tenant_view(Perm.APPS_EDIT)
def subscribe(request: TenantRequest) -> HttpResponse:
    """Choose an application and describe the use case; the catalog links here with ?plan=<id>."""
    plan_id = request.POST.get("plan") or request.GET.get("plan")
    plan = selectors.plan_for_subscribe(request.user, request.tenant, plan_id)
    if plan is None:
        raise Http404("No such plan.")
    apps, menu = _application_menu(request)

    def run(data: Mapping[str, Any]) -> Subscription:
        application = _found(selectors.application_for, request.tenant, data["application"])
        return services.subscription_request(
            actor=request.membership, application=application, plan=plan, use_case=data["use_case"]
        )

    def success(subscription: Subscription) -> HttpResponse:
        if subscription.status == SubscriptionStatus.ACTIVE:
            message = f"“{subscription.application.name}” is subscribed to {plan.api.name} ({plan.name})."
        else:
            message = f"Request sent. {plan.tenant.name} will review it; you will get an e-mail."
        return done(request, message, "subscriptions:subscription", slug=request.tenant.slug, pk=subscription.pk)

    return submit_form(
        request,
        SubscribeForm(
            request.POST or None,
            applications=apps,
            initial={"application": apps[0].pk} if apps and request.GET.get("application") else None,
        ),
        run=run,
        success=success,
        page=lambda form, status: render(
            request,
            "subscriptions/subscribe.html",
            {"plan": plan, "form": form, "applications": apps, "menu": menu, "limits": services.plan_limits(plan)},
            status=status,
        ),
    )


# --- Subscription page (both sides) --------------------------------------------------


def _sides(request: TenantRequest, subscription: Subscription) -> dict[str, bool]:
    consumer = subscription.consumer_tenant_id == request.tenant.pk
    provider = subscription.provider_tenant_id == request.tenant.pk
    return {
        "is_consumer": consumer,
        "is_provider": provider,
        "can_manage": consumer and can(request.membership, Perm.APPS_EDIT),
        "can_decide": provider and can(request.membership, Perm.SUBSCRIPTIONS_APPROVE),
    }


@tenant_view()
def subscription_detail(request: TenantRequest, pk: int) -> HttpResponse:
    return _subscription_page(request, _found(selectors.subscription_for, request.tenant, pk))


def _subscription_page(request: TenantRequest, subscription: Subscription, status: int = 200) -> HttpResponse:
    sides = _sides(request, subscription)
    path = reverse("subscriptions:subscription", args=[request.tenant.slug, subscription.pk])
    plans = [
        p
        for p in selectors.offered_plans(request.user, request.tenant).filter(api=subscription.api)
        if p.pk != subscription.plan_id
    ]
    return render(
        request,
        "subscriptions/subscription.html",
        {
            "subscription": subscription,
            "events": paginate(
                request, selectors.subscription_events(request.tenant, subscription), param="events_page", path=path
            ),
            "others": (
                paginate(request, selectors.other_subscriptions(subscription), param="others_page", size=20, path=path)
                if sides["is_provider"]
                else []
            ),
            "limits": services.plan_limits(subscription.plan),
            "plan_form": PlanChangeForm(plans=plans) if plans else None,
            "reason_form": ReasonForm(),
            **sides,
        },
        status=status,
    )


@tenant_view()
def subscription_events_csv(request: TenantRequest, pk: int) -> HttpResponse:
    subscription = _found(selectors.subscription_for, request.tenant, pk)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="subscription-{subscription.pk}-events.csv"'
    writer = csv.writer(response)
    writer.writerow(["time", "actor", "action", "from_state", "to_state", "note"])
    for event in selectors.subscription_events(request.tenant, subscription):
        # A leading =, +, - or @ would run as a formula in spreadsheets.
        note = f"'{event.note}" if event.note[:1] in {"=", "+", "-", "@"} else event.note
        writer.writerow(
            [
                event.created_at.isoformat(),
                event.actor_email or "system",
                event.action,
                event.from_state,
                event.to_state,
                note,
            ]
        )
    return response


_ACTIONS = {
    "approve": lambda m, s, d: services.subscription_approve(actor=m, subscription=s, note=d.get("reason", "")),
    "reject": lambda m, s, d: services.subscription_reject(actor=m, subscription=s, reason=d.get("reason", "")),
    "suspend": lambda m, s, d: services.subscription_suspend(actor=m, subscription=s, reason=d.get("reason", "")),
    "resume": lambda m, s, d: services.subscription_resume(actor=m, subscription=s, note=d.get("reason", "")),
    "cancel": lambda m, s, d: services.subscription_cancel(actor=m, subscription=s, reason=d.get("reason", "")),
    "change-plan": lambda m, s, d: services.subscription_change_plan(
        actor=m, subscription=s, plan=int(d.get("plan") or 0), note=d.get("note", "")
    ),
}
_DONE = {
    "approve": "Approved.",
    "reject": "Rejected; the requester sees your reason.",
    "suspend": "Suspended; its calls are refused until you resume it.",
    "resume": "Resumed.",
    "cancel": "Cancelled.",
    "change-plan": "Plan change recorded.",
}


@tenant_view()
@require_POST
def subscription_action(request: TenantRequest, pk: int, verb: str) -> HttpResponse:
    subscription = _found(selectors.subscription_for, request.tenant, pk)
    if verb not in _ACTIONS:
        raise Http404("No such action.")
    if verb == "change-plan" and not is_id(request.POST.get("plan", "")):
        messages.error(request, "Choose a plan.")
        return _subscription_page(request, subscription, status=400)

    def success(_: object) -> HttpResponse:
        back = request.POST.get("next", "")
        if back.startswith(f"/t/{request.tenant.slug}/"):
            return done(request, _DONE[verb], back)
        return done(request, _DONE[verb], "subscriptions:subscription", slug=request.tenant.slug, pk=subscription.pk)

    def failure(error: ServiceError) -> HttpResponse:
        # The page as it is now (another admin may just have decided): the refusal's status, e.g. 409.
        fresh = _found(selectors.subscription_for, request.tenant, subscription.pk)
        return _subscription_page(request, fresh, status=error.status_code)

    return perform(
        request,
        lambda: _ACTIONS[verb](request.membership, subscription, request.POST),
        success=success,
        failure=failure,
    )


# --- Approval queues -----------------------------------------------------------------


def _queue_context(request: HttpRequest, tenant: Any) -> dict[str, Any]:
    filterset_class = QueueFilterSet if tenant else StaffQueueFilterSet
    filterset = filterset_class(request.GET, queryset=selectors.approval_queue(tenant))
    # A bad filter is shown as an error above the unfiltered queue (and the page answers 400).
    valid = filterset.is_valid()
    queue = filterset.qs if valid else filterset.queryset
    names = ("api", "plan", "min_age_hours", "provider")
    filters = {name: filterset.form.cleaned_data.get(name) for name in names} if valid else {}
    return {
        "valid": valid,
        "filter_errors": [f"{name}: {error}" for name, errors in filterset.errors.items() for error in errors],
        "queue": paginate(request, selectors.queue_rows(queue, with_provider=tenant is None)),
        "filters": filters,
        **selectors.queue_menus(tenant, provider=filters.get("provider")),
        "menu_limit": selectors.MENU_LIMIT,
        "age_choices": [(1, "≥ 1 hour"), (24, "≥ 1 day"), (72, "≥ 3 days"), (168, "≥ 7 days")],
    }


def _bulk(request: HttpRequest, actor: Any) -> None:
    decision = request.POST.get("decision")
    ids = [int(i) for i in request.POST.getlist("ids") if is_id(i)]
    if decision not in {"approve", "reject"}:
        messages.error(request, "Choose approve or reject.")
        return
    try:
        decided, skipped = services.subscriptions_bulk_decide(
            actor=actor, subscription_ids=ids, approve=decision == "approve", reason=request.POST.get("reason", "")
        )
    except ServiceError as error:
        flash_service_error(request, error)
        return
    verb = "Approved" if decision == "approve" else "Rejected"
    if decided:
        messages.success(request, f"{verb} {plural(len(decided), 'request')}.")
    for pk, why in skipped.items():
        messages.warning(request, f"Request #{pk} skipped: {why}")


@tenant_view(Perm.SUBSCRIPTIONS_APPROVE)
def approvals(request: TenantRequest) -> HttpResponse:
    if request.method == "POST":
        _bulk(request, request.membership)
        return redirect(request.get_full_path())
    context = _queue_context(request, request.tenant)
    context["action_base"] = reverse("subscriptions:approvals", args=[request.tenant.slug])
    return render(request, "subscriptions/approvals.html", context, status=200 if context["valid"] else 400)


@staff_member_required
def platform_approvals(request: AuthenticatedRequest) -> HttpResponse:
    """Platform staff: every provider's queue, decided as staff."""
    if request.method == "POST":
        _bulk(request, services.StaffActor(user=request.user))
        return redirect(request.get_full_path())
    context = _queue_context(request, None)
    context["action_base"] = reverse("platform-approvals")
    context["global_queue"] = True
    return render(request, "subscriptions/approvals.html", context, status=200 if context["valid"] else 400)


@staff_member_required
def platform_request(request: AuthenticatedRequest, pk: int) -> HttpResponse:
    """Platform staff: one request of the queue, with its history; decided through the queue's form."""
    subscription = selectors.platform_subscriptions().filter(pk=pk).first()
    if subscription is None:
        raise Http404("No such subscription.")
    return render(
        request,
        "subscriptions/platform_request.html",
        {
            "subscription": subscription,
            "events": paginate(
                request,
                selectors.platform_subscription_events(subscription),
                param="events_page",
            ),
            "limits": services.plan_limits(subscription.plan),
        },
    )
