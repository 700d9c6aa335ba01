"""The data set the browser walk visits: the demo world plus long names and many rows.

Built once per module (committed, not rolled back: a live server thread reads it) and removed by
the caller with a flush. Everything long is as long as the model allows, since that is what
pushes a page sideways at 390 px.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from alerts.models import AlertEvent, AlertRule
from analytics.tests.factories import rollup
from apis.models import Api, ApiVersion, Plan, VersionStatus, Visibility
from gateways import services as gateway_services
from gateways.models import ConfigState, QuarantinedRecord
from gateways.tests.test_intake import ndjson, post, record
from notifications.models import Notification, Webhook, WebhookDelivery
from subscriptions import services as subscription_services
from subscriptions.models import ApiKey, Application, Subscription, SubscriptionStatus
from subscriptions.tests.factories import ApplicationFactory, SubscriptionFactory, make_catalog, membership
from tenants import services as tenant_services
from tenants.models import Tenant, User
from tenants.tests.factories import MembershipFactory, TenantFactory, UserFactory

PROVIDER = "alice@acme.example"
CONSUMER = "bob@globex.example"
STAFF = "staff@example.com"

LONG_API = "Shipment tracking, proof of delivery and customs clearance events for international parcels"
LONG_SLUG = "shipment-tracking-proof-of-delivery-customs-events"
LONG_APP = "Globex storefront checkout backend (eu-central-1, production, blue/green deployment slot B)"
LONG_WORD = "Supercalifragilisticexpialidocious-Hyperintegrated-Logisticsorchestrationplatform"


@dataclass
class WalkData:
    orders_plan: int = 0
    application: int = 0
    subscription: int = 0
    provided_subscription: int = 0
    webhook: int = 0
    quarantined: int = 0
    extra: dict[str, int] = field(default_factory=dict)


def build() -> WalkData:
    ConfigState.objects.get_or_create(pk=1)
    call_command("seed_demo", verbosity=0)
    data = WalkData()
    acme, globex = Tenant.objects.get(slug="acme"), Tenant.objects.get(slug="globex")
    alice, bob = User.objects.get(email=PROVIDER), User.objects.get(email=CONSUMER)
    staff = User.objects.get(email=STAFF)
    alice_m, bob_m = membership(alice, acme), membership(bob, globex)
    now = timezone.now()

    # Provider: one API with everything at its longest and many plans; a catalog of every kind.
    catalog = make_catalog(acme, slug="parcel-lockers")
    api = Api.objects.create(
        tenant=acme,
        name=LONG_API,
        slug=LONG_SLUG,
        visibility=Visibility.PUBLIC,
        summary="Every scan of every parcel, from pick-up to the recipient's signature, as webhooks and a REST feed "
        "with https://tracking.acme.example/v1/parcels/{parcel_id}/events?include=signatures",
        tags=["logistics", "tracking", "proof-of-delivery", "customs", LONG_WORD[:40]],
        description=f"Long words break: {LONG_WORD}{LONG_WORD}.\n\n`https://tracking.acme.example/v1/parcels/"
        "0123456789abcdef0123456789abcdef/events?include=signatures,photos,geolocation`",
    )
    for i, label in enumerate(["v1", "2026-06-01-preview", "v3-beta"]):
        ApiVersion.objects.create(
            tenant=acme,
            api=api,
            label=label,
            base_path=f"/acme/{LONG_SLUG}/{label}/international/parcels/events",
            upstreams=[{"url": f"https://upstream-{n}.tracking.acme.example:8443/api", "weight": 1} for n in (1, 2)],
            status=[VersionStatus.PUBLISHED, VersionStatus.DRAFT, VersionStatus.DRAFT][i],
            published_at=now if i == 0 else None,
        )
    for i in range(8):
        Plan.objects.create(
            tenant=acme,
            api=api,
            name=f"Enterprise unlimited throughput tier {i} (EU)"[:60],
            description="Dedicated capacity, 99.99 % availability, a named contact and "
            "https://status.acme.example/enterprise/tier-" + str(i),
            rate_limit_per_second=10_000 * (i + 1),
            rate_limit_per_minute=600_000 * (i + 1),
            quota_per_day=864_000_000,
            quota_per_month=25_000_000_000,
            approval_required=i % 2 == 0,
            price_label="€12,499.00 / month + €0.0004 per call above quota"[:60],
        )
    orders_plan = Plan.objects.for_tenant(acme).get(api__slug="orders", name="Free")
    data.orders_plan = orders_plan.pk

    # Consumer: an application with a long name, many keys and subscriptions of every status.
    app = subscription_services.application_create(
        actor=bob_m, name=LONG_APP, description=LONG_WORD * 2, contact_email="platform-team-oncall@globex.example"
    )
    data.application = app.pk
    sub = subscription_services.subscription_request(
        actor=bob_m, application=app, plan=catalog.free, use_case="Keep stock levels in the shop in sync. " * 5
    )
    data.subscription = sub.pk
    for i in range(6):
        subscription_services.key_create(
            actor=bob_m, application=app, name=f"production-eu-central-1-checkout-worker-{i}-{LONG_WORD}"[:100]
        )
    plans = list(Plan.objects.for_tenant(acme).filter(api=api).order_by("pk"))
    v1 = ApiVersion.objects.for_tenant(acme).get(api=api, label="v1")
    warehouse = ApplicationFactory(tenant=globex, name="Warehouse sync", created_by=bob)
    for application, plan, version, status in [
        (app, plans[0], v1, SubscriptionStatus.PENDING),
        (warehouse, plans[1], v1, SubscriptionStatus.REJECTED),
        (warehouse, catalog.gold, catalog.v1, SubscriptionStatus.SUSPENDED),
    ]:
        SubscriptionFactory(
            application=application, plan=plan, version=version, status=status, awaiting_since=now, use_case=LONG_WORD
        )
    Application.objects.for_tenant(globex).filter(pk=app.pk).update(description=LONG_WORD)

    # Many waiting requests from organisations with long names, for the approval queues.
    for i in range(12):
        name = f"Consolidated Intercontinental Freight Forwarders {i} GmbH & Co. KG"
        tenant = TenantFactory(slug=f"consumer-{i}", name=name)
        consumer_app = ApplicationFactory(tenant=tenant, name=f"{LONG_APP} {i}"[:100])
        provided = SubscriptionFactory(
            application=consumer_app,
            plan=catalog.gold,
            version=catalog.v1,
            status=SubscriptionStatus.PENDING,
            awaiting_since=now - timedelta(hours=i),
            use_case=f"We ship {i * 1000} parcels a day and need {LONG_WORD} for it. " * 3,
        )
        data.provided_subscription = data.provided_subscription or provided.pk
    # Provider's view of an active subscription with a consumer that has many other subscriptions.
    active = Subscription.objects.for_provider(acme).filter(status=SubscriptionStatus.ACTIVE).first()
    data.extra["provider_subscription"] = active.pk if active else data.provided_subscription

    # Team, tokens, webhooks, notifications.
    for i in range(8):
        MembershipFactory(
            tenant=acme,
            user=UserFactory(email=f"firstname.middlename.lastname.{i}@logistics-department.acme.example"),
            role=["admin", "developer", "viewer"][i % 3],
        )
        tenant_services.invitation_create(
            actor=alice_m, email=f"new.colleague.with.a.long.address.{i}@subsidiary.acme.example", role="viewer"
        )
        tenant_services.token_create(actor=alice_m, name=f"ci-pipeline-{i}-deploys-{LONG_WORD}"[:100])
    webhook = Webhook.objects.create(
        tenant=acme,
        url="https://hooks.integration-platform.acme.example/portal/events/v2/0123456789abcdef0123456789abcdef?x=1",
        events=["key.*", "subscription.*"],
        secret="s" * 32,
        description=LONG_WORD,
        created_by=alice,
    )
    data.webhook = webhook.pk
    # Alerts: a rule on the long API that fired and resolved, and one firing now.
    rule = AlertRule.objects.create(
        tenant=acme, scope="api", api=api, metric="error_rate", threshold=5, name=f"{LONG_API} failing"[:100]
    )
    data.extra["alert_rule"] = rule.pk
    for i, resolved in enumerate((now - timedelta(hours=2), None)):
        AlertEvent.objects.create(
            rule=rule,
            tenant=acme,
            subject_label=LONG_API,
            fired_at=now - timedelta(hours=3 - i),
            fired_value=12.5,
            resolved_at=resolved,
            resolved_value=1.0 if resolved else None,
            message=f"{LONG_API}: 12.5 % (4,210 calls); rule: error rate ≥ 5 % over 15 min {LONG_WORD}"[:300],
        )
    AlertRule.objects.create(scope="platform", metric="node_silent", threshold=120, email=True)
    for i in range(5):
        WebhookDelivery.objects.create(
            tenant=acme,
            webhook=webhook,
            event="subscription.requested",
            payload={"id": i, "note": LONG_WORD},
            status="failed",
            error=f"Connection refused by hooks.integration-platform.acme.example ({LONG_WORD})",
        )
    for user, tenant in [(alice, acme), (bob, globex)]:
        for i in range(6):
            Notification.objects.create(
                tenant=tenant,
                user=user,
                kind="subscription.requested",
                title=f"{LONG_APP} requests access to {LONG_API}"[:200],
                body=LONG_WORD,
                url=f"/t/{tenant.slug}/",
            )

    # Analytics: a few hours of calls for the provider, the consumer and the platform.
    minute = now.replace(second=0, microsecond=0)
    for ago in range(0, 120, 9):
        for status in (200, 404, 503):
            rollup(
                "minute",
                minute - timedelta(minutes=ago),
                calls=40 + ago,
                status=status,
                latency_ms=12 + ago,
                endpoint=f"GET /{LONG_SLUG}/parcels/{{parcel_id}}/events/{{event_id}}/signature",
                provider_tenant_id=acme.pk,
                api_id=api.pk,
                consumer_tenant_id=globex.pk,
                application_id=app.pk,
            )

    # Gateway nodes and quarantined records, for the staff pages.
    tokens = []
    for name in ["edge-frankfurt-1", f"kong-{LONG_WORD}"[:100]]:
        node, token = gateway_services.node_create(
            actor=staff, name=name[:60], description="https://edge.acme.example/" + LONG_WORD
        )
        tokens.append(token)
    bad_lines = ndjson([record(status="teapot", path="/" + LONG_WORD * 3)]) + "{truncated" + "x" * 300 + "\n"
    post(tokens[0], bad_lines, X_Batch_Id="b1")
    post(tokens[1], json.dumps(record(ts="not a time")) + "\n", X_Batch_Id="b2")
    data.quarantined = QuarantinedRecord.objects.order_by("pk").first().pk

    # A few raw calls for the provider's call log, with the longest paths.
    key = ApiKey.objects.for_tenant(globex).filter(application=app).first()
    with connection.cursor() as cursor:
        for i, status in enumerate([200, 201, 404, 429, 503]):
            cursor.execute(
                "INSERT INTO gateways_callrecord (request_id, ts, node_id, source, api_id, provider_tenant_id, "
                "api_key_id, application_id, consumer_tenant_id, status, path) "
                "VALUES (%s, now() - %s * interval '1 minute', %s, 'native', %s, %s, %s, %s, %s, %s, %s)",
                [
                    uuid.uuid4(),
                    i,
                    node.pk,
                    api.pk,
                    acme.pk,
                    key.pk,
                    app.pk,
                    globex.pk,
                    status,
                    f"/acme/{LONG_SLUG}/v1/international/parcels/0123456789abcdef0123456789abcdef/events/{i}",
                ],
            )
    return data
