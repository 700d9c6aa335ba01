"""A small but complete tenant world for the cross-tenant tests.

Acme (the victim) owns one object of every kind a tenant-scoped URL can name; Charlie is a
stranger who owns Globex only. Initech is a third party that Acme subscribes to and that
subscribes to Acme, so both sides of a subscription exist without involving Globex.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.utils import timezone

from apis.models import ApiVersion, Plan
from notifications.models import Notification, Webhook, WebhookDelivery
from subscriptions.models import ApiKey, Application, Subscription, SubscriptionStatus
from subscriptions.tests.factories import ApplicationFactory, SubscriptionFactory, make_catalog, make_key, membership
from tenants import services as tenant_services
from tenants.models import Invitation, Membership, PersonalAccessToken, Tenant, User
from tenants.tests.factories import MembershipFactory, TenantFactory, UserFactory


@dataclass
class World:
    acme: Tenant
    globex: Tenant
    alice: Membership
    bob: Membership
    charlie: Membership
    charlie_token: str
    api_slug: str
    version: ApiVersion
    plan: Plan
    application: Application
    subscription: Subscription  # Acme consumes (Initech provides)
    provided_subscription: Subscription  # Acme provides (Initech consumes)
    key: ApiKey
    invitation: Invitation
    token: PersonalAccessToken
    webhook: Webhook
    delivery: WebhookDelivery
    notification: Notification
    call_request_id: uuid.UUID  # a call to Acme's API by Acme's own application


def build_world(acme: Tenant, globex: Tenant, alice: User, charlie: User) -> World:
    alice_m, charlie_m = membership(alice, acme), membership(charlie, globex)
    bob_m = MembershipFactory(tenant=acme, user=UserFactory(email="bob@acme.example"), role="developer")
    initech = TenantFactory(slug="initech", name="Initech")
    initech_catalog = make_catalog(initech, slug="payroll")
    acme_catalog = make_catalog(acme)
    application = ApplicationFactory(tenant=acme, name="Acme shop", created_by=alice)
    subscription = SubscriptionFactory(
        application=application, plan=initech_catalog.free, version=initech_catalog.v1, status=SubscriptionStatus.ACTIVE
    )
    provided = SubscriptionFactory(
        application=ApplicationFactory(tenant=initech, name="Initech billing"),
        plan=acme_catalog.gold,
        version=acme_catalog.v1,
        status=SubscriptionStatus.PENDING,
        awaiting_since=timezone.now(),
    )
    key, _ = make_key(alice_m, application)
    invitation, _ = tenant_services.invitation_create(actor=alice_m, email="dave@acme.example", role="viewer")
    token, _ = tenant_services.token_create(actor=alice_m, name="ci")
    webhook = Webhook.objects.create(
        tenant=acme, url="https://hooks.acme.example/portal", events=["key.*"], secret="s" * 32, created_by=alice
    )
    delivery = WebhookDelivery.objects.create(tenant=acme, webhook=webhook, event="webhook.test", payload={})
    notification = Notification.objects.create(tenant=acme, user=alice, kind="test", title="Hello Alice")
    _, charlie_token = tenant_services.token_create(actor=charlie_m, name="stranger")
    call_request_id = _record_call(acme_catalog.api, application, key)
    return World(
        acme=acme,
        globex=globex,
        alice=alice_m,
        bob=bob_m,
        charlie=charlie_m,
        charlie_token=charlie_token,
        api_slug=acme_catalog.api.slug,
        version=acme_catalog.v1,
        plan=acme_catalog.free,
        application=application,
        subscription=subscription,
        provided_subscription=provided,
        key=key,
        invitation=invitation,
        token=token,
        webhook=webhook,
        delivery=delivery,
        notification=notification,
        call_request_id=call_request_id,
    )


def _record_call(api: object, application: Application, key: ApiKey) -> uuid.UUID:
    """One raw call record, provider and consumer both Acme, as the gateway intake stores it."""
    from django.db import connection

    request_id = uuid.uuid4()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO gateways_callrecord (request_id, ts, node_id, source, api_id, provider_tenant_id, "
            "api_key_id, application_id, consumer_tenant_id, status, path) "
            "VALUES (%s, now(), 1, 'native', %s, %s, %s, %s, %s, 200, '/acme/orders/v1/orders')",
            [request_id, api.pk, application.tenant_id, key.pk, application.pk, application.tenant_id],  # type: ignore[attr-defined]
        )
    return request_id
