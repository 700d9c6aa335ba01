"""Provider pages under /t/<slug>/apis/: forms, lifecycle buttons, roles, strangers."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from apis import selectors
from apis.models import Api, ApiVersion, Plan, VersionStatus
from apis.tests.factories import minimal_spec, orders_spec

T = "/t/acme/apis/"


@pytest.fixture
def pages(orders, orders_v1, free_plan):
    v1 = f"{T}orders/versions/v1/"
    return {
        "get": [T, f"{T}new/", f"{T}orders/", f"{T}orders/edit/", f"{T}orders/versions/new/", v1, f"{v1}edit/",
                f"{T}orders/plans/new/", f"{T}orders/plans/{free_plan.pk}/"],
        "post": [f"{T}new/", f"{T}orders/edit/", f"{T}orders/delete/", f"{T}orders/versions/new/", f"{v1}edit/",
                 f"{v1}openapi/", f"{v1}publish/", f"{v1}deprecate/", f"{v1}retire/", f"{v1}delete/",
                 f"{T}orders/plans/new/", f"{T}orders/plans/{free_plan.pk}/",
                 f"{T}orders/plans/{free_plan.pk}/archive/", f"{T}orders/plans/{free_plan.pk}/delete/"],
    }  # fmt: skip


def test_it_checks_ownership(client, charlie, pages):
    client.force_login(charlie)
    for url in pages["get"]:
        assert client.get(url).status_code == 404, url
    for url in pages["post"]:
        assert client.post(url).status_code == 404, url


def test_viewer_reads_but_cannot_write(client, vera, pages):
    client.force_login(vera)
    for url in [T, f"{T}orders/", f"{T}orders/versions/v1/"]:
        assert client.get(url).status_code == 200, url
    for url in pages["get"]:
        if url.endswith(("new/", "edit/")) or "/plans/" in url:
            assert client.get(url).status_code == 403, url
    for url in pages["post"]:
        assert client.post(url).status_code == 403, url
    assert "Register an API" not in client.get(T).content.decode()


def test_anonymous_is_sent_to_sign_in(client, pages):
    response = client.get(T)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_register_api_upload_spec_add_plans_and_publish(client, bob, acme):
    client.force_login(bob)
    response = client.post(
        f"{T}new/",
        {"name": "Orders", "slug": "orders", "summary": "Ship it", "tags": "logistics, orders", "visibility": "public"},
    )
    assert response.status_code == 302
    api = Api.objects.for_tenant(acme).get(slug="orders")
    assert api.tags == ["logistics", "orders"]
    upload = SimpleUploadedFile("orders.yaml", orders_spec().encode(), "application/yaml")
    response = client.post(
        f"{T}orders/versions/new/",
        {
            "label": "v1",
            "base_path": "/orders/v1",
            "upstreams": "https://orders-a.internal.example 3\nhttps://orders-b.internal.example",
            "connect_timeout_ms": 2000,
            "read_timeout_ms": 10000,
            "openapi_file": upload,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    version = selectors.version_for(api, "v1")
    assert version.upstreams == [
        {"url": "https://orders-a.internal.example", "weight": 3},
        {"url": "https://orders-b.internal.example", "weight": 1},
    ]
    assert selectors.version_endpoints(version).count() == 7
    for name, approval in (("Free", ""), ("Business", "on")):
        data = {"name": name, "rate_limit_per_second": 5, "quota_per_day": 1000, "is_public": "on"}
        if approval:
            data["approval_required"] = approval
        assert client.post(f"{T}orders/plans/new/", data).status_code == 302
    assert [p.approval_required for p in Plan.objects.for_tenant(acme).order_by("name")] == [True, False]
    response = client.post(f"{T}orders/versions/v1/publish/", {"note": "launch"}, follow=True)
    assert "Orders v1 is now published." in response.content.decode()
    page = client.get(f"{T}orders/versions/v1/").content.decode()
    assert "version.published" in page and "bob@acme.example" in page and "launch" in page


def test_form_errors_name_the_field(client, alice, orders, orders_v1):
    client.force_login(alice)
    response = client.post(f"{T}new/", {"name": "Dup", "slug": "orders", "visibility": "public"})
    assert response.status_code == 400
    assert "You already have an API with the slug “orders”." in response.content.decode()
    response = client.post(
        f"{T}orders/versions/new/",
        {"label": "v2", "base_path": "/orders/v1", "connect_timeout_ms": 1, "read_timeout_ms": 1},
    )
    assert response.status_code == 400
    assert "The base path “/orders/v1” is already in use." in response.content.decode()
    response = client.post(
        f"{T}orders/versions/new/",
        {"label": "v2", "base_path": "/o2", "upstreams": "ftp://x", "connect_timeout_ms": 1, "read_timeout_ms": 1},
    )
    assert "is not an absolute http(s) URL" in response.content.decode()


def test_invalid_spec_paste_lists_problems_with_paths(client, alice, orders, orders_v1):
    client.force_login(alice)
    bad = minimal_spec("/orders")
    bad["paths"]["/orders"]["get"].pop("responses")
    import json

    response = client.post(f"{T}orders/versions/v1/openapi/", {"openapi": json.dumps(bad)})
    assert response.status_code == 400
    # The validator quotes with ' (jsonschema) or " (jsonschema-rs, when installed); both are escaped.
    assert re.search(
        r"paths › /orders › get: &(#x27|quot);responses&(#x27|quot); is a required property", response.content.decode()
    )


def test_nonsense_transition_is_409_with_reason(client, alice, orders, orders_v1):
    client.force_login(alice)
    response = client.post(f"{T}orders/versions/v1/retire/")
    assert response.status_code == 409
    assert "never published; delete the draft instead" in response.content.decode()


def test_deprecate_with_sunset_date_then_retire(client, alice, acme, orders, orders_v1):
    client.force_login(alice)
    client.post(f"{T}orders/versions/v1/publish/")
    sunset = timezone.now().date() + dt.timedelta(days=30)
    assert client.post(f"{T}orders/versions/v1/deprecate/", {"sunset_date": ""}).status_code == 400
    client.post(f"{T}orders/versions/v1/deprecate/", {"sunset_date": sunset.isoformat(), "note": "use v2"})
    version = ApiVersion.objects.for_tenant(acme).get(pk=orders_v1.pk)
    assert (version.status, version.sunset_date) == (VersionStatus.DEPRECATED, sunset)
    client.post(f"{T}orders/versions/v1/retire/")
    version.refresh_from_db()
    assert version.status == VersionStatus.RETIRED


def test_published_version_locks_base_path_in_the_form(client, alice, orders, orders_v1):
    client.force_login(alice)
    client.post(f"{T}orders/versions/v1/publish/")
    html = client.get(f"{T}orders/versions/v1/edit/").content.decode()
    assert 'name="base_path"' in html and "disabled" in html


def test_description_is_sanitised_on_provider_page(client, alice, orders):
    from apis import services
    from apis.tests.conftest import membership

    services.api_update(actor=membership(alice, orders.tenant), api=orders, description="<script>alert(1)</script>*hi*")
    client.force_login(alice)
    html = client.get(f"{T}orders/").content.decode()
    assert "<script>alert(1)" not in html and "<em>hi</em>" in html
