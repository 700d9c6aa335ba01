"""Upstream targets go through the outbound policy: refused when saved, web form and REST."""

from __future__ import annotations

import pytest
from django.test.utils import override_settings

from apis.models import ApiVersion

STRICT = override_settings(OUTBOUND_ALLOWED_NETWORKS=[], OUTBOUND_ALLOW_PRIVATE_TARGETS=False)
REST = "/api/v1/tenants/acme/apis/orders/versions/"
WEB = "/t/acme/apis/orders/versions/"

REFUSED = [
    ("http://169.254.169.254/latest", "link-local"),
    ("http://2130706433:8080", "loopback"),
    ("http://[::ffff:10.0.0.1]", "embeds 10.0.0.1"),
    ("http://0x7f.1", "loopback"),
    ("http://100.64.0.10", "carrier-grade NAT"),
    ("http://localhost:9101", "loopback"),
    ("http://redis:6379", "internal host name"),
]


@STRICT
@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_refused_upstreams_are_refused_over_rest(api, alice, orders, orders_v1, url, reason):
    api.force_authenticate(alice)
    response = api.post(
        REST, {"label": "v2", "base_path": "/orders/v2", "upstreams": [{"url": url, "weight": 1}]}, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "upstream_refused"
    message = error["fields"]["upstreams"][0]
    assert url in message and reason in message
    response = api.patch(REST + "v1/", {"upstreams": [{"url": url}]}, format="json")
    assert response.status_code == 400 and reason in response.json()["error"]["fields"]["upstreams"][0]
    assert not ApiVersion.objects.unscoped().filter(label="v2").exists()
    orders_v1.refresh_from_db()
    assert orders_v1.upstreams == [{"url": "https://orders.internal.acme.example", "weight": 1}]


@STRICT
@pytest.mark.parametrize(("url", "reason"), REFUSED[:3])
def test_refused_upstreams_are_refused_on_the_web_form(client, alice, orders, orders_v1, url, reason):
    client.force_login(alice)
    form = {"label": "v2", "base_path": "/orders/v2", "connect_timeout_ms": 1000, "read_timeout_ms": 1000}
    response = client.post(WEB + "new/", {**form, "upstreams": f"https://ok.example 1\n{url} 2"})
    body = response.content.decode()
    assert response.status_code == 400 and "Upstream 2" in body and reason in body
    response = client.post(WEB + "v1/edit/", {**form, "label": "v1", "base_path": "/orders/v1", "upstreams": url})
    assert response.status_code == 400 and reason in response.content.decode()
    assert not ApiVersion.objects.unscoped().filter(label="v2").exists()


@override_settings(OUTBOUND_ALLOWED_NETWORKS=["10.20.0.0/16"], OUTBOUND_ALLOW_PRIVATE_TARGETS=False)
def test_operators_can_allow_on_premises_networks(api, alice, orders):
    api.force_authenticate(alice)
    upstreams = [{"url": "http://10.20.3.4:8080", "weight": 1}, {"url": "http://billing.internal", "weight": 1}]
    response = api.post(REST, {"label": "v2", "base_path": "/orders/v2", "upstreams": upstreams}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["upstreams"] == upstreams
    response = api.post(
        REST, {"label": "v3", "base_path": "/orders/v3", "upstreams": [{"url": "http://10.21.0.1"}]}, format="json"
    )
    assert response.status_code == 400
