"""The consumer side: request, cancel, change plan."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from apis.models import ApiVersion, Plan, VersionStatus
from core.errors import Conflict, InvalidInput, NotFound
from core.validators import clean_text as _text
from subscriptions.models import (
    Application,
    Subscription,
)
from subscriptions.selectors import offerable_plans
from subscriptions.services.common import (
    S,
    _lock,
    _record,
    _require_consumer,
    _require_provider,
    _tell_consumer,
    _tell_provider,
    resolve_request_notices,
)
from tenants.models import Membership
from tenants.ownership import get_owned
from tenants.permissions import can, require
from tenants.roles import Perm

# --- Subscriptions: consumer side ----------------------------------------------------


def _offered_plan(actor: Membership, plan_id: int | Plan) -> Plan:
    """The plan if it is offered to the actor's tenant (see ``offerable_plans``).

    Private, hidden, archived and unknown plans get the same 404: nobody learns that a plan
    exists unless they may subscribe to it.
    """
    pk = plan_id.pk if isinstance(plan_id, Plan) else plan_id
    plan = offerable_plans(actor.user, actor.tenant_id).filter(pk=pk).first()
    if plan is None:
        raise NotFound("No such plan.", code="plan_not_found", field="plan")
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
    use_case = _text(use_case, field="use_case", max_length=5000, single_line=False)
    if plan.approval_required and not use_case:
        raise InvalidInput("Tell the provider what you will use the API for.", field="use_case")
    _check_not_subscribed(actor, application, plan)
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
        _announce_request(actor, subscription)
    return subscription


def _check_not_subscribed(actor: Membership, application: Application, plan: Plan) -> None:
    """One live subscription per application and API (409 with what to do instead)."""
    # Lock the application so two concurrent requests cannot both pass the duplicate check.
    get_owned(actor, application, lock=True)
    existing = Subscription.objects.for_consumer(actor.tenant).live().filter(application=application, api=plan.api)
    current = existing.first()
    if current is None:
        return
    hint = (
        "a request is already waiting for a decision"
        if current.status == S.PENDING
        else f"it is already subscribed ({current.get_status_display().lower()}); request a plan change instead"
    )
    raise Conflict(f"{application.name} cannot subscribe to {plan.api.name} again: {hint}.", code="already_subscribed")


def _announce_request(actor: Membership, subscription: Subscription) -> None:
    """Record a request that needs approval and tell the provider's admins."""
    plan, use_case = subscription.plan, subscription.use_case
    _record(subscription, user=actor.user, action="subscription.requested", to_state=S.PENDING, note=use_case)
    _tell_provider(
        subscription,
        kind="subscription.requested",
        title=f"{actor.tenant.name} requests {plan.api.name} ({plan.name})",
        body=(
            f"{actor.user.email} of {actor.tenant.name} asks to subscribe the application "
            f"“{subscription.application.name}” to {plan.api.name} {subscription.version.label} on the plan "
            f"{plan.name}.\n\nUse case: {use_case}"
        ),
    )


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
    reason = _text(reason, field="reason", max_length=2000, single_line=False)
    if not subscription.is_live:
        raise Conflict(f"This subscription is already {subscription.status}.", code="already_decided")
    old = subscription.status
    if subscription.request_kind is not None:  # a request still waiting: the provider's notices say it is gone
        resolve_request_notices(subscription, f"Withdrawn: cancelled by {actor.user.email}")
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
    note = _text(note, field="note", max_length=5000, single_line=False)
    if subscription.status != S.ACTIVE:
        raise Conflict(f"Only active subscriptions change plans; this one is {subscription.status}.", code="not_active")
    if new_plan.api_id != subscription.api_id:
        raise InvalidInput("Pick a plan of the same API.", code="plan_other_api", field="plan")
    if new_plan.pk == subscription.plan_id:
        raise InvalidInput("The subscription is already on this plan.", code="same_plan", field="plan")
    if subscription.requested_plan is not None:
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
