"""Demo catalog for ./run: Acme Logistics provides an Orders API (public) and a Weather API (internal).

Idempotent: objects are looked up by slug / label / name and only created when missing, and
everything goes through the services, so the demo exercises the same validation as users do.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.utils import timezone

from apis import services
from apis.models import Api, ApiVersion, Plan, VersionStatus, Visibility
from tenants.models import Membership

DEMO_DIR = Path(__file__).resolve().parent

ORDERS_DESCRIPTION = """\
Hand parcels to **Acme Logistics** and follow them to the door.

1. Quote a rate with `GET /rates`.
2. Create an order with `POST /orders` (send an `Idempotency-Key` so retries are safe).
3. Follow it with `GET /orders/{order_id}/tracking`.

Orders can be cancelled until they are picked up.
"""

WEATHER_DESCRIPTION = """\
Current conditions, hourly and daily forecasts and severe-weather alerts, as used by Acme's own
route planning. Data refreshes every 10 minutes.

| Endpoint | Use it for |
|---|---|
| `/current` | Conditions at a point |
| `/forecast/hourly` | The next 48 hours |
| `/alerts` | Storm warnings along a route |
"""

CATALOG: list[dict[str, Any]] = [
    {
        "api": {
            "name": "Orders",
            "slug": "orders",
            "summary": "Create, track and cancel shipping orders.",
            "description": ORDERS_DESCRIPTION,
            "tags": ["logistics", "shipping", "orders"],
            "contact_name": "Acme API team",
            "contact_email": "api@acme.example",
            "visibility": Visibility.PUBLIC,
        },
        "versions": [
            {
                "label": "v1",
                "base_path": "/orders/v1",
                "upstreams": [{"url": "http://127.0.0.1:9101", "weight": 1}],
                "spec": "orders.yaml",
                "status": VersionStatus.PUBLISHED,
                "release_notes": "First public version.",
            },
        ],
        "plans": [
            {"name": "Free", "rate_limit_per_second": 5, "quota_per_day": 1_000, "price_label": "Free"},
            {
                "name": "Business",
                "description": "For production traffic; we review each request.",
                "rate_limit_per_second": 50,
                "rate_limit_per_minute": 2_000,
                "quota_per_month": 5_000_000,
                "approval_required": True,
                "price_label": "€249 / month",
            },
        ],
    },
    {
        "api": {
            "name": "Weather",
            "slug": "weather",
            "summary": "Forecasts and severe-weather alerts for route planning.",
            "description": WEATHER_DESCRIPTION,
            "tags": ["weather", "forecast", "logistics"],
            "contact_email": "api@acme.example",
            "visibility": Visibility.INTERNAL,
        },
        "versions": [
            {
                "label": "2023-01-01",
                "base_path": "/weather/2023-01-01",
                "upstreams": [{"url": "http://127.0.0.1:9102", "weight": 1}],
                "spec": "weather.json",
                "status": VersionStatus.DEPRECATED,
                "release_notes": "Superseded by 2024-06-01.",
            },
            {
                "label": "2024-06-01",
                "base_path": "/weather/2024-06-01",
                "upstreams": [
                    {"url": "http://127.0.0.1:9102", "weight": 3},
                    {"url": "http://127.0.0.1:9103", "weight": 1},
                ],
                "spec": "weather.json",
                "status": VersionStatus.PUBLISHED,
                "release_notes": "Daily forecasts and alerts by severity.",
            },
        ],
        "plans": [
            {"name": "Starter", "rate_limit_per_second": 2, "quota_per_day": 500, "price_label": "Free"},
            {
                "name": "Pro",
                "rate_limit_per_second": 20,
                "quota_per_month": 1_000_000,
                "approval_required": True,
                "price_label": "€99 / month",
            },
            {
                "name": "Partner",
                "description": "Granted by Acme to partners; not on offer in the catalog.",
                "rate_limit_per_second": 100,
                "is_public": False,
            },
        ],
    },
]


def _document(name: str) -> str | dict:
    text = (DEMO_DIR / name).read_text()
    return json.loads(text) if name.endswith(".json") else text


def seed_catalog(owner: Membership) -> list[Api]:
    """Create (or complete) the demo APIs of ``owner``'s tenant; returns them."""
    tenant = owner.tenant
    apis = []
    for entry in CATALOG:
        fields = entry["api"]
        api = Api.objects.for_tenant(tenant).filter(slug=fields["slug"]).first()
        if api is None:
            api = services.api_create(actor=owner, **fields)
        for spec in entry["versions"]:
            version = ApiVersion.objects.for_tenant(tenant).filter(api=api, label=spec["label"]).first()
            if version is None:
                version = services.version_create(
                    actor=owner,
                    api=api,
                    label=spec["label"],
                    base_path=spec["base_path"],
                    upstreams=spec["upstreams"],
                    release_notes=spec["release_notes"],
                    openapi_document=_document(spec["spec"]),
                )
            if version.status == VersionStatus.DRAFT:
                version = services.version_publish(actor=owner, version=version, note="Demo data")
            if spec["status"] == VersionStatus.DEPRECATED and version.status == VersionStatus.PUBLISHED:
                services.version_deprecate(
                    actor=owner, version=version, sunset_date=timezone.now().date() + timedelta(days=90)
                )
        for plan in entry["plans"]:
            if not Plan.objects.for_tenant(tenant).filter(api=api, name=plan["name"]).exists():
                services.plan_create(actor=owner, api=api, **plan)
        apis.append(api)
    return apis
