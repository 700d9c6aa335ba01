"""Staff browse the quarantine (web and REST), filtered by node, reason and date; nobody else can."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from gateways.models import QuarantinedRecord
from gateways.tests.test_intake import ndjson, post, record


@pytest.fixture
def quarantined(db):
    from gateways import services
    from tenants.tests.factories import UserFactory

    staff = UserFactory(is_staff=True, email="ops@platform.example")
    edge, edge_token = services.node_create(actor=staff, name="edge-1")
    kong, kong_token = services.node_create(actor=staff, name="kong-1")
    post(edge_token, ndjson([record(status="teapot")]) + "{truncated\n", X_Batch_Id="e1")
    post(kong_token, json.dumps(record(ts="not a time")) + "\n", X_Batch_Id="k1")
    return {"staff": staff, "edge": edge, "kong": kong}


def test_the_quarantine_page_lists_and_filters(client, quarantined):
    client.force_login(quarantined["staff"])
    page = client.get("/platform/quarantine/")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('data-reason="') == 3
    assert "invalid_status" in html and "invalid_json" in html and "invalid_ts" in html
    by_node = client.get(f"/platform/quarantine/?node={quarantined['kong'].pk}").content.decode()
    assert by_node.count('data-reason="') == 1 and 'data-reason="invalid_ts"' in by_node
    by_reason = client.get("/platform/quarantine/?reason=invalid_json").content.decode()
    assert by_reason.count('data-reason="') == 1
    future = client.get("/platform/quarantine/?since=2999-01-01").content.decode()
    assert future.count('data-reason="') == 0 and "Nothing in quarantine" in future
    bad = client.get("/platform/quarantine/?node=abc&since=yesterday")
    assert bad.status_code == 400 and "filter-error" in bad.content.decode()


def test_the_detail_page_shows_the_raw_record_and_reason(client, quarantined):
    client.force_login(quarantined["staff"])
    item = QuarantinedRecord.objects.get(reason="invalid_json")
    page = client.get(f"/platform/quarantine/{item.pk}/")
    assert page.status_code == 200
    assert "{truncated" in page.content.decode() and "e1" in page.content.decode()
    assert client.get("/platform/quarantine/999999/").status_code == 404


def test_non_staff_cannot_see_the_quarantine(client, quarantined, alice):
    client.force_login(alice)
    assert client.get("/platform/quarantine/").status_code in (302, 403)
    api = APIClient()
    api.force_authenticate(alice)
    assert api.get("/api/v1/platform/quarantine/").status_code == 403


def test_staff_rest_lists_quarantine_and_batches(quarantined):
    api = APIClient()
    api.force_authenticate(quarantined["staff"])
    listing = api.get("/api/v1/platform/quarantine/", {"reason": "invalid_ts"})
    assert listing.status_code == 200
    results = listing.json()["results"]
    assert [(r["node_name"], r["batch_id"], r["reason"]) for r in results] == [("kong-1", "k1", "invalid_ts")]
    one = api.get(f"/api/v1/platform/quarantine/{results[0]['id']}/").json()
    assert "not a time" in one["raw"]
    assert api.get("/api/v1/platform/quarantine/", {"node": "x"}).status_code == 400
    batches = api.get("/api/v1/platform/log-batches/").json()["results"]
    assert {(b["batch_id"], b["received"], b["accepted"], b["rejected"]) for b in batches} == {
        ("e1", 2, 0, 2),
        ("k1", 1, 0, 1),
    }
