"""AI call records at intake: the AI fields stored as sent, a bad value refusing only its record
(quarantined with the reason), and Kong AI Gateway's log object read into the same fields."""

from __future__ import annotations

import copy
import json
import uuid
from decimal import Decimal
from typing import Any

import pytest

from gateways.models import CallRecord, QuarantinedRecord
from gateways.tests.test_intake import counts, ndjson, node_token, post, post_via, record, staff  # noqa: F401
from gateways.tests.test_intake_formats import KONG


def ai_record(**overrides: Any) -> dict[str, Any]:
    fields = {
        "path": "/acme-ai/v1/chat/completions",
        "method": "POST",
        "ai_route": "acme/chat-small",
        "ai_provider": "anthropic",
        "ai_model": "claude-x",
        "ai_input_tokens": 1200,
        "ai_output_tokens": 80,
        "ai_cached_tokens": 1000,
        "ai_cost": "0.00012345",
        "ai_ttft_ms": 321.5,
    }
    return record(**{**fields, **overrides})


@pytest.mark.parametrize("path", ["direct", "conflict"])
def test_ai_fields_are_stored_as_sent(node_token, path, monkeypatch):  # noqa: F811
    _node, token = node_token
    full = ai_record()
    # Cost unknown (no price), tokens unreported by the provider, no first byte (refused).
    unpriced = ai_record(ai_cost=None, ai_cached_tokens=None, ai_ttft_ms=None)
    refused = record(ai_route="acme/chat-small", status=429, error="token_limited")
    assert post_via(token, [full, unpriced, refused], path, monkeypatch) == (3, 3, 0, 0)
    row = CallRecord.objects.get(request_id=full["request_id"])
    assert (row.ai_route, row.ai_provider, row.ai_model) == ("acme/chat-small", "anthropic", "claude-x")
    assert (row.ai_input_tokens, row.ai_output_tokens, row.ai_cached_tokens) == (1200, 80, 1000)
    assert row.ai_cost == Decimal("0.00012345") and row.ai_ttft_ms == 321.5
    row = CallRecord.objects.get(request_id=unpriced["request_id"])
    assert (row.ai_cost, row.ai_cached_tokens, row.ai_ttft_ms, row.ai_input_tokens) == (None, None, None, 1200)
    row = CallRecord.objects.get(request_id=refused["request_id"])
    assert (row.ai_route, row.ai_model, row.ai_input_tokens, row.ai_cost) == ("acme/chat-small", "", None, None)
    # A plain call carries no AI field at all.
    plain = record()
    assert counts(post(token, ndjson([plain]))) == (1, 1, 0, 0)
    row = CallRecord.objects.get(request_id=plain["request_id"])
    assert (row.ai_route, row.ai_model, row.ai_cached_tokens, row.ai_ttft_ms) == ("", "", None, None)


BAD = [
    ({"ai_route": "r" * 161}, "invalid_ai_route"),
    ({"ai_route": 5}, "invalid_ai_route"),
    ({"ai_route": "acme/chat\nsmall"}, "invalid_ai_route"),
    ({"ai_model": "m" * 129}, "invalid_ai_model"),
    ({"ai_provider": ["openai"]}, "invalid_ai_provider"),
    ({"ai_cached_tokens": -1}, "invalid_ai_cached_tokens"),
    ({"ai_cached_tokens": 1201}, "invalid_ai_cached_tokens"),  # more than the input it is part of
    ({"ai_cached_tokens": 1.5}, "invalid_ai_cached_tokens"),
    ({"ai_input_tokens": 2**31}, "invalid_ai_input_tokens"),
    ({"ai_output_tokens": "many"}, "invalid_ai_output_tokens"),
    ({"ai_ttft_ms": "soon"}, "invalid_ai_ttft_ms"),
    ({"ai_ttft_ms": "inf"}, "invalid_ai_ttft_ms"),
    ({"ai_ttft_ms": True}, "invalid_ai_ttft_ms"),
    ({"ai_cost": "1e400"}, "invalid_ai_cost"),
    ({"ai_cost": "-0.01"}, "invalid_ai_cost"),
    ({"ai_cost": {"usd": 1}}, "invalid_ai_cost"),
]


def test_a_bad_ai_value_refuses_its_record_with_the_reason_and_keeps_the_others(node_token):  # noqa: F811
    _node, token = node_token
    good = ai_record()
    bad = [ai_record(**fields) for fields, _reason in BAD]
    response = post(token, ndjson([good, *bad]))
    assert response.status_code == 200
    assert counts(response) == (1 + len(BAD), 1, 0, len(BAD))
    assert response.json()["errors"] == [{"line": i + 2, "reason": reason} for i, (_f, reason) in enumerate(BAD)]
    assert list(CallRecord.objects.values_list("request_id", flat=True)) == [uuid.UUID(good["request_id"])]
    quarantined = QuarantinedRecord.objects.order_by("line")
    assert [(q.line, q.reason) for q in quarantined] == [(i + 2, reason) for i, (_f, reason) in enumerate(BAD)]
    route = quarantined[0]
    assert "160" in route.detail and json.loads(route.raw)["ai_route"] == "r" * 161


def test_a_negative_time_to_first_token_is_clamped_with_a_warning(node_token):  # noqa: F811
    _node, token = node_token
    rec = ai_record(ai_ttft_ms=-3)
    response = post(token, ndjson([rec]))
    assert counts(response) == (1, 1, 0, 0)
    assert response.json()["warnings"] == [{"line": 1, "reason": "negative_ai_ttft_ms_clamped"}]
    assert CallRecord.objects.get(request_id=rec["request_id"]).ai_ttft_ms == 0.0


def _kong(ai: dict[str, Any]) -> dict[str, Any]:
    entry = copy.deepcopy(KONG[0])
    entry["request"]["id"] = str(uuid.uuid4())
    entry["ai"] = ai
    return entry


def test_kong_ai_gateway_log_fields_map_to_the_ai_fields(node_token):  # noqa: F811
    _node, token = node_token
    proxied = _kong(
        {
            "payload": {"request": "…"},
            "proxy": {  # Kong 3.12 documents ai.proxy, with the time to first token in ms
                "usage": {
                    "prompt_tokens": 28,
                    "completion_tokens": 20,
                    "total_tokens": 48,
                    "cost": 0.0038,
                    "time_to_first_token": 310,
                },
                "meta": {
                    "request_model": "gpt-4o",
                    "provider_name": "openai",
                    "response_model": "gpt-4o-2024-08-06",
                    "llm_latency": 2670,
                },
            },
        }
    )
    # Spelled as some versions' documentation does, under another plugin's name; no cost configured.
    other = _kong(
        {"ai-proxy-advanced": {"usage": {"prompt_token": 7, "completion_token": 3}, "meta": {"request_model": "m"}}}
    )
    broken = _kong({"ai-proxy": {"usage": {"prompt_tokens": "lots"}, "meta": {"request_model": "gpt-4o"}}})
    response = post(
        token, json.dumps([proxied, other, broken]), content_type="application/json", url="/gateway/v1/logs?format=kong"
    )
    assert counts(response) == (3, 2, 0, 1)
    assert response.json()["errors"] == [{"line": 3, "reason": "invalid_ai_input_tokens"}]
    row = CallRecord.objects.get(request_id=proxied["request"]["id"])
    assert (row.ai_route, row.ai_provider, row.ai_model) == ("gpt-4o", "openai", "gpt-4o-2024-08-06")
    assert (row.ai_input_tokens, row.ai_output_tokens, row.ai_cost, row.ai_ttft_ms) == (28, 20, Decimal("0.0038"), 310)
    row = CallRecord.objects.get(request_id=other["request"]["id"])
    assert (row.ai_route, row.ai_model, row.ai_input_tokens, row.ai_output_tokens, row.ai_cost) == (
        "m",
        "m",
        7,
        3,
        None,
    )
