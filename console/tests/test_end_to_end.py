"""The console against a real gateway node and a real upstream (docs/console.md).

Charlie (Globex) opens the console on Orders v1: a console key is minted; his first Send may
reach the node before its next config poll, so the relay waits for the key to be known and
the call goes through (200, the upstream's answer, status, headers, timing). The node strips
the key before the upstream. The call record carries the console key and the application's
analytics name it console traffic. Closing the console revokes the key: the node refuses it
a poll later. Alice tries her draft v2 straight against the upstream, with no key.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from console.tests.world import build
from gateway_node.tests.upstreams import Upstream, wait_for
from portal.tests.journey_support import http_get

pytestmark = pytest.mark.django_db(transaction=True)


def post(client: Any, url: str, payload: dict[str, Any] | None = None) -> Any:
    return client.post(url, json.dumps(payload or {}), content_type="application/json")


def test_the_console_calls_through_the_node_with_a_fresh_key_and_revokes_it_after(
    upstream: Upstream, start_node: Any, client: Any
) -> None:
    from django.core.cache import cache

    from analytics.rollup import run_rollup
    from console import services
    from gateways.models import CallRecord
    from subscriptions.models import ApiKey, KeyPurpose

    world = build(upstream.url)
    node = start_node()
    client.force_login(world.charlie.user)
    base = f"/t/globex/console/applications/{world.shop.pk}"

    # Send at once after opening: the node has not polled since the key was minted.
    assert post(client, f"{base}/open/").status_code == 200
    started = time.monotonic()
    response = post(
        client,
        f"{base}/send/",
        {
            "version": world.v1.pk,
            "method": "GET",
            "path": "/rates",
            "query": [["city", "Den Haag"]],
            "headers": [["Accept", "application/json"], ["X-Trace", "t-1"]],
        },
    )
    assert response.status_code == 200, response.content
    answer = response.json()
    assert time.monotonic() - started < 10
    assert answer["status"] == 200 and answer["via"] == "gateway"
    assert answer["url"] == f"{node.url}/acme/orders/v1/rates?city=Den%20Haag"
    assert isinstance(answer["time_ms"], int) and answer["time_ms"] >= 0
    assert ["content-type", "application/json"] in answer["headers"]
    assert ["ratelimit-limit", "5"] in answer["headers"]  # the plan's limits apply to console calls
    echoed = json.loads(answer["body"])
    assert echoed["method"] == "GET" and echoed["path"] == "/rates?city=Den%20Haag"
    assert echoed["headers"]["x-trace"] == "t-1"
    assert "x-api-key" not in echoed["headers"]  # the node strips the key before the upstream
    key = ApiKey.objects.unscoped().get(purpose=KeyPurpose.CONSOLE)
    plaintext = cache.get(services._cache_key(world.charlie.user_id, world.shop.pk))["key"]
    secret = plaintext.rsplit("_", 1)[1]
    assert secret not in response.content.decode()  # the browser never sees the key

    # A body, and a path parameter.
    created = post(
        client,
        f"{base}/send/",
        {"version": world.v1.pk, "method": "POST", "path": "/orders", "body": '{"city": "Utrecht"}'},
    ).json()
    assert created["status"] == 200 and json.loads(json.loads(created["body"])["body"]) == {"city": "Utrecht"}
    one = post(client, f"{base}/send/", {"version": world.v1.pk, "method": "DELETE", "path": "/orders/7"}).json()
    assert json.loads(one["body"])["path"] == "/orders/7"

    # The call records carry the console key; the application's analytics name it console traffic.
    # (Sends refused while the node was learning the key are recorded as unknown_key.)
    wait_for(lambda: CallRecord.objects.filter(status__lt=400).count() >= 3, timeout=20, what="3 call records")
    records = list(CallRecord.objects.all())
    assert {r.key_id for r in records if r.status < 400} == {key.key_id}
    assert {r.error for r in records if r.status >= 400} <= {"unknown_key"}
    run_rollup()
    page = client.get(f"/t/globex/analytics/apps/{world.shop.pk}/?range=24h").content.decode()
    assert "(console)" in page

    # Closing the console revokes the key; the node refuses it after its next poll.
    assert post(client, f"{base}/close/").json() == {"revoked": True}
    url = f"{node.url}/acme/orders/v1/rates"

    def refused() -> bool:
        return http_get(url, headers={"X-API-Key": plaintext})[0] == 401

    wait_for(refused, timeout=10, what="the node to refuse the revoked console key")
    status, _, body = http_get(url, headers={"X-API-Key": plaintext})
    assert status == 401 and b"revoked" in body


def test_the_provider_tries_a_draft_straight_against_its_upstream(upstream: Upstream, client: Any, db: Any) -> None:
    world = build(upstream.url)
    client.force_login(world.alice.user)
    response = post(
        client,
        "/t/acme/console/apis/orders/versions/v2/send/",
        {"method": "GET", "path": "/orders/42", "headers": [["Accept", "application/json"]]},
    )
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["via"] == "upstream" and answer["url"] == f"{upstream.url}/orders/42"
    seen = upstream.requests[-1]
    assert seen.target == "/orders/42" and "x-api-key" not in seen.headers
    assert json.loads(answer["body"])["method"] == "GET"


@pytest.mark.parametrize("size", [300_000])
def test_a_large_answer_is_truncated_with_a_flag(
    upstream: Upstream, client: Any, db: Any, size: int, settings: Any
) -> None:
    from gateway_node.tests.upstreams import Reply

    settings.CONSOLE_MAX_RESPONSE_BYTES = 1000
    upstream.handler = lambda seen: Reply(body=b"a" * size, headers=[("Content-Type", "text/plain")])
    world = build(upstream.url)
    client.force_login(world.alice.user)
    answer = post(client, "/t/acme/console/apis/orders/versions/v2/send/", {"method": "GET", "path": "/rates"}).json()
    assert answer["truncated"] is True and answer["size"] == 1000 and answer["body"] == "a" * 1000
