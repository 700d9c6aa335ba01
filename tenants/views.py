"""Web pages: onboarding, invitations, organisation dashboard, members, settings, tokens."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from core.errors import Forbidden, NotFound, ServiceError
from core.http import reveals_secret
from portal.web import apply_service_error, flash_service_error, tenant_view
from tenants import selectors, services
from tenants.forms import InvitationForm, RoleForm, TenantCreateForm, TenantDeleteForm, TenantUpdateForm, TokenForm
from tenants.models import Invitation, Membership, PersonalAccessToken
from tenants.permissions import can
from tenants.reauth import REAUTH_CODE, is_destructive_member_change, require_fresh_auth
from tenants.roles import Perm


@login_required
def onboarding(request: HttpRequest) -> HttpResponse:
    form = TenantCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            tenant = services.tenant_create(user=request.user, **form.cleaned_data)
        except ServiceError as error:
            apply_service_error(form, error)
        else:
            messages.success(request, f"Welcome to {tenant.name}. You are its owner.")
            return redirect("tenants:dashboard", slug=tenant.slug)
    return render(
        request,
        "tenants/onboarding.html",
        {
            "form": form,
            "invitations": selectors.pending_invitations_for_user(request.user),
            "has_tenants": selectors.memberships_for_user(request.user).exists(),
        },
    )


@reveals_secret
def invitation_detail(request: HttpRequest, token: str) -> HttpResponse:
    """The page an invitation e-mail links to; anonymous visitors are sent to sign up first."""
    try:
        invitation = services.invitation_by_token(token)
    except NotFound as error:
        return render(request, "tenants/invitation_invalid.html", {"message": error.message}, status=404)
    if not request.user.is_authenticated:
        return render(request, "tenants/invitation_anonymous.html", {"invitation": invitation})
    if request.method == "POST":
        try:
            if request.POST.get("decision") == "decline":
                services.invitation_decline(user=request.user, token=token)
                messages.info(request, f"You declined the invitation to {invitation.tenant.name}.")
                return redirect("home")
            membership = services.invitation_accept(user=request.user, token=token)
        except ServiceError as error:
            return render(
                request,
                "tenants/invitation_invalid.html",
                {"message": error.message, "invitation": invitation},
                status=error.status_code,
            )
        messages.success(request, f"You joined {membership.tenant.name} as {membership.get_role_display()}.")
        return redirect("tenants:dashboard", slug=membership.tenant.slug)
    status_message = {
        "accepted": "This invitation has already been used.",
        "revoked": "This invitation was withdrawn. Ask for a new invitation.",
        "expired": "This invitation has expired. Ask for a new invitation.",
    }.get(invitation.status)
    if status_message:
        return render(request, "tenants/invitation_invalid.html", {"message": status_message}, status=410)
    return render(request, "tenants/invitation_detail.html", {"invitation": invitation, "token": token})


@tenant_view()
def dashboard(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant
    return render(
        request,
        "tenants/dashboard.html",
        {
            "member_count": selectors.tenant_members(tenant).count(),
            "pending_invitations": selectors.tenant_invitations(tenant).count(),
        },
    )


def _members_context(request: HttpRequest, invite_form: InvitationForm | None = None) -> dict:
    membership: Membership = request.membership
    manage = can(membership, Perm.MEMBERS_MANAGE)
    return {
        "members": selectors.tenant_members(request.tenant),
        "invitations": selectors.tenant_invitations(request.tenant) if manage else [],
        "invite_form": invite_form or InvitationForm(),
        "can_manage": manage,
        "role_form": RoleForm(),
    }


@tenant_view()
def members(request: HttpRequest) -> HttpResponse:
    return render(request, "tenants/members.html", _members_context(request))


@tenant_view(Perm.MEMBERS_MANAGE)
@require_POST
def invitation_create(request: HttpRequest) -> HttpResponse:
    form = InvitationForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            invitation, _token = services.invitation_create(actor=request.membership, **form.cleaned_data)
        except ServiceError as error:
            apply_service_error(form, error)
            status = error.status_code
        else:
            messages.success(request, f"Invitation sent to {invitation.email}.")
            if request.htmx:
                return render(request, "tenants/partials/members_panel.html", _members_context(request))
            return redirect("tenants:members", slug=request.tenant.slug)
    template = "tenants/partials/members_panel.html" if request.htmx else "tenants/members.html"
    return render(request, template, _members_context(request, form), status=status)


def _invitation(request: HttpRequest, pk: int) -> Invitation:
    return get_object_or_404(Invitation.objects.for_tenant(request.tenant), pk=pk)


@tenant_view(Perm.MEMBERS_MANAGE)
@require_POST
def invitation_resend(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        invitation, _token = services.invitation_resend(actor=request.membership, invitation=_invitation(request, pk))
        messages.success(request, f"A new link was sent to {invitation.email}.")
    except ServiceError as error:
        flash_service_error(request, error)
    return redirect("tenants:members", slug=request.tenant.slug)


@tenant_view(Perm.MEMBERS_MANAGE)
@require_POST
def invitation_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        invitation = services.invitation_revoke(actor=request.membership, invitation=_invitation(request, pk))
        messages.success(request, f"The invitation to {invitation.email} was withdrawn.")
    except ServiceError as error:
        flash_service_error(request, error)
    return redirect("tenants:members", slug=request.tenant.slug)


def _reauthenticate_first(request: HttpRequest, next_url: str) -> HttpResponse | None:
    """None when the owner may go on; else a redirect to allauth's "confirm your password" page."""
    try:
        require_fresh_auth(request, request.membership)
    except Forbidden as error:
        if error.code != REAUTH_CODE:
            raise
        messages.info(request, "Please confirm your password first; then repeat the action.")
        return redirect(f"{reverse('account_reauthenticate')}?{urlencode({'next': next_url})}")
    return None


def _member(request: HttpRequest, pk: int) -> Membership:
    return get_object_or_404(Membership.objects.for_tenant(request.tenant).select_related("user"), pk=pk)


@tenant_view(Perm.MEMBERS_MANAGE)
@require_POST
def member_role(request: HttpRequest, pk: int) -> HttpResponse:
    target = _member(request, pk)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a valid role.")
    else:
        if is_destructive_member_change(target, form.cleaned_data["role"]):
            members_url = reverse("tenants:members", kwargs={"slug": request.tenant.slug})
            if (answer := _reauthenticate_first(request, members_url)) is not None:
                return answer
        try:
            services.membership_change_role(actor=request.membership, membership=target, role=form.cleaned_data["role"])
            messages.success(request, f"{target.user.email} is now {target.get_role_display()}.")
        except ServiceError as error:
            flash_service_error(request, error)
    return redirect("tenants:members", slug=request.tenant.slug)


@tenant_view()
@require_POST
def member_remove(request: HttpRequest, pk: int) -> HttpResponse:
    target = _member(request, pk)
    leaving = target.pk == request.membership.pk
    if not leaving and is_destructive_member_change(target):
        members_url = reverse("tenants:members", kwargs={"slug": request.tenant.slug})
        if (answer := _reauthenticate_first(request, members_url)) is not None:
            return answer
    try:
        services.membership_remove(actor=request.membership, membership=target)
    except ServiceError as error:
        flash_service_error(request, error)
        return redirect("tenants:members", slug=request.tenant.slug)
    if leaving:
        messages.success(request, f"You left {request.tenant.name}.")
        return redirect("home")
    messages.success(request, f"{target.user.email} was removed.")
    return redirect("tenants:members", slug=request.tenant.slug)


@tenant_view()
def settings_view(request: HttpRequest) -> HttpResponse:
    tenant = request.tenant
    form = TenantUpdateForm(request.POST or None, initial={"name": tenant.name})
    if request.method == "POST" and form.is_valid():
        try:
            services.tenant_update(actor=request.membership, **form.cleaned_data)
        except ServiceError as error:
            apply_service_error(form, error)
            return render(
                request,
                "tenants/settings.html",
                {"form": form, "delete_form": TenantDeleteForm()},
                status=error.status_code,
            )
        messages.success(request, "Saved.")
        return redirect("tenants:settings", slug=tenant.slug)
    return render(request, "tenants/settings.html", {"form": form, "delete_form": TenantDeleteForm()})


@tenant_view(Perm.TENANT_DELETE)
@require_POST
def tenant_delete(request: HttpRequest) -> HttpResponse:
    form = TenantDeleteForm(request.POST)
    name = request.tenant.name
    settings_url = reverse("tenants:settings", kwargs={"slug": request.tenant.slug})
    if (answer := _reauthenticate_first(request, settings_url)) is not None:
        return answer
    status = 400
    if form.is_valid():
        try:
            services.tenant_delete(actor=request.membership, **form.cleaned_data)
        except ServiceError as error:
            apply_service_error(form, error)
            status = error.status_code
        else:
            messages.success(request, f"{name} was deleted.")
            return redirect("home")
    return render(
        request,
        "tenants/settings.html",
        {"form": TenantUpdateForm(initial={"name": name}), "delete_form": form},
        status=status,
    )


@tenant_view()
@reveals_secret
def tokens(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None)
    created = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                token, plaintext = services.token_create(actor=request.membership, **form.cleaned_data)
            except ServiceError as error:
                apply_service_error(form, error)
                status = error.status_code
            else:
                created = {"token": token, "plaintext": plaintext}
                form = TokenForm()
        else:
            status = 400
    manage_all = can(request.membership, Perm.TOKENS_MANAGE_ALL)
    return render(
        request,
        "tenants/tokens.html",
        {
            "form": form,
            "created": created,
            "tokens": selectors.tokens_visible_to(request.membership, all_members=manage_all),
            "manage_all": manage_all,
            "api_base": request.build_absolute_uri(reverse("api:me")),
        },
        status=status,
    )


@tenant_view()
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(PersonalAccessToken.objects.for_tenant(request.tenant), pk=pk)
    try:
        services.token_revoke(actor=request.membership, token=token)
        messages.success(request, f"Token “{token.name}” revoked.")
    except ServiceError as error:
        flash_service_error(request, error)
    return redirect("tenants:tokens", slug=request.tenant.slug)
