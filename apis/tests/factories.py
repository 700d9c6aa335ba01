from __future__ import annotations

import json
from pathlib import Path

import factory

from apis.models import Api, ApiVersion, Plan, VersionStatus, Visibility
from tenants.tests.factories import TenantFactory

DEMO = Path(__file__).resolve().parent.parent / "demo"


def orders_spec() -> str:
    """The demo Orders API document (OpenAPI 3.1, YAML, 7 operations)."""
    return (DEMO / "orders.yaml").read_text()


def weather_spec() -> dict:
    """The demo Weather API document (OpenAPI 3.0, JSON, 7 operations)."""
    return json.loads((DEMO / "weather.json").read_text())


def minimal_spec(*paths: str) -> dict:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Test", "version": "1"},
        "paths": {p: {"get": {"summary": f"Get {p}", "responses": {"200": {"description": "ok"}}}} for p in paths},
    }


class ApiFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Api

    tenant = factory.SubFactory(TenantFactory)
    name = factory.Sequence(lambda n: f"API {n}")
    slug = factory.Sequence(lambda n: f"api-{n}")
    summary = "Does useful things."
    visibility = Visibility.PUBLIC
    tags = factory.LazyFunction(list)


class ApiVersionFactory(factory.django.DjangoModelFactory):
    """A version; status=published gets an upstream and a spec so it is a valid live version."""

    class Meta:
        model = ApiVersion

    api = factory.SubFactory(ApiFactory)
    tenant = factory.SelfAttribute("api.tenant")
    label = factory.Sequence(lambda n: f"v{n}")
    base_path = factory.Sequence(lambda n: f"/test-{n}")
    upstreams = factory.LazyFunction(lambda: [{"url": "https://upstream.example/base", "weight": 1}])
    spec = factory.LazyFunction(lambda: minimal_spec("/things", "/things/{id}".replace("{id}", "x")))
    openapi_version = "3.0.3"
    status = VersionStatus.DRAFT


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Plan

    api = factory.SubFactory(ApiFactory)
    tenant = factory.SelfAttribute("api.tenant")
    name = factory.Sequence(lambda n: f"Plan {n}")
    rate_limit_per_second = 5
    quota_per_day = 1000
