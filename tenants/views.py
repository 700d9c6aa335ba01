"""Web pages: onboarding, invitations, organisation dashboard, members, settings, tokens."""

from __future__ import annotations

from allauth.account.adapter import get_adapter as get_account_adapter
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from core.errors import Forbidden, NotFound, ServiceError
from core.http import reveals_secret, take_revealed
from core.paging import paginate
from core.web import done, flash_service_error, perform, refusals, submit_form
from tenants import dashboard as dashboard_parts
from tenants import selectors, services
from tenants.forms import InvitationForm, RoleForm, TenantCreateForm, TenantDeleteForm, TenantUpdateForm, TokenForm
from tenants.models import Invitation, InvitationStatus, Membership, PersonalAccessToken
from tenants.permissions import can
from tenants.reauth import REAUTH_CODE, is_destructive_member_change, require_fresh_auth
from tenants.roles import Perm
from tenants.web import AuthenticatedRequest, TenantRequest, tenant_view


@login_required
def onboarding(request: AuthenticatedRequest) -> HttpResponse:
    def page(form: TenantCreateForm, status: int) -> HttpResponse:
        context = {
            "form": form,
            "invitations": selectors.pending_invitations_for_user(request.user),
            "has_tenants": selectors.memberships_for_user(request.user).exists(),
        }
        return render(request, "tenants/onboarding.html", context, status=status)

    return submit_form(
        request,
        TenantCreateForm(request.POST or None),
        run=lambda data: services.tenant_create(user=request.user, **data),
        check=lambda data: refusals(lambda: services.check_slug_free(services.validate_slug(data["slug"]))),
        success=lambda tenant: done(
            request, f"Welcome to {tenant.name}. You are its owner.", "tenants:dashboard", slug=tenant.slug
        ),
        page=page,
    )


@reveals_secret
def invitation_detail(request: HttpRequest, token: str) -> HttpResponse:
    """The page an invitation e-mail links to; anonymous visitors are sent to sign up first."""
    try:
        invitation = services.invitation_by_token(token)
    except NotFound as error:
        return render(request, "tenants/invitation_invalid.html", {"message": error.message}, status=404)
    if not request.user.is_authenticated:
        if invitation.status == InvitationStatus.PENDING:
            # The link was mailed to this address, so whoever opens it controls that mailbox: signing
            # up here with the invited address needs no second verification mail (allauth's pattern
            # for invitations). The invitee is signed in at once and comes back here to accept.
            get_account_adapter(request).stash_verified_email(request, invitation.email)
        back = {"next": request.path}
        context = {
            "invitation": invitation,
            "signup_query": urlencode({**back, "email": invitation.email}),
            "login_query": urlencode(back),
        }
        return render(request, "tenants/invitation_anonymous.html", context)
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
def dashboard(request: TenantRequest) -> HttpResponse:
    """The organisation's starting point: what the apps contribute (tenants.dashboard), members last."""
    tenant = request.tenant
    board = dashboard_parts.build(request)
    return render(
        request,
        "tenants/dashboard.html",
        {
            "board": board,
            "member_count": selectors.tenant_members(tenant).count(),
            "pending_invitations": selectors.tenant_invitations(tenant).count(),
        },
    )


def _members_context(request: TenantRequest, invite_form: InvitationForm | None = None) -> dict:
    membership: Membership = request.membership
    manage = can(membership, Perm.MEMBERS_MANAGE)
    # Also the answer to an HTMX invitation or a refused action: page links go to the members page.
    path = reverse("tenants:members", args=[request.tenant.slug])
    return {
        "members": paginate(request, selectors.tenant_members(request.tenant), path=path),
        "invitations": (
            paginate(request, selectors.tenant_invitations(request.tenant), param="invitations_page", path=path)
            if manage
            else []
        ),
        "invite_form": invite_form or InvitationForm(),
        "can_manage": manage,
        "role_form": RoleForm(),
    }


def _members_page(request: TenantRequest, status: int = 200, invite_form: InvitationForm | None = None) -> HttpResponse:
    # An HTMX request (the invitation form, or the GET it follows after a redirect) gets the panel only.
    template = "tenants/partials/members_panel.html" if request.htmx else "tenants/members.html"
    response = render(request, template, _members_context(request, invite_form), status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


@tenant_view()
def members(request: TenantRequest) -> HttpResponse:
    return _members_page(request)


@tenant_view(Perm.MEMBERS_MANAGE)
@require_POST
def invitation_create(request: TenantRequest) -> HttpResponse:
    return submit_form(
        request,
        InvitationForm(request.POST),
        run=lambda data: services.invitation_create(actor=request.membership, **data),
        check=lambda data: refusals(lambda: services.check_invitable(request.tenant, data["email"].strip().lower())),
        # htmx follows the redirect with its own headers, so the GET answers the panel it swaps in.
        success=lambda result: done(
            request, f"Invitation sent to {result[0].email}.", "tenants:members", slug=request.tenant.slug
        ),
        page=lambda form, status: _members_page(request, status, form),
    )


def _invitation(request: TenantRequest, pk: int) -> Invitation:
    return get_object_or_404(Invitation.objects.for_tenant(request.tenant), pk=pk)


@tenant_view(Perm.MEMBERS_MANAGE)
@require_POST
def invitation_resend(request: TenantRequest, pk: int) -> HttpResponse:
    invitation = _invitation(request, pk)
    return perform(
        request,
        lambda: services.invitation_resend(actor=request.membership, invitation=invitation),
        success=lambda result: done(
            request, f"A new link was sent to {result[0].email}.", "tenants:members", slug=request.tenant.slug
        ),
        failure=lambda error: _members_page(request, error.status_code),
    )


@tenant_view(Perm.MEMBERS_MANAGE)
@require_POST
def invitation_revoke(request: TenantRequest, pk: int) -> HttpResponse:
    invitation = _invitation(request, pk)
    return perform(
        request,
        lambda: services.invitation_revoke(actor=request.membership, invitation=invitation),
        success=lambda revoked: done(
            request, f"The invitation to {revoked.email} was withdrawn.", "tenants:members", slug=request.tenant.slug
        ),
        failure=lambda error: _members_page(request, error.status_code),
    )


def _reauthenticate_first(request: TenantRequest, next_url: str) -> HttpResponse | None:
    """None when the owner may go on; else a redirect to allauth's "confirm your password" page."""
    try:
        require_fresh_auth(request, request.membership)
    except Forbidden as error:
        if error.code != REAUTH_CODE:
            raise
        messages.info(request, "Please confirm your password first; then repeat the action.")
        return redirect(f"{reverse('account_reauthenticate')}?{urlencode({'next': next_url})}")
    return None


def _member(request: TenantRequest, pk: int) -> Membership:
    return get_object_or_404(Membership.objects.for_tenant(request.tenant).select_related("user"), pk=pk)


@tenant_view(Perm.MEMBERS_MANAGE)
@require_POST
def member_role(request: TenantRequest, pk: int) -> HttpResponse:
    target = _member(request, pk)
    form = RoleForm(request.POST)
    if form.is_valid() and is_destructive_member_change(target, form.cleaned_data["role"]):
        members_url = reverse("tenants:members", kwargs={"slug": request.tenant.slug})
        if (answer := _reauthenticate_first(request, members_url)) is not None:
            return answer

    def page(form: RoleForm, status: int) -> HttpResponse:
        if status == 400 and form.errors:
            messages.error(request, "Choose a valid role.")
        return _members_page(request, status)

    return submit_form(
        request,
        form,
        run=lambda data: services.membership_change_role(
            actor=request.membership, membership=target, role=data["role"]
        ),
        success=lambda changed: done(
            request,
            f"{changed.user.email} is now {changed.get_role_display()}.",
            "tenants:members",
            slug=request.tenant.slug,
        ),
        page=page,
        on_error=lambda form, error: flash_service_error(request, error),
    )


@tenant_view()
@require_POST
def member_remove(request: TenantRequest, pk: int) -> HttpResponse:
    target = _member(request, pk)
    leaving = target.pk == request.membership.pk
    if not leaving and is_destructive_member_change(target):
        members_url = reverse("tenants:members", kwargs={"slug": request.tenant.slug})
        if (answer := _reauthenticate_first(request, members_url)) is not None:
            return answer

    def success(_: object) -> HttpResponse:
        if leaving:
            return done(request, f"You left {request.tenant.name}.", "home")
        return done(request, f"{target.user.email} was removed.", "tenants:members", slug=request.tenant.slug)

    return perform(
        request,
        lambda: services.membership_remove(actor=request.membership, membership=target),
        success=success,
        failure=lambda error: _members_page(request, error.status_code),
    )


@tenant_view()
def settings_view(request: TenantRequest) -> HttpResponse:
    tenant = request.tenant
    return submit_form(
        request,
        TenantUpdateForm(request.POST or None, initial={"name": tenant.name}),
        run=lambda data: services.tenant_update(actor=request.membership, **data),
        success=lambda _: done(request, "Saved.", "tenants:settings", slug=tenant.slug),
        page=lambda form, status: render(
            request, "tenants/settings.html", {"form": form, "delete_form": TenantDeleteForm()}, status=status
        ),
    )


@tenant_view(Perm.TENANT_DELETE)
@require_POST
def tenant_delete(request: TenantRequest) -> HttpResponse:
    name = request.tenant.name
    settings_url = reverse("tenants:settings", kwargs={"slug": request.tenant.slug})
    if (answer := _reauthenticate_first(request, settings_url)) is not None:
        return answer
    return submit_form(
        request,
        TenantDeleteForm(request.POST),
        run=lambda data: services.tenant_delete(actor=request.membership, **data),
        success=lambda _: done(request, f"{name} was deleted.", "home"),
        page=lambda form, status: render(
            request,
            "tenants/settings.html",
            {"form": TenantUpdateForm(initial={"name": name}), "delete_form": form},
            status=status,
        ),
    )


def _tokens_page(request: TenantRequest, form: TokenForm | None = None, status: int = 200) -> HttpResponse:
    manage_all = can(request.membership, Perm.TOKENS_MANAGE_ALL)
    tokens = selectors.tokens_visible_to(request.membership, all_members=manage_all)
    created = None
    if request.method == "GET" and (revealed := take_revealed(request)):
        token = tokens.filter(pk=revealed["token"]).first()
        created = {"token": token, "plaintext": revealed["plaintext"]} if token else None
    context = {
        "form": form or TokenForm(),
        "created": created,
        "tokens": paginate(request, tokens, path=reverse("tenants:tokens", args=[request.tenant.slug])),
        "manage_all": manage_all,
        "api_base": settings.SITE_URL + reverse("api:me"),  # one host in every link: the site's URL
    }
    return render(request, "tenants/tokens.html", context, status=status)


@tenant_view()
@reveals_secret
def tokens(request: TenantRequest) -> HttpResponse:
    # POST/redirect/GET: the plaintext waits in the session for the next GET of this page, once.
    return submit_form(
        request,
        TokenForm(request.POST or None),
        run=lambda data: services.token_create(actor=request.membership, **data),
        success=lambda result: done(
            request,
            "",
            "tenants:tokens",
            slug=request.tenant.slug,
            reveal={"token": result[0].pk, "plaintext": result[1]},
        ),
        page=lambda form, status: _tokens_page(request, form, status),
    )


@tenant_view()
@require_POST
def token_revoke(request: TenantRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(PersonalAccessToken.objects.for_tenant(request.tenant), pk=pk)
    return perform(
        request,
        lambda: services.token_revoke(actor=request.membership, token=token),
        success=lambda _: done(request, f"Token “{token.name}” revoked.", "tenants:tokens", slug=request.tenant.slug),
        failure=lambda error: _tokens_page(request, status=error.status_code),
    )
