"""Writes to prompt templates and their versions, and publishing a prompt version as an API.

A version is immutable and identified by its content hash (``protocol.prompts.content_hash``):
saving the same content again answers the existing version, anything else gets the next
number. Lint errors refuse the save with every problem listed; warnings are handed back.

Publishing creates (or reuses) an ``Api`` of the organisation and adds an ``ApiVersion`` of
kind ``prompt`` whose ``AiSurface`` points at the prompt version and whose OpenAPI document is
generated (``llm.prompt_openapi``). From there the normal lifecycle applies (publish,
deprecate, retire). A draft prompt API may be pointed at another prompt version; a live one
may not: consumers rely on its variables, so a newer prompt is a new API version
(docs/decisions.md, "AI gateway (issue 11)").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Max, ProtectedError, QuerySet
from django.utils import timezone

from apis.models import Api, ApiVersion, VersionKind, VersionStatus, Visibility
from apis.services import (
    api_create,
    audit_record,
    version_create,
    version_store_generated_spec,
)
from core.errors import Conflict, InvalidInput, NotFound, reject_unknown_fields
from core.validators import clean_text, contains_unsafe_text
from llm.models import AiSurface, Capability, ModelRoute, PromptTemplate, PromptVersion, ResponseMode, SurfaceKind
from llm.prompt_openapi import prompt_openapi
from protocol import prompts as protocol
from tenants.models import Membership, Tenant
from tenants.ownership import get_owned
from tenants.permissions import require
from tenants.roles import Perm
from tenants.services import validate_slug

#: Size limits of one version: enough for long system prompts, small enough for the snapshot
#: every gateway node downloads.
MAX_MESSAGES = 50
MAX_VARIABLES = 50
MAX_CONTENT_CHARS = 100_000
MAX_SCHEMA_CHARS = 50_000

_EDIT = Perm.APIS_EDIT


class PromptInvalid(InvalidInput):
    """Lint found errors: ``problems`` holds every finding (errors and warnings) of the save."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        errors = [p["message"] for p in problems if p["level"] == "error"]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"The prompt has errors: {errors[0]}{more}", code="invalid_prompt", field="prompt")
        self.problems = problems

    @property
    def fields(self) -> dict[str, list[str]]:
        return {"prompt": [p["message"] for p in self.problems if p["level"] == "error"]}


@dataclass(frozen=True)
class SavedVersion:
    """What saving a version gives back: the version, whether it is new, and the lint warnings."""

    version: PromptVersion
    created: bool
    warnings: list[dict[str, str]] = field(default_factory=list)


# --- Reads ----------------------------------------------------------------------------------


def prompt_templates(tenant: Tenant) -> QuerySet[PromptTemplate]:
    """The organisation's templates with ``latest_number`` (None before the first version)."""
    return (
        PromptTemplate.objects.for_tenant(tenant).annotate(latest_number=Max("versions__number")).order_by("name", "id")
    )


def prompt_template_for(tenant: Tenant, slug: str) -> PromptTemplate:
    template = prompt_templates(tenant).filter(slug=slug).first()
    if template is None:
        raise NotFound("No such prompt.")
    return template


def prompt_versions(template: PromptTemplate) -> QuerySet[PromptVersion]:
    return (
        PromptVersion.objects.for_tenant(template.tenant_id)
        .filter(template=template)
        .select_related("route__tenant", "created_by")
        .order_by("-number")
    )


def prompt_version_for(template: PromptTemplate, number: int | str) -> PromptVersion:
    try:
        found = prompt_versions(template).filter(number=int(number)).first()
    except (TypeError, ValueError):
        found = None
    if found is None:
        raise NotFound("No such prompt version.")
    return found


def prompt_api_versions(template: PromptTemplate) -> QuerySet[AiSurface]:
    """The API versions serving a version of this template (newest first)."""
    return (
        AiSurface.objects.for_tenant(template.tenant_id)
        .filter(kind=SurfaceKind.PROMPT, prompt_version__template=template)
        .select_related("version__api", "prompt_version")
        .order_by("-version__created_at")
    )


# --- Templates ------------------------------------------------------------------------------


def check_template_slug_free(tenant: Tenant, slug: str, *, exclude_pk: int | None = None) -> None:
    if PromptTemplate.objects.for_tenant(tenant).filter(slug=slug).exclude(pk=exclude_pk).exists():
        raise InvalidInput(f"You already have a prompt with the slug “{slug}”.", code="slug_taken", field="slug")


def _audit(actor: Membership, action: str, target: Any, note: str = "", api: Api | None = None) -> None:
    audit_record(actor=actor, tenant=actor.tenant, action=action, target=target, api=api, note=note)


@transaction.atomic
def prompt_template_create(*, actor: Membership, name: str, slug: str, description: str = "") -> PromptTemplate:
    require(actor, _EDIT)
    clean_name = clean_text(name, field="name", max_length=80, required=True)
    clean_slug = validate_slug(slug)
    clean_description = clean_text(description, field="description", max_length=300)
    check_template_slug_free(actor.tenant, clean_slug)
    template = PromptTemplate.objects.create(
        tenant=actor.tenant, name=clean_name, slug=clean_slug, description=clean_description
    )
    _audit(actor, "prompt.created", template)
    return template


@transaction.atomic
def prompt_template_update(*, actor: Membership, template: PromptTemplate, **changes: Any) -> PromptTemplate:
    """Rename or re-describe a template (the slug stays: it names the template in URLs)."""
    require(actor, _EDIT)
    template = get_owned(actor, template, lock=True)
    reject_unknown_fields(changes, {"name", "description"})
    if "name" in changes:
        template.name = clean_text(changes["name"], field="name", max_length=80, required=True)
    if "description" in changes:
        template.description = clean_text(changes["description"], field="description", max_length=300)
    template.updated_at = timezone.now()
    template.save()
    _audit(actor, "prompt.updated", template)
    return template


@transaction.atomic
def prompt_template_delete(*, actor: Membership, template: PromptTemplate) -> None:
    """Delete a template and its versions, unless an API version serves one of them."""
    require(actor, _EDIT)
    template = get_owned(actor, template, lock=True)
    if AiSurface.objects.for_tenant(actor.tenant).filter(prompt_version__template=template).exists():
        raise Conflict(
            "A version of this prompt is published as an API; retire and delete that API version first.",
            code="prompt_published",
        )
    _audit(actor, "prompt.deleted", template)
    try:
        with transaction.atomic():
            template.delete()
    except ProtectedError:
        raise Conflict("A version of this prompt is published as an API.", code="prompt_published") from None


# --- Versions -------------------------------------------------------------------------------


def _route(actor: Membership, route: ModelRoute | int | str | None) -> ModelRoute:
    pk = route.pk if isinstance(route, ModelRoute) else route
    try:
        found = ModelRoute.objects.for_tenant(actor.tenant).select_related("tenant").filter(pk=int(pk or 0)).first()
    except (TypeError, ValueError):
        found = None
    if found is None:
        raise InvalidInput("Choose one of your model routes.", code="no_such_route", field="route")
    if found.capability != Capability.CHAT:
        raise InvalidInput(
            f"“{found.public_name}” serves {found.get_capability_display().lower()}; a prompt needs a chat route.",
            code="wrong_capability",
            field="route",
        )
    return found


def _check_size(messages: Any, variables: Any, response_schema: Any) -> None:
    if isinstance(messages, list) and len(messages) > MAX_MESSAGES:
        raise InvalidInput(f"At most {MAX_MESSAGES} messages.", field="messages")
    if isinstance(variables, list) and len(variables) > MAX_VARIABLES:
        raise InvalidInput(f"At most {MAX_VARIABLES} variables.", field="variables")
    if isinstance(messages, list):
        total = sum(
            len(m.get("content", "")) for m in messages if isinstance(m, dict) and isinstance(m.get("content"), str)
        )
        if total > MAX_CONTENT_CHARS:
            raise InvalidInput(
                f"The messages hold {total:,} characters; the limit is {MAX_CONTENT_CHARS:,}.", field="messages"
            )
    if response_schema is not None and len(protocol.canonical_json(response_schema)) > MAX_SCHEMA_CHARS:
        raise InvalidInput(
            f"The response schema is longer than {MAX_SCHEMA_CHARS:,} characters.", field="response_schema"
        )
    for name, value in (("messages", messages), ("variables", variables), ("response_schema", response_schema)):
        if contains_unsafe_text(value):
            raise InvalidInput("The text contains a NUL character or a lone surrogate.", field=name)


def prompt_lint(
    *,
    messages: Any,
    variables: Any,
    params: Any = None,
    response_mode: Any = ResponseMode.TEXT,
    response_schema: Any = None,
) -> list[dict[str, str]]:
    """Every lint finding of a would-be version (for the editor's "check" and the playground)."""
    return protocol.lint(
        messages,
        variables,
        params=params if params is not None else {},
        response_mode=response_mode,
        response_schema=response_schema,
    )


@transaction.atomic
def prompt_version_save(
    *,
    actor: Membership,
    template: PromptTemplate,
    messages: Any,
    route: ModelRoute | int | str | None,
    variables: Any = None,
    params: Any = None,
    response_mode: str = ResponseMode.TEXT,
    response_schema: Any = None,
) -> SavedVersion:
    """Save a version: refused with every lint error; the same content answers the existing version."""
    require(actor, _EDIT)
    params = {} if params is None else params
    variables = [] if variables is None else variables
    _check_size(messages, variables, response_schema)
    found = prompt_lint(
        messages=messages,
        variables=variables,
        params=params,
        response_mode=response_mode,
        response_schema=response_schema,
    )
    the_route = _route(actor, route)
    if any(f["level"] == "error" for f in found):
        raise PromptInvalid(found)
    warnings = [f for f in found if f["level"] == "warning"]
    clean_messages = [{"role": m["role"], "content": m["content"]} for m in messages]
    clean_variables = protocol.normalize_variables(variables)
    schema = response_schema if response_mode == ResponseMode.JSON else None
    digest = protocol.content_hash(clean_messages, clean_variables, the_route.pk, params, response_mode, schema)
    # The template's row lock serialises numbering: two saves cannot both take number n + 1.
    template = get_owned(actor, template, lock=True)
    existing = PromptVersion.objects.for_tenant(actor.tenant).filter(template=template, content_hash=digest).first()
    if existing is not None:
        return SavedVersion(version=existing, created=False, warnings=warnings)
    last = PromptVersion.objects.for_tenant(actor.tenant).filter(template=template).aggregate(n=Max("number"))["n"]
    version = PromptVersion.objects.create(
        tenant=actor.tenant,
        template=template,
        number=(last or 0) + 1,
        content_hash=digest,
        messages=clean_messages,
        variables=clean_variables,
        route=the_route,
        params=dict(params),
        response_mode=response_mode,
        response_schema=schema,
        created_by=actor.user,
    )
    PromptTemplate.objects.for_tenant(actor.tenant).filter(pk=template.pk).update(updated_at=timezone.now())
    _audit(actor, "prompt.version_saved", version, note=f"v{version.number} ({digest[:12]})")
    return SavedVersion(version=version, created=True, warnings=warnings)


# --- Publishing as an API -------------------------------------------------------------------


def prompt_api_document(api_version: ApiVersion, prompt_version: PromptVersion) -> dict[str, Any]:
    """The generated OpenAPI document of a prompt API version."""
    return prompt_openapi(
        title=api_version.api.name,
        version_label=api_version.label,
        description=api_version.api.summary or prompt_version.template.description,
        variables=prompt_version.variables,
        response_mode=prompt_version.response_mode,
        response_schema=prompt_version.response_schema,
        model_name=prompt_version.route.public_name,
    )


def _prompt_version(actor: Membership, version: PromptVersion | int) -> PromptVersion:
    return get_owned(actor, version, model=PromptVersion, related=("template", "route", "route__tenant"))


@transaction.atomic
def prompt_publish(
    *,
    actor: Membership,
    version: PromptVersion | int,
    base_path: str,
    label: str = "v1",
    api: Api | None = None,
    api_name: str = "",
    api_slug: str = "",
    release_notes: str = "",
    visibility: str = Visibility.PRIVATE,
) -> ApiVersion:
    """A draft API version of kind ``prompt`` serving ``version``; publish it with the normal lifecycle.

    ``api``: an API of the organisation to add the version to; without it a new API is
    registered (named after the template unless ``api_name`` / ``api_slug`` say otherwise) with
    ``visibility`` (private by default, like any new API).
    """
    require(actor, _EDIT)
    prompt_version = _prompt_version(actor, version)
    template = prompt_version.template
    if api is None:
        api = api_create(
            actor=actor,
            name=api_name or template.name,
            slug=api_slug or template.slug,
            summary=template.description,
            visibility=visibility,
        )
    api_version = version_create(
        actor=actor,
        api=api,
        label=label,
        base_path=base_path,
        release_notes=release_notes,
        kind=VersionKind.PROMPT,
    )
    AiSurface.objects.create(
        tenant=actor.tenant, version=api_version, kind=SurfaceKind.PROMPT, prompt_version=prompt_version
    )
    version_store_generated_spec(
        actor=actor, version=api_version, document=prompt_api_document(api_version, prompt_version)
    )
    _audit(
        actor,
        "prompt.published_as_api",
        prompt_version,
        api=api,
        note=f"{api.name} {api_version.label} at {api_version.base_path}",
    )
    api_version.refresh_from_db()
    return api_version


@transaction.atomic
def prompt_surface_update(
    *, actor: Membership, api_version: ApiVersion, prompt_version: PromptVersion | int
) -> ApiVersion:
    """Point a DRAFT prompt API version at another version of the same prompt (document regenerated).

    A published or deprecated one is refused: consumers built against its variables and
    answers; a newer prompt is published as a new API version instead.
    """
    require(actor, _EDIT)
    api_version = get_owned(actor, api_version, lock=True, related=("api",))
    surface = AiSurface.objects.for_tenant(actor.tenant).filter(version=api_version, kind=SurfaceKind.PROMPT).first()
    if surface is None or api_version.kind != VersionKind.PROMPT:
        raise InvalidInput("This API version does not serve a prompt.", code="not_a_prompt_version")
    if api_version.status != VersionStatus.DRAFT:
        raise Conflict(
            f"Version {api_version.label} is {api_version.get_status_display().lower()}: consumers rely on its "
            "variables. Publish the newer prompt as a new API version instead.",
            code="version_not_draft",
        )
    new = _prompt_version(actor, prompt_version)
    current = PromptVersion.objects.for_tenant(actor.tenant).get(pk=surface.prompt_version_id)
    if new.template_id != current.template_id:
        raise InvalidInput("Choose a version of the same prompt.", field="prompt_version")
    if new.pk != current.pk:
        surface.prompt_version = new
        surface.updated_at = timezone.now()
        surface.save(update_fields=["prompt_version", "updated_at"])
        version_store_generated_spec(actor=actor, version=api_version, document=prompt_api_document(api_version, new))
        _audit(
            actor, "prompt.surface_updated", new, api=api_version.api, note=f"{api_version} now serves v{new.number}"
        )
    return api_version
