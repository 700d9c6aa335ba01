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
