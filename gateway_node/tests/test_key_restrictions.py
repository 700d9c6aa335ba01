"""A key's own restrictions at the gate: client IP ranges, allowed APIs, the key's rate limit.

In-process (a real gate and limiter, hand-written snapshots); the same rules through real node
processes are in test_key_restrictions_node.py.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from gateway_node.contracts import Forward, Handle, Outcome, Refuse
from gateway_node.gate import Gate, GateOptions, KeyRestriction, compile_snapshot, parse_address
from gateway_node.limits import Limiter
from gateway_node.tests.test_gate import Balancers, head, snapshot

AI_ROUTE = {
    "api_version_id": 11,
    "api_id": 6,
    "kind": "ai",
    "base_path": "/acme-ai/v1",
    "upstreams": [],
    "endpoints": [],
    "ai": {"models": {}},
}
AI_SUB = {"subscription_id": 21, "status": "active", "api_id": 6, "api_version_id": 11, "plan_id": 4, "limits": {}}


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def restricted(cidrs=(), api_ids=(), rate=None, **changes) -> dict:
    """The test_gate snapshot (Orders v1 = API 3, /acme = API 5) plus an AI API (6), the key restricted."""
    data = snapshot(**changes)
    data["routes"].append(AI_ROUTE)
    credential = data["credentials"]["KEYID0000001"]
    credential["subscriptions"].append(AI_SUB)
    credential["restrictions"] = {"cidrs": list(cidrs), "api_ids": list(api_ids), "rate_limit_per_minute": rate}
    return data


def gate_for(data: dict, *, clock: Clock | None = None, records: list | None = None, **options) -> Gate:
    clock = clock or Clock()
    gate = Gate(
        balancers=Balancers(),
        limiter=Limiter(redis_url=None, clock=clock),
        emit=(records if records is not None else []).append,
        options=GateOptions(**options),
        clock=clock,
    )
    gate.apply(data)
    return gate


def decide(gate: Gate, request):
    decision = gate.admit(request)
    if not isinstance(decision, Refuse | Forward | Handle):
        decision = asyncio.run(_await(decision))
    return decision


async def _await(awaitable):
    return await awaitable


def from_ip(path: str, ip: str, **headers):
    request = head(path, **headers)
    request.client_ip = ip
    return request


ORDERS = "/acme/orders/v1/orders/7"
AI_MODELS = "/acme-ai/v1/models"


def test_a_key_without_restrictions_compiles_to_none_and_is_served_as_before():
    compiled = compile_snapshot(snapshot(), Balancers())
    assert compiled.credentials["KEYID0000001"].restriction is None
    empty = snapshot(restrictions={"cidrs": [], "api_ids": [], "rate_limit_per_minute": None})
    assert compile_snapshot(empty, Balancers()).credentials["KEYID0000001"].restriction is None
    assert isinstance(decide(gate_for(snapshot()), head(ORDERS)), Forward)


@pytest.mark.parametrize(
    ("cidrs", "ip", "allowed"),
    [
        (["203.0.113.0/24"], "203.0.113.9", True),
        (["203.0.113.0/24"], "198.51.100.1", False),
        (["198.51.100.7/32", "203.0.113.9/32"], "203.0.113.9", True),
        (["2001:db8::/32"], "2001:db8:1::5", True),
        (["2001:db8::/32"], "2001:db9::5", False),
        (["2001:db8::/32"], "203.0.113.9", False),  # an IPv4 client never matches an IPv6 range
        (["203.0.113.0/24"], "::ffff:203.0.113.9", True),  # an IPv4-mapped address is its IPv4 one
        (["0.0.0.0/0"], "192.0.2.1", True),
        (["::/0"], "192.0.2.1", False),
    ],
)
def test_client_address_ranges(cidrs, ip, allowed):
    decision = decide(gate_for(restricted(cidrs)), from_ip(ORDERS, ip))
    if allowed:
        assert isinstance(decision, Forward)
    else:
        assert isinstance(decision, Refuse)
        assert (decision.status, decision.error) == (403, "key_ip_not_allowed")
        body = json.loads(decision.body)["error"]
        assert body["code"] == "key_ip_not_allowed"
        assert "203.0.113" not in body["message"] and "2001" not in body["message"]  # the list is not leaked


def test_the_address_behind_a_trusted_proxy_is_the_one_checked():
    data = restricted(["198.51.100.0/24"])
    proxied = from_ip(ORDERS, "10.0.0.2", x_forwarded_for="198.51.100.20")
    # Behind a trusted proxy the forwarded address counts…
    assert isinstance(decide(gate_for(data, trusted_proxies=[_net("10.0.0.0/8")]), proxied), Forward)
    # …from anyone else X-Forwarded-For is a client's claim, not believed.
    refused = decide(gate_for(data), proxied)
    assert isinstance(refused, Refuse) and refused.error == "key_ip_not_allowed"
    # A proxy forwarding garbage: no address to match, refused.
    garbage = from_ip(ORDERS, "10.0.0.2", x_forwarded_for="unknown")
    assert decide(gate_for(data, trusted_proxies=[_net("10.0.0.0/8")]), garbage).error == "key_ip_not_allowed"


def _net(text: str):
    import ipaddress

    return ipaddress.ip_network(text)


def test_allowed_apis():
    gate = gate_for(restricted(api_ids=[3]))
    assert isinstance(decide(gate, head(ORDERS)), Forward)
    refused = decide(gate, head("/acme/other"))  # API 5
    assert (refused.status, refused.error) == (403, "key_api_not_allowed")
    assert json.loads(refused.body)["error"]["message"] == "This API key may not call this API."


def test_restrictions_are_checked_after_the_key_is_recognised():
    gate = gate_for(restricted(["192.0.2.0/24"], revoked=True))
    # A wrong secret or a revoked key says so; the restriction tells nothing before that.
    assert decide(gate, head(ORDERS, key="apk_KEYID0000001_wrong")).error == "unknown_key"
    assert decide(gate, head(ORDERS)).error == "revoked"


def test_refused_calls_are_recorded_with_their_reason_and_key():
    records: list = []
    gate = gate_for(restricted(["192.0.2.0/24"]), records=records)
    request = head(ORDERS)
    decision = decide(gate, request)
    gate.finish(request, decision, Outcome(status=403, request_bytes=0, response_bytes=0, upstream_latency_ms=None))
    (record,) = records
    assert (record.status, record.error, record.key_id, record.application_id) == (
        403,
        "key_ip_not_allowed",
        "KEYID0000001",
        12,
    )
    assert record.client_ip == "203.0.113.9"
    assert gate.metrics.refused == {"key_ip_not_allowed": 1}


def test_the_key_rate_limit_refuses_with_retry_after_then_recovers_and_spares_the_plan():
    clock = Clock()
    data = restricted(rate=3)
    data["credentials"]["KEYID0000001"]["subscriptions"][0]["limits"] = {"quota_per_day": 4}
    gate = gate_for(data, clock=clock)
    answers = [decide(gate, head(ORDERS)) for _ in range(4)]
    assert [type(a).__name__ for a in answers] == ["Forward"] * 3 + ["Refuse"]
    first, refused = answers[0], answers[-1]
    # The tighter limit's figures: the key has 2 calls left, the plan 3.
    assert dict(first.response_headers)[b"ratelimit-limit"] == b"3"
    assert dict(first.response_headers)[b"ratelimit-remaining"] == b"2"
    assert (refused.status, refused.error) == (429, "key_rate_limited")
    assert json.loads(refused.body)["error"]["code"] == "key_rate_limited"
    headers = dict(refused.headers)
    assert headers[b"retry-after"] == b"20"  # 3 a minute: one every 20 s
    assert headers[b"ratelimit-limit"] == b"3"
    clock.now += 20
    assert isinstance(decide(gate, head(ORDERS)), Forward)  # recovered
    # The refused call did not spend the plan's quota of 4: the 4th allowed call was the last one.
    clock.now += 20
    assert decide(gate, head(ORDERS)).error == "quota_exceeded"


def test_each_key_has_its_own_counter_and_plan_limits_still_apply():
    compiled = compile_snapshot(restricted(rate=5), Balancers())
    restriction = compiled.credentials["KEYID0000001"].restriction
    assert restriction is not None
    assert restriction.counter == "k:KEYID0000001" and restriction.limits.rate_per_minute == 5
    assert restriction.networks is None and restriction.api_ids is None


def test_ai_routes_go_through_the_same_restrictions():
    ai_call = head(AI_MODELS)
    assert isinstance(decide(gate_for(restricted()), ai_call), Handle)
    refused = decide(gate_for(restricted(api_ids=[3])), head(AI_MODELS))
    assert (refused.status, refused.error) == (403, "key_api_not_allowed")
    refused = decide(gate_for(restricted(["192.0.2.0/24"])), head(AI_MODELS))
    assert (refused.status, refused.error) == (403, "key_ip_not_allowed")
    gate = gate_for(restricted(rate=1))
    assert isinstance(decide(gate, head(AI_MODELS)), Handle)
    refused = decide(gate, head(AI_MODELS))
    assert (refused.status, refused.error) == (429, "key_rate_limited")
    assert dict(refused.headers)[b"retry-after"] == b"60"


def test_parse_address():
    assert parse_address("203.0.113.9") == (4, 0xCB007109)
    assert parse_address("::ffff:203.0.113.9") == (4, 0xCB007109)
    assert parse_address("::1") == (6, 1)
    assert parse_address("unknown") is None
    assert parse_address("203.0.113.9:443") is None


def test_a_malformed_range_in_a_snapshot_keeps_the_old_config():
    gate = gate_for(snapshot())
    with pytest.raises(ValueError, match="malformed"):
        gate.apply(restricted(["not-a-range"]))
    assert gate.version == 42 and gate.compiled.credentials["KEYID0000001"].restriction is None


def test_an_unrestricted_key_costs_about_nothing_extra():
    """Not a benchmark: a guard that the unrestricted path does no parsing per call."""
    plain = gate_for(snapshot())
    request = head(ORDERS)
    started = time.perf_counter()
    for _ in range(2000):
        plain.admit(request)
    per_call = (time.perf_counter() - started) / 2000
    assert per_call < 0.001
    assert isinstance(KeyRestriction.from_snapshot("k", None), type(None))
