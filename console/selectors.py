"""Reads of the console: which of a visitor's applications may call a version, and the version itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apis.models import ApiVersion
from core.errors import NotFound
from subscriptions.models import Application, Subscription, SubscriptionStatus
from tenants.models import Membership, Tenant
from tenants.roles import Perm, role_has


@dataclass(frozen=True)
class Choice:
    """An application the console may call as: its organisation, and whether the role allows it."""

    application: Application
    tenant: Tenant
    allowed: bool  # the visitor's role there has apps.edit (a console key is a key of the application)


def choices(user: Any, version: ApiVersion) -> list[Choice]:
    """The visitor's applications with an active subscription to ``version``, by organisation and name."""
    if user is None or not user.is_authenticated:
        return []
    roles = dict(Membership.objects.for_user(user).values_list("tenant_id", "role"))
    if not roles:
        return []
    # The visitor's own organisations only (roles' keys are their memberships).
    subscriptions = (
        Subscription.objects.unscoped()
        .filter(consumer_tenant_id__in=list(roles), version=version, status=SubscriptionStatus.ACTIVE)
        .select_related("application", "consumer_tenant")
        .order_by("consumer_tenant__name", "application__name", "application_id")
    )
    seen: set[int] = set()
    found = []
    for sub in subscriptions[:100]:
        if sub.application_id in seen:
            continue
        seen.add(sub.application_id)
        allowed = role_has(roles[sub.consumer_tenant_id], Perm.APPS_EDIT)
        found.append(Choice(sub.application, sub.consumer_tenant, allowed))
    return found


def subscribed_elsewhere(user: Any, version: ApiVersion) -> list[str]:
    """Labels of the API's other versions the visitor's applications are subscribed to (a hint)."""
    if user is None or not user.is_authenticated:
        return []
    tenant_ids = list(Membership.objects.for_user(user).values_list("tenant_id", flat=True))
    labels = (
        Subscription.objects.unscoped()
        .filter(consumer_tenant_id__in=tenant_ids, api_id=version.api_id, status=SubscriptionStatus.ACTIVE)
        .exclude(version=version)
        .values_list("version__label", flat=True)
        .distinct()
    )
    return sorted(labels)[:10]


def subscribed_version(application: Application, version_id: Any) -> ApiVersion:
    """The version ``version_id`` if ``application`` has an active subscription to it, else NotFound."""
    if not isinstance(version_id, int) or isinstance(version_id, bool):
        raise NotFound("Choose the API version to call.", field="version")
    sub = (
        Subscription.objects.for_consumer(application.tenant)
        .filter(application=application, version_id=version_id, status=SubscriptionStatus.ACTIVE)
        .select_related("version", "version__api")
        .first()
    )
    if sub is None:
        raise NotFound(f"“{application.name}” has no active subscription to this API version.", code="no_subscription")
    return sub.version


def application_for(tenant: Tenant, pk: int) -> Application:
    application = Application.objects.for_tenant(tenant).filter(pk=pk).first()
    if application is None:
        raise NotFound("No such application.")
    return application
