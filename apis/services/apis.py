"""Writes to APIs: create, update, delete."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.postgres.search import SearchVector
from django.db import IntegrityError, models, transaction
from django.db.models import ProtectedError, Value
from django.utils import timezone

from apis.markdown import MAX_MARKDOWN_CHARS, render_markdown
from apis.models import Api, ApiVersion, Plan, Visibility
from apis.services.audit import _check_owned, audit_record
from apis.services.fields import _contact, _visibility, validate_tags
from core.deletion import protected_dependents, protected_ids
from core.errors import Conflict, InvalidInput, reject_unknown_fields
from core.validators import clean_text as _text
from tenants.models import Membership, Tenant
from tenants.ownership import get_owned
from tenants.permissions import require
from tenants.roles import Perm
from tenants.services import validate_slug

# --- APIs ------------------------------------------------------------------------------


def _refresh_search(api: Api) -> None:
    config = "english"
    Api.objects.for_tenant(api.tenant_id).filter(pk=api.pk).update(
        search_vector=SearchVector("name", weight="A", config=config)
        + SearchVector(Value(" ".join(api.tags), output_field=models.TextField()), weight="A", config=config)
        + SearchVector("summary", weight="B", config=config)
        + SearchVector("description", weight="C", config=config)
    )


def _api_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Validate whichever API fields are present in ``data``."""
    out: dict[str, Any] = {}
    if "name" in data:
        out["name"] = _text(data["name"], field="name", max_length=100, required=True)
    if "slug" in data:
        out["slug"] = validate_slug(data["slug"])
    if "summary" in data:
        out["summary"] = _text(data["summary"], field="summary", max_length=200)
    if "description" in data:
        out["description"] = _text(
            data["description"], field="description", max_length=MAX_MARKDOWN_CHARS, single_line=False
        )
    if "tags" in data:
        out["tags"] = validate_tags(data["tags"])
    if "contact_name" in data:
        out["contact_name"] = _text(data["contact_name"], field="contact_name", max_length=100)
    if "contact_email" in data or "contact_url" in data:
        email, url = _contact(data.get("contact_email"), data.get("contact_url"))
        if "contact_email" in data:
            out["contact_email"] = email
        if "contact_url" in data:
            out["contact_url"] = url
    if "visibility" in data:
        out["visibility"] = _visibility(data["visibility"])
    return out


def check_api_slug_free(tenant: Tenant, slug: str, *, exclude_pk: int | None = None) -> None:
    if Api.objects.for_tenant(tenant).filter(slug=slug).exclude(pk=exclude_pk).exists():
        raise InvalidInput(f"You already have an API with the slug “{slug}”.", code="slug_taken", field="slug")


@transaction.atomic
def api_create(
    *,
    actor: Membership,
    name: str,
    slug: str,
    summary: str = "",
    description: str = "",
    tags: Iterable[str] | str = (),
    contact_name: str = "",
    contact_email: str = "",
    contact_url: str = "",
    visibility: str = Visibility.PRIVATE,
) -> Api:
    require(actor, Perm.APIS_EDIT)
    fields = _api_fields(
        {
            "name": name,
            "slug": slug,
            "summary": summary,
            "description": description,
            "tags": tags,
            "contact_name": contact_name,
            "contact_email": contact_email,
            "contact_url": contact_url,
            "visibility": visibility,
        }
    )
    check_api_slug_free(actor.tenant, fields["slug"])
    try:
        with transaction.atomic():
            api = Api.objects.create(
                tenant=actor.tenant,
                created_by=actor.user,
                description_html=render_markdown(fields["description"]),
                **fields,
            )
    except IntegrityError:
        raise InvalidInput(
            f"You already have an API with the slug “{fields['slug']}”.", code="slug_taken", field="slug"
        ) from None
    _refresh_search(api)
    audit_record(actor=actor, tenant=api.tenant, action="api.created", target=api, api=api, to_state=api.visibility)
    return api


@transaction.atomic
def api_update(*, actor: Membership, api: Api, **changes: Any) -> Api:
    """Change any of name, slug, summary, description, tags, contact_*, visibility."""
    require(actor, Perm.APIS_EDIT)
    _check_owned(actor, api)
    reject_unknown_fields(
        changes,
        {
            "name",
            "slug",
            "summary",
            "description",
            "tags",
            "contact_name",
            "contact_email",
            "contact_url",
            "visibility",
        },
    )
    api = get_owned(actor, api, lock=True)
    fields = _api_fields(changes)
    if "slug" in fields and fields["slug"] != api.slug:
        check_api_slug_free(actor.tenant, fields["slug"], exclude_pk=api.pk)
    old_visibility = api.visibility
    changed = [name for name, value in fields.items() if getattr(api, name) != value]
    for name, value in fields.items():
        setattr(api, name, value)
    if not changed:
        return api
    if "description" in changed:
        # Rendered once here, not on every view: pages show the stored, sanitised HTML.
        api.description_html = render_markdown(api.description)
    api.updated_at = timezone.now()
    try:
        with transaction.atomic():
            api.save()
    except IntegrityError:
        raise InvalidInput(
            f"You already have an API with the slug “{api.slug}”.", code="slug_taken", field="slug"
        ) from None
    _refresh_search(api)
    audit_record(
        actor=actor,
        tenant=api.tenant,
        action="api.updated",
        target=api,
        api=api,
        from_state=old_visibility if "visibility" in changed else "",
        to_state=api.visibility if "visibility" in changed else "",
        note="Changed: " + ", ".join(changed),
    )
    return api


def api_delete_refusal(api: Api) -> Conflict | None:
    """Why ``api`` cannot be deleted (the 409 to raise), or None when it can.

    Anything another tenant depends on (subscriptions of any status, and their trail) keeps
    the API, its versions and its plans for ever (docs/decisions.md).
    """
    versions = list(ApiVersion.objects.for_tenant(api.tenant_id).filter(api=api).only("id", "label", "status"))
    plan_ids = list(Plan.objects.for_tenant(api.tenant_id).filter(api=api).values_list("pk", flat=True))
    # A few queries whatever the number of versions and plans (not a few per row).
    if (
        protected_dependents(api)
        or protected_ids(ApiVersion, [v.pk for v in versions])
        or protected_ids(Plan, plan_ids)
    ):
        return Conflict(
            "Retire its versions and archive its plans; an API with subscription history cannot be deleted "
            "(the history is kept for the subscribers too).",
            code="has_subscriptions",
        )
    live = [version.label for version in versions if version.is_routed]
    if live:
        return Conflict(
            f"Retire the live versions first ({', '.join(live)}): consumers are still calling them.",
            code="api_has_live_versions",
        )
    return None


@transaction.atomic
def api_delete(*, actor: Membership, api: Api) -> None:
    """Delete an API with all its versions and plans.

    Refused (409) while a version is routed, and for good once anything has (or had) a
    subscription: such an API is retired and archived instead, never deleted.
    """
    require(actor, Perm.APIS_EDIT)
    _check_owned(actor, api)
    api = get_owned(actor, api, lock=True)
    refusal = api_delete_refusal(api)
    if refusal is not None:
        raise refusal
    audit_record(actor=actor, tenant=api.tenant, action="api.deleted", target=api, api=api)
    try:
        with transaction.atomic():
            api.delete()
    except ProtectedError:
        # A dependent deeper than the check looks (or one created meanwhile): same answer.
        raise Conflict(
            "Retire its versions and archive its plans; an API with subscription history cannot be deleted.",
            code="has_subscriptions",
        ) from None
