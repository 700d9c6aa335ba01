"""Web pages: the provider's API management under /t/<slug>/apis/ and the catalog under /catalog/."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apis import kinds, openapi, selectors, services, snippets
from apis.filtersets import CatalogFilterSet
from apis.forms import (
    ApiForm,
    DeprecateForm,
    NoteForm,
    PlanForm,
    SpecForm,
    VersionCreateForm,
    VersionForm,
    format_upstreams,
    parse_upstreams,
)
from apis.models import Api, ApiVersion, Plan, SpecStatus, VersionKind, VersionStatus, Visibility
from apis.openapi import SpecInvalid
from apis.uploads import limit_openapi_upload, upload_exceeded
from core.deletion import protected_ids
from core.errors import InvalidInput, NotFound, ServiceError
from core.paging import paginate
from core.web import apply_service_error, done, flash_service_error, perform, refusals, submit_form
from tenants.permissions import can
from tenants.roles import Perm
from tenants.web import TenantRequest, tenant_view


def _apply_error(form: forms.Form, error: ServiceError) -> None:
    """Like core.web.apply_service_error, but lists every problem of an invalid OpenAPI document.

    A problem of the document goes under the input it came from: the file input when a file was
    uploaded (browsers do not keep a chosen file, so it also says to choose it again), else the
    paste box.
    """
    field = error.field
    if isinstance(error, SpecInvalid) or field in ("openapi", "openapi_file"):
        upload = form.files.get("openapi_file")
        field = "openapi_file" if upload is not None else "openapi"
        if field not in form.fields:
            field = None
        problems = error.problems if isinstance(error, SpecInvalid) else [error.message]
        for problem in problems:
            form.add_error(field, problem)
        if upload is not None:
            form.add_error(field, f"“{upload.name}” was not saved: choose the file again once it is fixed.")
        return
    apply_service_error(form, error)


def _api(request: TenantRequest, api_slug: str) -> Api:
    try:
        return selectors.api_for_tenant(request.tenant, api_slug)
    except NotFound:
        raise Http404("No such API.") from None


def _version(api: Api, label: str) -> ApiVersion:
    try:
        return selectors.version_for(api, label)
    except NotFound:
        raise Http404("No such version.") from None


def _plan(api: Api, pk: int) -> Plan:
    try:
        return selectors.plan_for(api, pk)
    except NotFound:
        raise Http404("No such plan.") from None


def _can_edit(request: TenantRequest) -> bool:
    return can(request.membership, Perm.APIS_EDIT)


# --- Provider: APIs --------------------------------------------------------------------


@tenant_view(Perm.APIS_VIEW)
@require_GET
def api_list(request: TenantRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    return render(
        request,
        "apis/list.html",
        {"apis": paginate(request, selectors.tenant_apis(request.tenant, q=q)), "q": q, "can_edit": _can_edit(request)},
    )


@tenant_view(Perm.APIS_EDIT)
def api_create(request: TenantRequest) -> HttpResponse:
    return submit_form(
        request,
        ApiForm(request.POST or None),
        run=lambda data: services.api_create(actor=request.membership, **data),
        check=lambda data: refusals(lambda: services.check_api_slug_free(request.tenant, data["slug"])),
        success=lambda api: done(
            request,
            f"{api.name} registered. Add a version with its OpenAPI document next.",
            "apis:detail",
            slug=request.tenant.slug,
            api_slug=api.slug,
        ),
        page=lambda form, status: render(
            request,
            "apis/form.html",
            {"form": form, "title": "Register an API", "submit": "Register", "cancel": _list_url(request)},
            status=status,
        ),
        on_error=_apply_error,
    )


def _list_url(request: TenantRequest) -> str:
    return reverse("apis:list", args=[request.tenant.slug])


@tenant_view(Perm.APIS_VIEW)
@require_GET
def api_detail(request: TenantRequest, api_slug: str) -> HttpResponse:
    return _api_page(request, _api(request, api_slug))


def _api_page(request: TenantRequest, api: Api, status: int = 200) -> HttpResponse:
    return render(request, "apis/detail.html", _api_context(request, api), status=status)


def _api_context(request: TenantRequest, api: Api) -> dict[str, Any]:
    can_edit = _can_edit(request)
    # Also the answer to a refused action (POST elsewhere): page links go to the API page.
    path = reverse("apis:detail", args=[request.tenant.slug, api.slug])
    plans = list(selectors.api_plans(api).order_by("created_at", "pk"))
    if can_edit:
        # Delete buttons that would be refused are shown disabled, with the reason.
        protected = protected_ids(Plan, [plan.pk for plan in plans])
        for plan in plans:
            plan.delete_refusal = services.plan_delete_refusal(  # type: ignore[attr-defined]
                plan, protected=plan.pk in protected
            )
    return {
        "api": api,
        "versions": paginate(request, selectors.version_rows(api), param="versions_page", size=20, path=path),
        "plans": plans,
        "events": paginate(request, selectors.api_events(api), param="events_page", size=25, path=path),
        "can_edit": can_edit,
        "note_form": NoteForm(),
        "delete_refusal": services.api_delete_refusal(api) if can_edit else None,
    }


@tenant_view(Perm.APIS_EDIT)
def api_edit(request: TenantRequest, api_slug: str) -> HttpResponse:
    api = _api(request, api_slug)
    initial = {
        "name": api.name,
        "slug": api.slug,
        "summary": api.summary,
        "description": api.description,
        "tags": ", ".join(api.tags),
        "visibility": api.visibility,
        "contact_name": api.contact_name,
        "contact_email": api.contact_email,
        "contact_url": api.contact_url,
    }
    return submit_form(
        request,
        ApiForm(request.POST or None, initial=initial),
        run=lambda data: services.api_update(actor=request.membership, api=api, **data),
        check=lambda data: refusals(
            lambda: services.check_api_slug_free(request.tenant, data["slug"], exclude_pk=api.pk)
        ),
        success=lambda saved: done(request, "Saved.", "apis:detail", slug=request.tenant.slug, api_slug=saved.slug),
        page=lambda form, status: render(
            request,
            "apis/form.html",
            {"form": form, "title": f"Edit {api.name}", "submit": "Save", "api": api},
            status=status,
        ),
        on_error=_apply_error,
    )


@tenant_view(Perm.APIS_EDIT)
@require_POST
def api_delete(request: TenantRequest, api_slug: str) -> HttpResponse:
    api = _api(request, api_slug)
    return perform(
        request,
        lambda: services.api_delete(actor=request.membership, api=api),
        success=lambda _: done(request, f"{api.name} was deleted.", "apis:list", slug=request.tenant.slug),
        failure=lambda error: _api_page(request, api, error.status_code),
    )


# --- Provider: versions ----------------------------------------------------------------


def _refuse_oversize(request: HttpRequest, form: forms.Form) -> bool:
    """Put the size limit on the form when the upload was cut off at OPENAPI_MAX_BYTES (answer 413)."""
    if not upload_exceeded(request):
        return False
    form.is_valid()
    form.add_error("openapi_file", openapi.too_large(field="openapi_file").message)
    return True


def _spec_saved_message(request: HttpRequest, version: ApiVersion, prefix: str = "") -> None:
    if version.spec_status == SpecStatus.PROCESSING:
        messages.info(
            request,
            f"{prefix}The OpenAPI document is large: it is being validated in the background. "
            "This page shows the result; the previous document stays in place until then.",
        )
    else:
        messages.success(request, f"{prefix}OpenAPI document saved: {version.endpoints.count()} endpoints.")


@limit_openapi_upload
@tenant_view(Perm.APIS_EDIT)
def version_create(request: TenantRequest, api_slug: str) -> HttpResponse:
    api = _api(request, api_slug)
    form = VersionCreateForm(request.POST or None, request.FILES or None)
    form.order_fields(["label", "base_path", "upstreams", "connect_timeout_ms", "read_timeout_ms", "release_notes"])

    def page(form: VersionCreateForm, status: int) -> HttpResponse:
        context = {
            "form": form,
            "title": f"New version of {api.name}",
            "submit": "Create draft",
            "api": api,
            "multipart": True,
        }
        return render(request, "apis/form.html", context, status=status)

    if request.method == "POST" and _refuse_oversize(request, form):
        return page(form, 413)

    def run(cleaned: Mapping[str, Any]) -> ApiVersion:
        data = {k: v for k, v in cleaned.items() if k not in ("openapi", "openapi_file")}
        data["upstreams"] = parse_upstreams(data["upstreams"])
        return services.version_create(actor=request.membership, api=api, openapi_document=form.document(), **data)

    def success(version: ApiVersion) -> HttpResponse:
        target: dict[str, Any] = {"slug": request.tenant.slug, "api_slug": api.slug, "label": version.label}
        if version.spec_status == SpecStatus.PROCESSING:
            _spec_saved_message(request, version, prefix=f"Draft {version.label} created. ")
            return done(request, "", "apis:version", **target)
        return done(request, f"Draft {version.label} created.", "apis:version", **target)

    def check(data: Mapping[str, Any]) -> list[ServiceError]:
        return refusals(
            lambda: services.check_version_label_free(api, data["label"]),
            lambda: services.check_base_path_free(services.validate_base_path(data["base_path"])),
        )

    return submit_form(request, form, run=run, success=success, page=page, on_error=_apply_error, check=check)


def _version_context(request: TenantRequest, version: ApiVersion, **extra: Any) -> dict[str, Any]:
    # Also the answer to an upload or a transition (POST elsewhere): page links go to the version page.
    path = reverse("apis:version", args=[request.tenant.slug, version.api.slug, version.label])
    return {
        "api": version.api,
        "version": version,
        "endpoints": paginate(
            request, selectors.version_endpoints(version), param="endpoints_page", size=100, path=path
        ),
        "history": paginate(request, selectors.version_events(version), param="history_page", size=25, path=path),
        "can_edit": _can_edit(request),
        "spec_form": extra.pop("spec_form", None) or SpecForm(),
        "deprecate_form": extra.pop("deprecate_form", None)
        or DeprecateForm(initial={"sunset_date": version.sunset_date}),
        "note_form": NoteForm(),
        "gateway_url": settings.GATEWAY_URL + version.base_path,
        "delete_refusal": services.version_delete_refusal(version) if _can_edit(request) else None,
        # What a higher layer adds for versions it answers itself (AI models: their routes).
        "panels": kinds.panels("version", version, request),
        **extra,
    }


@tenant_view(Perm.APIS_VIEW)
@require_GET
def version_detail(request: TenantRequest, api_slug: str, label: str) -> HttpResponse:
    version = _version(_api(request, api_slug), label)
    return render(request, "apis/version_detail.html", _version_context(request, version))


@tenant_view(Perm.APIS_EDIT)
def version_edit(request: TenantRequest, api_slug: str, label: str) -> HttpResponse:
    api = _api(request, api_slug)
    version = _version(api, label)
    initial = {
        "label": version.label,
        "base_path": version.base_path,
        "upstreams": format_upstreams(version.upstreams),
        "connect_timeout_ms": version.connect_timeout_ms,
        "read_timeout_ms": version.read_timeout_ms,
        "release_notes": version.release_notes,
    }
    form = VersionForm(request.POST or None, initial=initial)
    if version.status != VersionStatus.DRAFT:
        # Consumers already call this label and path; the service would refuse a change anyway.
        for name in ("label", "base_path"):
            form.fields[name].disabled = True
    has_upstreams = version.kind == VersionKind.REST
    if not has_upstreams:
        # AI and prompt versions are served by their model routes, not by upstream URLs.
        del form.fields["upstreams"]

    def run(cleaned: Mapping[str, Any]) -> ApiVersion:
        data = dict(cleaned)
        if has_upstreams:
            data["upstreams"] = parse_upstreams(data["upstreams"])
        return services.version_update(actor=request.membership, version=version, **data)

    def check(data: Mapping[str, Any]) -> list[ServiceError]:
        if version.status != VersionStatus.DRAFT:
            return []
        return refusals(
            lambda: services.check_version_label_free(api, data["label"], exclude_pk=version.pk),
            lambda: services.check_base_path_free(
                services.validate_base_path(data["base_path"]), exclude_pk=version.pk
            ),
        )

    return submit_form(
        request,
        form,
        run=run,
        check=check,
        success=lambda saved: done(
            request, "Saved.", "apis:version", slug=request.tenant.slug, api_slug=api.slug, label=saved.label
        ),
        page=lambda form, status: render(
            request,
            "apis/form.html",
            {"form": form, "title": f"Edit {api.name} {version.label}", "submit": "Save", "api": api},
            status=status,
        ),
        on_error=_apply_error,
    )


@limit_openapi_upload
@tenant_view(Perm.APIS_EDIT)
@require_POST
def version_spec(request: TenantRequest, api_slug: str, label: str) -> HttpResponse:
    version = _version(_api(request, api_slug), label)
    form = SpecForm(request.POST, request.FILES)

    def page(form: SpecForm, status: int) -> HttpResponse:
        context = _version_context(request, version, spec_form=form)
        return render(request, "apis/version_detail.html", context, status=status)

    if _refuse_oversize(request, form):
        return page(form, 413)

    def run(cleaned: Mapping[str, Any]) -> ApiVersion:
        if not cleaned.get("openapi_file") and not cleaned.get("openapi"):
            raise InvalidInput("Choose a file or paste the document.", field="openapi")
        return services.version_upload_spec(actor=request.membership, version=version, document=form.document() or "")

    def success(saved: ApiVersion) -> HttpResponse:
        _spec_saved_message(request, saved)
        return done(request, "", "apis:version", slug=request.tenant.slug, api_slug=api_slug, label=label)

    return submit_form(
        request,
        form,
        run=run,
        success=success,
        page=page,
        on_error=_apply_error,
    )


@tenant_view(Perm.APIS_EDIT)
@require_POST
def version_transition(request: TenantRequest, api_slug: str, label: str, action: str) -> HttpResponse:
    version = _version(_api(request, api_slug), label)
    transitions: dict[str, tuple[type[forms.Form], Any]] = {
        "publish": (NoteForm, services.version_publish),
        "deprecate": (DeprecateForm, services.version_deprecate),
        "retire": (NoteForm, services.version_retire),
    }
    if action not in transitions:
        raise Http404("No such action.")
    form_class, service = transitions[action]

    def page(form: forms.Form, status: int) -> HttpResponse:
        extra = {"deprecate_form": form} if isinstance(form, DeprecateForm) else {}
        if status == 400 and not extra:  # the note has no field on the page: say what was wrong
            for errors in form.errors.values():
                messages.error(request, str(errors[0]))
        return render(request, "apis/version_detail.html", _version_context(request, version, **extra), status=status)

    return submit_form(
        request,
        form_class(request.POST),
        run=lambda data: service(actor=request.membership, version=version, **data),
        success=lambda moved: done(
            request,
            f"{moved.api.name} {moved.label} is now {moved.get_status_display().lower()}.",
            "apis:version",
            slug=request.tenant.slug,
            api_slug=api_slug,
            label=label,
        ),
        page=page,
        on_error=lambda form, error: flash_service_error(request, error),
    )


@tenant_view(Perm.APIS_EDIT)
@require_POST
def version_delete(request: TenantRequest, api_slug: str, label: str) -> HttpResponse:
    version = _version(_api(request, api_slug), label)
    return perform(
        request,
        lambda: services.version_delete(actor=request.membership, version=version),
        success=lambda _: done(
            request, f"Version {label} was deleted.", "apis:detail", slug=request.tenant.slug, api_slug=api_slug
        ),
        failure=lambda error: render(
            request, "apis/version_detail.html", _version_context(request, version), status=error.status_code
        ),
    )


# --- Provider: plans -------------------------------------------------------------------


@tenant_view(Perm.APIS_EDIT)
def plan_create(request: TenantRequest, api_slug: str) -> HttpResponse:
    return _plan_form(request, _api(request, api_slug), None)


@tenant_view(Perm.APIS_EDIT)
def plan_edit(request: TenantRequest, api_slug: str, pk: int) -> HttpResponse:
    api = _api(request, api_slug)
    return _plan_form(request, api, _plan(api, pk))


def _plan_form(request: TenantRequest, api: Api, plan: Plan | None) -> HttpResponse:
    initial = {}
    if plan is not None:
        initial = {name: getattr(plan, name) for name in PlanForm.base_fields}
    title = f"New plan for {api.name}" if plan is None else f"Edit plan {plan.name}"

    def run(data: Mapping[str, Any]) -> Plan:
        if plan is None:
            return services.plan_create(actor=request.membership, api=api, **data)
        return services.plan_update(actor=request.membership, plan=plan, **data)

    return submit_form(
        request,
        PlanForm(request.POST or None, initial=initial),
        run=run,
        check=lambda data: refusals(
            lambda: services.check_plan_name_free(api, data["name"], exclude_pk=plan.pk if plan else None)
        ),
        success=lambda saved: done(
            request, f"Plan “{saved.name}” saved.", "apis:detail", slug=request.tenant.slug, api_slug=api.slug
        ),
        page=lambda form, status: render(
            request, "apis/form.html", {"form": form, "title": title, "submit": "Save", "api": api}, status=status
        ),
        on_error=_apply_error,
    )


@tenant_view(Perm.APIS_EDIT)
@require_POST
def plan_action(request: TenantRequest, api_slug: str, pk: int, action: str) -> HttpResponse:
    api = _api(request, api_slug)
    plan = _plan(api, pk)
    operations: dict[str, Callable[..., Any]] = {
        "archive": services.plan_archive,
        "restore": services.plan_restore,
        "delete": services.plan_delete,
    }
    if action not in operations:
        raise Http404("No such action.")

    def success(changed: Plan | None) -> HttpResponse:
        message = (
            f"Plan “{plan.name}” deleted."
            if changed is None
            else f"Plan “{changed.name}” is now {changed.get_status_display().lower()}."
        )
        return done(request, message, "apis:detail", slug=request.tenant.slug, api_slug=api.slug)

    return perform(
        request,
        lambda: operations[action](actor=request.membership, plan=plan),
        success=success,
        failure=lambda error: _api_page(request, api, error.status_code),
    )


# --- Catalog ---------------------------------------------------------------------------


def _viewer(request: HttpRequest) -> tuple[Any, list[int]]:
    user = request.user if request.user.is_authenticated else None
    return user, selectors.viewer_tenant_ids(user)


CATALOG_PAGE_SIZE = 30
CATALOG_CARD_FIELDS = (
    "id",
    "tenant_id",
    "name",
    "slug",
    "summary",
    "tags",
    "visibility",
    "updated_at",
    "tenant__name",
    "tenant__slug",
)


@require_GET
def catalog(request: TenantRequest) -> HttpResponse:
    user, tenant_ids = _viewer(request)
    filterset = CatalogFilterSet(request.GET, queryset=selectors.catalog_visible(user, tenant_ids=tenant_ids))
    params = {key: request.GET.get(key, "").strip() for key in ("q", "tag", "provider", "sort")}
    # A bad filter (e.g. an unknown sort) is shown as an error above the unfiltered list, with a 400.
    valid = filterset.is_valid()
    apis = filterset.qs if valid else selectors.catalog_filter(filterset.queryset)
    # The cards show neither the description nor its rendered HTML (up to 100 kB each).
    cards = apis.select_related("tenant").only(*CATALOG_CARD_FIELDS)
    context = {
        "apis": paginate(request, cards, size=CATALOG_PAGE_SIZE),
        "filter_errors": [error for errors in filterset.errors.values() for error in errors],
        "params": params,
        "sorts": selectors.CATALOG_SORTS,
        # The menus are not part of the HTMX fragment (search as you type): no facet scan per keystroke.
        "facets": None
        if request.htmx
        else selectors.catalog_facets(
            user, tenant_ids=tenant_ids, selected_tag=params["tag"], selected_provider=params["provider"]
        ),
        "tenant_ids": tenant_ids,
    }
    template = "apis/partials/catalog_results.html" if request.htmx else "apis/catalog.html"
    return render(request, template, context, status=200 if valid else 400)


def _catalog_api(request: HttpRequest, provider_slug: str, api_slug: str) -> tuple[Api, bool, list[int]]:
    user, tenant_ids = _viewer(request)
    try:
        api = selectors.catalog_api(user, provider_slug, api_slug, tenant_ids=tenant_ids)
    except NotFound:
        raise Http404("No such API.") from None
    return api, selectors.is_provider_member(api, tenant_ids), tenant_ids


#: The API page renders provider-written content (Markdown, the OpenAPI document through Redoc):
#: scripts only from our own static files, no network access beyond this site. It also stops
#: Redoc's footer logo from being fetched from its CDN, so the page works fully offline.
#: Redoc injects <style> elements and runs its search in a blob: worker, hence those two.
CATALOG_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def _reference_context(
    request: HttpRequest, api: Api, version: ApiVersion | None, tenant_ids: list[int]
) -> dict[str, Any]:
    """What the reference part of a page needs: the example snippets and the gateway details."""
    endpoints = list(selectors.version_endpoints(version)) if version else []
    caller = snippets.caller_for(request.user, tenant_ids, api) if version else None
    # The catalog defers the (large) document and annotates ``has_spec``; the preview loads it whole.
    has_spec = False
    if version is not None:
        has_spec = version.has_spec if hasattr(version, "has_spec") else version.spec is not None
    return {
        "selected": version,
        "has_spec": has_spec,
        "endpoints": endpoints,
        "snippets": snippets.snippets(version, endpoints, caller) if version else None,
        "caller": caller,
        "example": snippets.example_endpoint(endpoints),
        "gateway_url": settings.GATEWAY_URL + version.base_path if version else "",
        "key_header": settings.GATEWAY_API_KEY_HEADER,
    }


def _served_document(request: HttpRequest, api: Api, version: ApiVersion, tenant_ids: list[int]) -> JsonResponse:
    """The version's document for the reference docs: servers point at the gateway, and with
    ``?samples=1`` (what Redoc asks for) every operation carries curl / Python / JavaScript samples."""
    if version.spec is None:
        raise Http404("This version has no OpenAPI document.")
    document = openapi.for_gateway(version.spec, settings.GATEWAY_URL + version.base_path)
    if request.GET.get("samples") == "1":
        caller = snippets.caller_for(request.user, tenant_ids, api)
        endpoints = list(selectors.version_endpoints(version))
        document = snippets.with_code_samples(document, version, endpoints, caller)
    response = JsonResponse(document)
    response["Cache-Control"] = "private, no-cache"
    return response


@require_GET
def catalog_detail(request: HttpRequest, provider_slug: str, api_slug: str) -> HttpResponse:
    api, member, tenant_ids = _catalog_api(request, provider_slug, api_slug)
    # Every version's label and state, not every version's OpenAPI document (fetched as JSON by Redoc).
    versions = list(
        selectors.catalog_versions(api, member=member)
        .defer("spec", "spec_pending", "release_notes", "release_notes_html", "spec_error")
        .annotate(has_spec=ExpressionWrapper(Q(spec__isnull=False), output_field=BooleanField()))
        .order_by("-created_at", "-id")
    )
    selected: ApiVersion | None = None
    wanted = request.GET.get("version")
    if wanted:
        selected = next((v for v in versions if v.label == wanted), None)
        if selected is None:
            raise Http404("No such version.")
    else:
        selected = selectors.default_version(versions)
    response = render(
        request,
        "apis/catalog_detail.html",
        {
            "api": api,
            "member": member,
            "versions": versions,
            "plans": selectors.catalog_plans(api, member=member),
            "Visibility": Visibility,
            "spec_url": reverse("apis:catalog-openapi", args=[api.tenant.slug, api.slug, selected.label])
            if selected
            else "",
            "panels": kinds.panels("catalog", selected, request),
            **_reference_context(request, api, selected, tenant_ids),
        },
    )
    response["Content-Security-Policy"] = CATALOG_CSP
    return response


@require_GET
def catalog_openapi(request: HttpRequest, provider_slug: str, api_slug: str, label: str) -> JsonResponse:
    """The document Redoc renders: fetched as JSON from here, never inlined into the HTML page."""
    api, member, tenant_ids = _catalog_api(request, provider_slug, api_slug)
    try:
        version = selectors.catalog_version(api, label, member=member)
    except NotFound:
        raise Http404("No such version.") from None
    return _served_document(request, api, version, tenant_ids)


@tenant_view(Perm.APIS_VIEW)
@require_GET
def version_preview(request: TenantRequest, api_slug: str, label: str) -> HttpResponse:
    """The reference docs of any version (drafts included) as the catalog will show them, for the
    provider's own members only (tenant_view: anybody else gets 404)."""
    api = _api(request, api_slug)
    version = _version(api, label)
    tenant_ids = [request.tenant.pk]
    response = render(
        request,
        "apis/version_preview.html",
        {
            "api": api,
            "spec_url": reverse("apis:version-preview-openapi", args=[request.tenant.slug, api.slug, version.label]),
            **_reference_context(request, api, version, tenant_ids),
        },
    )
    response["Content-Security-Policy"] = CATALOG_CSP
    return response


@tenant_view(Perm.APIS_VIEW)
@require_GET
def version_preview_openapi(request: TenantRequest, api_slug: str, label: str) -> JsonResponse:
    api = _api(request, api_slug)
    return _served_document(request, api, _version(api, label), [request.tenant.pk])
