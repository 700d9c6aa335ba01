"""Pages of single sign-on: start a sign-in by e-mail, the owner's settings, domain e-mail links."""

from __future__ import annotations

import logging
from typing import Any

from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.socialaccount.providers.base import AuthProcess
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from core.errors import ServiceError
from core.web import done, perform, submit_form
from sso import selectors, services
from sso.apps_builder import social_app
from sso.forms import DomainEmailForm, DomainForm, MappingForm, ProviderForm, StartForm
from sso.models import IdentityProvider, ProviderKind
from tenants.roles import Perm
from tenants.web import TenantRequest, tenant_view

logger = logging.getLogger(__name__)


def _redirect_to_idp(request: HttpRequest, provider: IdentityProvider, email: str, next_url: str) -> HttpResponse:
    # python3-saml reads the Host header itself; an HTTP/1.0 client may not send one.
    request.META.setdefault("HTTP_HOST", request.get_host())
    app = social_app(provider)
    allauth_provider = app.get_provider(request)
    kwargs: dict[str, Any] = {}
    if provider.kind == ProviderKind.OIDC and email:
        kwargs["auth_params"] = {"login_hint": email}
    redirect = allauth_provider.redirect(request, AuthProcess.LOGIN, next_url=next_url or None, **kwargs)
    # Not a 302: the page that posted here has CSP form-action 'self', and browsers apply it to
    # the redirects after a form submission too, so a redirect to the IdP would be blocked. A
    # page that navigates on (meta refresh, plus a link) is not a form submission.
    return render(request, "sso/continue.html", {"url": redirect["Location"], "provider": provider})


_START_FAILED = (
    "Your organisation's identity provider could not be reached or is misconfigured, so single sign-on cannot "
    "start. Try again later, or ask your organisation's owner to check its single sign-on settings."
)


def start(request: HttpRequest) -> HttpResponse:
    """ "Sign in with single sign-on": the address's domain picks the organisation's provider."""
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if next_url and not get_account_adapter(request).is_safe_url(next_url):
        next_url = ""
    form = StartForm(request.POST or None, initial={"email": request.GET.get("email", "")})
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            email = form.cleaned_data["email"]
            provider = selectors.provider_for_email(email)
            if provider is not None:
                try:
                    return _redirect_to_idp(request, provider, email, next_url)
                except Exception as error:  # noqa: BLE001  (allauth, requests and python3-saml raise many kinds)
                    logger.warning("single sign-on of %s could not start: %r", provider.tenant.slug, error)
                    return render(request, "sso/sign_in_refused.html", {"message": _START_FAILED}, status=502)
            form.add_error(
                "email",
                f"No organisation signs in addresses at {email.rpartition('@')[2]} with single sign-on: "
                "sign in with your password.",
            )
    return render(request, "sso/start.html", {"form": form, "next": next_url}, status=status)


# --- The owner's settings page -------------------------------------------------------------


def _provider_initial(provider: IdentityProvider | None) -> dict[str, Any]:
    if provider is None:
        return {}
    return {
        "kind": provider.kind,
        "name": provider.name,
        "server_url": provider.server_url,
        "client_id": provider.client_id,
        "scopes": provider.scopes,
        "metadata_url": provider.metadata_url,
        "metadata_xml": provider.metadata_xml if not provider.metadata_url else "",
        "default_role": provider.default_role,
        "group_claim": provider.group_claim,
        "enabled": provider.enabled,
        "sso_required": provider.sso_required,
    }


def _page(request: TenantRequest, status: int = 200, **context: Any) -> HttpResponse:
    tenant = request.tenant
    provider = selectors.provider_for(tenant)
    domains = list(selectors.domains_for(tenant))
    key = provider.key if provider else tenant.slug
    urls = {
        "oidc_callback": request.build_absolute_uri(reverse("openid_connect_callback", kwargs={"provider_id": key})),
        "saml_acs": request.build_absolute_uri(reverse("saml_acs", kwargs={"organization_slug": key})),
        "saml_metadata": request.build_absolute_uri(reverse("saml_metadata", kwargs={"organization_slug": key})),
    }
    context.setdefault("provider_form", ProviderForm(initial=_provider_initial(provider)))
    context.setdefault("domain_form", DomainForm())
    context.setdefault("mapping_form", MappingForm())
    email_forms = {
        d.pk: DomainEmailForm(recipients=services.email_recipients(d), prefix=f"d{d.pk}")
        for d in domains
        if not d.is_verified
    }
    context.update(
        provider=provider,
        domains=[(d, email_forms.get(d.pk)) for d in domains],
        mappings=selectors.mappings_for(tenant).filter(provider=provider) if provider else [],
        urls=urls,
        nav_section="organisation",
    )
    return render(request, "sso/settings.html", context, status=status)


def _back(request: TenantRequest, message: str) -> HttpResponse:
    return done(request, message, "sso:settings", slug=request.tenant.slug)


@tenant_view(Perm.SSO_MANAGE)
def settings_page(request: TenantRequest) -> HttpResponse:
    def run(data: Any) -> IdentityProvider:
        return services.provider_save(actor=request.membership, data=services.ProviderInput(**data))

    # The saved settings fill the form: an owner changes one field without retyping the rest.
    initial = _provider_initial(selectors.provider_for(request.tenant))
    return submit_form(
        request,
        ProviderForm(request.POST or None, initial=initial),
        run=run,
        success=lambda provider: _back(request, f"Saved the identity provider {provider.name}."),
        page=lambda form, status: _page(request, status, provider_form=form),
    )


@tenant_view(Perm.SSO_MANAGE)
@require_POST
def discover(request: TenantRequest) -> HttpResponse:
    """Fetch the issuer's discovery document and show what it says (nothing is saved)."""
    issuer = request.POST.get("server_url", "")
    if request.htmx:
        # Only the result is swapped in: the form, with whatever was typed (the secret too), stays.
        try:
            context: dict[str, object] = {"discovery": services.discover(issuer)}
        except ServiceError as error:
            context = {"discovery_error": error.message}
        return render(request, "sso/partials/discovery.html", context)
    form = ProviderForm(request.POST)
    form.is_valid()
    try:
        config = services.discover(issuer)
    except ServiceError as error:
        form.add_error("server_url", error.message)
        return _page(request, error.status_code, provider_form=form)
    return _page(request, 200, provider_form=form, discovery=config)


@tenant_view(Perm.SSO_MANAGE)
@require_POST
def provider_delete(request: TenantRequest) -> HttpResponse:
    return perform(
        request,
        lambda: services.provider_delete(actor=request.membership),
        success=lambda _: _back(request, "Removed the identity provider."),
        failure=lambda error: _page(request, error.status_code),
    )


@tenant_view(Perm.SSO_MANAGE)
@require_POST
def test_sign_in(request: TenantRequest) -> HttpResponse:
    provider = selectors.provider_for(request.tenant)
    if provider is None or not provider.enabled or not provider.is_configured:
        return _page(request, 409, test_error="Save and enable the provider first.")
    return _redirect_to_idp(request, provider, "", reverse("tenants:dashboard", args=[request.tenant.slug]))


@tenant_view(Perm.SSO_MANAGE)
@require_POST
def domain_add(request: TenantRequest) -> HttpResponse:
    return submit_form(
        request,
        DomainForm(request.POST),
        run=lambda data: services.domain_add(actor=request.membership, domain=data["domain"]),
        success=lambda domain: _back(request, f"Added {domain.domain}: verify it with a DNS record or an e-mail."),
        page=lambda form, status: _page(request, status, domain_form=form),
    )


@tenant_view(Perm.SSO_MANAGE)
@require_POST
def domain_verify(request: TenantRequest, pk: int) -> HttpResponse:
    domain = services.domain_get(request.tenant, pk)
    return perform(
        request,
        lambda: services.domain_verify_dns(actor=request.membership, domain=domain),
        success=lambda d: _back(request, f"{d.domain} is verified."),
        failure=lambda error: _page(request, error.status_code),
    )


@tenant_view(Perm.SSO_MANAGE)
@require_POST
def domain_email(request: TenantRequest, pk: int) -> HttpResponse:
    domain = services.domain_get(request.tenant, pk)
    form = DomainEmailForm(request.POST, recipients=services.email_recipients(domain), prefix=f"d{domain.pk}")
    if not form.is_valid():
        return _page(request, 400, test_error=f"Choose an address at {domain.domain}.")
    return perform(
        request,
        lambda: services.domain_send_email(
            actor=request.membership, domain=domain, address=form.cleaned_data["address"]
        ),
        success=lambda address: _back(request, f"Sent a verification link to {address}."),
        failure=lambda error: _page(request, error.status_code),
    )


@tenant_view(Perm.SSO_MANAGE)
@require_POST
def domain_remove(request: TenantRequest, pk: int) -> HttpResponse:
    domain = services.domain_get(request.tenant, pk)
    return perform(
        request,
        lambda: services.domain_remove(actor=request.membership, domain=domain),
        success=lambda _: _back(request, f"Removed {domain.domain}."),
        failure=lambda error: _page(request, error.status_code),
    )


@tenant_view(Perm.SSO_MANAGE)
@require_POST
def mapping_add(request: TenantRequest) -> HttpResponse:
    return submit_form(
        request,
        MappingForm(request.POST),
        run=lambda data: services.mapping_add(actor=request.membership, **data),
        success=lambda m: _back(request, f"Members of {m.group} get the role {m.get_role_display()}."),
        page=lambda form, status: _page(request, status, mapping_form=form),
    )


@tenant_view(Perm.SSO_MANAGE)
@require_POST
def mapping_remove(request: TenantRequest, pk: int) -> HttpResponse:
    mapping = services.mapping_get(request.tenant, pk)
    return perform(
        request,
        lambda: services.mapping_remove(actor=request.membership, mapping=mapping),
        success=lambda _: _back(request, f"Removed the mapping of {mapping.group}."),
        failure=lambda error: _page(request, error.status_code),
    )


def verify_domain_link(request: HttpRequest, token: str) -> HttpResponse:
    """The link of a verification e-mail: a button (mail scanners follow links, they do not POST)."""
    if request.method == "POST":
        try:
            domain = services.domain_confirm_email(token=token)
        except ServiceError as error:
            return render(request, "sso/verify_domain.html", {"error": error.message}, status=error.status_code)
        return render(request, "sso/verify_domain.html", {"verified": domain})
    return render(request, "sso/verify_domain.html", {"confirm": True})
