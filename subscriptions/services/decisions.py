"""The provider side: approve, reject, bulk decide, suspend, resume."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from core.validators import clean_text as _text
from subscriptions.models import Subscription, SubscriptionQuerySet
from subscriptions.services.common import (
    MAX_BULK_DECISIONS,
    Actor,
    S,
    _lock,
    _record,
    _require_provider,
    _tell_consumer,
    _user,
    resolve_request_notices,
)
from tenants.models import Membership, User
from tenants.permissions import require
from tenants.roles import Perm

# --- Subscriptions: provider side ----------------------------------------------------


def _decide(actor: Actor, subscription: Subscription, *, approve: bool, reason: str) -> Subscription:
    """Decide whatever waits on ``subscription``: a new subscription or a plan change."""
    subscription = _lock(subscription)
    _require_provider(actor, subscription)
    reason = _text(reason, field="reason", max_length=2000, single_line=False)
    if not approve and not reason:
        raise InvalidInput("Give a reason; the requester will see it.", field="reason")
    kind = subscription.request_kind
    if kind is None:
        raise Conflict("This request has already been decided.", code="already_decided")
    subscription.awaiting_since = None
    user = _user(actor)
    verdict = "Approved" if approve else "Rejected"
    resolve_request_notices(subscription, f"{verdict} by {user.email}")
    if kind == "subscription":
        return _decide_subscription(user, subscription, approve=approve, reason=reason)
    return _decide_plan_change(user, subscription, approve=approve, reason=reason)


def _decide_subscription(user: User, subscription: Subscription, *, approve: bool, reason: str) -> Subscription:
    """pending → active or rejected; the consumer hears about it."""
    now = timezone.now()
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
    title, body = _subscription_decision_notice(subscription, approve=approve, reason=reason)
    _tell_consumer(subscription, kind=action, title=title, body=body)
    return subscription


def _subscription_decision_notice(subscription: Subscription, *, approve: bool, reason: str) -> tuple[str, str]:
    """Title and body of the notice telling the consumer about the decision."""
    if approve:
        return (
            f"{subscription.api.name}: your subscription was approved",
            f"{subscription.provider_tenant.name} approved “{subscription.application.name}” for "
            f"{subscription.api.name} {subscription.version.label} on the plan {subscription.plan.name}. "
            "You can now create API keys for the application.",
        )
    return (
        f"{subscription.api.name}: your subscription request was rejected",
        f"{subscription.provider_tenant.name} rejected the request of “{subscription.application.name}”."
        f"\n\nReason: {reason}",
    )


def _decide_plan_change(user: User, subscription: Subscription, *, approve: bool, reason: str) -> Subscription:
    """Move to the requested plan or stay; the subscription itself stays active either way."""
    requested = subscription.requested_plan
    assert requested is not None, "only called while a plan change waits"
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


def _decidable_by(actor: Actor) -> SubscriptionQuerySet:
    """The subscriptions ``actor`` may decide: its tenant's as provider, or all for staff."""
    if isinstance(actor, Membership):
        require(actor, Perm.SUBSCRIPTIONS_APPROVE)
        return Subscription.objects.for_provider(actor.tenant)
    if not actor.user.is_staff:
        raise Forbidden("Only platform staff may decide requests of other organisations.")
    return Subscription.objects.unscoped()


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
    visible = _decidable_by(actor)
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
    reason = _text(
        reason,
        field="reason",
        max_length=2000,
        required=True,
        label="Give a reason for the suspension.",
        single_line=False,
    )
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
    note = _text(note, field="note", max_length=2000, single_line=False)
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
