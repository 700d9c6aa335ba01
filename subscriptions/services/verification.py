"""Key verification: what gateways ask before letting a call through."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import OuterRef
from django.utils import timezone

from apis.models import ROUTED_STATUSES, ApiVersion, VersionStatus
from core.crypto import secret_matches, split_prefixed_token
from core.errors import InvalidInput
from subscriptions.models import (
    LIVE_STATUSES,
    ApiKey,
    Subscription,
)
from subscriptions.services.applications import application_create, application_update
from subscriptions.services.common import KEY_LAST_USED_RESOLUTION, S, StaffActor, plan_limits
from subscriptions.services.decisions import (
    subscription_approve,
    subscription_reject,
    subscription_resume,
    subscription_suspend,
    subscriptions_bulk_decide,
)
from subscriptions.services.keys import key_create, key_revoke, key_rotate
from subscriptions.services.lifecycle import subscriptions_sync_lifecycle
from subscriptions.services.requests import subscription_cancel, subscription_change_plan, subscription_request

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
    "unknown_route",
    "api_retired",
    "key_api_not_allowed",
    "no_subscription",
    "subscription_pending",
    "subscription_suspended",
)


#: Longest request path key verification accepts (the raw call table's ``path`` column too).
MAX_REQUEST_PATH = 2048


def route_prefixes(path: str) -> list[str]:
    """Every base path that could serve ``path``, longest first, cut on segment boundaries.

    ``/acme/orders/v1/items/7`` → ``/acme/orders/v1/items/7``, ``/acme/orders/v1/items``,
    ``/acme/orders/v1``, ``/acme/orders``, ``/acme``: a base path ``/acme/ord`` never matches.
    """
    path = "/" + path.split("?", 1)[0].strip("/")
    segments = [s for s in path.split("/") if s]
    return ["/" + "/".join(segments[:n]) for n in range(len(segments), 0, -1)]


def version_for_path(path: str) -> ApiVersion | None:
    """The routed (published or deprecated) version whose base path is the longest prefix of ``path``.

    One indexed query: the candidate prefixes are computed here, the database matches them
    against the unique ``base_path`` index. The gateway config snapshot ships the same rule.
    """
    candidates = route_prefixes(path)
    if not candidates:
        return None
    found = ApiVersion.objects.unscoped().filter(base_path__in=candidates, status__in=ROUTED_STATUSES)
    return max(found, key=lambda v: len(v.base_path), default=None)


def key_verify(*, presented_key: str, base_path: str | None = None, path: str | None = None) -> Verdict:
    """Decide whether ``presented_key`` may call the API version serving ``path`` (or at ``base_path``).

    ``path`` is the full request path: the published or deprecated version with the longest
    base path that is a prefix of it on a segment boundary serves it; none → ``unknown_route``.
    ``base_path`` (the older form) names the version exactly; a retired one → ``api_retired``.
    One indexed lookup by key id, one SHA-256 and a constant-time compare; no password hasher.
    """
    if not path and not base_path:
        raise InvalidInput("Give the request path (or a base path).", field="path")
    parts = split_prefixed_token(presented_key or "", ApiKey.PREFIX)
    if parts is None:
        return Verdict(False, "unknown_key")
    key_id, secret = parts
    # A suspended consumer's keys are left out of the gateway config too: both say unknown_key.
    # The key's allowed APIs come along in the same query (an array), not in a second one.
    allowed = ApiKey.allowed_apis.through.objects.filter(apikey_id=OuterRef("pk")).values("api_id")
    key = (
        ApiKey.objects.unscoped()
        .filter(key_id=key_id, tenant__suspended_at__isnull=True)
        .annotate(allowed_api_ids=ArraySubquery(allowed))
        .first()
    )
    if key is None or not secret_matches(secret, key.key_hash):
        return Verdict(False, "unknown_key")
    who = {"key_id": key.key_id, "application_id": key.application_id, "consumer_tenant_id": key.tenant_id}
    status = key.status
    if status != "active":
        return Verdict(False, status, **who)
    exact = ApiVersion.objects.unscoped().filter(base_path=base_path)
    version = version_for_path(path) if path else exact.first()
    if version is None or version.status == VersionStatus.DRAFT:
        return Verdict(False, "unknown_route", **who)
    if version.status == VersionStatus.RETIRED:
        return Verdict(False, "api_retired", api_id=version.api_id, api_version_id=version.pk, **who)
    # The key's allowed APIs (its other restrictions, client ranges and its own rate limit, need
    # the caller's address and a counter: gateway nodes enforce them from the config snapshot).
    if key.allowed_api_ids and version.api_id not in key.allowed_api_ids:
        return Verdict(False, "key_api_not_allowed", api_id=version.api_id, api_version_id=version.pk, **who)
    subscription = (
        Subscription.objects.unscoped()
        .select_related("plan")
        .filter(application_id=key.application_id, api_id=version.api_id, status__in=LIVE_STATUSES)
        .first()
    )
    where: dict[str, Any] = {"api_id": version.api_id, "api_version_id": version.pk}
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
    "route_prefixes",
    "subscription_approve",
    "subscription_cancel",
    "subscription_change_plan",
    "subscription_reject",
    "subscription_request",
    "subscription_resume",
    "subscription_suspend",
    "subscriptions_bulk_decide",
    "subscriptions_sync_lifecycle",
    "version_for_path",
]
