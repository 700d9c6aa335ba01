"""Provider writes: registration, versions and their lifecycle, plans, the audit trail."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError
from django.utils import timezone

from apis import selectors, services
from apis.models import ApiVersion, AuditEvent, Endpoint, Plan, VersionStatus
from apis.tests.conftest import membership
from apis.tests.factories import ApiFactory, ApiVersionFactory, minimal_spec
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from tenants.scoping import TenantScopeError


def test_register_api_with_versions_plans_and_publish(alice_m, orders, orders_v1, free_plan):
    assert orders.tags == ["logistics", "shipping"]
    assert {(e.method, e.path) for e in selectors.version_endpoints(orders_v1)} >= {
        ("GET", "/orders"),
        ("POST", "/orders"),
        ("GET", "/orders/{order_id}"),
        ("POST", "/orders/{order_id}/cancel"),
    }
    assert orders_v1.openapi_version == "3.1.0"
    version = services.version_publish(actor=alice_m, version=orders_v1, note="Go live")
    assert version.status == VersionStatus.PUBLISHED
    assert version.published_at is not None
    assert version.accepts_subscriptions
    event = selectors.version_events(version).first()
    assert (event.action, event.from_state, event.to_state, event.actor_email, event.note) == (
        "version.published",
        "draft",
        "published",
        "alice@acme.example",
        "Go live",
    )


def test_viewer_cannot_write(vera, acme, orders, orders_v1, free_plan):
    viewer = membership(vera, acme)
    with pytest.raises(Forbidden):
        services.api_create(actor=viewer, name="X", slug="x")
    with pytest.raises(Forbidden):
        services.api_update(actor=viewer, api=orders, name="Y")
    with pytest.raises(Forbidden):
        services.version_publish(actor=viewer, version=orders_v1)
    with pytest.raises(Forbidden):
        services.plan_archive(actor=viewer, plan=free_plan)


def test_developer_can_register(bob, acme):
    api = services.api_create(actor=membership(bob, acme), name="Tracking", slug="tracking")
    assert api.created_by == bob


def test_a_stranger_cannot_touch_another_tenants_objects(charlie, globex, orders, orders_v1):
    with pytest.raises(NotFound):
        services.api_update(actor=membership(charlie, globex), api=orders, name="Mine now")
    with pytest.raises(NotFound):
        services.version_retire(actor=membership(charlie, globex), version=orders_v1)


def test_duplicate_slug_names_the_clash(alice_m, orders):
    with pytest.raises(InvalidInput) as error:
        services.api_create(actor=alice_m, name="Orders again", slug="orders")
    assert error.value.field == "slug"
    assert "orders" in error.value.message


def test_same_slug_in_another_tenant_is_fine(charlie, globex, orders):
    assert services.api_create(actor=membership(charlie, globex), name="Orders", slug="orders").slug == "orders"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/orders/v1", "already in use"),
        ("/orders", "overlaps"),
        ("/orders/v1/deep", "overlaps"),
        ("orders", "must start with /"),
        ("/", "must start with /"),
        ("/a/../b", "must start with /"),
        ("/_gateway/x", "reserved"),
    ],
)
def test_base_path_clashes_and_shape(alice_m, orders, orders_v1, path, message):
    with pytest.raises(InvalidInput) as error:
        services.version_create(actor=alice_m, api=orders, label="v9", base_path=path)
    assert error.value.field == "base_path"
    assert message in error.value.message


def test_base_path_is_unique_across_tenants(charlie, globex, orders_v1):
    other = services.api_create(actor=membership(charlie, globex), name="Orders", slug="orders")
    with pytest.raises(InvalidInput, match="already in use"):
        services.version_create(actor=membership(charlie, globex), api=other, label="v1", base_path="/orders/v1/")


def test_database_enforces_unique_base_path(orders_v1):
    with pytest.raises(IntegrityError):
        ApiVersionFactory(api=orders_v1.api, label="other", base_path="/orders/v1")


def test_duplicate_label(alice_m, orders, orders_v1):
    with pytest.raises(InvalidInput, match="already has a version") as error:
        services.version_create(actor=alice_m, api=orders, label="v1", base_path="/orders/v1b")
    assert error.value.field == "label"


@pytest.mark.parametrize(
    ("upstream", "message"),
    [
        ("ftp://files.example/x", "not an absolute http(s) URL"),
        ("/relative/path", "not an absolute http(s) URL"),
        ("http://", "not an absolute http(s) URL"),
        ("javascript:alert(1)", "not an absolute http(s) URL"),
        ("https://user:secret@up.example", "credentials"),
        ({"url": "https://up.example", "weight": 0}, "weight"),
        ({"url": "https://up.example", "weight": "heavy"}, "weight"),
    ],
)
def test_upstream_must_be_absolute_http_url(alice_m, orders, upstream, message):
    with pytest.raises(InvalidInput) as error:
        services.version_create(actor=alice_m, api=orders, label="v2", base_path="/orders/v2", upstreams=[upstream])
    assert error.value.field == "upstreams"
    assert message in error.value.message


def test_upstream_is_never_fetched(alice_m, orders, monkeypatch):
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("the portal must not open connections to upstreams")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    version = services.version_create(
        actor=alice_m,
        api=orders,
        label="v2",
        base_path="/orders/v2",
        upstreams=[{"url": "http://orders-backend.example:8443/base", "weight": 2}],
        openapi_document=minimal_spec("/x"),
    )
    assert version.upstreams == [{"url": "http://orders-backend.example:8443/base", "weight": 2}]


def test_publish_without_upstream_is_refused(alice_m, orders):
    version = services.version_create(
        actor=alice_m, api=orders, label="v1", base_path="/orders/v1", openapi_document=minimal_spec("/x")
    )
    with pytest.raises(Conflict, match="upstream") as error:
        services.version_publish(actor=alice_m, version=version)
    assert error.value.status_code == 409


def test_publish_without_spec_is_refused(alice_m, orders):
    version = services.version_create(
        actor=alice_m, api=orders, label="v1", base_path="/orders/v1", upstreams=["https://up.example"]
    )
    with pytest.raises(Conflict, match="OpenAPI"):
        services.version_publish(actor=alice_m, version=version)


def test_nonsense_transitions(alice_m, orders_v1):
    with pytest.raises(Conflict, match="never published"):
        services.version_retire(actor=alice_m, version=orders_v1)
    with pytest.raises(Conflict, match="Only a published version"):
        services.version_deprecate(actor=alice_m, version=orders_v1, sunset_date=dt.date(2099, 1, 1))
    services.version_publish(actor=alice_m, version=orders_v1)
    with pytest.raises(Conflict, match="already published"):
        services.version_publish(actor=alice_m, version=orders_v1)
    services.version_retire(actor=alice_m, version=orders_v1)
    with pytest.raises(Conflict, match="already retired"):
        services.version_retire(actor=alice_m, version=orders_v1)
    with pytest.raises(Conflict, match="cannot be published again"):
        services.version_publish(actor=alice_m, version=orders_v1)


def test_full_lifecycle_is_recorded(alice_m, orders_v1):
    services.version_publish(actor=alice_m, version=orders_v1)
    sunset = timezone.now().date() + dt.timedelta(days=90)
    version = services.version_deprecate(actor=alice_m, version=orders_v1, sunset_date=sunset, note="Use v2")
    assert (version.status, version.sunset_date) == (VersionStatus.DEPRECATED, sunset)
    assert not version.accepts_subscriptions and version.is_routed
    version = services.version_retire(actor=alice_m, version=version)
    assert version.status == VersionStatus.RETIRED and not version.is_routed
    actions = list(selectors.version_events(version).values_list("action", flat=True))
    assert actions == [
        "version.retired",
        "version.deprecated",
        "version.published",
        "version.spec_uploaded",
        "version.created",
    ]


def test_deprecate_needs_a_future_sunset(alice_m, orders_v1):
    services.version_publish(actor=alice_m, version=orders_v1)
    with pytest.raises(InvalidInput) as error:
        services.version_deprecate(actor=alice_m, version=orders_v1, sunset_date=None)
    assert error.value.field == "sunset_date"
    with pytest.raises(InvalidInput, match="past"):
        services.version_deprecate(actor=alice_m, version=orders_v1, sunset_date=dt.date(2000, 1, 1))


def test_base_path_is_fixed_once_published(alice_m, orders_v1):
    services.version_update(actor=alice_m, version=orders_v1, base_path="/orders/one")
    services.version_publish(actor=alice_m, version=orders_v1)
    with pytest.raises(Conflict, match="cannot change after publishing"):
        services.version_update(actor=alice_m, version=orders_v1, base_path="/orders/two")
    # Routing knobs stay editable.
    version = services.version_update(actor=alice_m, version=orders_v1, read_timeout_ms=1000)
    assert version.read_timeout_ms == 1000


def test_spec_upload_replaces_endpoints(alice_m, orders_v1):
    services.version_upload_spec(actor=alice_m, version=orders_v1, document=minimal_spec("/only"))
    assert [e.template for e in selectors.version_endpoints(orders_v1)] == ["GET /only"]


def test_live_versions_block_deletion(alice_m, orders, orders_v1):
    services.version_publish(actor=alice_m, version=orders_v1)
    with pytest.raises(Conflict, match="Retire"):
        services.api_delete(actor=alice_m, api=orders)
    with pytest.raises(Conflict, match="retire it"):
        services.version_delete(actor=alice_m, version=orders_v1)
    services.version_retire(actor=alice_m, version=orders_v1)
    services.api_delete(actor=alice_m, api=orders)
    assert not ApiVersion.objects.unscoped().exists()
    assert not Endpoint.objects.unscoped().exists()
    # The trail survives the deletion.
    assert AuditEvent.objects.for_tenant(alice_m.tenant).filter(action="api.deleted").exists()


def test_plans(alice_m, orders, free_plan):
    business = services.plan_create(
        actor=alice_m,
        api=orders,
        name="Business",
        rate_limit_per_second=50,
        rate_limit_per_minute=2000,
        quota_per_month=5_000_000,
        approval_required=True,
        price_label="€249 / month",
    )
    assert business.approval_required and business.is_public and business.is_active
    with pytest.raises(InvalidInput, match="already has a plan") as error:
        services.plan_create(actor=alice_m, api=orders, name="free")
    assert error.value.field == "name"
    with pytest.raises(InvalidInput) as error:
        services.plan_create(actor=alice_m, api=orders, name="Odd", rate_limit_per_second=0)
    assert error.value.field == "rate_limit_per_second"
    with pytest.raises(InvalidInput, match="higher than the per-minute"):
        services.plan_update(actor=alice_m, plan=business, rate_limit_per_second=3000)
    services.plan_archive(actor=alice_m, plan=free_plan)
    with pytest.raises(Conflict, match="already archived"):
        services.plan_archive(actor=alice_m, plan=free_plan)
    assert list(selectors.catalog_plans(orders, member=False)) == [business]
    services.plan_update(actor=alice_m, plan=business, is_public=False)
    assert list(selectors.catalog_plans(orders, member=False)) == []
    services.plan_delete(actor=alice_m, plan=free_plan)
    assert not Plan.objects.for_tenant(alice_m.tenant).filter(pk=free_plan.pk).exists()


def test_database_refuses_non_positive_limits(orders):
    with pytest.raises(IntegrityError):
        Plan.objects.create(tenant=orders.tenant, api=orders, name="Broken", quota_per_day=0)


def test_scoping_fails_closed(orders):
    with pytest.raises(TenantScopeError):
        list(ApiVersion.objects.all())
    with pytest.raises(TenantScopeError):
        list(Plan.objects.filter(api=orders))


def test_tags_are_normalised_and_searchable(alice_m):
    api = services.api_create(
        actor=alice_m, name="Weather", slug="weather", tags="Forecast, maps, forecast", summary="Rain or shine"
    )
    assert api.tags == ["forecast", "maps"]
    assert list(selectors.tenant_apis(alice_m.tenant, q="maps")) == [api]
    with pytest.raises(InvalidInput) as error:
        services.api_update(actor=alice_m, api=api, tags=["<script>"])
    assert error.value.field == "tags"


def test_factory_api_is_scoped(acme):
    api = ApiFactory(tenant=acme)
    assert selectors.api_for_tenant(acme, api.slug) == api


def test_an_unknown_visibility_is_a_field_error_not_a_crash(acme, alice):
    with pytest.raises(InvalidInput) as refused:
        services.api_create(actor=membership(alice, acme), name="Odd", slug="odd", visibility="everyone")
    assert refused.value.field == "visibility"
    assert "Unknown visibility" in refused.value.message
