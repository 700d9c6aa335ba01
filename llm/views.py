"""Web pages of the AI gateway: /t/<slug>/ai/providers|models|routes/… and an API's AI versions.

Everyone in the organisation reads; owners and admins manage (``ai.manage``); whoever edits
APIs creates AI versions and picks their routes. A credential's key is never shown again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apis import selectors as catalog_selectors
from apis.models import Api, ApiVersion, VersionKind
from core.errors import NotFound
from core.web import done, perform, submit_form
from llm import forms, presets, selectors
from llm.models import ModelProvider, ModelRoute, ProviderCredential, ProviderModel
from llm.services import providers as services
from llm.services import routes as route_services
from llm.services import surfaces
from tenants.permissions import can
from tenants.roles import Perm
from tenants.web import TenantRequest, tenant_view

NAV = {"nav_section": "ai"}


def _or_404(load: Any, *args: Any) -> Any:
    try:
        return load(*args)
    except NotFound as error:
        raise Http404(error.message) from None


def _manage(request: TenantRequest) -> bool:
    return can(request.membership, Perm.AI_MANAGE)


def _page(request: TenantRequest, template: str, context: dict[str, Any], status: int = 200) -> HttpResponse:
    return render(request, template, {**NAV, "can_manage": _manage(request), **context}, status=status)


def _form_page(request: TenantRequest, form: Any, title: str, cancel: str, status: int, **extra: Any) -> HttpResponse:
    return _page(request, "llm/form.html", {"form": form, "title": title, "cancel": cancel, **extra}, status)


# --- Providers ------------------------------------------------------------------------------


@tenant_view(Perm.APIS_VIEW)
@require_GET
def provider_list(request: TenantRequest) -> HttpResponse:
    return _page(
        request,
        "llm/providers.html",
        {"providers": selectors.providers(request.tenant), "routes": selectors.routes(request.tenant)},
    )


@tenant_view(Perm.AI_MANAGE)
def provider_create(request: TenantRequest) -> HttpResponse:
    initial = forms.provider_initial(request.GET.get("preset"))
    chosen = presets.preset(request.GET.get("preset"))
    return submit_form(
        request,
        forms.ProviderForm(request.POST or None, initial=initial),
        run=lambda data: services.provider_create(actor=request.membership, **data),
        success=lambda provider: done(
            request, f"{provider.name} added. Add an API key next.", "llm:provider", request.tenant.slug, provider.pk
        ),
        page=lambda form, status: _form_page(
            request,
            form,
            "Add a model provider",
            reverse("llm:providers", args=[request.tenant.slug]),
            status,
            preset_form=forms.PresetForm(initial={"preset": request.GET.get("preset", "")}),
            preset=chosen,
        ),
    )


def _provider(request: TenantRequest, pk: int) -> ModelProvider:
    return _or_404(selectors.provider, request.tenant, pk)


def _provider_page(request: TenantRequest, provider: ModelProvider, status: int = 200, **extra: Any) -> HttpResponse:
    models = list(selectors.models(request.tenant, provider=provider))
    for model in models:
        model.current = selectors.current_price(model)  # type: ignore[attr-defined]
    return _page(
        request,
        "llm/provider_detail.html",
        {
            "provider": provider,
            "credentials": selectors.credentials(provider),
            "models": models,
            "credential_form": extra.pop("credential_form", None) or forms.CredentialForm(),
            **extra,
        },
        status,
    )


@tenant_view(Perm.APIS_VIEW)
@require_GET
def provider_detail(request: TenantRequest, pk: int) -> HttpResponse:
    return _provider_page(request, _provider(request, pk))


@tenant_view(Perm.AI_MANAGE)
def provider_edit(request: TenantRequest, pk: int) -> HttpResponse:
    provider = _provider(request, pk)
    initial = {name: getattr(provider, name) for name in forms.ProviderForm.base_fields}
    return submit_form(
        request,
        forms.ProviderForm(request.POST or None, initial=initial),
        run=lambda data: services.provider_update(actor=request.membership, provider=provider, **data),
        success=lambda saved: done(request, "Saved.", "llm:provider", request.tenant.slug, saved.pk),
        page=lambda form, status: _form_page(
            request, form, f"Edit {provider.name}", reverse("llm:provider", args=[request.tenant.slug, pk]), status
        ),
    )


@tenant_view(Perm.AI_MANAGE)
@require_POST
def provider_delete(request: TenantRequest, pk: int) -> HttpResponse:
    provider = _provider(request, pk)
    return perform(
        request,
        lambda: services.provider_delete(actor=request.membership, provider=provider),
        success=lambda _: done(request, f"{provider.name} was deleted.", "llm:providers", request.tenant.slug),
        failure=lambda error: _provider_page(request, provider, error.status_code),
    )


# --- Credentials ----------------------------------------------------------------------------


@tenant_view(Perm.AI_MANAGE)
@require_POST
def credential_create(request: TenantRequest, pk: int) -> HttpResponse:
    provider = _provider(request, pk)
    return submit_form(
        request,
        forms.CredentialForm(request.POST),
        run=lambda data: services.credential_create(actor=request.membership, provider=provider, **data),
        success=lambda credential: done(
            request, f"Key {credential.secret_hint} added to the pool.", "llm:provider", request.tenant.slug, pk
        ),
        page=lambda form, status: _provider_page(request, provider, status, credential_form=form),
    )


def _credential(provider: ModelProvider, pk: int) -> ProviderCredential:
    return _or_404(selectors.credential, provider, pk)


@tenant_view(Perm.AI_MANAGE)
def credential_edit(request: TenantRequest, pk: int, credential_pk: int) -> HttpResponse:
    provider = _provider(request, pk)
    credential = _credential(provider, credential_pk)
    initial = {name: getattr(credential, name) for name in ("label", "weight", "priority", "enabled")}

    def run(data: Mapping[str, Any]) -> ProviderCredential:
        changes = dict(data)
        if not changes.get("secret"):
            changes.pop("secret", None)
        return services.credential_update(actor=request.membership, credential=credential, **changes)

    return submit_form(
        request,
        forms.CredentialEditForm(request.POST or None, initial=initial),
        run=run,
        success=lambda saved: done(request, "Saved.", "llm:provider", request.tenant.slug, pk),
        page=lambda form, status: _form_page(
            request,
            form,
            f"Credential {credential.label} ({credential.secret_hint})",
            reverse("llm:provider", args=[request.tenant.slug, pk]),
            status,
        ),
    )


@tenant_view(Perm.AI_MANAGE)
@require_POST
def credential_delete(request: TenantRequest, pk: int, credential_pk: int) -> HttpResponse:
    provider = _provider(request, pk)
    credential = _credential(provider, credential_pk)
    return perform(
        request,
        lambda: services.credential_delete(actor=request.membership, credential=credential),
        success=lambda _: done(
            request, f"Key {credential.secret_hint} removed.", "llm:provider", request.tenant.slug, pk
        ),
        failure=lambda error: _provider_page(request, provider, error.status_code),
    )


# --- Models and prices ------------------------------------------------------------------------


@tenant_view(Perm.AI_MANAGE)
def model_create(request: TenantRequest, pk: int) -> HttpResponse:
    provider = _provider(request, pk)
    key = request.GET.get("price")
    listed = presets.listed_price(key)

    def run(data: Mapping[str, Any]) -> ProviderModel:
        fields, price = form.split()
        return services.model_create(actor=request.membership, provider=provider, price=price, **fields)

    form = forms.ModelForm(request.POST or None, initial=forms.model_initial(key))
    return submit_form(
        request,
        form,
        run=run,
        success=lambda model: done(request, f"{model.model_id} added.", "llm:model", request.tenant.slug, model.pk),
        page=lambda form, status: _form_page(
            request,
            form,
            f"Add a model to {provider.name}",
            reverse("llm:provider", args=[request.tenant.slug, pk]),
            status,
            price_form=forms.PriceListForm(initial={"price": key or ""}),
            listed=listed,
            price_note=presets.price_list_note(),
        ),
    )


def _model(request: TenantRequest, pk: int) -> ProviderModel:
    return _or_404(selectors.model, request.tenant, pk)


def _model_page(request: TenantRequest, model: ProviderModel, status: int = 200, **extra: Any) -> HttpResponse:
    return _page(
        request,
        "llm/model_detail.html",
        {
            "model": model,
            "prices": list(model.prices.all()),
            "current": selectors.current_price(model),
            "price_form": extra.pop("price_form", None) or forms.PriceFields(),
            **extra,
        },
        status,
    )


@tenant_view(Perm.APIS_VIEW)
@require_GET
def model_detail(request: TenantRequest, pk: int) -> HttpResponse:
    return _model_page(request, _model(request, pk))


@tenant_view(Perm.AI_MANAGE)
@require_POST
def price_add(request: TenantRequest, pk: int) -> HttpResponse:
    model = _model(request, pk)
    return submit_form(
        request,
        forms.PriceFields(request.POST),
        run=lambda data: services.price_add(actor=request.membership, model=model, **data),
        success=lambda price: done(request, "Price saved.", "llm:model", request.tenant.slug, pk),
        page=lambda form, status: _model_page(request, model, status, price_form=form),
    )


@tenant_view(Perm.AI_MANAGE)
@require_POST
def model_delete(request: TenantRequest, pk: int) -> HttpResponse:
    model = _model(request, pk)
    return perform(
        request,
        lambda: services.model_delete(actor=request.membership, model=model),
        success=lambda _: done(
            request, f"{model.model_id} was deleted.", "llm:provider", request.tenant.slug, model.provider_id
        ),
        failure=lambda error: _model_page(request, model, error.status_code),
    )


# --- Routes -------------------------------------------------------------------------------------


def _route(request: TenantRequest, pk: int) -> ModelRoute:
    return _or_404(selectors.route, request.tenant, pk)


def _targets_formset(request: TenantRequest, route: ModelRoute | None) -> Any:
    models = list(selectors.models(request.tenant))
    if route is not None:
        models = [m for m in models if m.capability == route.capability]
    initial = (
        [{"model": t.model_id, "position": t.position, "weight": t.weight} for t in route.targets.all()]
        if route
        else []
    )
    initial += [{"position": len(initial) + i, "weight": 1} for i in range(3)]
    return forms.TargetFormSet(request.POST or None, initial=initial, prefix="targets", form_kwargs={"models": models})


@tenant_view(Perm.APIS_VIEW)
@require_GET
def route_list(request: TenantRequest) -> HttpResponse:
    return _page(request, "llm/routes.html", {"routes": selectors.routes(request.tenant)})


@tenant_view(Perm.AI_MANAGE)
def route_create(request: TenantRequest) -> HttpResponse:
    targets = _targets_formset(request, None)
    form = forms.RouteForm(request.POST or None)
    form.targets = targets  # type: ignore[attr-defined]  # validated together below

    def run(data: Mapping[str, Any]) -> ModelRoute:
        return route_services.route_create(actor=request.membership, targets=forms.targets_from(targets), **data)

    def page(form: Any, status: int) -> HttpResponse:
        cancel = reverse("llm:routes", args=[request.tenant.slug])
        return _form_page(request, form, "Add a model route", cancel, status, targets=targets)

    if request.method == "POST" and not targets.is_valid():
        return page(form, 400)
    return submit_form(
        request,
        form,
        run=run,
        success=lambda route: done(request, f"{route.public_name} added.", "llm:route", request.tenant.slug, route.pk),
        page=page,
    )


@tenant_view(Perm.APIS_VIEW)
@require_GET
def route_detail(request: TenantRequest, pk: int) -> HttpResponse:
    route = _route(request, pk)
    return _page(
        request, "llm/route_detail.html", {"route": route, "versions": route.surfaces.select_related("version__api")}
    )


@tenant_view(Perm.AI_MANAGE)
def route_edit(request: TenantRequest, pk: int) -> HttpResponse:
    route = _route(request, pk)
    targets = _targets_formset(request, route)
    form = forms.RouteDescriptionForm(request.POST or None, initial={"description": route.description})
    cancel = reverse("llm:route", args=[request.tenant.slug, pk])

    def page(form: Any, status: int) -> HttpResponse:
        return _form_page(request, form, f"Edit {route.public_name}", cancel, status, targets=targets)

    if request.method == "POST" and not targets.is_valid():
        return page(form, 400)
    return submit_form(
        request,
        form,
        run=lambda data: route_services.route_update(
            actor=request.membership, route=route, targets=forms.targets_from(targets), **data
        ),
        success=lambda saved: done(request, "Saved.", "llm:route", request.tenant.slug, pk),
        page=page,
    )


@tenant_view(Perm.AI_MANAGE)
@require_POST
def route_delete(request: TenantRequest, pk: int) -> HttpResponse:
    route = _route(request, pk)
    return perform(
        request,
        lambda: route_services.route_delete(actor=request.membership, route=route),
        success=lambda _: done(request, f"{route.public_name} was deleted.", "llm:routes", request.tenant.slug),
        failure=lambda error: _page(
            request, "llm/route_detail.html", {"route": route, "versions": []}, error.status_code
        ),
    )


# --- AI versions of an API ------------------------------------------------------------------------


def _api(request: TenantRequest, api_slug: str) -> Api:
    return _or_404(catalog_selectors.api_for_tenant, request.tenant, api_slug)


@tenant_view(Perm.APIS_EDIT)
def ai_version_create(request: TenantRequest, api_slug: str) -> HttpResponse:
    api = _api(request, api_slug)
    routes = list(selectors.routes(request.tenant))
    return submit_form(
        request,
        forms.AiVersionForm(request.POST or None, routes=routes),
        run=lambda data: surfaces.ai_version_create(actor=request.membership, api=api, **data),
        success=lambda version: done(
            request,
            f"Draft {version.label} created: an OpenAI-compatible API over {len(version.ai_surface.routes.all())} "
            "model route(s). Publish it when ready.",
            "apis:version",
            slug=request.tenant.slug,
            api_slug=api.slug,
            label=version.label,
        ),
        page=lambda form, status: _form_page(
            request,
            form,
            f"New AI version of {api.name}",
            reverse("apis:detail", args=[request.tenant.slug, api.slug]),
            status,
            api=api,
            no_routes=not routes,
        ),
    )


@tenant_view(Perm.APIS_EDIT)
def ai_version_routes(request: TenantRequest, api_slug: str, label: str) -> HttpResponse:
    api = _api(request, api_slug)
    version: ApiVersion = _or_404(catalog_selectors.version_for, api, label)
    if version.kind != VersionKind.AI:
        raise Http404("Not an AI version.")
    routes = list(selectors.routes(request.tenant))
    current = [r.pk for r in surfaces.surface_routes(version)]
    cancel = reverse("apis:version", args=[request.tenant.slug, api.slug, label])
    return submit_form(
        request,
        forms.AiRoutesForm(request.POST or None, initial={"routes": current}, routes=routes),
        run=lambda data: surfaces.surface_set_routes(actor=request.membership, version=version, routes=data["routes"]),
        success=lambda _: done(
            request,
            "Model routes saved; the OpenAPI document was regenerated.",
            "apis:version",
            slug=request.tenant.slug,
            api_slug=api.slug,
            label=label,
        ),
        page=lambda form, status: _form_page(
            request, form, f"Model routes of {api.name} {label}", cancel, status, api=api
        ),
    )
