"""Writes to API versions: create, update, OpenAPI upload, lifecycle, delete."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from apis import kinds, openapi
from apis.markdown import render_markdown
from apis.models import Api, ApiVersion, Endpoint, SpecStatus, VersionKind, VersionStatus
from apis.services.audit import _check_owned, audit_record
from apis.services.fields import (
    _timeout,
    check_base_path_free,
    validate_base_path,
    validate_label,
    validate_upstreams,
)
from core import outbox
from core.deadline import DeadlineExceeded, deadline
from core.deletion import protected_dependents
from core.errors import Conflict, InvalidInput, ServiceError, reject_unknown_fields
from core.validators import clean_text as _text
from tenants.models import Membership
from tenants.ownership import get_owned
from tenants.permissions import require
from tenants.roles import Perm

# --- Versions --------------------------------------------------------------------------


def _lock_version(actor: Membership, version: ApiVersion) -> ApiVersion:
    _check_owned(actor, version)
    return get_owned(actor, version, lock=True, related=("api",))


def _store_spec(version: ApiVersion, document: dict[str, Any], openapi_version: str) -> int:
    """Save the document and replace the extracted endpoints; returns how many there are.

    Also clears any upload still waiting for the background task: this one supersedes it.
    """
    version.spec = document
    version.openapi_version = openapi_version
    version.spec_updated_at = timezone.now()
    version.spec_status = SpecStatus.READY
    version.spec_error = ""
    version.spec_pending = ""
    version.spec_job = None
    version.save(
        update_fields=[
            "spec",
            "openapi_version",
            "spec_updated_at",
            "spec_status",
            "spec_error",
            "spec_pending",
            "spec_job",
        ]
    )
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


@dataclass(frozen=True)
class _PreparedSpec:
    """An upload checked during the request: either validated (``document``) or left for the task (``pending``)."""

    document: dict[str, Any] | None = None
    openapi_version: str = ""
    pending: str = ""


def _prepare_spec(raw: str | bytes | dict) -> _PreparedSpec:
    """Size, encoding and (for small documents) full validation, before anything is written.

    Documents over OPENAPI_INLINE_MAX_BYTES, or with more than OPENAPI_INLINE_MAX_ENDPOINTS
    endpoints, are not validated here: validation can take seconds, so a Celery task does it.
    """
    text = openapi.source_text(raw)
    if len(text.encode()) > settings.OPENAPI_INLINE_MAX_BYTES:
        return _PreparedSpec(pending=text)
    document = raw if isinstance(raw, dict) else openapi.parse(text)
    if openapi.check_endpoint_count(document) > settings.OPENAPI_INLINE_MAX_ENDPOINTS:
        return _PreparedSpec(pending=text)
    return _PreparedSpec(document=document, openapi_version=openapi.validate(document))


def _enqueue_spec(version_id: int, job: uuid.UUID) -> None:
    # Best-effort and by name (services never import tasks): with the broker down the upload
    # stays "processing" and the beat sweep (sweep_specs_task) queues it once the broker is back.
    outbox.kick("apis.tasks.process_spec_task", version_id, str(job))


def _apply_spec(actor: Membership, version: ApiVersion, prepared: _PreparedSpec, note: str = "") -> None:
    """Store a small validated document now, or queue a large one (the accepted ``spec`` stays meanwhile)."""
    if prepared.document is not None:
        count = _store_spec(version, prepared.document, prepared.openapi_version)
        audit_record(
            actor=actor,
            tenant=version.tenant,
            action="version.spec_uploaded",
            target=version,
            api=version.api,
            note=note or f"OpenAPI {prepared.openapi_version}, {count} endpoints.",
        )
        return
    version.spec_pending = prepared.pending
    version.spec_status = SpecStatus.PROCESSING
    version.spec_error = ""
    version.spec_job = job = uuid.uuid4()
    version.spec_submitted_at = timezone.now()
    version.save(update_fields=["spec_pending", "spec_status", "spec_error", "spec_job", "spec_submitted_at"])
    audit_record(
        actor=actor,
        tenant=version.tenant,
        action="version.spec_submitted",
        target=version,
        api=version.api,
        note=note or f"OpenAPI document received ({len(prepared.pending.encode()):,} bytes); validating it.",
    )
    version_id = version.pk
    transaction.on_commit(lambda: _enqueue_spec(version_id, job))


def check_version_label_free(api: Api, label: str, *, exclude_pk: int | None = None) -> None:
    if ApiVersion.objects.for_tenant(api.tenant_id).filter(api=api, label=label).exclude(pk=exclude_pk).exists():
        raise InvalidInput(f"This API already has a version “{label}”.", code="label_taken", field="label")


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
    kind: str = VersionKind.REST,
) -> ApiVersion:
    """A new draft version; the OpenAPI document may come now or later (version_upload_spec).

    A version of another ``kind`` (AI models, prompt) has no upstreams and no uploaded document:
    the gateway node answers it, and the layer that owns it generates its document
    (version_store_generated_spec).
    """
    require(actor, Perm.APIS_EDIT)
    _check_owned(actor, api)
    if kind not in VersionKind.values:
        raise InvalidInput(f"Choose one of: {', '.join(VersionKind.values)}.", field="kind")
    if kind != VersionKind.REST and upstreams:
        raise InvalidInput("The gateway answers this kind of version itself: it has no upstreams.", field="upstreams")
    if kind != VersionKind.REST and openapi_document not in (None, "", b"", {}):
        raise InvalidInput("The OpenAPI document of this kind of version is generated.", field="openapi")
    label = validate_label(label)
    path = validate_base_path(base_path)
    targets = validate_upstreams(upstreams or [])
    connect = _timeout(connect_timeout_ms, "connect_timeout_ms")
    read = _timeout(read_timeout_ms, "read_timeout_ms")
    notes = _text(release_notes, field="release_notes", max_length=50_000, single_line=False)
    prepared = (
        _prepare_spec(openapi_document)
        if openapi_document is not None and openapi_document not in ("", b"", {})
        else None
    )
    check_version_label_free(api, label)
    check_base_path_free(path)
    version = ApiVersion(
        tenant=actor.tenant,
        api=api,
        label=label,
        base_path=path,
        kind=kind,
        upstreams=targets,
        connect_timeout_ms=connect,
        read_timeout_ms=read,
        release_notes=notes,
        release_notes_html=render_markdown(notes),
    )
    _save_version(version)
    audit_record(
        actor=actor, tenant=api.tenant, action="version.created", target=version, api=api, to_state=version.status
    )
    if prepared is not None:
        _apply_spec(actor, version, prepared)
    return version


#: The fields version_update accepts.
VERSION_UPDATE_FIELDS = frozenset(
    {"label", "base_path", "upstreams", "connect_timeout_ms", "read_timeout_ms", "release_notes"}
)


def _change_label(actor: Membership, version: ApiVersion, changes: dict[str, Any]) -> list[str]:
    if "label" not in changes or changes["label"] == version.label:
        return []
    if version.status != VersionStatus.DRAFT:
        raise Conflict("The label cannot change after publishing.", code="version_not_draft", field="label")
    version.label = validate_label(changes["label"])
    check_version_label_free(version.api, version.label, exclude_pk=version.pk)
    return ["label"]


def _change_base_path(version: ApiVersion, changes: dict[str, Any]) -> list[str]:
    if "base_path" not in changes:
        return []
    path = validate_base_path(changes["base_path"])
    if path == version.base_path:
        return []
    if version.status != VersionStatus.DRAFT:
        raise Conflict(
            "The base path cannot change after publishing: consumers call it. Create a new version instead.",
            code="version_not_draft",
            field="base_path",
        )
    check_base_path_free(path, exclude_pk=version.pk)
    version.base_path = path
    return ["base_path"]


def _change_upstreams(version: ApiVersion, changes: dict[str, Any]) -> list[str]:
    if "upstreams" not in changes:
        return []
    targets = validate_upstreams(changes["upstreams"])
    if targets and version.kind != VersionKind.REST:
        raise InvalidInput("The gateway answers this kind of version itself: it has no upstreams.", field="upstreams")
    if not targets and version.is_routed and version.kind == VersionKind.REST:
        raise Conflict("A live version needs at least one upstream.", code="no_upstream", field="upstreams")
    if targets == version.upstreams:
        return []
    version.upstreams = targets
    return ["upstreams"]


def _change_timeouts(version: ApiVersion, changes: dict[str, Any]) -> list[str]:
    changed = []
    for field in ("connect_timeout_ms", "read_timeout_ms"):
        if field in changes:
            value = _timeout(changes[field], field)
            if value != getattr(version, field):
                setattr(version, field, value)
                changed.append(field)
    return changed


def _change_release_notes(version: ApiVersion, changes: dict[str, Any]) -> list[str]:
    if "release_notes" not in changes:
        return []
    notes = _text(changes["release_notes"], field="release_notes", max_length=50_000, single_line=False)
    if notes == version.release_notes:
        return []
    version.release_notes = notes
    version.release_notes_html = render_markdown(notes)
    return ["release_notes"]


@transaction.atomic
def version_update(*, actor: Membership, version: ApiVersion, **changes: Any) -> ApiVersion:
    """Change routing settings or notes. Label and base path are fixed once published: consumers use them."""
    require(actor, Perm.APIS_EDIT)
    version = _lock_version(actor, version)
    reject_unknown_fields(changes, VERSION_UPDATE_FIELDS)
    if version.status == VersionStatus.RETIRED:
        raise Conflict("A retired version can no longer be changed.", code="version_retired")
    # Each step validates and applies one field, in this order (the first refusal wins).
    changed = [
        *_change_label(actor, version, changes),
        *_change_base_path(version, changes),
        *_change_upstreams(version, changes),
        *_change_timeouts(version, changes),
        *_change_release_notes(version, changes),
    ]
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
    """Replace the OpenAPI document (JSON or YAML) and re-extract the endpoints.

    Small documents are validated now (400 listing the problems); large ones are accepted as
    ``spec_status="processing"`` and validated by a Celery task, which records "failed" with
    the reason, or replaces the document. The previous document stays until then.
    """
    require(actor, Perm.APIS_EDIT)
    if version.kind != VersionKind.REST:  # before parsing: the upload is refused whatever it holds
        raise _spec_generated()
    prepared = _prepare_spec(document)
    version = _lock_version(actor, version)
    if version.status == VersionStatus.RETIRED:
        raise Conflict("A retired version can no longer be changed.", code="version_retired")
    if version.kind != VersionKind.REST:
        raise _spec_generated()
    _apply_spec(actor, version, prepared, note=_text(note, field="note", max_length=2000, single_line=False))
    return version


def _spec_generated() -> Conflict:
    return Conflict(
        "The OpenAPI document of this kind of version is generated; it cannot be uploaded.",
        code="spec_generated",
        field="openapi",
    )


def version_store_generated_spec(*, actor: Membership, version: ApiVersion, document: dict[str, Any]) -> ApiVersion:
    """Store the document a higher layer generated for a non-REST version, with its endpoints.

    The caller built ``document`` itself (no upload to distrust) and holds the version's lock;
    it is still validated, so a generator bug is a loud error rather than broken reference docs.
    """
    require(actor, Perm.APIS_EDIT)
    version = _lock_version(actor, version)
    if version.kind == VersionKind.REST:
        raise Conflict("A REST version's document is uploaded, not generated.", code="spec_uploaded")
    if version.status == VersionStatus.RETIRED:
        raise Conflict("A retired version can no longer be changed.", code="version_retired")
    openapi_version = openapi.validate(document)
    if document != version.spec:
        count = _store_spec(version, document, openapi_version)
        audit_record(
            actor=actor,
            tenant=version.tenant,
            action="version.spec_generated",
            target=version,
            api=version.api,
            note=f"OpenAPI {openapi_version}, {count} endpoints.",
        )
    return version


def _lock_processing(version_id: int, job: uuid.UUID) -> ApiVersion | None:
    """The version still waiting for upload ``job``, row-locked; None once a newer upload superseded it."""
    return (
        ApiVersion.objects.unscoped()
        .select_for_update()
        .select_related("api", "tenant")
        .filter(pk=version_id, spec_job=job, spec_status=SpecStatus.PROCESSING)
        .first()
    )


def _spec_failed(version_id: int, job: uuid.UUID, reason: str) -> str:
    with transaction.atomic():
        version = _lock_processing(version_id, job)
        if version is None:
            return "superseded"
        version.spec_status = SpecStatus.FAILED
        version.spec_error = reason[:5000]
        version.spec_pending = ""
        version.save(update_fields=["spec_status", "spec_error", "spec_pending"])
        audit_record(
            actor=None,
            tenant=version.tenant,
            action="version.spec_failed",
            target=version,
            api=version.api,
            note=reason[:2000],
        )
    return "failed"


def version_process_spec(*, version_id: int, job: uuid.UUID) -> str:
    """Validate a queued upload and store it (the Celery task's body); returns the outcome.

    Runs only for the upload identified by ``job``: a newer upload (or an inline one) makes
    it a no-op. Parsing and validation run outside any transaction, under a deadline of
    OPENAPI_TASK_SOFT_TIME_LIMIT seconds; any failure leaves the accepted ``spec`` untouched.
    """
    version = (
        ApiVersion.objects.unscoped()
        .filter(pk=version_id, spec_job=job, spec_status=SpecStatus.PROCESSING)
        .only("pk", "spec_pending", "status")
        .first()
    )
    if version is None:
        return "superseded"
    limit = settings.OPENAPI_TASK_SOFT_TIME_LIMIT
    try:
        with deadline(limit):
            document, openapi_version = openapi.load(version.spec_pending)
    except openapi.SpecInvalid as error:
        return _spec_failed(version_id, job, "\n".join(error.problems))
    except ServiceError as error:
        return _spec_failed(version_id, job, error.message)
    except (DeadlineExceeded, SoftTimeLimitExceeded):
        return _spec_failed(
            version_id, job, f"validation took longer than the {limit} s limit; split the document into smaller ones."
        )
    with transaction.atomic():
        version = _lock_processing(version_id, job)
        if version is None:
            return "superseded"
        if version.status == VersionStatus.RETIRED:
            return _spec_failed(version_id, job, "the version was retired while its document was being validated.")
        count = _store_spec(version, document, openapi_version)
        audit_record(
            actor=None,
            tenant=version.tenant,
            action="version.spec_uploaded",
            target=version,
            api=version.api,
            note=f"OpenAPI {openapi_version}, {count} endpoints (validated in the background).",
        )
    return "ready"


def version_sweep_specs() -> int:
    """Safety net for uploads stuck in "processing" (broker down at upload, worker killed).

    Re-queues those older than the task's hard time limit; marks "failed" those older than
    three times that. Returns how many were re-queued.
    """
    grace = timedelta(seconds=settings.OPENAPI_TASK_TIME_LIMIT + 60)
    now = timezone.now()
    stuck = ApiVersion.objects.unscoped().filter(spec_status=SpecStatus.PROCESSING, spec_submitted_at__lt=now - grace)
    requeued = 0
    for version_id, job, submitted in stuck.values_list("pk", "spec_job", "spec_submitted_at"):
        if submitted < now - 3 * grace:
            _spec_failed(version_id, job, "validation did not finish (the worker stopped); upload the document again.")
        else:
            _enqueue_spec(version_id, job)
            requeued += 1
    return requeued


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
    if version.kind != VersionKind.REST:
        problem = kinds.publish_problem(version)
        if problem:
            raise Conflict(problem, code="not_ready")
    elif not version.upstreams:
        raise Conflict(
            "Add at least one upstream target before publishing: the gateway needs somewhere to send calls.",
            code="no_upstream",
            field="upstreams",
        )
    if version.spec is None and version.spec_status == SpecStatus.PROCESSING:
        raise Conflict(
            "The OpenAPI document is still being validated; publish once it is ready.",
            code="no_openapi",
            field="openapi",
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


def version_delete_refusal(version: ApiVersion) -> Conflict | None:
    """Why ``version`` cannot be deleted (the 409 to raise), or None when it can.

    A version that has (or had) a subscription of any status is kept for ever: it is retired
    instead (docs/decisions.md). Otherwise drafts and retired versions may go.
    """
    if protected_dependents(version):
        if version.status == VersionStatus.RETIRED:
            advice = "It stays retired: subscribers and their history still refer to it."
        elif version.status == VersionStatus.DRAFT:
            advice = "Keep the draft, or publish and later retire it."
        else:
            advice = "Retire the version instead: gateways stop routing it, its history stays."
        return Conflict(
            f"Version {version.label} has subscription history and cannot be deleted. {advice}",
            code="has_subscriptions",
        )
    if version.is_routed:
        return Conflict(f"Version {version.label} is live; retire it before deleting it.", code="version_live")
    return None


@transaction.atomic
def version_delete(*, actor: Membership, version: ApiVersion) -> None:
    """Drafts and retired versions nobody ever subscribed to; otherwise 409 (retire instead)."""
    require(actor, Perm.APIS_EDIT)
    version = _lock_version(actor, version)
    refusal = version_delete_refusal(version)
    if refusal is not None:
        raise refusal
    audit_record(
        actor=actor,
        tenant=version.tenant,
        action="version.deleted",
        target=version,
        api=version.api,
        from_state=version.status,
    )
    try:
        with transaction.atomic():
            version.delete()
    except ProtectedError:
        raise Conflict(
            f"Version {version.label} has subscription history and cannot be deleted. Retire the version instead.",
            code="has_subscriptions",
        ) from None
