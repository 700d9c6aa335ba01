"""Every write about applications, subscriptions and API keys, plus the key verification service."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from apis.models import Api, ApiVersion, Plan, PlanStatus, VersionStatus
from notifications.services import notify_users, webhook_event_emit
from portal.crypto import make_prefixed_token, secret_matches, split_prefixed_token
from portal.errors import Conflict, Forbidden, InvalidInput, NotFound
from subscriptions.models import (
    LIVE_STATUSES,
    ApiKey,
    Application,
    Subscription,
    SubscriptionEvent,
    SubscriptionStatus,
)
from tenants.models import Membership, Tenant, User
from tenants.permissions import can, require
from tenants.roles import Perm, Role

S = SubscriptionStatus
#: Writing last_used_at on every verification would turn reads into writes; once a minute is plenty.
KEY_LAST_USED_RESOLUTION = timedelta(seconds=60)
MAX_BULK_DECISIONS = 200


@dataclass(frozen=True)
class StaffActor:
    """Platform staff deciding from the global queue: not a member of the provider."""

    user: User


Actor = Membership | StaffActor


# --- Helpers -------------------------------------------------------------------------


def _text(value: str | None, *, field: str, max_length: int, required: bool = False, label: str = "") -> str:
    value = (value or "").strip()
    if required and not value:
        raise InvalidInput(label or "This field is required.", field=field)
    if len(value) > max_length:
        raise InvalidInput(f"At most {max_length} characters.", field=field)
    return value


def plan_limits(plan: Plan) -> dict[str, int | None]:
    return {name: getattr(plan, name) for name in Plan.LIMIT_FIELDS}


def _subscription_url(tenant: Tenant, subscription: Subscription) -> str:
    return reverse("subscriptions:subscription", args=[tenant.slug, subscription.pk])


def _subscription_data(subscription: Subscription) -> dict[str, Any]:
    """The ``data`` of subscription.* webhook events and what e-mails talk about."""
    return {
        "id": subscription.pk,
        "status": subscription.status,
        "application": {"id": subscription.application_id, "name": subscription.application.name},
        "consumer": subscription.consumer_tenant.slug,
        "provider": subscription.provider_tenant.slug,
        "api": {"id": subscription.api_id, "name": subscription.api.name},
        "version": {"id": subscription.version_id, "label": subscription.version.label},
        "plan": {"id": subscription.plan_id, "name": subscription.plan.name, "limits": plan_limits(subscription.plan)},
        "requested_plan": (
            {"id": subscription.requested_plan_id, "name": subscription.requested_plan.name}
            if subscription.requested_plan_id
            else None
        ),
        "reason": subscription.reason,
    }


def _record(
    subscription: Subscription,
    *,
    user: User | None,
    action: str,
    from_state: str = "",
    to_state: str = "",
    note: str = "",
) -> SubscriptionEvent:
    """Audit one change and publish it to both tenants' webhooks."""
    event = SubscriptionEvent.objects.create(
        consumer_tenant=subscription.consumer_tenant,
        provider_tenant=subscription.provider_tenant,
        subscription=subscription,
        actor=user,
        actor_email=user.email if user else "",
        action=action,
        from_state=from_state,
        to_state=to_state,
        note=note,
    )
    data = {**_subscription_data(subscription), "actor": event.actor_email or None, "note": note}
    tenants = {subscription.consumer_tenant_id: subscription.consumer_tenant}
    tenants[subscription.provider_tenant_id] = subscription.provider_tenant
    for tenant in tenants.values():
        webhook_event_emit(tenant=tenant, event=action, data=data)
    return event


def _provider_admins(tenant: Tenant) -> list[User]:
    members = Membership.objects.for_tenant(tenant).filter(role__in=[Role.OWNER, Role.ADMIN]).select_related("user")
    return [m.user for m in members]


def _consumer_contacts(subscription: Subscription, requester: User | None = None) -> list[User]:
    """Who hears about decisions: the requester if still a member, else the consumer's admins."""
    user = requester or subscription.requested_by
    if user is not None and Membership.objects.for_tenant(subscription.consumer_tenant).filter(user=user).exists():
        return [user]
    return _provider_admins(subscription.consumer_tenant)


def _tell_provider(subscription: Subscription, *, kind: str, title: str, body: str) -> None:
    tenant = subscription.provider_tenant
    notify_users(
        tenant=tenant,
        users=_provider_admins(tenant),
        kind=kind,
        title=title,
        body=body,
        url=_subscription_url(tenant, subscription),
    )


def _tell_consumer(
    subscription: Subscription, *, kind: str, title: str, body: str, requester: User | None = None
) -> None:
    tenant = subscription.consumer_tenant
    notify_users(
        tenant=tenant,
        users=_consumer_contacts(subscription, requester),
        kind=kind,
        title=title,
        body=body,
        url=_subscription_url(tenant, subscription),
    )


def _lock(subscription: Subscription) -> Subscription:
    return (
        Subscription.objects.unscoped()
        .select_for_update(of=("self",))
        .select_related("application", "api", "version", "plan", "requested_plan", "consumer_tenant", "provider_tenant")
        .get(pk=subscription.pk)
    )


def _user(actor: Actor) -> User:
    return actor.user


def _require_consumer(actor: Membership, subscription: Subscription) -> None:
    if subscription.consumer_tenant_id != actor.tenant_id:
        raise NotFound("No such subscription.")
    require(actor, Perm.APPS_EDIT)


def _require_provider(actor: Actor, subscription: Subscription) -> None:
    if isinstance(actor, StaffActor):
        if not actor.user.is_staff:
            raise Forbidden("Only platform staff may decide requests of other organisations.")
        return
    if subscription.provider_tenant_id != actor.tenant_id:
        raise NotFound("No such subscription.")
    require(actor, Perm.SUBSCRIPTIONS_APPROVE)


# --- Applications --------------------------------------------------------------------


def _validate_application(name: str, description: str, contact_email: str) -> dict[str, str]:
    contact_email = _text(contact_email, field="contact_email", max_length=254)
    if contact_email and "@" not in contact_email:
        raise InvalidInput("Enter a valid e-mail address.", field="contact_email")
    return {
        "name": _text(name, field="name", max_length=100, required=True, label="Give the application a name."),
        "description": _text(description, field="description", max_length=5000),
        "contact_email": contact_email,
    }


@transaction.atomic
def application_create(*, actor: Membership, name: str, description: str = "", contact_email: str = "") -> Application:
    require(actor, Perm.APPS_EDIT)
    values = _validate_application(name, description, contact_email)
    if Application.objects.for_tenant(actor.tenant).filter(name__iexact=values["name"]).exists():
        raise Conflict(f"An application named “{values['name']}” already exists.", code="name_taken", field="name")
    try:
        with transaction.atomic():
            return Application.objects.create(tenant=actor.tenant, created_by=actor.user, **values)
    except IntegrityError:
        raise Conflict(
            f"An application named “{values['name']}” already exists.", code="name_taken", field="name"
        ) from None


@transaction.atomic
def application_update(
    *,
    actor: Membership,
    application: Application,
    name: str | None = None,
    description: str | None = None,
    contact_email: str | None = None,
) -> Application:
    require(actor, Perm.APPS_EDIT)
    application = Application.objects.for_tenant(actor.tenant).select_for_update().get(pk=application.pk)
    values = _validate_application(
        application.name if name is None else name,
        application.description if description is None else description,
        application.contact_email if contact_email is None else contact_email,
    )
    clash = Application.objects.for_tenant(actor.tenant).filter(name__iexact=values["name"]).exclude(pk=application.pk)
    if clash.exists():
        raise Conflict(f"An application named “{values['name']}” already exists.", code="name_taken", field="name")
    for key, value in values.items():
        setattr(application, key, value)
    application.save()
    return application


# --- Subscriptions: consumer side ----------------------------------------------------


def _offered_plan(actor: Membership, plan_id: int | Plan) -> Plan:
    """The plan if the actor's tenant may see its API; hidden and archived plans are refused."""
    pk = plan_id.pk if isinstance(plan_id, Plan) else plan_id
    plan = Plan.objects.unscoped().select_related("api", "tenant").filter(pk=pk).first()
    visible = (
        plan is not None
        and Api.objects.visible_to(actor.user, tenant_ids=[actor.tenant_id]).filter(pk=plan.api_id).exists()
    )
    if not visible:
        # Invisible and unknown look the same: nobody learns which private plans exist.
        raise InvalidInput("No such plan.", code="plan_not_found", field="plan")
    if plan.status != PlanStatus.ACTIVE:
        raise InvalidInput("This plan is archived and takes no new subscriptions.", code="plan_archived", field="plan")
    if not plan.is_public and plan.tenant_id != actor.tenant_id:
        raise InvalidInput(
            "This plan is not offered publicly; ask the provider to grant it.", code="plan_hidden", field="plan"
        )
    return plan


def _subscribable_version(plan: Plan, version_id: int | None) -> ApiVersion:
    versions = ApiVersion.objects.for_tenant(plan.tenant).filter(api=plan.api)
    if version_id is None:
        version = versions.filter(status=VersionStatus.PUBLISHED).order_by("-published_at", "-created_at").first()
        if version is None:
            raise InvalidInput(
                "This API has no published version to subscribe to.", code="no_published_version", field="version"
            )
        return version
    version = versions.filter(pk=version_id).first()
    if version is None or version.status == VersionStatus.DRAFT:
        # A draft is invisible to consumers: same answer as an unknown id.
        raise InvalidInput(
            "This version is not published; subscribe to a published version.",
            code="version_not_published",
            field="version",
        )
    if version.status == VersionStatus.RETIRED:
        raise InvalidInput(
            "This version is retired and takes no subscriptions.", code="version_retired", field="version"
        )
    if version.status == VersionStatus.DEPRECATED:
        raise InvalidInput(
            "This version is deprecated and takes no new subscriptions; pick a newer one.",
            code="version_deprecated",
            field="version",
        )
    return version


@transaction.atomic
def subscription_request(
    *,
    actor: Membership,
    application: Application,
    plan: Plan | int,
    use_case: str = "",
    version: int | None = None,
) -> Subscription:
    """Ask for access; plans without approval become active at once."""
    require(actor, Perm.APPS_EDIT)
    if application.tenant_id != actor.tenant_id:
        raise NotFound("No such application.", field="application")
    plan = _offered_plan(actor, plan)
    api_version = _subscribable_version(plan, version)
    use_case = _text(use_case, field="use_case", max_length=5000)
    if plan.approval_required and not use_case:
        raise InvalidInput("Tell the provider what you will use the API for.", field="use_case")
    # Lock the application so two concurrent requests cannot both pass the duplicate check.
    Application.objects.for_tenant(actor.tenant).select_for_update().get(pk=application.pk)
    existing = Subscription.objects.for_consumer(actor.tenant).live().filter(application=application, api=plan.api)
    current = existing.first()
    if current is not None:
        hint = (
            "a request is already waiting for a decision"
            if current.status == S.PENDING
            else f"it is already subscribed ({current.get_status_display().lower()}); request a plan change instead"
        )
        raise Conflict(
            f"{application.name} cannot subscribe to {plan.api.name} again: {hint}.", code="already_subscribed"
        )
    now = timezone.now()
    approved = not plan.approval_required
    subscription = Subscription.objects.create(
        consumer_tenant=actor.tenant,
        provider_tenant=plan.tenant,
        application=application,
        api=plan.api,
        version=api_version,
        plan=plan,
        status=S.ACTIVE if approved else S.PENDING,
        use_case=use_case,
        requested_by=actor.user,
        awaiting_since=None if approved else now,
        decided_at=now if approved else None,
    )
    if approved:
        _record(subscription, user=actor.user, action="subscription.approved", to_state=S.ACTIVE, note="Automatic")
    else:
        _record(subscription, user=actor.user, action="subscription.requested", to_state=S.PENDING, note=use_case)
        _tell_provider(
            subscription,
            kind="subscription.requested",
            title=f"{actor.tenant.name} requests {plan.api.name} ({plan.name})",
            body=(
                f"{actor.user.email} of {actor.tenant.name} asks to subscribe the application “{application.name}” "
                f"to {plan.api.name} {api_version.label} on the plan {plan.name}.\n\nUse case: {use_case}"
            ),
        )
    return subscription


@transaction.atomic
def subscription_cancel(*, actor: Membership, subscription: Subscription, reason: str = "") -> Subscription:
    """End a live subscription; either side may do it (consumer: apps.edit, provider: approvers)."""
    subscription = _lock(subscription)
    as_consumer = subscription.consumer_tenant_id == actor.tenant_id and can(actor, Perm.APPS_EDIT)
    if not as_consumer:
        if subscription.provider_tenant_id == actor.tenant_id:
            _require_provider(actor, subscription)
        else:
            _require_consumer(actor, subscription)  # 404 for strangers, 403 for the consumer's viewers
    reason = _text(reason, field="reason", max_length=2000)
    if not subscription.is_live:
        raise Conflict(f"This subscription is already {subscription.status}.", code="already_decided")
    old = subscription.status
    subscription.status = S.CANCELLED
    subscription.reason = reason
    subscription.awaiting_since = None
    subscription.requested_plan = None
    subscription.ended_at = timezone.now()
    subscription.save()
    _record(
        subscription,
        user=actor.user,
        action="subscription.cancelled",
        from_state=old,
        to_state=S.CANCELLED,
        note=reason,
    )
    if not as_consumer:
        _tell_consumer(
            subscription,
            kind="subscription.cancelled",
            title=f"{subscription.api.name}: your subscription was cancelled",
            body=f"{subscription.provider_tenant.name} cancelled the subscription of “{subscription.application.name}”."
            + (f"\n\nReason: {reason}" if reason else ""),
        )
    return subscription


@transaction.atomic
def subscription_change_plan(
    *, actor: Membership, subscription: Subscription, plan: Plan | int, note: str = ""
) -> Subscription:
    """Move an active subscription to another plan of the same API; keys are untouched.

    A plan that needs approval becomes a plan-change request: the subscription stays on the
    old plan until the provider decides.
    """
    subscription = _lock(subscription)
    _require_consumer(actor, subscription)
    new_plan = _offered_plan(actor, plan)
    note = _text(note, field="note", max_length=5000)
    if subscription.status != S.ACTIVE:
        raise Conflict(f"Only active subscriptions change plans; this one is {subscription.status}.", code="not_active")
    if new_plan.api_id != subscription.api_id:
        raise InvalidInput("Pick a plan of the same API.", code="plan_other_api", field="plan")
    if new_plan.pk == subscription.plan_id:
        raise InvalidInput("The subscription is already on this plan.", code="same_plan", field="plan")
    if subscription.requested_plan_id:
        raise Conflict(
            f"A change to {subscription.requested_plan.name} is already waiting for a decision.",
            code="plan_change_pending",
        )
    if not new_plan.approval_required:
        old_name = subscription.plan.name
        subscription.plan = new_plan
        subscription.save()
        _record(subscription, user=actor.user, action="subscription.plan_changed", note=f"{old_name} → {new_plan.name}")
        return subscription
    subscription.requested_plan = new_plan
    subscription.plan_change_note = note
    subscription.plan_change_requested_by = actor.user
    subscription.awaiting_since = timezone.now()
    subscription.save()
    _record(
        subscription,
        user=actor.user,
        action="subscription.plan_change_requested",
        note=f"{subscription.plan.name} → {new_plan.name}" + (f": {note}" if note else ""),
    )
    _tell_provider(
        subscription,
        kind="subscription.plan_change_requested",
        title=f"{actor.tenant.name} asks to move {subscription.api.name} to {new_plan.name}",
        body=f"“{subscription.application.name}” asks to move from {subscription.plan.name} to {new_plan.name}."
        + (f"\n\n{note}" if note else ""),
    )
    return subscription


# --- Subscriptions: provider side ----------------------------------------------------


def _decide(actor: Actor, subscription: Subscription, *, approve: bool, reason: str) -> Subscription:
    subscription = _lock(subscription)
    _require_provider(actor, subscription)
    user = _user(actor)
    reason = _text(reason, field="reason", max_length=2000)
    if not approve and not reason:
        raise InvalidInput("Give a reason; the requester will see it.", field="reason")
    kind = subscription.request_kind
    if kind is None:
        raise Conflict("This request has already been decided.", code="already_decided")
    now = timezone.now()
    subscription.awaiting_since = None
    if kind == "subscription":
        old = subscription.status
        subscription.status = S.ACTIVE if approve else S.REJECTED
        subscription.reason = "" if approve else reason
        subscription.decided_at = now
        subscription.decided_by = user
        if not approve:
            subscription.ended_at = now
        subscription.save()
        action = "subscription.approved" if approve else "subscription.rejected"
        _record(subscription, user=user, action=action, from_state=old, to_state=subscription.status, note=reason)
        if approve:
            title = f"{subscription.api.name}: your subscription was approved"
            body = (
                f"{subscription.provider_tenant.name} approved “{subscription.application.name}” for "
                f"{subscription.api.name} {subscription.version.label} on the plan {subscription.plan.name}. "
                "You can now create API keys for the application."
            )
        else:
            title = f"{subscription.api.name}: your subscription request was rejected"
            body = (
                f"{subscription.provider_tenant.name} rejected the request of “{subscription.application.name}”."
                f"\n\nReason: {reason}"
            )
        _tell_consumer(subscription, kind=action, title=title, body=body)
        return subscription
    # A plan-change request: the subscription itself stays active either way.
    requested = subscription.requested_plan
    requester = subscription.plan_change_requested_by
    old_plan = subscription.plan
    if approve:
        subscription.plan = requested
    subscription.requested_plan = None
    subscription.plan_change_note = ""
    subscription.plan_change_requested_by = None
    subscription.save()
    action = "subscription.plan_changed" if approve else "subscription.plan_change_rejected"
    summary = f"{old_plan.name} → {requested.name}"
    _record(subscription, user=user, action=action, note=summary + (f": {reason}" if reason else ""))
    verb = "approved" if approve else "rejected"
    _tell_consumer(
        subscription,
        kind=action,
        title=f"{subscription.api.name}: plan change {verb}",
        body=f"{subscription.provider_tenant.name} {verb} the move of “{subscription.application.name}” "
        f"from {old_plan.name} to {requested.name}." + (f"\n\nReason: {reason}" if reason else ""),
        requester=requester,
    )
    return subscription


@transaction.atomic
def subscription_approve(*, actor: Actor, subscription: Subscription, note: str = "") -> Subscription:
    return _decide(actor, subscription, approve=True, reason=note)


@transaction.atomic
def subscription_reject(*, actor: Actor, subscription: Subscription, reason: str) -> Subscription:
    return _decide(actor, subscription, approve=False, reason=reason)


@transaction.atomic
def subscriptions_bulk_decide(
    *, actor: Actor, subscription_ids: list[int], approve: bool, reason: str = ""
) -> tuple[list[Subscription], dict[int, str]]:
    """Decide many requests at once; returns (decided, {id: why it was skipped})."""
    ids = sorted({int(i) for i in subscription_ids})
    if not ids:
        raise InvalidInput("Select at least one request.", field="ids")
    if len(ids) > MAX_BULK_DECISIONS:
        raise InvalidInput(f"At most {MAX_BULK_DECISIONS} requests at a time.", field="ids")
    if not approve and not (reason or "").strip():
        raise InvalidInput("Give a reason; the requesters will see it.", field="reason")
    if isinstance(actor, Membership):
        require(actor, Perm.SUBSCRIPTIONS_APPROVE)
        visible = Subscription.objects.for_provider(actor.tenant)
    else:
        if not actor.user.is_staff:
            raise Forbidden("Only platform staff may decide requests of other organisations.")
        visible = Subscription.objects.unscoped()
    # Locks are taken in primary-key order (``ids`` is sorted) so two bulk runs cannot deadlock.
    found = {s.pk: s for s in visible.filter(pk__in=ids)}
    decided, skipped = [], {}
    for pk in ids:
        if pk not in found:
            skipped[pk] = "No such request."
            continue
        try:
            with transaction.atomic():
                decided.append(_decide(actor, found[pk], approve=approve, reason=reason))
        except (Conflict, InvalidInput, NotFound) as error:
            skipped[pk] = error.message
    return decided, skipped


@transaction.atomic
def subscription_suspend(*, actor: Actor, subscription: Subscription, reason: str) -> Subscription:
    subscription = _lock(subscription)
    _require_provider(actor, subscription)
    reason = _text(reason, field="reason", max_length=2000, required=True, label="Give a reason for the suspension.")
    if subscription.status != S.ACTIVE:
        raise Conflict(
            f"Only active subscriptions can be suspended; this one is {subscription.status}.", code="not_active"
        )
    subscription.status = S.SUSPENDED
    subscription.reason = reason
    subscription.save()
    user = _user(actor)
    _record(
        subscription, user=user, action="subscription.suspended", from_state=S.ACTIVE, to_state=S.SUSPENDED, note=reason
    )
    _tell_consumer(
        subscription,
        kind="subscription.suspended",
        title=f"{subscription.api.name}: your subscription was suspended",
        body=f"{subscription.provider_tenant.name} suspended “{subscription.application.name}”; its calls to "
        f"{subscription.api.name} are refused until it is resumed.\n\nReason: {reason}",
    )
    return subscription


@transaction.atomic
def subscription_resume(*, actor: Actor, subscription: Subscription, note: str = "") -> Subscription:
    subscription = _lock(subscription)
    _require_provider(actor, subscription)
    note = _text(note, field="note", max_length=2000)
    if subscription.status != S.SUSPENDED:
        raise Conflict(
            f"Only suspended subscriptions can be resumed; this one is {subscription.status}.", code="not_suspended"
        )
    subscription.status = S.ACTIVE
    subscription.reason = ""
    subscription.save()
    user = _user(actor)
    _record(
        subscription, user=user, action="subscription.resumed", from_state=S.SUSPENDED, to_state=S.ACTIVE, note=note
    )
    _tell_consumer(
        subscription,
        kind="subscription.resumed",
        title=f"{subscription.api.name}: your subscription was resumed",
        body=f"“{subscription.application.name}” may call {subscription.api.name} again.",
    )
    return subscription


# --- Version lifecycle (deprecation notices, retirement) -----------------------------


def subscriptions_sync_lifecycle() -> dict[str, int]:
    """Tell subscribers of deprecated versions (once) and end subscriptions of retired versions.

    The catalog owns version transitions and must not import this app (imports flow one
    way), so a periodic sweep catches up instead of a callback. Idempotent.
    """
    notified = ended = 0
    deprecated = (
        Subscription.objects.unscoped()
        .filter(status=S.ACTIVE, version__status=VersionStatus.DEPRECATED, deprecation_notified_at__isnull=True)
        .values_list("pk", flat=True)
    )
    for pk in list(deprecated[:1000]):
        with transaction.atomic():
            subscription = _lock(Subscription(pk=pk))
            if subscription.deprecation_notified_at or subscription.version.status != VersionStatus.DEPRECATED:
                continue
            subscription.deprecation_notified_at = timezone.now()
            subscription.save(update_fields=["deprecation_notified_at"])
            sunset = subscription.version.sunset_date
            note = f"Sunset on {sunset:%Y-%m-%d}." if sunset else ""
            _record(subscription, user=None, action="subscription.deprecated", note=note)
            _tell_consumer(
                subscription,
                kind="subscription.deprecated",
                title=f"{subscription.api.name} {subscription.version.label} is deprecated",
                body=f"{subscription.api.name} {subscription.version.label}, used by "
                f"“{subscription.application.name}”, is deprecated. It keeps working until it is retired. "
                f"{note} Move to a newer version in time.",
            )
            notified += 1
    retired = (
        Subscription.objects.unscoped()
        .filter(status__in=LIVE_STATUSES, version__status=VersionStatus.RETIRED)
        .values_list("pk", flat=True)
    )
    for pk in list(retired[:1000]):
        with transaction.atomic():
            subscription = _lock(Subscription(pk=pk))
            if not subscription.is_live or subscription.version.status != VersionStatus.RETIRED:
                continue
            old = subscription.status
            subscription.status = S.CANCELLED
            subscription.reason = f"{subscription.api.name} {subscription.version.label} was retired."
            subscription.awaiting_since = None
            subscription.requested_plan = None
            subscription.ended_at = timezone.now()
            subscription.save()
            _record(
                subscription,
                user=None,
                action="subscription.ended",
                from_state=old,
                to_state=S.CANCELLED,
                note=subscription.reason,
            )
            _tell_consumer(
                subscription,
                kind="subscription.ended",
                title=f"{subscription.api.name} {subscription.version.label} was retired",
                body=f"The subscription of “{subscription.application.name}” ended because "
                f"{subscription.api.name} {subscription.version.label} was retired.",
            )
            ended += 1
    return {"notified": notified, "ended": ended}


# --- API keys ------------------------------------------------------------------------


def _key_event(key: ApiKey, event: str, user: User | None, **extra: Any) -> None:
    data = {
        "id": key.pk,
        "key_id": key.key_id,
        "name": key.name,
        "application": {"id": key.application_id, "name": key.application.name},
        "status": key.status,
        "expires_at": key.expires_at,
        "actor": user.email if user else None,
        **extra,
    }
    webhook_event_emit(tenant=key.tenant, event=event, data=data)


def _check_key_room(application: Application) -> None:
    live = ApiKey.objects.for_tenant(application.tenant).live().filter(application=application).count()
    if live >= settings.MAX_KEYS_PER_APPLICATION:
        raise Conflict(
            f"“{application.name}” already has {live} live keys (the limit). Revoke one first.", code="key_limit"
        )


def _new_key(actor: Membership, application: Application, name: str, expires_at: datetime | None) -> tuple[ApiKey, str]:
    plaintext, key_id, secret = make_prefixed_token(ApiKey.PREFIX)
    key = ApiKey(
        tenant=application.tenant, application=application, name=name, expires_at=expires_at, created_by=actor.user
    )
    key.set_secret(key_id, secret)
    key.save()
    return key, plaintext


@transaction.atomic
def key_create(
    *, actor: Membership, application: Application, name: str, expires_at: datetime | None = None
) -> tuple[ApiKey, str]:
    """Create a key; the plaintext is returned here and never again."""
    require(actor, Perm.APPS_EDIT)
    if application.tenant_id != actor.tenant_id:
        raise NotFound("No such application.", field="application")
    application = Application.objects.for_tenant(actor.tenant).select_for_update().get(pk=application.pk)
    name = _text(name, field="name", max_length=100, required=True, label="Give the key a name.")
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidInput("The expiry must be in the future.", field="expires_at")
    if not Subscription.objects.for_consumer(actor.tenant).filter(application=application, status=S.ACTIVE).exists():
        raise Conflict(
            f"“{application.name}” has no active subscription yet; keys are created once one is approved.",
            code="no_active_subscription",
        )
    _check_key_room(application)
    key, plaintext = _new_key(actor, application, name, expires_at)
    _key_event(key, "key.created", actor.user)
    return key, plaintext


@transaction.atomic
def key_rotate(
    *, actor: Membership, key: ApiKey, grace: timedelta = timedelta(0), name: str | None = None
) -> tuple[ApiKey, str]:
    """Replace a key: the new one works at once, the old one keeps working for ``grace``."""
    require(actor, Perm.APPS_EDIT)
    key = ApiKey.objects.for_tenant(actor.tenant).select_for_update().select_related("application").get(pk=key.pk)
    max_grace = timedelta(hours=settings.MAX_KEY_ROTATION_GRACE_HOURS)
    if grace < timedelta(0) or grace > max_grace:
        raise InvalidInput(
            f"The grace period must be between 0 hours and {settings.MAX_KEY_ROTATION_GRACE_HOURS} hours.",
            field="grace_hours",
        )
    if key.status == "revoked":
        raise Conflict("A revoked key cannot be rotated; create a new key instead.", code="key_revoked")
    if key.status == "expired":
        raise Conflict("An expired key cannot be rotated; create a new key instead.", code="key_expired")
    if key.replaced_by_id:
        raise Conflict("This key was already rotated; rotate its replacement instead.", code="key_rotated")
    application = Application.objects.for_tenant(actor.tenant).select_for_update().get(pk=key.application_id)
    # The old key counts against the limit only until its grace ends; the new one replaces it.
    live = ApiKey.objects.for_tenant(actor.tenant).live().filter(application=application).exclude(pk=key.pk).count()
    if live >= settings.MAX_KEYS_PER_APPLICATION:
        raise Conflict(f"“{application.name}” already has {live + 1} live keys (the limit).", code="key_limit")
    now = timezone.now()
    new_name = _text(name, field="name", max_length=100) or key.name
    new_key, plaintext = _new_key(actor, application, new_name, key.expires_at)
    grace_end = now + grace
    key.expires_at = grace_end if key.expires_at is None else min(key.expires_at, grace_end)
    key.rotated_at = now
    key.replaced_by = new_key
    key.save(update_fields=["expires_at", "rotated_at", "replaced_by"])
    _key_event(key, "key.rotated", actor.user, replaced_by=new_key.key_id, grace_ends_at=key.expires_at)
    _key_event(new_key, "key.created", actor.user, replaces=key.key_id)
    return new_key, plaintext


@transaction.atomic
def key_revoke(*, actor: Membership, key: ApiKey) -> ApiKey:
    """Refuse the key from now on (idempotent)."""
    require(actor, Perm.APPS_EDIT)
    key = ApiKey.objects.for_tenant(actor.tenant).select_for_update().select_related("application").get(pk=key.pk)
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        _key_event(key, "key.revoked", actor.user)
    return key


# --- Key verification (what gateways ask) --------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """The answer to "may this key call this base path?"; ``reason`` is set when denied."""

    allowed: bool
    reason: str | None = None
    key_id: str | None = None
    application_id: int | None = None
    consumer_tenant_id: int | None = None
    subscription_id: int | None = None
    api_id: int | None = None
    api_version_id: int | None = None
    plan_id: int | None = None
    limits: dict[str, int | None] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "reason": self.reason,
            "key_id": self.key_id,
            "application_id": self.application_id,
            "consumer_tenant_id": self.consumer_tenant_id,
            "subscription_id": self.subscription_id,
            "api_id": self.api_id,
            "api_version_id": self.api_version_id,
            "plan_id": self.plan_id,
            "limits": self.limits,
        }


#: Reason codes, in the order they are checked.
DENY_REASONS = (
    "unknown_key",
    "revoked",
    "expired",
    "api_retired",
    "no_subscription",
    "subscription_pending",
    "subscription_suspended",
)


def key_verify(*, presented_key: str, base_path: str) -> Verdict:
    """Decide whether ``presented_key`` may call the API version routed at ``base_path``.

    One indexed lookup by key id, one SHA-256 and a constant-time compare; no password hasher.
    """
    parts = split_prefixed_token(presented_key or "", ApiKey.PREFIX)
    if parts is None:
        return Verdict(False, "unknown_key")
    key_id, secret = parts
    key = ApiKey.objects.unscoped().filter(key_id=key_id).first()
    if key is None or not secret_matches(secret, key.key_hash):
        return Verdict(False, "unknown_key")
    who = {"key_id": key.key_id, "application_id": key.application_id, "consumer_tenant_id": key.tenant_id}
    status = key.status
    if status != "active":
        return Verdict(False, status, **who)
    version = ApiVersion.objects.unscoped().filter(base_path=base_path).first()
    if version is None or version.status == VersionStatus.DRAFT:
        return Verdict(False, "no_subscription", **who)
    if version.status == VersionStatus.RETIRED:
        return Verdict(False, "api_retired", api_id=version.api_id, api_version_id=version.pk, **who)
    subscription = (
        Subscription.objects.unscoped()
        .select_related("plan")
        .filter(application_id=key.application_id, api_id=version.api_id, status__in=LIVE_STATUSES)
        .first()
    )
    where = {"api_id": version.api_id, "api_version_id": version.pk}
    if subscription is None or subscription.version_id != version.pk:
        return Verdict(False, "no_subscription", **where, **who)
    sub = {"subscription_id": subscription.pk, "plan_id": subscription.plan_id}
    if subscription.status == S.PENDING:
        return Verdict(False, "subscription_pending", **sub, **where, **who)
    if subscription.status == S.SUSPENDED:
        return Verdict(False, "subscription_suspended", **sub, **where, **who)
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > KEY_LAST_USED_RESOLUTION:
        ApiKey.objects.for_tenant(key.tenant_id).filter(pk=key.pk).update(last_used_at=now)
    return Verdict(True, None, limits=plan_limits(subscription.plan), **sub, **where, **who)


__all__ = [
    "DENY_REASONS",
    "StaffActor",
    "Verdict",
    "application_create",
    "application_update",
    "key_create",
    "key_revoke",
    "key_rotate",
    "key_verify",
    "subscription_approve",
    "subscription_cancel",
    "subscription_change_plan",
    "subscription_reject",
    "subscription_request",
    "subscription_resume",
    "subscription_suspend",
    "subscriptions_bulk_decide",
    "subscriptions_sync_lifecycle",
]
