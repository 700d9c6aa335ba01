"""Every write to the catalog goes through here: APIs, versions and their lifecycle, plans, audit.

Each function takes the acting ``Membership`` and checks its role first. The objects passed
in must already belong to the actor's tenant (views load them with ``for_tenant``); the
services re-check that, so a mistake in a view cannot cross tenants.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from django.contrib.postgres.search import SearchVector
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db import IntegrityError, models, transaction
from django.db.models import ProtectedError, Q, Value
from django.utils import timezone

from apis import openapi
from apis.models import Api, ApiVersion, AuditEvent, Endpoint, Plan, PlanStatus, VersionStatus, Visibility
from apis.models.catalog import PLAN_LIMIT_FIELDS
from portal.errors import Conflict, InvalidInput, NotFound
from tenants.models import Membership, Tenant
from tenants.permissions import require
from tenants.roles import Perm
from tenants.services import validate_slug

LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
BASE_PATH_SEGMENT_RE = re.compile(r"^[A-Za-z0-9._~-]+$")
TAG_RE = re.compile(r"^[a-z0-9][a-z0-9+#._-]{0,39}$")
MAX_TAGS = 20
MAX_UPSTREAMS = 20
MAX_WEIGHT = 1000
MAX_TIMEOUT_MS = 300_000
#: Path prefixes gateways keep for themselves (health, metrics); APIs cannot claim them.
RESERVED_BASE_PATHS = frozenset({"/_gateway", "/gateway", "/healthz", "/metrics"})


# --- Audit trail -----------------------------------------------------------------------


def audit_record(
    *,
    actor: Membership | None,
    tenant: Tenant,
    action: str,
    target: models.Model,
    api: Api | None = None,
    from_state: str = "",
    to_state: str = "",
    note: str = "",
) -> AuditEvent:
    """Append one event to the trail; call it inside the transaction of the change it records."""
    user = actor.user if actor is not None else None
    return AuditEvent.objects.create(
        tenant=tenant,
        actor=user,
        actor_email=user.email if user is not None else "",
        action=action,
        target_type=target._meta.model_name or "",
        target_id=target.pk,
        target_label=str(target)[:200],
        api=api,
        from_state=from_state,
        to_state=to_state,
        note=note,
    )


def _check_owned(actor: Membership, obj: Api | ApiVersion | Plan) -> None:
    # Views load objects with for_tenant(); this is the second lock on the same door.
    if obj.tenant_id != actor.tenant_id:
        raise NotFound("No such object.")


# --- Field validation ------------------------------------------------------------------


def _text(value: str | None, *, field: str, max_length: int, required: bool = False, label: str = "") -> str:
    value = (value or "").strip()
    if required and not value:
        raise InvalidInput(f"{label or field.capitalize()} is required.", field=field)
    if len(value) > max_length:
        raise InvalidInput(f"At most {max_length} characters.", field=field)
    return value


def validate_tags(tags: Iterable[str] | str | None) -> list[str]:
    """Lowercase, de-duplicated tags; accepts a list or a comma-separated string."""
    if isinstance(tags, str):
        tags = tags.split(",")
    cleaned: list[str] = []
    for raw in tags or []:
        tag = str(raw).strip().lower()
        if not tag:
            continue
        if not TAG_RE.match(tag):
            raise InvalidInput(
                f"Tag “{tag[:40]}” is not valid: use up to 40 lowercase letters, digits and - . _ + #.", field="tags"
            )
        if tag not in cleaned:
            cleaned.append(tag)
    if len(cleaned) > MAX_TAGS:
        raise InvalidInput(f"At most {MAX_TAGS} tags.", field="tags")
    return cleaned


def _visibility(value: str) -> str:
    if value not in Visibility.values:
        raise InvalidInput(
            f"Unknown visibility “{value}”. Choose one of: {', '.join(Visibility.values)}.", "visibility"
        )
    return value


def _contact(email: str | None, url: str | None) -> tuple[str, str]:
    email = (email or "").strip()
    url = (url or "").strip()
    if email:
        try:
            EmailValidator()(email)
        except ValidationError:
            raise InvalidInput("Enter a valid e-mail address.", field="contact_email") from None
    if url:
        try:
            URLValidator(schemes=["http", "https"])(url)
        except ValidationError:
            raise InvalidInput("Enter an absolute http(s) URL.", field="contact_url") from None
    return email, url


def validate_label(label: str) -> str:
    label = (label or "").strip()
    if not LABEL_RE.match(label):
        raise InvalidInput(
            "Use 1–40 letters, digits, dots, hyphens or underscores (e.g. v1 or 2024-06-01).", field="label"
        )
    return label


def validate_base_path(base_path: str) -> str:
    """``/orders/v1``: absolute, no trailing slash, plain segments (gateways match it literally)."""
    path = (base_path or "").strip()
    if len(path) > 1:
        path = path.rstrip("/")
    segments = path.split("/")[1:]
    if (
        not path.startswith("/")
        or path == "/"
        or len(path) > 200
        or not all(BASE_PATH_SEGMENT_RE.match(s) and s not in {".", ".."} for s in segments)
    ):
        raise InvalidInput(
            "The base path must start with /, have at least one segment and use only letters, digits and - . _ ~ "
            "(e.g. /orders/v1).",
            field="base_path",
        )
    for reserved in RESERVED_BASE_PATHS:
        if path == reserved or path.startswith(reserved + "/"):
            raise InvalidInput(f"Paths under “{reserved}” are reserved for the gateway itself.", field="base_path")
    return path


def _check_base_path_free(path: str, *, exclude_pk: int | None = None) -> None:
    """Gateways route on the longest prefix; two APIs nesting inside each other would be ambiguous."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(2, len(parts))]
    # Crossing tenants on purpose: base paths are one namespace for the whole platform.
    clash = (
        ApiVersion.objects.unscoped()
        .filter(Q(base_path=path) | Q(base_path__in=prefixes) | Q(base_path__startswith=path + "/"))
        .exclude(pk=exclude_pk)
        .values_list("base_path", flat=True)
        .first()
    )
    if clash == path:
        raise InvalidInput(f"The base path “{path}” is already in use.", code="base_path_taken", field="base_path")
    if clash:
        raise InvalidInput(
            f"The base path “{path}” overlaps the base path “{clash}” that is already in use.",
            code="base_path_overlap",
            field="base_path",
        )


def validate_upstreams(upstreams: Any) -> list[dict[str, Any]]:
    """``[{"url": "https://…", "weight": 1}, …]``. Only stored and handed to gateways: never fetched here."""
    if not isinstance(upstreams, list):
        raise InvalidInput("Upstreams must be a list of {url, weight}.", field="upstreams")
    if len(upstreams) > MAX_UPSTREAMS:
        raise InvalidInput(f"At most {MAX_UPSTREAMS} upstream targets.", field="upstreams")
    cleaned: list[dict[str, Any]] = []
    for index, target in enumerate(upstreams, start=1):
        if isinstance(target, str):
            target = {"url": target}
        if not isinstance(target, dict):
            raise InvalidInput(f"Upstream {index}: expected an object with url and weight.", field="upstreams")
        url = str(target.get("url") or "").strip()
        parts = urlsplit(url)
        try:
            URLValidator(schemes=["http", "https"])(url)
        except ValidationError:
            raise InvalidInput(
                f"Upstream {index}: “{url[:200]}” is not an absolute http(s) URL.", field="upstreams"
            ) from None
        if parts.username or parts.password:
            raise InvalidInput(
                f"Upstream {index}: credentials in the URL are not allowed (they would be shipped to every gateway).",
                field="upstreams",
            )
        if parts.query or parts.fragment:
            raise InvalidInput(f"Upstream {index}: the URL must not have a query or fragment.", field="upstreams")
        weight = target.get("weight", 1)
        if isinstance(weight, bool) or not isinstance(weight, int | str) or not str(weight).strip().isdigit():
            raise InvalidInput(f"Upstream {index}: the weight must be a whole number.", field="upstreams")
        weight = int(weight)
        if not 1 <= weight <= MAX_WEIGHT:
            raise InvalidInput(f"Upstream {index}: the weight must be between 1 and {MAX_WEIGHT}.", field="upstreams")
        cleaned.append({"url": url.rstrip("/"), "weight": weight})
    return cleaned


def _timeout(value: Any, field: str) -> int:
    try:
        value = int(value)
    except (TypeError, ValueError):
        raise InvalidInput("Enter a whole number of milliseconds.", field=field) from None
    if not 1 <= value <= MAX_TIMEOUT_MS:
        raise InvalidInput(f"Between 1 and {MAX_TIMEOUT_MS} milliseconds.", field=field)
    return value


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
        out["description"] = _text(data["description"], field="description", max_length=100_000)
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


def _check_api_slug_free(tenant: Tenant, slug: str, *, exclude_pk: int | None = None) -> None:
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
    _check_api_slug_free(actor.tenant, fields["slug"])
    try:
        with transaction.atomic():
            api = Api.objects.create(tenant=actor.tenant, created_by=actor.user, **fields)
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
    unknown = set(changes) - {
        "name",
        "slug",
        "summary",
        "description",
        "tags",
        "contact_name",
        "contact_email",
        "contact_url",
        "visibility",
    }
    if unknown:
        raise InvalidInput(f"Unknown field: {', '.join(sorted(unknown))}.")
    api = Api.objects.for_tenant(actor.tenant).select_for_update().get(pk=api.pk)
    fields = _api_fields(changes)
    if "slug" in fields and fields["slug"] != api.slug:
        _check_api_slug_free(actor.tenant, fields["slug"], exclude_pk=api.pk)
    old_visibility = api.visibility
    changed = [name for name, value in fields.items() if getattr(api, name) != value]
    for name, value in fields.items():
        setattr(api, name, value)
    if not changed:
        return api
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


@transaction.atomic
def api_delete(*, actor: Membership, api: Api) -> None:
    """Delete an API with all its versions and plans; refused while a version is routed."""
    require(actor, Perm.APIS_EDIT)
    _check_owned(actor, api)
    api = Api.objects.for_tenant(actor.tenant).select_for_update().get(pk=api.pk)
    live = ApiVersion.objects.for_tenant(actor.tenant).filter(api=api).routed().values_list("label", flat=True)
    if live:
        raise Conflict(
            f"Retire the live versions first ({', '.join(live)}): consumers are still calling them.",
            code="api_has_live_versions",
        )
    audit_record(actor=actor, tenant=api.tenant, action="api.deleted", target=api, api=api)
    try:
        api.delete()
    except ProtectedError:
        raise Conflict("This API still has subscriptions; retire its versions and archive its plans.") from None


# --- Versions --------------------------------------------------------------------------


def _lock_version(actor: Membership, version: ApiVersion) -> ApiVersion:
    _check_owned(actor, version)
    return ApiVersion.objects.for_tenant(actor.tenant).select_for_update().select_related("api").get(pk=version.pk)


def _store_spec(version: ApiVersion, document: dict[str, Any], openapi_version: str) -> int:
    """Save the document and replace the extracted endpoints; returns how many there are."""
    version.spec = document
    version.openapi_version = openapi_version
    version.spec_updated_at = timezone.now()
    version.save(update_fields=["spec", "openapi_version", "spec_updated_at"])
    Endpoint.objects.for_tenant(version.tenant_id).filter(version=version).delete()
    endpoints = [
        Endpoint(
            tenant_id=version.tenant_id,
            version=version,
            method=op.method,
            path=op.path,
            operation_id=op.operation_id,
            summary=op.summary,
            deprecated=op.deprecated,
        )
        for op in openapi.operations(document)
    ]
    Endpoint.objects.bulk_create(endpoints)
    return len(endpoints)


def _save_version(version: ApiVersion) -> None:
    try:
        with transaction.atomic():
            version.save()
    except IntegrityError as error:
        text = str(error)
        if "base_path" in text:
            raise InvalidInput(
                f"The base path “{version.base_path}” is already in use.", code="base_path_taken", field="base_path"
            ) from None
        if "apiversion_label_unique_per_api" in text:
            raise InvalidInput(
                f"This API already has a version “{version.label}”.", code="label_taken", field="label"
            ) from None
        raise


@transaction.atomic
def version_create(
    *,
    actor: Membership,
    api: Api,
    label: str,
    base_path: str,
    upstreams: list[Any] | None = None,
    connect_timeout_ms: int = 5_000,
    read_timeout_ms: int = 30_000,
    release_notes: str = "",
    openapi_document: str | bytes | dict | None = None,
) -> ApiVersion:
    """A new draft version; the OpenAPI document may come now or later (version_upload_spec)."""
    require(actor, Perm.APIS_EDIT)
    _check_owned(actor, api)
    label = validate_label(label)
    path = validate_base_path(base_path)
    targets = validate_upstreams(upstreams or [])
    connect = _timeout(connect_timeout_ms, "connect_timeout_ms")
    read = _timeout(read_timeout_ms, "read_timeout_ms")
    notes = _text(release_notes, field="release_notes", max_length=50_000)
    document = openapi.load(openapi_document) if openapi_document not in (None, "", b"", {}) else None
    if ApiVersion.objects.for_tenant(actor.tenant).filter(api=api, label=label).exists():
        raise InvalidInput(f"This API already has a version “{label}”.", code="label_taken", field="label")
    _check_base_path_free(path)
    version = ApiVersion(
        tenant=actor.tenant,
        api=api,
        label=label,
        base_path=path,
        upstreams=targets,
        connect_timeout_ms=connect,
        read_timeout_ms=read,
        release_notes=notes,
    )
    _save_version(version)
    audit_record(
        actor=actor, tenant=api.tenant, action="version.created", target=version, api=api, to_state=version.status
    )
    if document is not None:
        count = _store_spec(version, *document)
        audit_record(
            actor=actor,
            tenant=api.tenant,
            action="version.spec_uploaded",
            target=version,
            api=api,
            note=f"OpenAPI {document[1]}, {count} endpoints.",
        )
    return version


@transaction.atomic
def version_update(*, actor: Membership, version: ApiVersion, **changes: Any) -> ApiVersion:
    """Change routing settings or notes. Label and base path are fixed once published: consumers use them."""
    require(actor, Perm.APIS_EDIT)
    version = _lock_version(actor, version)
    allowed = {"label", "base_path", "upstreams", "connect_timeout_ms", "read_timeout_ms", "release_notes"}
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidInput(f"Unknown field: {', '.join(sorted(unknown))}.")
    if version.status == VersionStatus.RETIRED:
        raise Conflict("A retired version can no longer be changed.", code="version_retired")
    changed: list[str] = []
    if "label" in changes and changes["label"] != version.label:
        if version.status != VersionStatus.DRAFT:
            raise Conflict("The label cannot change after publishing.", code="version_not_draft", field="label")
        version.label = validate_label(changes["label"])
        if ApiVersion.objects.for_tenant(actor.tenant).filter(api_id=version.api_id, label=version.label).exists():
            raise InvalidInput(f"This API already has a version “{version.label}”.", code="label_taken", field="label")
        changed.append("label")
    if "base_path" in changes:
        path = validate_base_path(changes["base_path"])
        if path != version.base_path:
            if version.status != VersionStatus.DRAFT:
                raise Conflict(
                    "The base path cannot change after publishing: consumers call it. Create a new version instead.",
                    code="version_not_draft",
                    field="base_path",
                )
            _check_base_path_free(path, exclude_pk=version.pk)
            version.base_path = path
            changed.append("base_path")
    if "upstreams" in changes:
        targets = validate_upstreams(changes["upstreams"])
        if not targets and version.is_routed:
            raise Conflict("A live version needs at least one upstream.", code="no_upstream", field="upstreams")
        if targets != version.upstreams:
            version.upstreams = targets
            changed.append("upstreams")
    for field in ("connect_timeout_ms", "read_timeout_ms"):
        if field in changes:
            value = _timeout(changes[field], field)
            if value != getattr(version, field):
                setattr(version, field, value)
                changed.append(field)
    if "release_notes" in changes:
        notes = _text(changes["release_notes"], field="release_notes", max_length=50_000)
        if notes != version.release_notes:
            version.release_notes = notes
            changed.append("release_notes")
    if changed:
        _save_version(version)
        audit_record(
            actor=actor,
            tenant=version.tenant,
            action="version.updated",
            target=version,
            api=version.api,
            note="Changed: " + ", ".join(changed),
        )
    return version


@transaction.atomic
def version_upload_spec(
    *, actor: Membership, version: ApiVersion, document: str | bytes | dict, note: str = ""
) -> ApiVersion:
    """Replace the OpenAPI document (JSON or YAML) and re-extract the endpoints."""
    require(actor, Perm.APIS_EDIT)
    parsed, openapi_version = openapi.load(document)
    version = _lock_version(actor, version)
    if version.status == VersionStatus.RETIRED:
        raise Conflict("A retired version can no longer be changed.", code="version_retired")
    count = _store_spec(version, parsed, openapi_version)
    audit_record(
        actor=actor,
        tenant=version.tenant,
        action="version.spec_uploaded",
        target=version,
        api=version.api,
        note=_text(note, field="note", max_length=2000) or f"OpenAPI {openapi_version}, {count} endpoints.",
    )
    return version


def _transition(actor: Membership, version: ApiVersion, to: VersionStatus, note: str, **stamps: Any) -> ApiVersion:
    old = version.status
    version.status = to
    for field, value in stamps.items():
        setattr(version, field, value)
    version.save(update_fields=["status", *stamps])
    audit_record(
        actor=actor,
        tenant=version.tenant,
        action=f"version.{to}",
        target=version,
        api=version.api,
        from_state=old,
        to_state=to,
        note=_text(note, field="note", max_length=2000),
    )
    return version


@transaction.atomic
def version_publish(*, actor: Membership, version: ApiVersion, note: str = "") -> ApiVersion:
    """draft → published (or deprecated → published, to undo a deprecation)."""
    require(actor, Perm.APIS_EDIT)
    version = _lock_version(actor, version)
    if version.status == VersionStatus.PUBLISHED:
        raise Conflict(f"Version {version.label} is already published.", code="invalid_transition")
    if version.status == VersionStatus.RETIRED:
        raise Conflict(
            f"Version {version.label} is retired and cannot be published again; create a new version.",
            code="invalid_transition",
        )
    if not version.upstreams:
        raise Conflict(
            "Add at least one upstream target before publishing: the gateway needs somewhere to send calls.",
            code="no_upstream",
            field="upstreams",
        )
    if version.spec is None:
        raise Conflict(
            "Upload an OpenAPI document before publishing: consumers need its reference docs.",
            code="no_openapi",
            field="openapi",
        )
    stamps: dict[str, Any] = {"deprecated_at": None, "sunset_date": None}
    if version.published_at is None:
        stamps["published_at"] = timezone.now()
    return _transition(actor, version, VersionStatus.PUBLISHED, note, **stamps)


@transaction.atomic
def version_deprecate(
    *, actor: Membership, version: ApiVersion, sunset_date: date | None, note: str = ""
) -> ApiVersion:
    """published → deprecated with a sunset date consumers see; on a deprecated version, moves the date."""
    require(actor, Perm.APIS_EDIT)
    version = _lock_version(actor, version)
    if version.status not in (VersionStatus.PUBLISHED, VersionStatus.DEPRECATED):
        raise Conflict(
            f"Only a published version can be deprecated; {version.label} is {version.get_status_display().lower()}.",
            code="invalid_transition",
        )
    if sunset_date is None:
        raise InvalidInput("Give the sunset date consumers should plan for.", field="sunset_date")
    if sunset_date < timezone.now().date():
        raise InvalidInput("The sunset date cannot be in the past.", field="sunset_date")
    stamps: dict[str, Any] = {"sunset_date": sunset_date}
    if version.status == VersionStatus.PUBLISHED:
        stamps["deprecated_at"] = timezone.now()
    note = note or f"Sunset on {sunset_date.isoformat()}."
    return _transition(actor, version, VersionStatus.DEPRECATED, note, **stamps)


@transaction.atomic
def version_retire(*, actor: Membership, version: ApiVersion, note: str = "") -> ApiVersion:
    """published / deprecated → retired: gateways stop routing it. There is no way back."""
    require(actor, Perm.APIS_EDIT)
    version = _lock_version(actor, version)
    if version.status == VersionStatus.DRAFT:
        raise Conflict(
            f"Version {version.label} was never published; delete the draft instead of retiring it.",
            code="invalid_transition",
        )
    if version.status == VersionStatus.RETIRED:
        raise Conflict(f"Version {version.label} is already retired.", code="invalid_transition")
    return _transition(actor, version, VersionStatus.RETIRED, note, retired_at=timezone.now())


@transaction.atomic
def version_delete(*, actor: Membership, version: ApiVersion) -> None:
    """Drafts and retired versions only: live versions must be retired first."""
    require(actor, Perm.APIS_EDIT)
    version = _lock_version(actor, version)
    if version.is_routed:
        raise Conflict(f"Version {version.label} is live; retire it before deleting it.", code="version_live")
    audit_record(
        actor=actor,
        tenant=version.tenant,
        action="version.deleted",
        target=version,
        api=version.api,
        from_state=version.status,
    )
    try:
        version.delete()
    except ProtectedError:
        raise Conflict("This version is still referenced (subscriptions or usage); keep it retired.") from None


# --- Plans -----------------------------------------------------------------------------


def _limit(value: Any, field: str) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise InvalidInput("Enter a whole number, or leave empty for no limit.", field=field)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidInput("Enter a whole number, or leave empty for no limit.", field=field) from None
    if number <= 0 or str(number) != str(value).strip():
        raise InvalidInput("Must be a positive whole number (leave empty for no limit).", field=field)
    if number > 10**15:
        raise InvalidInput("That number is too large.", field=field)
    return number


def _plan_fields(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "name" in data:
        out["name"] = _text(data["name"], field="name", max_length=60, required=True)
    if "description" in data:
        out["description"] = _text(data["description"], field="description", max_length=5000)
    for field in PLAN_LIMIT_FIELDS:
        if field in data:
            out[field] = _limit(data[field], field)
    for field in ("approval_required", "is_public"):
        if field in data:
            if not isinstance(data[field], bool):
                raise InvalidInput("Must be true or false.", field=field)
            out[field] = data[field]
    if "price_label" in data:
        out["price_label"] = _text(data["price_label"], field="price_label", max_length=60)
    per_second, per_minute = out.get("rate_limit_per_second"), out.get("rate_limit_per_minute")
    if per_second and per_minute and per_second > per_minute:
        raise InvalidInput(
            "The per-second limit is higher than the per-minute limit; it could never be reached.",
            field="rate_limit_per_second",
        )
    per_day, per_month = out.get("quota_per_day"), out.get("quota_per_month")
    if per_day and per_month and per_day > per_month:
        raise InvalidInput("The daily quota is higher than the monthly quota.", field="quota_per_day")
    return out


def _check_plan_name_free(api: Api, name: str, *, exclude_pk: int | None = None) -> None:
    if Plan.objects.for_tenant(api.tenant_id).filter(api=api, name__iexact=name).exclude(pk=exclude_pk).exists():
        raise InvalidInput(f"This API already has a plan called “{name}”.", code="plan_name_taken", field="name")


@transaction.atomic
def plan_create(
    *,
    actor: Membership,
    api: Api,
    name: str,
    description: str = "",
    rate_limit_per_second: int | None = None,
    rate_limit_per_minute: int | None = None,
    quota_per_day: int | None = None,
    quota_per_month: int | None = None,
    approval_required: bool = False,
    is_public: bool = True,
    price_label: str = "",
) -> Plan:
    require(actor, Perm.APIS_EDIT)
    _check_owned(actor, api)
    fields = _plan_fields(
        {
            "name": name,
            "description": description,
            "rate_limit_per_second": rate_limit_per_second,
            "rate_limit_per_minute": rate_limit_per_minute,
            "quota_per_day": quota_per_day,
            "quota_per_month": quota_per_month,
            "approval_required": approval_required,
            "is_public": is_public,
            "price_label": price_label,
        }
    )
    _check_plan_name_free(api, fields["name"])
    try:
        with transaction.atomic():
            plan = Plan.objects.create(tenant=actor.tenant, api=api, **fields)
    except IntegrityError:
        raise InvalidInput(
            f"This API already has a plan called “{fields['name']}”.", code="plan_name_taken", field="name"
        ) from None
    audit_record(actor=actor, tenant=api.tenant, action="plan.created", target=plan, api=api, to_state=plan.status)
    return plan


@transaction.atomic
def plan_update(*, actor: Membership, plan: Plan, **changes: Any) -> Plan:
    """Change a plan's terms. New limits apply to existing subscribers at the next gateway sync."""
    require(actor, Perm.APIS_EDIT)
    _check_owned(actor, plan)
    allowed = {"name", "description", "approval_required", "is_public", "price_label", *PLAN_LIMIT_FIELDS}
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidInput(f"Unknown field: {', '.join(sorted(unknown))}.")
    plan = Plan.objects.for_tenant(actor.tenant).select_for_update().select_related("api").get(pk=plan.pk)
    # Validate the merged terms so cross-field rules (per second <= per minute) see both values.
    merged = {field: getattr(plan, field) for field in allowed} | changes
    fields = {key: value for key, value in _plan_fields(merged).items() if key in changes}
    if "name" in fields and fields["name"].lower() != plan.name.lower():
        _check_plan_name_free(plan.api, fields["name"], exclude_pk=plan.pk)
    changed = [name for name, value in fields.items() if getattr(plan, name) != value]
    if not changed:
        return plan
    for name in changed:
        setattr(plan, name, fields[name])
    plan.updated_at = timezone.now()
    try:
        with transaction.atomic():
            plan.save()
    except IntegrityError:
        raise InvalidInput(
            f"This API already has a plan called “{plan.name}”.", code="plan_name_taken", field="name"
        ) from None
    audit_record(
        actor=actor,
        tenant=plan.tenant,
        action="plan.updated",
        target=plan,
        api=plan.api,
        note="Changed: " + ", ".join(changed),
    )
    return plan


def _plan_status(actor: Membership, plan: Plan, to: PlanStatus, note: str) -> Plan:
    require(actor, Perm.APIS_EDIT)
    _check_owned(actor, plan)
    plan = Plan.objects.for_tenant(actor.tenant).select_for_update().select_related("api").get(pk=plan.pk)
    if plan.status == to:
        raise Conflict(f"The plan is already {to.label.lower()}.", code="invalid_transition")
    old = plan.status
    plan.status = to
    plan.updated_at = timezone.now()
    plan.save(update_fields=["status", "updated_at"])
    audit_record(
        actor=actor,
        tenant=plan.tenant,
        action="plan.archived" if to == PlanStatus.ARCHIVED else "plan.restored",
        target=plan,
        api=plan.api,
        from_state=old,
        to_state=to,
        note=_text(note, field="note", max_length=2000),
    )
    return plan


@transaction.atomic
def plan_archive(*, actor: Membership, plan: Plan, note: str = "") -> Plan:
    """Stop offering the plan; existing subscribers keep it (the subscriptions issue decides more)."""
    return _plan_status(actor, plan, PlanStatus.ARCHIVED, note)


@transaction.atomic
def plan_restore(*, actor: Membership, plan: Plan, note: str = "") -> Plan:
    return _plan_status(actor, plan, PlanStatus.ACTIVE, note)


@transaction.atomic
def plan_delete(*, actor: Membership, plan: Plan) -> None:
    require(actor, Perm.APIS_EDIT)
    _check_owned(actor, plan)
    plan = Plan.objects.for_tenant(actor.tenant).select_for_update().select_related("api").get(pk=plan.pk)
    audit_record(actor=actor, tenant=plan.tenant, action="plan.deleted", target=plan, api=plan.api)
    try:
        with transaction.atomic():
            plan.delete()
    except ProtectedError:
        raise Conflict("This plan has subscriptions; archive it instead.", code="plan_in_use") from None
