"""Single-line fields refuse control characters; over-long values are refused, never truncated."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError

from apis.models import Api
from apis.tests.factories import minimal_spec
from tenants.models import Tenant

BASE = "/api/v1/tenants/acme/apis/"
V1 = BASE + "orders/versions/v1/"
CONTROL = ["a\nb", "a\rb", "a\tb", "a\x1bb", "a\x85b", "a\u2028b"]


@pytest.fixture
def as_alice(api, alice):
    api.force_authenticate(alice)
    return api


def _field_error(response, field: str) -> str:
    assert response.status_code == 400, response.content[:300]
    return response.json()["error"]["fields"][field][0]


@pytest.mark.parametrize("value", CONTROL)
def test_single_line_fields_refuse_control_characters_over_rest(as_alice, orders, orders_v1, value):
    message = "Use a single line without control characters."
    assert _field_error(as_alice.post(BASE, {"name": value, "slug": "x"}, format="json"), "name") == message
    assert _field_error(as_alice.patch(BASE + "orders/", {"summary": value}, format="json"), "summary") == message
    plan = {"name": value}
    assert _field_error(as_alice.post(BASE + "orders/plans/", plan, format="json"), "name") == message
    token = {"name": value}
    assert _field_error(as_alice.post("/api/v1/tenants/acme/tokens/", token, format="json"), "name") == message
    hook = {"url": "https://hooks.example.com/a", "events": ["subscription.approved"], "description": value}
    assert _field_error(as_alice.post("/api/v1/tenants/acme/webhooks/", hook, format="json"), "description")
    assert _field_error(as_alice.patch("/api/v1/tenants/acme/", {"name": value}, format="json"), "name") == message


def test_multi_line_fields_keep_line_breaks(as_alice, orders):
    response = as_alice.patch(BASE + "orders/", {"description": "line 1\nline 2\r\n\tindented"}, format="json")
    assert response.status_code == 200, response.json()
    assert Api.objects.for_tenant(orders.tenant).get(pk=orders.pk).description.count("\n") == 2
    response = as_alice.patch(BASE + "orders/", {"description": "bell \x07"}, format="json")
    assert response.status_code == 400


def test_model_validator_is_the_same_rule(acme):
    acme.name = "Acme\r\nBcc: someone"
    with pytest.raises(ValidationError) as caught:
        acme.full_clean()
    assert "name" in caught.value.message_dict
    Tenant.objects.filter(pk=acme.pk).update(name="fine")


def test_over_long_webhook_description_is_refused_not_cut(as_alice):
    hook = {"url": "https://hooks.example.com/a", "events": ["subscription.approved"], "description": "x" * 201}
    assert "200 characters" in _field_error(
        as_alice.post("/api/v1/tenants/acme/webhooks/", hook, format="json"), "description"
    )


def test_over_long_paths_that_would_collide_when_cut_are_400(as_alice, orders, orders_v1):
    long = "/" + "a" * 520
    spec = minimal_spec(long + "x", long + "y")
    response = as_alice.put(V1 + "openapi/", json.dumps(spec), content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    assert "longer than 500 characters" in response.json()["error"]["message"]


def test_nul_inside_an_uploaded_document_is_400(as_alice, orders, orders_v1):
    spec = minimal_spec("/a")
    spec["paths"]["/a"]["get"]["summary"] = "nul \x00 here"
    body = json.dumps(spec)
    response = as_alice.put(V1 + "openapi/", body.encode(), content_type="application/yaml")
    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"]["fields"]["openapi"]
