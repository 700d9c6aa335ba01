"""Helpers shared by the subscription services: actors, events, notices, locks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.urls import reverse

from apis.models import Plan
from core.errors import Forbidden, NotFound
from notifications.services import notifications_resolve, notify_users, webhook_event_emit
from subscriptions.models import (
    ApiKey,
    Subscription,
    SubscriptionEvent,
    SubscriptionStatus,
)
from tenants.models import Membership, Tenant, User
from tenants.permissions import require
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
            if subscription.requested_plan is not None
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
        plan_id=subscription.plan_id,
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


#: The provider notices that ask for a decision, closed by ``resolve_request_notices``.
REQUEST_NOTICE_KINDS = ("subscription.requested", "subscription.plan_change_requested")


def resolve_request_notices(subscription: Subscription, outcome: str) -> None:
    """The request was decided (or withdrawn): every provider admin's notice says so and is read."""
    tenant = subscription.provider_tenant
    notifications_resolve(
        tenant=tenant, kinds=REQUEST_NOTICE_KINDS, url=_subscription_url(tenant, subscription), outcome=outcome
    )


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
    """Re-read and lock; the callers then check the side (``_require_consumer/_provider``).

    Unscoped because both parties (and staff) may act on it; a vanished row is NotFound.
    """
    locked = (
        Subscription.objects.unscoped()
        .select_for_update(of=("self",))
        .select_related("application", "api", "version", "plan", "requested_plan", "consumer_tenant", "provider_tenant")
        .filter(pk=subscription.pk)
        .first()
    )
    if locked is None:
        raise NotFound("No such subscription.")
    return locked


def restrictions_data(key: ApiKey) -> dict[str, Any]:
    """A key's restrictions as webhook events carry them (API ids sorted)."""
    return {
        "allowed_cidrs": list(key.allowed_cidrs),
        "allowed_apis": sorted(key.allowed_apis.values_list("pk", flat=True)),
        "rate_limit_per_minute": key.rate_limit_per_minute,
    }


def key_event(key: ApiKey, event: str, user: User | None, **extra: Any) -> None:
    """Publish a key.* event to the consumer's webhooks (the keys' audit trail)."""
    data = {
        "id": key.pk,
        "key_id": key.key_id,
        "name": key.name,
        "application": {"id": key.application_id, "name": key.application.name},
        "status": key.status,
        "expires_at": key.expires_at,
        "restrictions": restrictions_data(key),
        "actor": user.email if user else None,
        **extra,
    }
    webhook_event_emit(tenant=key.tenant, event=event, data=data)


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
