"""Web pages of prompts under /t/<slug>/ai/prompts/: templates, the version editor, the
playground and "publish as API"."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apis import selectors as api_selectors
from apis.models import Api, Visibility
from core.errors import NotFound, ServiceError
from core.web import done, perform, refusals, submit_form
from llm import playground
from llm.models import Capability, ModelRoute, PromptTemplate, PromptVersion
from llm.prompt_forms import (
    MessageFormSet,
    PlaygroundForm,
    PublishForm,
    TemplateForm,
    VariableFormSet,
    VersionForm,
    editor_initial,
)
from llm.services import prompts as services
from tenants.permissions import can
from tenants.roles import Perm
from tenants.web import TenantRequest, tenant_view


def _template(request: TenantRequest, prompt_slug: str) -> PromptTemplate:
    try:
        return services.prompt_template_for(request.tenant, prompt_slug)
    except NotFound:
        raise Http404("No such prompt.") from None


def _version(template: PromptTemplate, number: int) -> PromptVersion:
    try:
        return services.prompt_version_for(template, number)
    except NotFound:
        raise Http404("No such prompt version.") from None


def _can_edit(request: TenantRequest) -> bool:
    return can(request.membership, Perm.APIS_EDIT)


def _routes(request: TenantRequest) -> QuerySet[ModelRoute]:
    return ModelRoute.objects.for_tenant(request.tenant).filter(capability=Capability.CHAT).select_related("tenant")


# --- Templates ------------------------------------------------------------------------------


@tenant_view(Perm.APIS_VIEW)
@require_GET
def prompt_list(request: TenantRequest) -> HttpResponse:
    return render(
        request,
        "llm/prompts/list.html",
        {"templates": services.prompt_templates(request.tenant), "can_edit": _can_edit(request), "nav_section": "ai"},
    )


@tenant_view(Perm.APIS_EDIT)
def prompt_create(request: TenantRequest) -> HttpResponse:
    return submit_form(
        request,
        TemplateForm(request.POST or None),
        run=lambda data: services.prompt_template_create(actor=request.membership, **data),
        check=lambda data: refusals(lambda: services.check_template_slug_free(request.tenant, data["slug"])),
        success=lambda template: done(
            request,
            f"{template.name} created. Write its first version next.",
            "prompts:version-create",
            slug=request.tenant.slug,
            prompt_slug=template.slug,
        ),
        page=lambda form, status: render(
            request, "llm/prompts/form.html", {"form": form, "title": "New prompt", "submit": "Create"}, status=status
        ),
    )


@tenant_view(Perm.APIS_VIEW)
@require_GET
def prompt_detail(request: TenantRequest, prompt_slug: str) -> HttpResponse:
    template = _template(request, prompt_slug)
    return render(
        request,
        "llm/prompts/detail.html",
        {
            "template": template,
            "versions": services.prompt_versions(template),
            "surfaces": services.prompt_api_versions(template),
            "can_edit": _can_edit(request),
            "nav_section": "ai",
        },
    )


@tenant_view(Perm.APIS_EDIT)
@require_POST
def prompt_delete(request: TenantRequest, prompt_slug: str) -> HttpResponse:
    template = _template(request, prompt_slug)
    return perform(
        request,
        lambda: services.prompt_template_delete(actor=request.membership, template=template),
        success=lambda _: done(request, f"{template.name} deleted.", "prompts:list", slug=request.tenant.slug),
        failure=lambda error: redirect("prompts:detail", slug=request.tenant.slug, prompt_slug=template.slug),
    )


# --- Version editor -------------------------------------------------------------------------


def _collect(
    message_rows: Any, variable_rows: Any, settings_form: VersionForm
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    messages_out = [
        {"role": f.cleaned_data["role"], "content": f.cleaned_data.get("content", "")}
        for f in message_rows
        if f.cleaned_data.get("content", "").strip()
    ]
    variables_out = [f.declaration for f in variable_rows if f.declaration is not None]
    return messages_out, variables_out


@tenant_view(Perm.APIS_EDIT)
def version_create(request: TenantRequest, prompt_slug: str) -> HttpResponse:
    template = _template(request, prompt_slug)
    routes = _routes(request)
    base: PromptVersion | None = None
    source = request.GET.get("from")
    if source and source.isdigit():
        base = _version(template, int(source))
    elif request.method != "POST":
        base = services.prompt_versions(template).first()
    initial_messages, initial_variables, initial_settings = editor_initial(base)
    if request.method == "POST":
        message_rows = MessageFormSet(request.POST, prefix="m")
        variable_rows = VariableFormSet(request.POST, prefix="v")
        settings_form = VersionForm(request.POST, routes=routes)
    else:
        message_rows = MessageFormSet(initial=initial_messages, prefix="m")
        variable_rows = VariableFormSet(initial=initial_variables, prefix="v")
        settings_form = VersionForm(initial=initial_settings, routes=routes)
    findings: list[dict[str, str]] = []
    status = 200
    if request.method == "POST":
        if message_rows.is_valid() and variable_rows.is_valid() and settings_form.is_valid():
            found_messages, found_variables = _collect(message_rows, variable_rows, settings_form)
            try:
                saved = services.prompt_version_save(
                    actor=request.membership,
                    template=template,
                    messages=found_messages,
                    variables=found_variables,
                    route=settings_form.cleaned_data["route"],
                    params=settings_form.params(),
                    response_mode=settings_form.cleaned_data["response_mode"],
                    response_schema=settings_form.cleaned_data["response_schema"],
                )
            except services.PromptInvalid as error:
                findings = error.problems
                status = 400
            except NotFound:
                raise
            except ServiceError as error:
                settings_form.add_error(None, error.message)
                status = error.status_code
            else:
                for warning in saved.warnings:
                    messages.warning(request, warning["message"])
                note = (
                    f"Version {saved.version.number} saved."
                    if saved.created
                    else f"Nothing changed: this is version {saved.version.number}."
                )
                return done(
                    request,
                    note,
                    "prompts:version",
                    slug=request.tenant.slug,
                    prompt_slug=template.slug,
                    number=saved.version.number,
                )
        else:
            status = 400
    return render(
        request,
        "llm/prompts/editor.html",
        {
            "template": template,
            "message_rows": message_rows,
            "variable_rows": variable_rows,
            "settings_form": settings_form,
            "findings": findings,
            "has_routes": routes.exists(),
            "nav_section": "ai",
        },
        status=status,
    )


# --- Version page: playground and publish ---------------------------------------------------


def _tenant_apis(request: TenantRequest) -> list[tuple[str, str]]:
    return [(api.slug, api.name) for api in Api.objects.for_tenant(request.tenant).order_by("name")]


def _version_page(
    request: TenantRequest,
    template: PromptTemplate,
    version: PromptVersion,
    *,
    play_form: PlaygroundForm | None = None,
    publish_form: PublishForm | None = None,
    result: playground.PlaygroundResult | None = None,
    status: int = 200,
) -> HttpResponse:
    if publish_form is None:
        publish_form = PublishForm(
            apis=_tenant_apis(request),
            initial={"base_path": f"/{request.tenant.slug}-{template.slug}/v1"},
        )
    context = {
        "template": template,
        "version": version,
        "lint": services.prompt_lint(
            messages=version.messages,
            variables=version.variables,
            params=version.params,
            response_mode=version.response_mode,
            response_schema=version.response_schema,
        ),
        "play_form": play_form or PlaygroundForm(version=version),
        "params_json": json.dumps(version.params, indent=2, sort_keys=True),
        "publish_form": publish_form,
        "result": result,
        "surfaces": [s for s in services.prompt_api_versions(template) if s.prompt_version_id == version.pk],
        "can_edit": _can_edit(request),
        "nav_section": "ai",
    }
    if getattr(request, "htmx", False) and result is not None:
        return render(request, "llm/prompts/partials/playground_result.html", context, status=status)
    return render(request, "llm/prompts/version.html", context, status=status)


@tenant_view(Perm.APIS_VIEW)
@require_GET
def version_detail(request: TenantRequest, prompt_slug: str, number: int) -> HttpResponse:
    template = _template(request, prompt_slug)
    return _version_page(request, template, _version(template, number))


@tenant_view(Perm.APIS_EDIT)
@require_POST
def version_playground(request: TenantRequest, prompt_slug: str, number: int) -> HttpResponse:
    template = _template(request, prompt_slug)
    version = _version(template, number)
    form = PlaygroundForm(request.POST, version=version)
    if not form.is_valid():
        return _version_page(request, template, version, play_form=form, status=400)
    try:
        result = playground.playground_run(
            actor=request.membership,
            version=version,
            values=form.values(),
            call_model=form.cleaned_data["call_model"],
        )
    except NotFound:
        raise
    except ServiceError as error:
        form.add_error(None, error.message)
        return _version_page(request, template, version, play_form=form, status=error.status_code)
    return _version_page(request, template, version, play_form=form, result=result)


@tenant_view(Perm.APIS_EDIT)
@require_POST
def version_publish(request: TenantRequest, prompt_slug: str, number: int) -> HttpResponse:
    template = _template(request, prompt_slug)
    version = _version(template, number)
    form = PublishForm(request.POST, apis=_tenant_apis(request))

    def run(data: Any) -> Any:
        api = api_selectors.api_for_tenant(request.tenant, data["api"]) if data.get("api") else None
        return services.prompt_publish(
            actor=request.membership,
            version=version,
            base_path=data["base_path"],
            label=data["label"],
            api=api,
            visibility=data.get("visibility") or Visibility.PRIVATE,
        )

    return submit_form(
        request,
        form,
        run=run,
        success=lambda api_version: done(
            request,
            f"Draft {api_version.api.name} {api_version.label} created at {api_version.base_path}. "
            "Add a plan and publish it when ready.",
            reverse("apis:version", args=[request.tenant.slug, api_version.api.slug, api_version.label]),
        ),
        page=lambda bound, status: _version_page(request, template, version, publish_form=bound, status=status),
    )
