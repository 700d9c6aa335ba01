"""Key restrictions as users meet them: set in the portal, enforced by real node processes.

The portal (live server), an upstream on loopback and ``python -m gateway_node`` processes, as
in test_node_integration.py (whose ``world`` and ``upstream`` fixtures these tests share): a
restriction changed through the key service reaches the node at its next poll, refusals carry
their reason to the client and into the portal's call records.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from gateway_node.tests.test_node_integration import POLL, ROOT, Node, _listening, raw_records, upstream, world
from gateway_node.tests.upstreams import free_port, wait_for

__all__ = ["upstream", "world"]  # fixtures shared with test_node_integration

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class HostNode(Node):
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://{'[' + self.host + ']' if ':' in self.host else self.host}:{self.port}"


@pytest.fixture
def node_with(tmp_path) -> Iterator:
    """Start a node with extra command-line options (``--trusted-proxies``, ``--redis``…)."""
    nodes: list[HostNode] = []

    def start(portal: str, token: str, *extra: str, host: str = "127.0.0.1") -> HostNode:
        port, admin = free_port(), free_port()
        listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        cmd = [
            sys.executable, "-m", "gateway_node", "--portal", portal, "--token", token,
            "--listen", listen, "--admin", f"127.0.0.1:{admin}", "--workers", "1",
            "--state-dir", str(tmp_path / f"state-{len(nodes)}"), "--poll-interval", str(POLL),
            "--batch-seconds", "0.1", "--heartbeat-interval", "0.5", "--name", f"r{len(nodes)}", *extra,
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_NODE_")}
        node = HostNode(subprocess.Popen(cmd, cwd=ROOT, env=env), port, admin, tmp_path, host)
        nodes.append(node)
        wait_for(lambda: node.admin_get("/healthz")[0] == 200 if _listening(admin) else False, what="node ready")
        return node

    yield start
    for node in nodes:
        node.stop()


def _restrict(world, **restrictions) -> None:
    from subscriptions.services import key_set_restrictions

    key_set_restrictions(actor=world.consumer, key=world.key_obj, **restrictions)


def _code(answer) -> str:
    return json.loads(answer[2])["error"]["code"]


def _second_api(world):
    """Acme's Weather API too, with an active subscription of the same application."""
    import datetime as dt

    from apis.models import Api, ApiVersion, Plan, VersionStatus
    from subscriptions.models import SubscriptionStatus
    from subscriptions.tests.factories import SubscriptionFactory

    acme = world.version.tenant
    api = Api.objects.create(tenant=acme, name="Weather", slug="weather", visibility="public")
    version = ApiVersion.objects.create(
        tenant=acme,
        api=api,
        label="v1",
        base_path="/acme/weather/v1",
        upstreams=world.version.upstreams,
        status=VersionStatus.PUBLISHED,
        published_at=dt.datetime.now(dt.UTC),
    )
    plan = Plan.objects.create(tenant=acme, api=api, name="Free")
    SubscriptionFactory(
        application=world.subscription.application, plan=plan, version=version, status=SubscriptionStatus.ACTIVE
    )
    return api


def test_ranges_and_apis_are_enforced_from_the_next_poll_and_refusals_are_recorded(world, node_with):
    weather = _second_api(world)
    node = node_with(world.portal, world.token)
    orders, forecast = "/acme/orders/v1/x", "/acme/weather/v1/today"
    assert node.call(orders, world.key)[0] == 200
    assert node.call(forecast, world.key)[0] == 200

    _restrict(world, allowed_cidrs=["192.0.2.0/24", "2001:db8::/32"])
    refused = wait_for(lambda: (a := node.call(orders, world.key))[0] == 403 and a, timeout=POLL * 4 + 2)
    assert _code(refused) == "key_ip_not_allowed"
    assert "192.0.2" not in refused[2].decode()  # the allowed ranges are not told

    _restrict(world, allowed_cidrs=["127.0.0.0/8"], allowed_apis=[world.version.api_id])
    wait_for(lambda: node.call(orders, world.key)[0] == 200, timeout=POLL * 4 + 2)
    refused = node.call(forecast, world.key)
    assert (refused[0], _code(refused)) == (403, "key_api_not_allowed")

    reasons = {"key_ip_not_allowed", "key_api_not_allowed"}
    records = wait_for(
        lambda: (found := raw_records(status=403)) and reasons <= {r.error for r in found} and found,
        what="both refusals at the portal",
    )
    assert all(r.api_key_id == world.key_obj.pk for r in records)
    assert any(r.api_id == weather.pk for r in records if r.error == "key_api_not_allowed")


def test_the_forwarded_address_from_a_trusted_proxy_and_ipv6_clients(world, node_with):
    _restrict(world, allowed_cidrs=["198.51.100.0/24", "::1/128"])
    behind_proxy = node_with(world.portal, world.token, "--trusted-proxies", "127.0.0.1/32")
    path = "/acme/orders/v1/x"
    assert behind_proxy.call(path, world.key, headers={"X-Forwarded-For": "198.51.100.7"})[0] == 200
    refused = behind_proxy.call(path, world.key, headers={"X-Forwarded-For": "203.0.113.1"})
    assert (refused[0], _code(refused)) == (403, "key_ip_not_allowed")
    assert behind_proxy.call(path, world.key)[0] == 403  # the proxy's own address is not in a range

    ipv6 = node_with(world.portal, world.token, host="::1")
    assert ipv6.call(path, world.key)[0] == 200  # ::1 is allowed
    # Not behind a trusted proxy: a client's X-Forwarded-For is not believed.
    assert ipv6.call(path, world.key, headers={"X-Forwarded-For": "203.0.113.1"})[0] == 200
    _restrict(world, allowed_cidrs=["2001:db8::/32"])
    wait_for(lambda: ipv6.call(path, world.key)[0] == 403, timeout=POLL * 4 + 2)


def test_the_key_rate_limit_is_shared_through_redis_answers_429_then_recovers(world, node_with):
    import redis as redis_lib

    from apis.models import Plan

    # The plan limits nothing: only the key's own limit counts here.
    Plan.objects.for_tenant(world.plan.tenant_id).filter(pk=world.plan.pk).update(quota_per_day=None)
    redis_url = os.environ["REDIS_URL"]
    redis_lib.Redis.from_url(redis_url).flushdb()
    _restrict(world, rate_limit_per_minute=60)  # a bucket of 60, one more a second
    nodes = [node_with(world.portal, world.token, "--redis", redis_url) for _ in range(2)]
    path = "/acme/orders/v1/x"
    statuses = []
    refused = None
    for i in range(80):
        answer = nodes[i % 2].call(path, world.key)
        statuses.append(answer[0])
        if answer[0] == 429:
            refused = answer
            break
    assert refused is not None, statuses
    # Both nodes drew from one bucket: about 60 calls went through, not 120.
    assert 55 <= statuses.count(200) <= 66, statuses
    assert _code(refused) == "key_rate_limited"
    headers = {k.lower(): v for k, v in refused[1].items()}
    assert int(headers["retry-after"]) >= 1
    assert headers["ratelimit-limit"] == "60"
    time.sleep(int(headers["retry-after"]))
    wait_for(lambda: nodes[0].call(path, world.key)[0] == 200, timeout=5, what="the key recovers")
    records = wait_for(lambda: raw_records(status=429), what="the 429 at the portal")
    assert records[0].error == "key_rate_limited"


def test_a_rotated_key_keeps_its_restrictions_at_the_node(world, node_with):
    from subscriptions.services import key_rotate

    _restrict(world, allowed_cidrs=["192.0.2.0/24"])
    new_key, plaintext = key_rotate(actor=world.consumer, key=world.key_obj)
    node = node_with(world.portal, world.token)
    refused = node.call("/acme/orders/v1/x", plaintext)
    assert (refused[0], _code(refused)) == (403, "key_ip_not_allowed")
    assert new_key.allowed_cidrs == ["192.0.2.0/24"]
