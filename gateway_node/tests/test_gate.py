"""The gate: routing, key checks in order, what reaches the upstream, and the call records."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid

import pytest

from gateway_node.contracts import CallRecord, Forward, Outcome, Refuse, RequestHead
from gateway_node.gate import Gate, GateOptions, compile_snapshot
from gateway_node.limits import Limiter

SECRET = "s3cretS3cretS3cretS3cretS3cret12"
KEY = f"apk_KEYID0000001_{SECRET}"


class Balancers:
    """Stands in for the upstream registry: the gate only stores what it returns."""

    def __init__(self) -> None:
        self.asked: list[list[tuple[str, int]]] = []

    def balancer(self, upstreams: list[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
        self.asked.append(upstreams)
        return tuple(upstreams)


def snapshot(**changes) -> dict:
    credential = {
        "key_hash": hashlib.sha256(SECRET.encode()).hexdigest(),
        "application_id": 12,
        "consumer_tenant_id": 2,
        "expires_at": None,
        "grace_ends_at": None,
        "revoked": False,
        "subscriptions": [
            {
                "subscription_id": 9,
                "status": "active",
                "api_id": 3,
                "api_version_id": 7,
                "plan_id": 4,
                "limits": {"rate_limit_per_second": None, "rate_limit_per_minute": None, "quota_per_day": 2},
            },
            {"subscription_id": 10, "status": "pending", "api_id": 5, "api_version_id": 8, "plan_id": 6, "limits": {}},
        ],
    }
    credential.update(changes)
    return {
        "version": 42,
        "routes": [
            {
                "api_version_id": 7,
                "api_id": 3,
                "base_path": "/acme/orders/v1",
                "upstreams": [
                    {"url": "http://127.0.0.1:9101", "weight": 3},
                    {"url": "http://127.0.0.1:9102", "weight": 1},
                ],
                "connect_timeout_ms": 1500,
                "read_timeout_ms": 9000,
                "sunset_date": None,
                "endpoints": [
                    {"method": "GET", "path": "/orders/{order_id}"},
                    {"method": "GET", "path": "/orders/{order_id}/tracking"},
                    {"method": "GET", "path": "/orders/summary"},
                    {"method": "POST", "path": "/orders"},
                ],
            },
            {
                "api_version_id": 8,
                "api_id": 5,
                "base_path": "/acme",
                "upstreams": [{"url": "http://127.0.0.1:9200", "weight": 1}],
                "sunset_date": "2027-01-31",
                "endpoints": [],
            },
        ],
        "credentials": {"KEYID0000001": credential},
    }


def head(
    path: str = "/acme/orders/v1/orders/7?x=1", *, key: str | None = KEY, method: str = "GET", **headers
) -> RequestHead:
    raw = [(name.replace("_", "-").lower().encode(), value.encode()) for name, value in headers.items()]
    if key is not None:
        raw.append((b"x-api-key", key.encode()))
    target = path.encode()
    return RequestHead(
        method=method,
        target=target,
        path=path.split("?", 1)[0],
        query=target.partition(b"?")[2],
        headers=raw,
        client_ip="203.0.113.9",
        request_id=uuid.uuid4().hex,
        started=time.monotonic(),
        started_wall=time.time(),
    )


def make_gate(records: list[CallRecord] | None = None, **options) -> Gate:
    gate = Gate(
        balancers=Balancers(),
        limiter=Limiter(redis_url=None),
        emit=(records if records is not None else []).append,
        options=GateOptions(**options),
    )
    gate.apply(snapshot())
    return gate


def decide(gate: Gate, request: RequestHead) -> Refuse | Forward:
    decision = gate.admit(request)
    if not isinstance(decision, Refuse | Forward):
        decision = asyncio.run(_await(decision))
    return decision


async def _await(awaitable):
    return await awaitable


def test_longest_base_path_wins_on_a_segment_boundary():
    compiled = compile_snapshot(snapshot(), Balancers())
    assert compiled.match("/acme/orders/v1/orders/7").api_version_id == 7
    assert compiled.match("/acme/orders/v1").api_version_id == 7
    # /acme/orders/v1x is not under /acme/orders/v1: the shorter /acme serves it.
    assert compiled.match("/acme/orders/v1x/orders").api_version_id == 8
    assert compiled.match("/acmeish/orders") is None
    assert compiled.match("/") is None


def test_endpoints_are_named_by_their_template_static_paths_first():
    route = compile_snapshot(snapshot(), Balancers()).match("/acme/orders/v1/x")
    assert route.endpoint("GET", "/orders/7") == "GET /orders/{order_id}"
    assert route.endpoint("GET", "/orders/summary") == "GET /orders/summary"
    assert route.endpoint("GET", "/orders/7/tracking") == "GET /orders/{order_id}/tracking"
    assert route.endpoint("POST", "/orders") == "POST /orders"
    assert route.endpoint("DELETE", "/orders/7") == "other"
    assert route.endpoint("GET", "/orders/7/8") == "other"


def test_an_allowed_call_goes_upstream_without_the_key_and_with_who_called():
    decision = decide(make_gate(), head(x_consumer_application_id="666", host="api.example"))
    assert isinstance(decision, Forward)
    assert decision.path == b"/orders/7?x=1"  # the base path is cut off, the query kept
    assert decision.balancer == (("http://127.0.0.1:9101", 3), ("http://127.0.0.1:9102", 1))
    assert (decision.connect_timeout, decision.read_timeout) == (1.5, 9.0)
    assert b"x-api-key" in decision.strip
    # A client cannot forge the consumer headers: they are stripped, then set by the node.
    assert b"x-consumer-application-id" in decision.strip
    added = dict(decision.add)
    assert added[b"x-consumer-application-id"] == b"12"
    assert added[b"x-consumer-subscription-id"] == b"9"
    assert added[b"x-forwarded-for"] == b"203.0.113.9"
    assert added[b"x-forwarded-host"] == b"api.example"


def test_a_bearer_key_is_accepted_and_the_authorization_header_stripped():
    request = head(key=None, authorization=f"Bearer {KEY}")
    decision = decide(make_gate(), request)
    assert isinstance(decision, Forward)
    assert b"authorization" in decision.strip


@pytest.mark.parametrize(
    ("path", "key", "changes", "status", "reason"),
    [
        ("/nowhere/orders", KEY, {}, 404, "unknown_route"),
        ("/acme/orders/v1/orders/7", None, {}, 401, "missing_key"),
        ("/acme/orders/v1/orders/7", "apk_NOPE_" + SECRET, {}, 401, "unknown_key"),
        ("/acme/orders/v1/orders/7", "apk_KEYID0000001_wrongsecret", {}, 401, "unknown_key"),
        ("/acme/orders/v1/orders/7", "gwn_KEYID0000001_" + SECRET, {}, 401, "unknown_key"),
        ("/acme/orders/v1/orders/7", "apk_KEYID0000001", {}, 401, "unknown_key"),
        ("/acme/orders/v1/orders/7", KEY, {"revoked": True}, 401, "revoked"),
        ("/acme/orders/v1/orders/7", KEY, {"expires_at": "2020-01-01T00:00:00Z"}, 401, "expired"),
        ("/acme/other", KEY, {}, 403, "subscription_pending"),
        ("/acme/orders/v1/orders/7", KEY, {"subscriptions": []}, 403, "no_subscription"),
    ],
)
def test_refusals_name_their_reason(path, key, changes, status, reason):
    gate = make_gate()
    gate.apply(snapshot(**changes))
    decision = decide(gate, head(path, key=key))
    assert isinstance(decision, Refuse)
    assert (decision.status, decision.error) == (status, reason)
    assert json.loads(decision.body)["error"]["code"] == reason
    if status == 401:
        assert (b"www-authenticate", b'ApiKey realm="gateway"') in decision.headers


def test_a_rotated_key_works_until_its_grace_ends():
    gate = make_gate()
    gate.apply(snapshot(expires_at="2999-01-01T00:00:00Z", grace_ends_at="2999-01-01T00:00:00Z"))
    assert isinstance(decide(gate, head()), Forward)


def test_the_quota_is_enforced_and_refused_calls_use_none_of_it():
    gate = make_gate()
    assert isinstance(decide(gate, head()), Forward)
    decide(gate, head(key=None))  # refused before the limits: uses nothing
    assert isinstance(decide(gate, head()), Forward)
    refused = decide(gate, head())
    assert (refused.status, refused.error) == (429, "quota_exceeded")
    assert any(name == b"retry-after" for name, _ in refused.headers)


def test_no_config_yet_is_503_and_a_malformed_snapshot_keeps_the_old_one():
    gate = Gate(balancers=Balancers(), limiter=Limiter(redis_url=None), emit=[].append)
    assert decide(gate, head()).error == "no_config"
    gate.apply(snapshot())
    with pytest.raises(ValueError, match="malformed"):
        gate.apply({"version": 43, "routes": [{"base_path": "/x"}]})
    assert gate.version == 42
    assert isinstance(decide(gate, head()), Forward)


def test_a_new_snapshot_revokes_at_once():
    gate = make_gate()
    assert isinstance(decide(gate, head()), Forward)
    revoked = snapshot(revoked=True)
    revoked["version"] = 43
    gate.apply(revoked)
    assert decide(gate, head()).error == "revoked"


def test_every_call_becomes_a_native_record():
    records: list[CallRecord] = []
    gate = make_gate(records)
    allowed = head(user_agent="curl/8")
    decision = decide(gate, allowed)
    gate.finish(
        allowed,
        decision,
        Outcome(status=200, request_bytes=0, response_bytes=321, upstream_latency_ms=1.25, finished=time.monotonic()),
    )
    refused = head(key="apk_NOPE_x")
    gate.finish(
        refused,
        decide(gate, refused),
        Outcome(status=401, request_bytes=0, response_bytes=60, upstream_latency_ms=None),
    )
    ok, bad = records
    assert ok.request_id == allowed.request_id
    assert ok.ts.endswith("Z") and ok.ts[:4].isdigit() and len(ok.ts) == 27
    assert (ok.api_version_id, ok.endpoint, ok.key_id, ok.application_id) == (
        7,
        "GET /orders/{order_id}",
        "KEYID0000001",
        12,
    )
    assert (ok.status, ok.response_bytes, ok.upstream_latency_ms, ok.error) == (200, 321, 1.25, "")
    assert ok.client_ip == "203.0.113.9" and ok.user_agent == "curl/8"
    assert (bad.status, bad.error, bad.key_id, bad.application_id) == (401, "unknown_key", "", None)
    assert gate.metrics.refused == {"unknown_key": 1}
    assert gate.metrics.requests == {"2xx": 1, "4xx": 1}


def test_a_client_request_id_is_passed_on_but_never_used_to_deduplicate():
    records: list[CallRecord] = []
    gate = make_gate(records)
    for _ in range(2):
        request = head(x_request_id="client-chosen")
        request.request_id = "client-chosen"
        gate.finish(
            request,
            decide(gate, request),
            Outcome(status=200, request_bytes=0, response_bytes=0, upstream_latency_ms=1),
        )
    assert len({r.request_id for r in records}) == 2
    assert "client-chosen" not in {r.request_id for r in records}


def test_forwarded_for_is_believed_only_from_trusted_proxies():
    import ipaddress

    request = head(x_forwarded_for="198.51.100.7, 10.0.0.5")
    assert make_gate().client_ip(request) == "203.0.113.9"
    trusting = make_gate(trusted_proxies=[ipaddress.ip_network("203.0.113.0/24"), ipaddress.ip_network("10.0.0.0/8")])
    assert trusting.client_ip(request) == "198.51.100.7"


def test_a_new_version_rebuilds_only_what_changed_and_drops_what_left():
    first = compile_snapshot(snapshot(), Balancers())
    changed = snapshot(revoked=True)
    changed["version"] = 43
    changed["credentials"]["OTHERKEY0001"] = dict(changed["credentials"]["KEYID0000001"], revoked=False)
    changed["routes"][1]["upstreams"] = [{"url": "http://127.0.0.1:9300", "weight": 1}]
    second = compile_snapshot(changed, Balancers(), first)
    assert second.credentials["KEYID0000001"].revoked is True
    assert second.credentials["OTHERKEY0001"].revoked is False
    assert second.routes["/acme/orders/v1"] is first.routes["/acme/orders/v1"]  # unchanged: reused
    assert second.routes["/acme"].balancer == (("http://127.0.0.1:9300", 1),)
    third_raw = snapshot()
    third_raw["version"] = 44
    third = compile_snapshot(third_raw, Balancers(), second)
    assert "OTHERKEY0001" not in third.credentials
    assert third.credentials["KEYID0000001"].revoked is False
    assert third.routes["/acme"].balancer == (("http://127.0.0.1:9200", 1),)
