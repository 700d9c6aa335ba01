"""Kong http-log and APISIX http-logger entries: the real samples and the odd things gateways send."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateways.formats import REQUEST_ID_NAMESPACE, path_prefixes
from gateways.models import CallRecord, IngestBatch
from gateways.tests.test_intake import counts, post

SAMPLES = Path(__file__).resolve().parents[2] / "bench" / "samples"
KONG = json.loads((SAMPLES / "kong-http-log.json").read_text())
APISIX_LINES = (SAMPLES / "apisix-http-logger.ndjson").read_text().splitlines()


@pytest.fixture
def node_token(db):
    from gateways import services
    from tenants.tests.factories import UserFactory

    return services.node_create(actor=UserFactory(is_staff=True), name="kong-1")


@pytest.fixture
def weather(acme, globex, charlie):
    """A provider API served at /weather/v1 and a consumer application subscribed to it."""
    from apis.models import ApiVersion
    from subscriptions import services
    from subscriptions.tests.factories import ApplicationFactory, make_catalog, membership

    catalog = make_catalog(acme, slug="weather")
    version = ApiVersion.objects.create(
        tenant=acme, api=catalog.api, label="w1", base_path="/weather/v1", status="published"
    )
    app = ApplicationFactory(tenant=globex)
    subscription = services.subscription_request(actor=membership(charlie, globex), application=app, plan=catalog.free)
    return {"catalog": catalog, "version": version, "app": app, "subscription": subscription}


def _rows() -> dict[str, CallRecord]:
    return {str(r.request_id): r for r in CallRecord.objects.all()}


def test_the_kong_sample_is_accepted_with_the_documented_mapping(node_token, weather, globex, acme):
    _node, token = node_token
    entries = copy.deepcopy(KONG)
    for entry in entries:
        entry["consumer"]["custom_id"] = f"app_{weather['app'].pk}"  # the documented consumer convention
    response = post(token, json.dumps(entries, indent=2), content_type="application/json", X_Batch_Id="k1")
    assert response.status_code == 200, response.content
    assert counts(response) == (2, 2, 0, 0)
    assert response.json()["warnings"] == [{"line": 2, "reason": "no_upstream_latency"}]
    assert IngestBatch.objects.get(batch_id="k1").format == "kong"
    rows = _rows()
    ok = rows[str(uuid.UUID("3f6b2e1c8f0a4f7ab7d0b4d2e9c1a001"))]
    assert ok.source == "kong"
    assert ok.ts == datetime.fromtimestamp(1763690000.121, tz=UTC)
    assert (ok.method, ok.path, ok.status) == ("GET", "/weather/v1/forecast", 200)
    assert (ok.latency_ms, ok.upstream_latency_ms) == (19, 17)
    assert (ok.request_bytes, ok.response_bytes, ok.client_ip, ok.user_agent) == (312, 934, "203.0.113.7", "curl/8.5.0")
    assert (ok.api_version_id, ok.provider_tenant_id) == (weather["version"].pk, acme.pk)
    assert (ok.application_id, ok.consumer_tenant_id) == (weather["app"].pk, globex.pk)
    assert (ok.subscription_id, ok.plan_id) == (weather["subscription"].pk, weather["catalog"].free.pk)
    assert ok.error == ""
    refused = rows[str(uuid.UUID("3f6b2e1c8f0a4f7ab7d0b4d2e9c1a002"))]
    assert (refused.status, refused.error, refused.upstream_latency_ms, refused.latency_ms) == (
        429,
        "rate_limited",
        None,
        1,
    )
    # Kong retries a failed delivery: the same entries again are duplicates.
    assert counts(post(token, json.dumps(entries), content_type="application/json")) == (2, 0, 2, 0)


def test_the_apisix_sample_is_accepted_with_the_documented_mapping(node_token, weather):
    _node, token = node_token
    response = post(token, "\n".join(APISIX_LINES) + "\n", X_Batch_Id="a1")
    assert counts(response) == (2, 2, 0, 0)
    assert IngestBatch.objects.get(batch_id="a1").format == "apisix"
    rows = _rows()
    first = rows["a1b2c3d4-0001-4e5f-8a9b-0c1d2e3f4a5b"]
    assert first.source == "apisix"
    assert first.ts == datetime.fromtimestamp(1763690001, tz=UTC)
    assert (first.method, first.path, first.status) == ("GET", "/weather/v1/forecast", 200)
    assert (first.latency_ms, first.upstream_latency_ms) == (18.4, 15)
    assert (first.request_bytes, first.response_bytes) == (180, 860)
    assert (first.client_ip, first.user_agent) == ("198.51.100.23", "python-httpx/0.28.1")
    assert first.api_version_id == weather["version"].pk
    assert first.key_id == "acme_mobile_app" and first.api_key_id is None  # no such key: kept, not resolved
    second = rows["a1b2c3d4-0002-4e5f-8a9b-0c1d2e3f4a5b"]
    assert (second.status, second.latency_ms, second.error) == (502, 3002.1, "upstream_error")


def test_explicit_format_and_a_json_array_from_apisix(node_token):
    _node, token = node_token
    array = "[" + ",".join(APISIX_LINES) + "]"
    response = post(token, array, content_type="application/json", url="/gateway/v1/logs?format=apisix")
    assert counts(response) == (2, 2, 0, 0)
    assert set(CallRecord.objects.values_list("source", flat=True)) == {"apisix"}


def test_odd_kong_entries(node_token):
    _node, token = node_token
    single = copy.deepcopy(KONG[0])  # queue.max_batch_size=1: one object, not an array
    no_id = copy.deepcopy(KONG[0])
    del no_id["request"]["id"]
    no_id["started_at"] = 1763690000  # seconds, not milliseconds
    no_id["response"]["status"] = "503"  # a number as a string
    no_id["latencies"] = {"request": "-4", "proxy": "-1", "kong": "1"}
    no_id["source"] = "kong"
    assert counts(post(token, json.dumps(single), content_type="application/json")) == (1, 1, 0, 0)
    response = post(token, json.dumps(no_id), content_type="application/json")
    assert counts(response) == (1, 1, 0, 0)
    assert {w["reason"] for w in response.json()["warnings"]} == {"negative_latency_ms_clamped", "no_upstream_latency"}
    hashed = CallRecord.objects.get(ts=datetime.fromtimestamp(1763690000, tz=UTC))
    assert hashed.request_id.version == 5  # a stable hash of the entry's fields
    assert (hashed.status, hashed.latency_ms, hashed.error) == (503, 0, "upstream_error")
    # The same id-less entry resent hashes to the same request id: a duplicate.
    assert counts(post(token, json.dumps(no_id), content_type="application/json")) == (1, 0, 1, 0)
    assert uuid.uuid5(REQUEST_ID_NAMESPACE, "x") != hashed.request_id


def test_odd_apisix_lines(node_token):
    _node, token = node_token
    no_id = json.loads(APISIX_LINES[0])
    del no_id["request"]["headers"]["x-request-id"]
    del no_id["latency"], no_id["upstream_latency"]
    no_id["request_time"] = "0.250"  # nginx variables are seconds
    no_id["upstream_response_time"] = 0.2
    no_status = json.loads(APISIX_LINES[1])
    del no_status["response"]["status"]
    lines = [json.dumps(no_id), "", APISIX_LINES[1][:70], json.dumps(no_status), "   "]
    response = post(token, "\n".join(lines))
    assert counts(response) == (3, 1, 0, 2)
    assert response.json()["errors"] == [{"line": 3, "reason": "invalid_json"}, {"line": 4, "reason": "missing_status"}]
    row = CallRecord.objects.get()
    assert (row.latency_ms, row.upstream_latency_ms) == (250, 200)
    assert row.request_id.version == 5


def test_path_prefixes_longest_first() -> None:
    assert path_prefixes("/a/b/c") == ["/a/b/c", "/a/b/", "/a/b", "/a/", "/a", "/"]
    assert path_prefixes("/a/") == ["/a/", "/a", "/"]
    assert path_prefixes("relative") == []
