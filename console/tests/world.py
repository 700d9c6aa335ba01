"""The console's test world: Acme's Orders API with a small OpenAPI document, Globex subscribed.

Personas as elsewhere: Alice owns Acme (the provider), Charlie owns Globex (the consumer, whose
"Shop backend" has an active subscription to Orders v1), Dave is a viewer of Globex, Mallory
belongs to neither (a stranger).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Orders", "version": "1"},
    "paths": {
        "/rates": {
            "get": {
                "summary": "Shipping rates",
                "parameters": [
                    {"name": "city", "in": "query", "schema": {"type": "string"}, "example": "Utrecht"},
                    {"name": "X-Trace", "in": "header", "schema": {"type": "string", "default": "console-test"}},
                ],
                "responses": {"200": {"description": "ok"}},
            }
        },
        "/orders": {
            "post": {
                "summary": "Create an order",
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "city": {"type": "string", "example": "Utrecht"},
                                    "parcels": {"type": "integer"},
                                    "express": {"type": "boolean"},
                                },
                            }
                        }
                    }
                },
                "responses": {"201": {"description": "created"}},
            }
        },
        "/orders/{id}": {
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "example": 7}}],
            "get": {"summary": "One order", "responses": {"200": {"description": "ok"}}},
            "delete": {"summary": "Cancel", "responses": {"204": {"description": "gone"}}},
        },
    },
}


@dataclass
class ConsoleWorld:
    acme: Any
    globex: Any
    alice: Any  # owner of Acme (membership)
    charlie: Any  # owner of Globex (membership)
    dave: Any  # viewer of Globex (membership)
    mallory: Any  # a user of a third organisation (membership)
    api: Any
    v1: Any  # published, Globex subscribed
    v2: Any  # draft
    shop: Any  # Globex's application
    subscription: Any


def build(upstream_url: str = "https://upstream.example") -> ConsoleWorld:
    from apis.services import version_upload_spec
    from subscriptions.models import SubscriptionStatus
    from subscriptions.tests.factories import ApplicationFactory, SubscriptionFactory, make_catalog
    from tenants.tests.factories import MembershipFactory, TenantFactory, UserFactory

    acme = TenantFactory(slug="acme", name="Acme Logistics")
    globex = TenantFactory(slug="globex", name="Globex Retail")
    initech = TenantFactory(slug="initech", name="Initech")
    alice = MembershipFactory(tenant=acme, user=UserFactory(email="alice@acme.example"), role="owner")
    charlie = MembershipFactory(tenant=globex, user=UserFactory(email="charlie@globex.example"), role="owner")
    dave = MembershipFactory(tenant=globex, user=UserFactory(email="dave@globex.example"), role="viewer")
    mallory = MembershipFactory(tenant=initech, user=UserFactory(email="mallory@initech.example"), role="owner")
    catalog = make_catalog(acme)
    for version in (catalog.v1, catalog.v2_draft):
        version.upstreams = [{"url": upstream_url, "weight": 1}]
        version.save(update_fields=["upstreams"])
        version_upload_spec(actor=alice, version=version, document=SPEC)
    shop = ApplicationFactory(tenant=globex, name="Shop backend", created_by=charlie.user)
    subscription = SubscriptionFactory(
        application=shop, plan=catalog.free, version=catalog.v1, status=SubscriptionStatus.ACTIVE
    )
    catalog.v1.refresh_from_db()
    catalog.v2_draft.refresh_from_db()
    return ConsoleWorld(
        acme, globex, alice, charlie, dave, mallory, catalog.api, catalog.v1, catalog.v2_draft, shop, subscription
    )
