"""Writes to API versions: create, update, OpenAPI upload, lifecycle, delete."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from apis import openapi
from apis.models import Api, ApiVersion, Endpoint, VersionStatus
from apis.services.audit import _check_owned, audit_record
from apis.services.fields import (
    _check_base_path_free,
    _timeout,
    validate_base_path,
    validate_label,
    validate_upstreams,
)
from core.errors import Conflict, InvalidInput
from core.validators import clean_text as _text
from tenants.models import Membership
from tenants.permissions import require
from tenants.roles import Perm

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
    notes = _text(release_notes, field="release_notes", max_length=50_000, single_line=False)
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
        notes = _text(changes["release_notes"], field="release_notes", max_length=50_000, single_line=False)
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
        note=_text(note, field="note", max_length=2000, single_line=False)
        or f"OpenAPI {openapi_version}, {count} endpoints.",
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
        note=_text(note, field="note", max_length=2000, single_line=False),
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
