"""Reads about applications, subscriptions and keys: the queries views and the API share."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from apis.models import Api, Plan, PlanStatus
from apis.snippets import Caller
from core.errors import NotFound
from core.filters import is_id
from subscriptions.models import (
    APPROVED_STATUSES,
    ApiKey,
    Application,
    KeyPurpose,
    Subscription,
    SubscriptionEvent,
    SubscriptionStatus,
)
from tenants.models import Tenant, User

_SUBSCRIPTION_RELATED = (
    "application",
    "api",
    "version",
    "plan",
    "requested_plan",
    "consumer_tenant",
    "provider_tenant",
    "requested_by",
)


#: The most entries a filter menu lists (APIs, plans, providers with waiting requests).
MENU_LIMIT = 200


def tenant_applications(tenant: Tenant) -> QuerySet[Application]:
    return Application.objects.for_tenant(tenant).select_related("created_by")


def snippet_caller(user: User, tenant_ids: list[int], api: Api) -> Caller | None:
    """The application the catalog's code snippets call as, for a visitor in ``tenant_ids``.

    One subscribed to ``api`` (active) first, then any, by name; with its newest live key's id
    (the id only: secrets are never stored in clear). One query.
    """
    now = timezone.now()
    subscribed = Subscription.objects.unscoped().filter(
        application=OuterRef("pk"), api=api, status=SubscriptionStatus.ACTIVE
    )
    newest_key = (
        ApiKey.objects.unscoped()
        .filter(application=OuterRef("pk"), revoked_at__isnull=True)
        .exclude(purpose=KeyPurpose.CONSOLE)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .order_by("-created_at", "-pk")
        .values("key_id")[:1]
    )
    # The visitor's own organisations only: tenant_ids are its memberships.
    row = (
        Application.objects.unscoped()
        .filter(tenant_id__in=tenant_ids)
        .annotate(subscribed=Exists(subscribed), newest_key=Subquery(newest_key))
        .order_by("-subscribed", "name", "pk")
        .values_list("name", "newest_key")
        .first()
    )
    return Caller(application=row[0], key_id=row[1]) if row else None


def application_rows(tenant: Tenant) -> QuerySet[Application]:
    """The applications list: the columns it shows, in name order (the tenant/name index)."""
    return (
        Application.objects.for_tenant(tenant)
        .only("id", "tenant_id", "name", "description", "contact_email", "created_at")
        .order_by("name", "id")
    )


def application_choices(tenant: Tenant) -> QuerySet[Application]:
    """The subscribe form's menu: ids and names only."""
    return Application.objects.for_tenant(tenant).only("id", "tenant_id", "name").order_by("name", "id")


def subscription_rows(qs: QuerySet[Subscription], *, consumer: bool = False) -> QuerySet[Subscription]:
    """A subscription table's rows with only the names it shows.

    Five narrow joins instead of the eight of ``_SUBSCRIPTION_RELATED``: the planner's cost of a
    join grows fast with the number of tables, and a list needs no users nor the provider.
    """
    related = ["application", "api", "version", "plan", "requested_plan"]
    fields = [
        "id",
        "status",
        "created_at",
        "awaiting_since",
        "consumer_tenant_id",
        "provider_tenant_id",
        "application__name",
        "api__name",
        "version__label",
        "plan__name",
        "requested_plan__name",
    ]
    if consumer:
        related.append("consumer_tenant")
        fields.append("consumer_tenant__name")
    return qs.select_related(None).select_related(*related).only(*fields)


def application_for(tenant: Tenant, pk: int | str) -> Application:
    application = Application.objects.for_tenant(tenant).filter(pk=pk).first() if is_id(pk) else None
    if application is None:
        raise NotFound("No such application.")
    return application


def consumer_subscriptions(tenant: Tenant) -> QuerySet[Subscription]:
    return Subscription.objects.for_consumer(tenant).select_related(*_SUBSCRIPTION_RELATED)


def provider_subscriptions(tenant: Tenant) -> QuerySet[Subscription]:
    return Subscription.objects.for_provider(tenant).select_related(*_SUBSCRIPTION_RELATED)


def platform_subscriptions() -> QuerySet[Subscription]:
    """Every subscription on the platform: for platform staff only (callers check is_staff)."""
    return Subscription.objects.unscoped().select_related(*_SUBSCRIPTION_RELATED)


def subscription_for(tenant: Tenant, pk: int | str) -> Subscription:
    """A subscription the tenant takes part in (as consumer or provider); NotFound otherwise."""
    subscription = (
        Subscription.objects.for_party(tenant).select_related(*_SUBSCRIPTION_RELATED).filter(pk=pk).first()
        if is_id(pk)
        else None
    )
    if subscription is None:
        raise NotFound("No such subscription.")
    return subscription


def queue_rows(qs: QuerySet[Subscription], *, with_provider: bool = False) -> QuerySet[Subscription]:
    """The approval queue's rows: who asks for what, nothing else (no decided_by, no plan limits)."""
    related = ["application", "api", "version", "plan", "requested_plan", "consumer_tenant", "requested_by"]
    fields = [
        "id",
        "status",
        "use_case",
        "plan_change_note",
        "awaiting_since",
        "created_at",
        "consumer_tenant__name",
        "requested_by__email",
        "application__name",
        "api__name",
        "version__label",
        "plan__name",
        "requested_plan__name",
    ]
    if with_provider:
        related.append("provider_tenant")
        fields.append("provider_tenant__name")
    return qs.select_related(None).select_related(*related).only(*fields)


def queue_menus(tenant: Tenant | None, *, provider: int | None = None) -> dict[str, list]:
    """The queue's filter menus: only APIs, plans (and, staff-wide, providers) with waiting requests.

    Each is one query: the waiting rows' ids come from an index-only scan of
    ``subscription_waiting_menu_idx`` and at most ``MENU_LIMIT`` names are read; staff see API
    and plan menus once they picked a provider.
    """
    base = Subscription.objects.unscoped() if tenant is None else Subscription.objects.for_provider(tenant)
    waiting = base.awaiting_decision()
    if provider:
        waiting = waiting.filter(provider_tenant_id=provider)
    menus: dict[str, list] = {"apis": [], "plans": [], "providers": []}
    if tenant is None:
        providers = Tenant.objects.filter(pk__in=waiting.values("provider_tenant_id")).order_by("name", "pk")
        menus["providers"] = list(providers.only("id", "name")[:MENU_LIMIT])
        if not provider:
            return menus
    menus["apis"] = list(
        Api.objects.unscoped()
        .filter(pk__in=waiting.order_by().values("api_id"))
        .only("id", "name")
        .order_by("name", "pk")[:MENU_LIMIT]
    )
    # A plan-change request is "for" the plan it asks for (as in ``for_plan``).
    targets = waiting.order_by().annotate(target=Coalesce("requested_plan_id", "plan_id")).values("target")
    menus["plans"] = list(
        Plan.objects.unscoped()
        .filter(pk__in=targets)
        .select_related("api")
        .only("id", "name", "api__name")
        .order_by("api__name", "name", "pk")[:MENU_LIMIT]
    )
    return menus


def approval_queue(
    tenant: Tenant | None,
    *,
    api: int | str | None = None,
    plan: int | str | None = None,
    min_age_hours: int | None = None,
) -> QuerySet[Subscription]:
    """Requests waiting for a decision, oldest first. ``tenant=None`` is the staff-wide queue."""
    base = Subscription.objects.unscoped() if tenant is None else Subscription.objects.for_provider(tenant)
    qs = base.awaiting_decision().select_related(*_SUBSCRIPTION_RELATED).order_by("awaiting_since", "pk")
    if api:
        qs = qs.filter(api_id=api)
    if plan:
        qs = for_plan(qs, plan)
    if min_age_hours:
        qs = waiting_at_least(qs, min_age_hours)
    return qs


def for_plan(qs: QuerySet[Subscription], plan: int | str) -> QuerySet[Subscription]:
    """Subscriptions on ``plan``; a plan-change request is "for" the plan it asks for."""
    return qs.filter(plan_id=plan, requested_plan__isnull=True) | qs.filter(requested_plan_id=int(plan))


def waiting_at_least(qs: QuerySet[Subscription], hours: int) -> QuerySet[Subscription]:
    """Requests waiting for a decision for at least ``hours``."""
    return qs.filter(awaiting_since__lte=timezone.now() - timedelta(hours=hours))


def pending_approvals_count(tenant: Tenant) -> int:
    """Cheap: one COUNT on the (provider_tenant, awaiting_since) index."""
    return Subscription.objects.for_provider(tenant).awaiting_decision().count()


def other_subscriptions(subscription: Subscription) -> QuerySet[Subscription]:
    """The consumer's other subscriptions to this provider's APIs (what the approver may know)."""
    return subscription_rows(
        Subscription.objects.for_provider(subscription.provider_tenant_id)
        .filter(consumer_tenant_id=subscription.consumer_tenant_id)
        .exclude(pk=subscription.pk)
    ).order_by("-created_at", "-id")


def subscription_events(tenant: Tenant, subscription: Subscription) -> QuerySet[SubscriptionEvent]:
    return SubscriptionEvent.objects.for_party(tenant).filter(subscription=subscription).order_by("created_at", "id")


def platform_subscription_events(subscription: Subscription) -> QuerySet[SubscriptionEvent]:
    """A subscription's history for platform staff (callers check is_staff)."""
    return SubscriptionEvent.objects.unscoped().filter(subscription=subscription).order_by("created_at", "id")


def application_keys(application: Application) -> QuerySet[ApiKey]:
    """The application's keys as its page lists them: console keys (console app) are not listed."""
    return (
        ApiKey.objects.for_tenant(application.tenant_id)
        .filter(application=application)
        .exclude(purpose=KeyPurpose.CONSOLE)
        .select_related("created_by")
        .prefetch_related(Prefetch("allowed_apis", queryset=Api.objects.unscoped().only("id", "name")))
        .order_by("-created_at", "-id")
    )


def key_restriction_choices(application: Application) -> tuple[list[Api], str]:
    """What a key of ``application`` may be limited to: the APIs of its approved subscriptions
    (active or suspended), and a sentence of their plans' per-minute limits for the form's help."""
    subscriptions = (
        Subscription.objects.for_consumer(application.tenant)
        .filter(application=application, status__in=APPROVED_STATUSES)
        .select_related("api", "plan")
        .order_by("api__name", "id")
    )
    apis: dict[int, Api] = {}
    limits = []
    for subscription in subscriptions:
        apis.setdefault(subscription.api_id, subscription.api)
        if subscription.plan.rate_limit_per_minute:
            limits.append(
                f"{subscription.api.name}: {subscription.plan.name}, {subscription.plan.rate_limit_per_minute} a minute"
            )
    return list(apis.values()), "; ".join(limits)


def tenant_keys(tenant: Tenant) -> QuerySet[ApiKey]:
    """The organisation's keys (REST list and detail): the try-it console's short-lived keys are left out."""
    return (
        ApiKey.objects.for_tenant(tenant)
        .exclude(purpose=KeyPurpose.CONSOLE)
        .select_related("application", "created_by")
    )


def has_active_subscription(application: Application) -> bool:
    return (
        Subscription.objects.for_consumer(application.tenant)
        .filter(application=application, status=SubscriptionStatus.ACTIVE)
        .exists()
    )


def offerable_plans(user: User | None, tenant_id: int) -> QuerySet[Plan]:
    """Plans a tenant may subscribe to: the one rule for the subscribe page, REST and plan changes.

    Active plans of APIs the viewer can see; hidden plans only for the provider's own members
    (a consumer holding a hidden plan keeps it, but is never offered it again). Archived plans
    are offered to nobody new.
    """
    apis = Api.objects.visible_to(user, tenant_ids=[tenant_id]).values("pk")
    return (
        Plan.objects.unscoped()
        .filter(status=PlanStatus.ACTIVE, api_id__in=apis)
        .filter(Q(is_public=True) | Q(tenant_id=tenant_id))
        .select_related("api", "tenant")
    )


def plan_for_subscribe(user: User, tenant: Tenant, plan_id: int | str | None) -> Plan | None:
    """The plan a consumer wants to subscribe to, if it is offered to them; None looks like unknown."""
    if not plan_id or not is_id(plan_id):
        return None
    return offerable_plans(user, tenant.pk).filter(pk=int(plan_id)).first()


def offered_plans(user: User, tenant: Tenant) -> QuerySet[Plan]:
    """Plans the tenant could subscribe to (or change to)."""
    return offerable_plans(user, tenant.pk)


def provider_apis(tenant: Tenant) -> QuerySet[Api]:
    return Api.objects.for_tenant(tenant)


def provider_plans(tenant: Tenant) -> QuerySet[Plan]:
    return Plan.objects.for_tenant(tenant).select_related("api")


def tenant_activity_counts(tenant: Tenant) -> dict[str, int]:
    """What platform staff's organisation page counts: applications, subscriptions on each side."""
    provided = Subscription.objects.for_provider(tenant)
    return {
        "applications": Application.objects.for_tenant(tenant).count(),
        "consumed": Subscription.objects.for_consumer(tenant).count(),
        "provided": provided.count(),
        "waiting": provided.awaiting_decision().count(),
        "keys": ApiKey.objects.for_tenant(tenant).live().count(),
    }


def tenant_subscription_events(tenant: Tenant) -> QuerySet[SubscriptionEvent]:
    """Subscription history the tenant takes part in (either side), newest first."""
    return SubscriptionEvent.objects.for_party(tenant).order_by("-created_at", "-id")
