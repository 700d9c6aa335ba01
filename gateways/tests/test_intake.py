"""POST /gateway/v1/logs: counts, dedupe, quarantine, gzip and its bombs, 401/413/503, enrichment."""

from __future__ import annotations

import gzip
import json
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import OperationalError
from rest_framework.test import APIClient

from gateways.models import CallRecord, IngestBatch, QuarantinedRecord

URL = "/gateway/v1/logs"


@pytest.fixture
def staff(db):
    from tenants.tests.factories import UserFactory

    return UserFactory(is_staff=True, email="ops@platform.example")


@pytest.fixture
def node_token(staff):
    from gateways import services

    node, token = services.node_create(actor=staff, name="edge-1")
    return node, token


def post(
    token: str, body: bytes | str, *, content_type: str = "application/x-ndjson", url: str = URL, **headers: str
) -> Any:
    client = APIClient()
    if isinstance(body, str):
        body = body.encode()
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    return client.generic("POST", url, body, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {token}", **extra)


def record(**overrides: Any) -> dict[str, Any]:
    base = {
        "request_id": str(uuid.uuid4()),
        "ts": datetime.now(UTC).isoformat(),
        "method": "GET",
        "path": "/nowhere/x",
        "status": 200,
        "latency_ms": 12.5,
        "request_bytes": 100,
        "response_bytes": 900,
        "client_ip": "203.0.113.9",
        "user_agent": "test/1",
    }
    base.update(overrides)
    return base


def ndjson(records: list[dict[str, Any]]) -> str:
    return "\n".join(json.dumps(r) for r in records) + "\n"


def counts(response: Any) -> tuple[int, int, int, int]:
    body = response.json()
    assert body["received"] == body["accepted"] + body["duplicates"] + body["rejected"]
    return body["received"], body["accepted"], body["duplicates"], body["rejected"]


def test_a_batch_is_stored_and_a_retried_batch_is_counted_once(node_token):
    node, token = node_token
    records = [record() for _ in range(3)]
    first = post(token, ndjson(records), X_Batch_Id="batch-1")
    assert first.status_code == 200, first.content
    assert counts(first) == (3, 3, 0, 0)
    assert first.json()["batch_id"] == "batch-1"
    again = post(token, ndjson(records), X_Batch_Id="batch-1")
    assert again.status_code == 200
    assert counts(again) == (3, 3, 0, 0)  # the stored answer, nothing inserted twice
    assert CallRecord.objects.count() == 3
    assert IngestBatch.objects.filter(node=node).count() == 1
    row = CallRecord.objects.get(request_id=records[0]["request_id"])
    assert (row.node_id, row.source, row.status, row.latency_ms) == (node.pk, "native", 200, 12.5)


def test_the_same_request_id_in_another_batch_is_a_duplicate(node_token):
    _node, token = node_token
    rec = record()
    assert counts(post(token, ndjson([rec]), X_Batch_Id="a")) == (1, 1, 0, 0)
    response = post(token, ndjson([rec, rec, record()]), X_Batch_Id="b")
    assert counts(response) == (3, 1, 2, 0)
    assert CallRecord.objects.count() == 2


def test_a_record_repeated_within_a_new_batch_is_stored_once(node_token):
    node, token = node_token
    rec, other = record(), record()
    response = post(token, ndjson([rec, other, rec, {"ts": "x"}]), X_Batch_Id="c")
    assert counts(response) == (4, 2, 1, 1)
    assert CallRecord.objects.count() == 2
    batch = IngestBatch.objects.get(node=node, batch_id="c")
    assert (batch.received, batch.accepted, batch.duplicates, batch.rejected) == (4, 2, 1, 1)
    assert batch.quarantined.count() == 1


def test_malformed_records_are_quarantined_with_a_reason_never_a_500(node_token):
    node, token = node_token
    lines = [
        json.dumps(record()),
        "",  # blank: not a record
        '{"request_id": "x", "ts": "2026-',  # truncated
        json.dumps(record(status="abc")),
        json.dumps(record(ts="yesterday")),
        json.dumps(record(status=None)),
        "[1, 2]",  # an array of non-objects on one line
        json.dumps(record(latency_ms="NaN")),
        json.dumps(record(user_agent="nul\u0000and\ud800surrogate", status="201")),  # cleaned, accepted
        b"\xff\xfe not utf-8".decode("latin-1"),
        json.dumps(record(ts=(datetime.now(UTC) + timedelta(days=3)).isoformat())),
        json.dumps(record(response_bytes=1e30)),
    ]
    response = post(token, "\n".join(lines))
    assert response.status_code == 200, response.content
    body = response.json()
    assert counts(response) == (12, 2, 0, 10)
    reasons = {(e["line"], e["reason"]) for e in body["errors"]}
    assert reasons == {
        (3, "invalid_json"),
        (4, "invalid_status"),
        (5, "invalid_ts"),
        (6, "missing_status"),
        (7, "not_an_object"),
        (8, "invalid_latency_ms"),
        (10, "invalid_json"),
        (11, "ts_in_future"),
        (12, "invalid_response_bytes"),
    }
    assert len(body["errors"]) == 10
    stored = QuarantinedRecord.objects.filter(node=node)
    assert stored.count() == 10
    assert stored.get(line=3).raw.startswith('{"request_id": "x"')
    assert CallRecord.objects.get(status=201).user_agent == "nuland?surrogate"


def test_a_json_array_a_single_object_and_numbers_as_strings(node_token):
    _node, token = node_token
    array = [record(status="404", latency_ms="7", request_bytes="12"), record(latency_ms=-3)]
    response = post(token, json.dumps(array), content_type="application/json")
    assert counts(response) == (2, 2, 0, 0)
    assert response.json()["warnings"] == [{"line": 2, "reason": "negative_latency_ms_clamped"}]
    single = post(token, json.dumps(record(request_id=None)), content_type="application/json")
    assert counts(single) == (1, 1, 0, 0)
    assert sorted(CallRecord.objects.values_list("status", flat=True)) == [200, 200, 404]
    assert CallRecord.objects.filter(status=200, latency_ms=0).exists()


def test_gzip_bodies_are_inflated(node_token):
    _node, token = node_token
    body = gzip.compress(ndjson([record() for _ in range(50)]).encode())
    response = post(token, body, Content_Encoding="gzip", X_Batch_Id="gz")
    assert counts(response) == (50, 50, 0, 0)
    assert IngestBatch.objects.get(batch_id="gz").bytes == len(body)
    corrupt = post(token, body[:-20], Content_Encoding="gzip")
    assert corrupt.status_code == 400 and corrupt.json()["error"]["code"] == "invalid_gzip"
    # Highly compressible input: zlib holds output beyond one chunk after the last input byte.
    padded = [record(user_agent="x" * 500) for _ in range(2000)]
    assert counts(post(token, gzip.compress(ndjson(padded).encode()), Content_Encoding="gzip")) == (2000, 2000, 0, 0)
    two_members = gzip.compress(ndjson([record()]).encode()) + gzip.compress(ndjson([record()]).encode())
    assert counts(post(token, two_members, Content_Encoding="gzip")) == (2, 2, 0, 0)


def test_a_gzip_bomb_is_refused_without_being_inflated(node_token, settings):
    _node, token = node_token
    settings.GATEWAY_LOGS_MAX_INFLATED_BYTES = 2 * 1024 * 1024
    # 200 MB of zeros compress to ~200 KB: under the compressed limit, far over the inflated one.
    bomb = gzip.compress(b"\n" * (200 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < settings.GATEWAY_LOGS_MAX_BYTES
    tracemalloc.start()
    try:
        response = post(token, bomb, Content_Encoding="gzip")
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    # Never more than the cap plus a chunk (plus the body and test client copies).
    assert peak < settings.GATEWAY_LOGS_MAX_INFLATED_BYTES + 4 * len(bomb) + 2 * 1024 * 1024
    assert IngestBatch.objects.count() == 0


def test_an_oversize_body_is_413(node_token, settings):
    _node, token = node_token
    settings.GATEWAY_LOGS_MAX_BYTES = 1000
    response = post(token, ndjson([record() for _ in range(20)]))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    settings.GATEWAY_LOGS_MAX_BYTES = 10_000_000
    settings.GATEWAY_LOGS_MAX_RECORDS = 5
    assert post(token, ndjson([record() for _ in range(6)])).status_code == 413


def test_a_bad_or_revoked_token_is_401(node_token, staff):
    from gateways import services

    node, token = node_token
    assert post("gwn_nope_nope", ndjson([record()])).status_code == 401
    assert APIClient().post(URL, ndjson([record()]), content_type="application/x-ndjson").status_code == 401
    services.node_revoke(actor=staff, node=node)
    response = post(token, ndjson([record()]))
    assert response.status_code == 401
    assert "error" in response.json()
    assert CallRecord.objects.count() == 0


def test_database_unavailable_is_503_with_retry_after_and_nothing_committed(node_token, monkeypatch):
    from gateways import intake

    _node, token = node_token

    def down(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("connection to server lost")

    monkeypatch.setattr(intake, "_copy_raw", down)
    response = post(token, ndjson([record()]), X_Batch_Id="retry-me")
    assert response.status_code == 503
    assert response["Retry-After"]
    assert response.json()["error"]["code"] == "unavailable"
    assert IngestBatch.objects.count() == 0
    monkeypatch.undo()
    assert counts(post(token, ndjson([record()]), X_Batch_Id="retry-me")) == (1, 1, 0, 0)


def test_unknown_format_is_400(node_token):
    _node, token = node_token
    client = APIClient()
    response = client.generic(
        "POST", URL + "?format=nginx", "{}", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 400 and response.json()["error"]["fields"] == {"format": ["unknown"]}


def post_via(token: str, records: list[dict[str, Any]], path: str, monkeypatch: Any) -> tuple[int, ...]:
    """Post ``records`` through the direct COPY (``direct``) or the conflict path (``conflict``:
    one record already stored rides along, so the COPY rolls back and staging + INSERT … ON
    CONFLICT runs); returns the counts of the new records' batch, the stored one left out."""
    from gateways import intake

    calls: list[int] = []
    real_insert = intake._insert
    monkeypatch.setattr(intake, "_insert", lambda *a: calls.append(1) or real_insert(*a))
    if path == "direct":
        result = counts(post(token, ndjson(records)))
        assert calls == [], "the batch fell back to the conflict path"
        return result
    stored = record()
    assert counts(post(token, ndjson([stored]))) == (1, 1, 0, 0)
    calls.clear()
    received, accepted, duplicates, rejected = counts(post(token, ndjson([stored, *records])))
    assert calls == [1], "the batch did not take the conflict path"
    CallRecord.objects.filter(request_id=stored["request_id"]).delete()
    return received - 1, accepted, duplicates - 1, rejected


@pytest.mark.parametrize("path", ["direct", "conflict"])
def test_records_are_enriched_with_provider_consumer_application_key_and_plan(
    node_token, acme, alice, globex, charlie, path, monkeypatch
):
    from subscriptions import services
    from subscriptions.tests.factories import ApplicationFactory, make_catalog, membership

    catalog = make_catalog(acme)
    app = ApplicationFactory(tenant=globex)
    actor = membership(charlie, globex)
    subscription = services.subscription_request(actor=actor, application=app, plan=catalog.free)
    key, _plaintext = services.key_create(actor=actor, application=app, name="ci")
    base = catalog.v1.base_path
    records = [
        record(path=f"{base}/orders/42", key_id=key.key_id),  # by longest base path
        record(api_version_id=catalog.v1.pk, path="/elsewhere", key_id=key.key_id),  # by id
        record(path="/unknown/path", key_id="nosuchkey"),  # nothing matches: kept, not enriched
        record(base_path=base, path="/orders", application_id=app.pk),  # application without a key
    ]
    _node, token = node_token
    assert post_via(token, records, path, monkeypatch) == (4, 4, 0, 0)
    rows = {str(r.request_id): r for r in CallRecord.objects.all()}
    for rec in (records[0], records[1]):
        row = rows[rec["request_id"]]
        assert (row.api_version_id, row.api_id, row.provider_tenant_id) == (catalog.v1.pk, catalog.api.pk, acme.pk)
        assert (row.api_key_id, row.application_id, row.consumer_tenant_id) == (key.pk, app.pk, globex.pk)
        assert (row.subscription_id, row.plan_id) == (subscription.pk, catalog.free.pk)
    lost = rows[records[2]["request_id"]]
    assert (lost.api_version_id, lost.api_key_id, lost.key_id, lost.application_id) == (None, None, "nosuchkey", None)
    by_app = rows[records[3]["request_id"]]
    assert (by_app.api_version_id, by_app.application_id, by_app.plan_id) == (catalog.v1.pk, app.pk, catalog.free.pk)


@pytest.mark.parametrize("path", ["direct", "conflict"])
def test_longest_base_path_wins(node_token, acme, path, monkeypatch):
    from apis.models import ApiVersion
    from subscriptions.tests.factories import make_catalog

    catalog = make_catalog(acme)
    deeper = ApiVersion.objects.create(
        tenant=acme, api=catalog.api, label="v1-beta", base_path=catalog.v1.base_path + "/beta", status="published"
    )
    _node, token = node_token
    a, b, c = (
        record(path=catalog.v1.base_path + "/beta/x"),
        record(path=catalog.v1.base_path + "/betamax"),
        record(path=catalog.v1.base_path),
    )
    post_via(token, [a, b, c], path, monkeypatch)
    got = {str(r.request_id): r.api_version_id for r in CallRecord.objects.all()}
    assert got == {a["request_id"]: deeper.pk, b["request_id"]: catalog.v1.pk, c["request_id"]: catalog.v1.pk}


def test_an_integer_beyond_any_float_is_quarantined_not_a_500(node_token):
    _node, token = node_token
    response = post(token, ndjson([record(latency_ms=10**400), record()]))
    assert response.status_code == 200
    assert counts(response) == (2, 1, 0, 1)
    assert response.json()["errors"][0]["reason"] == "invalid_latency_ms"


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8::1", "2001:db8::1"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("::ffff:192.0.2.1", "::ffff:192.0.2.1"),
        (" 198.51.100.7 ", "198.51.100.7"),
        ("fe80::1%eth0", "fe80::1"),  # a zone PostgreSQL's inet has no room for: the address is kept
        ("999.1.1.1", None),
        ("not an address", None),
    ],
)
def test_client_addresses_are_stored_as_postgresql_reads_them_or_dropped_with_a_warning(node_token, sent, stored):
    _node, token = node_token
    rec = record(client_ip=sent)
    response = post(token, ndjson([rec]))
    assert response.status_code == 200, response.content
    assert counts(response) == (1, 1, 0, 0)
    assert CallRecord.objects.get(request_id=rec["request_id"]).client_ip == stored
    if stored is None:
        assert response.json()["warnings"] == [{"line": 1, "reason": "invalid_client_ip_dropped"}]


@pytest.mark.parametrize("path", ["direct", "conflict"])
def test_every_column_survives_either_path_exactly(node_token, path, monkeypatch):
    from decimal import Decimal

    rec = record(
        ts="2026-11-20T10:11:12.345678+00:00",
        method="post",
        path="/nowhere/chat?x=1",
        status=201,
        latency_ms=1234.5,
        upstream_latency_ms=1200.25,
        request_bytes=2**40,
        response_bytes=0,
        client_ip="2001:db8::7",
        user_agent="agent\twith\ttabs\\and\nnewline ü",
        error="",
        ai_provider="openai",
        ai_model="gpt-x",
        ai_input_tokens=1500,
        ai_output_tokens=20,
        ai_cost="0.01234567",
    )
    _node, token = node_token
    assert post_via(token, [rec], path, monkeypatch) == (1, 1, 0, 0)
    row = CallRecord.objects.get(request_id=rec["request_id"])
    assert row.ts == datetime(2026, 11, 20, 10, 11, 12, 345678, tzinfo=UTC)
    assert (row.method, row.path, row.status) == ("POST", "/nowhere/chat?x=1", 201)
    assert (row.latency_ms, row.upstream_latency_ms) == (1234.5, 1200.25)
    assert (row.request_bytes, row.response_bytes) == (2**40, 0)
    assert (row.client_ip, row.user_agent) == ("2001:db8::7", "agent\twith\ttabs\\and\nnewline ü")
    assert (row.ai_provider, row.ai_model, row.ai_input_tokens, row.ai_output_tokens) == ("openai", "gpt-x", 1500, 20)
    assert row.ai_cost == Decimal("0.01234567")


@pytest.mark.parametrize("path", ["direct", "conflict"])
def test_served_calls_move_the_keys_last_use_at_most_once_a_minute(
    node_token, acme, globex, charlie, path, monkeypatch
):
    """Nodes check keys from their snapshot, so the call logs are what says when a key was last used."""
    from datetime import timedelta

    from subscriptions import services
    from subscriptions.models import ApiKey
    from subscriptions.tests.factories import ApplicationFactory, make_catalog, membership

    catalog = make_catalog(acme)
    app = ApplicationFactory(tenant=globex)
    actor = membership(charlie, globex)
    services.subscription_request(actor=actor, application=app, plan=catalog.free)
    used, _ = services.key_create(actor=actor, application=app, name="used")
    refused, _ = services.key_create(actor=actor, application=app, name="refused only")
    now = datetime.now(UTC)
    base = catalog.v1.base_path
    records = [
        record(path=f"{base}/a", key_id=used.key_id, ts=(now - timedelta(minutes=5)).isoformat()),
        record(path=f"{base}/a", key_id=used.key_id, ts=(now - timedelta(minutes=2)).isoformat()),
        record(path=f"{base}/a", key_id=refused.key_id, status=429, error="rate_limited"),
    ]
    _node, token = node_token
    assert post_via(token, records, path, monkeypatch)[1] == 3
    used.refresh_from_db()
    refused.refresh_from_db()
    assert used.last_used_at == now - timedelta(minutes=2)  # the latest served call
    assert refused.last_used_at is None  # a refused call is not a use

    # Within a minute of the recorded use, another call writes nothing (reads stay reads)…
    counts(
        post(
            token, ndjson([record(path=f"{base}/a", key_id=used.key_id, ts=(now - timedelta(seconds=90)).isoformat())])
        )
    )
    assert ApiKey.objects.for_tenant(globex).get(pk=used.pk).last_used_at == now - timedelta(minutes=2)
    # …a later one moves it.
    counts(post(token, ndjson([record(path=f"{base}/a", key_id=used.key_id, ts=now.isoformat())])))
    assert ApiKey.objects.for_tenant(globex).get(pk=used.pk).last_used_at == now
