"""Demo data: Globex Retail's storefront subscribes to Acme's demo APIs (idempotent)."""

from __future__ import annotations

from apis.models import Api, Plan
from subscriptions import services
from subscriptions.models import ApiKey, Application, Subscription
from tenants.models import Membership, Tenant

#: (provider slug, API slug, plan name, use case)
DEMO_SUBSCRIPTIONS = [
    ("acme", "orders", "Free", "Create shipping orders for web-shop purchases."),
    ("acme", "weather", "Pro", "Warn customers about weather delays at checkout."),
]


def seed_subscriptions(consumer: Membership) -> int:
    """Give the consumer an application with the demo subscriptions; returns how many exist.

    Does nothing for APIs the catalog demo has not created, so it never breaks ./run.
    """
    application = Application.objects.for_tenant(consumer.tenant).filter(name="Storefront").first()
    if application is None:
        application = services.application_create(
            actor=consumer,
            name="Storefront",
            description="Globex's web shop backend.",
            contact_email=consumer.user.email,
        )
    for provider_slug, api_slug, plan_name, use_case in DEMO_SUBSCRIPTIONS:
        provider = Tenant.objects.filter(slug=provider_slug).first()
        api = Api.objects.for_tenant(provider).filter(slug=api_slug).first() if provider else None
        plan = Plan.objects.for_tenant(provider).filter(api=api, name=plan_name).first() if api else None
        if plan is None:
            continue
        if Subscription.objects.for_consumer(consumer.tenant).live().filter(application=application, api=api).exists():
            continue
        services.subscription_request(actor=consumer, application=application, plan=plan, use_case=use_case)
    # A live key, so demo traffic (manage.py gateway_send_samples) is attributed to the
    # storefront on the consumer's dashboards. Its secret is not needed for that: only the
    # key id travels in call records; a real caller creates its own key and sees it once.
    has_key = ApiKey.objects.for_tenant(consumer.tenant).filter(application=application).exists()
    live = Subscription.objects.for_consumer(consumer.tenant).filter(application=application, status="active")
    if not has_key and live.exists():
        services.key_create(actor=consumer, application=application, name="demo traffic")
    return Subscription.objects.for_consumer(consumer.tenant).live().filter(application=application).count()
