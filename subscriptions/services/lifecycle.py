"""Follow the API version lifecycle: deprecation notices and retirement."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from apis.models import VersionStatus
from subscriptions.models import (
    LIVE_STATUSES,
    Subscription,
)
from subscriptions.services.common import S, _lock, _record, _tell_consumer

# --- Version lifecycle (deprecation notices, retirement) -----------------------------


#: At most this many subscriptions per kind and sweep; the next sweep takes the rest.
SWEEP_BATCH = 1000


def subscriptions_sync_lifecycle() -> dict[str, int]:
    """Tell subscribers of deprecated versions (once) and end subscriptions of retired versions.

    The catalog owns version transitions and must not import this app (imports flow one
    way), so a periodic sweep catches up instead of a callback. Idempotent.
    """
    deprecated = (
        Subscription.objects.unscoped()
        .filter(status=S.ACTIVE, version__status=VersionStatus.DEPRECATED, deprecation_notified_at__isnull=True)
        .values_list("pk", flat=True)
    )
    notified = sum(_notify_deprecation(pk) for pk in list(deprecated[:SWEEP_BATCH]))
    retired = (
        Subscription.objects.unscoped()
        .filter(status__in=LIVE_STATUSES, version__status=VersionStatus.RETIRED)
        .values_list("pk", flat=True)
    )
    ended = sum(_end_for_retired_version(pk) for pk in list(retired[:SWEEP_BATCH]))
    return {"notified": notified, "ended": ended}


@transaction.atomic
def _notify_deprecation(pk: int) -> bool:
    """Tell one subscriber its version is deprecated; False if already told or no longer deprecated."""
    subscription = _lock(Subscription(pk=pk))
    if subscription.deprecation_notified_at or subscription.version.status != VersionStatus.DEPRECATED:
        return False
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
    return True


@transaction.atomic
def _end_for_retired_version(pk: int) -> bool:
    """Cancel one live subscription of a retired version; False if there is nothing to do."""
    subscription = _lock(Subscription(pk=pk))
    if not subscription.is_live or subscription.version.status != VersionStatus.RETIRED:
        return False
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
    return True
