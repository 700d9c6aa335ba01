"""Web pages: the in-app notification list and the webhook settings with their delivery logs."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from core.errors import NotFound
from core.filters import is_id
from core.http import reveals_secret, take_revealed
from core.paging import paginate
from core.web import done, perform, submit_form
from notifications import selectors, services
from notifications.forms import WebhookForm
from notifications.models import Webhook
from tenants.roles import Perm
from tenants.web import TenantRequest, tenant_view


@tenant_view()
def notification_list(request: TenantRequest) -> HttpResponse:
    notices = paginate(request, selectors.member_notifications(request.tenant, request.user))
    # Opening the list reads what it shows: those notices are marked read now, and this page still
    # highlights them as new (their read_at as loaded above). Notices on other pages stay unread.
    fresh = [n.pk for n in notices.rows if n.read_at is None]
    if fresh:
        services.notification_mark_read(actor=request.membership, ids=fresh)
    return render(
        request,
        "notifications/list.html",
        {
            "notifications": notices,
            "fresh": len(fresh),
            "unread": selectors.unread_count(request.tenant, request.user),
        },
    )


@tenant_view()
@require_POST
def notification_read(request: TenantRequest) -> HttpResponse:
    """Mark one (``id``) or all notifications read; follow the notice's link when asked."""
    raw = request.POST.get("id")
    ids = [int(raw)] if raw and is_id(raw) else None
    services.notification_mark_read(actor=request.membership, ids=ids)
    target = request.POST.get("next", "")
    if target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    return redirect("notifications:list", slug=request.tenant.slug)


def _webhook(request: TenantRequest, pk: int) -> Webhook:
    try:
        return selectors.webhook_for(request.tenant, pk)
    except NotFound:
        raise Http404("No such webhook.") from None


@tenant_view(Perm.TENANT_EDIT)
@reveals_secret
def webhooks(request: TenantRequest) -> HttpResponse:
    def page(form: WebhookForm, status: int) -> HttpResponse:
        created = None
        if request.method == "GET" and (revealed := take_revealed(request)):
            created = selectors.tenant_webhooks(request.tenant).filter(pk=revealed["webhook"]).first()
            if created is not None:
                created.secret = revealed["secret"]
        context = {
            "form": form,
            "webhooks": paginate(request, selectors.tenant_webhooks(request.tenant)),
            "created": created,
        }
        return render(request, "notifications/webhooks.html", context, status=status)

    # POST/redirect/GET: the signing secret waits in the session for the next GET of this page, once.
    return submit_form(
        request,
        WebhookForm(request.POST or None),
        run=lambda data: services.webhook_create(actor=request.membership, **data),
        success=lambda created: done(
            request,
            "",
            "notifications:webhooks",
            slug=request.tenant.slug,
            reveal={"webhook": created.pk, "secret": created.secret},
        ),
        page=page,
    )


@tenant_view(Perm.TENANT_EDIT)
def webhook_detail(request: TenantRequest, pk: int) -> HttpResponse:
    return _webhook_page(request, _webhook(request, pk))


def _webhook_page(request: TenantRequest, webhook: Webhook, status: int = 200) -> HttpResponse:
    # An append-only log, possibly huge: a "More" control instead of a COUNT of every delivery.
    deliveries = paginate(
        request,
        selectors.webhook_deliveries(webhook).defer("payload"),
        count=False,
        path=reverse("notifications:webhook", args=[request.tenant.slug, webhook.pk]),
    )
    template = "notifications/partials/deliveries.html" if request.htmx else "notifications/webhook.html"
    return render(request, template, {"webhook": webhook, "deliveries": deliveries}, status=status)


@tenant_view(Perm.TENANT_EDIT)
@require_POST
def webhook_test(request: TenantRequest, pk: int) -> HttpResponse:
    webhook = _webhook(request, pk)
    return perform(
        request,
        lambda: services.webhook_send_test(actor=request.membership, webhook=webhook),
        success=lambda _: done(
            request,
            "Test event sent; see the delivery log below.",
            "notifications:webhook",
            slug=request.tenant.slug,
            pk=webhook.pk,
        ),
        failure=lambda error: _webhook_page(request, webhook, error.status_code),
    )


@tenant_view(Perm.TENANT_EDIT)
@require_POST
def webhook_toggle(request: TenantRequest, pk: int) -> HttpResponse:
    webhook = _webhook(request, pk)
    services.webhook_update(actor=request.membership, webhook=webhook, is_active=not webhook.is_active)
    messages.success(request, "Webhook paused." if webhook.is_active else "Webhook active again.")
    return redirect("notifications:webhook", slug=request.tenant.slug, pk=webhook.pk)


@tenant_view(Perm.TENANT_EDIT)
@require_POST
def webhook_delete(request: TenantRequest, pk: int) -> HttpResponse:
    webhook = _webhook(request, pk)
    services.webhook_delete(actor=request.membership, webhook=webhook)
    messages.success(request, f"Webhook {webhook.url} deleted.")
    return redirect("notifications:webhooks", slug=request.tenant.slug)
