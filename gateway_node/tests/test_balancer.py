"""Targets, smooth weighted round-robin, the passive circuit breaker, and the registry that
keeps them across config reloads; the breaker also end to end through the node."""

from __future__ import annotations

import gc
import time
from collections import Counter

import pytest

from gateway_node.balancer import BreakerSettings, Target, UpstreamRegistry
from gateway_node.tests.test_http11 import one_route, proxy_fixture, upstream_fixture  # noqa: F401 - fixtures
from gateway_node.tests.upstreams import RawClient, Reply, Upstream


def names(balancer, count: int, registry: UpstreamRegistry) -> str:
    by_url = {target.url: target.url[-1] for target in registry.targets}
    picks = []
    for _ in range(count):
        target = balancer.pick()
        picks.append(by_url[target.url] if target else "-")
    return "".join(picks)


# --- Targets ------------------------------------------------------------------------------------


def test_a_target_parses_its_url():
    plain = Target("http://127.0.0.1:9101")
    assert (plain.host, plain.port, plain.ssl, plain.path_prefix, plain.authority) == (
        "127.0.0.1",
        9101,
        None,
        b"",
        b"127.0.0.1:9101",
    )
    tls = Target("https://orders.internal/prefix/")
    assert (tls.port, tls.path_prefix, tls.authority) == (443, b"/prefix", b"orders.internal")
    assert tls.ssl is not None and tls.ssl.check_hostname
    assert Target("http://[::1]:8080/").authority == b"[::1]:8080"
    assert Target("http://example.com:80").authority == b"example.com"
    for bad in ("ftp://x", "http://", "http://user:pw@host", "http://h/?q=1", "http://h:99999"):
        with pytest.raises(ValueError):
            Target(bad)


# --- Smooth weighted round-robin ---------------------------------------------------------------


def test_weights_spread_picks_as_nginx_does():
    registry = UpstreamRegistry()
    balancer = registry.balancer([("http://h:1/a", 5), ("http://h:1/b", 1), ("http://h:1/c", 1)])
    # nginx's smooth weighted round-robin: the heavy peer's turns are spread out.
    assert names(balancer, 14, registry) == "aabacaa" * 2


def test_weights_hold_over_many_picks():
    registry = UpstreamRegistry()
    balancer = registry.balancer([("http://h:1/a", 3), ("http://h:1/b", 1)])
    assert Counter(names(balancer, 400, registry)) == {"a": 300, "b": 100}


def test_excluded_and_zero_weight_targets_are_skipped():
    registry = UpstreamRegistry()
    balancer = registry.balancer([("http://h:1/a", 1), ("http://h:1/b", 1), ("http://h:1/z", 0)])
    a = registry.target("http://h:1/a")
    assert {balancer.pick([a]).url for _ in range(5)} == {"http://h:1/b"}
    assert balancer.pick([a, registry.target("http://h:1/b")]) is None


def test_unusable_urls_are_left_out_not_fatal():
    registry = UpstreamRegistry()
    balancer = registry.balancer([("ftp://nope", 1), ("http://h:1/ok", 1)])
    assert balancer.invalid == ["ftp://nope"]
    assert balancer.pick().url == "http://h:1/ok"
    assert registry.balancer([("gopher://x", 1)]).pick() is None


# --- The registry across config reloads ------------------------------------------------------


def test_the_same_upstream_list_gives_the_same_balancer_and_targets_are_shared():
    registry = UpstreamRegistry()
    first = registry.balancer([("http://h:1/a", 3), ("http://h:1/b", 1)])
    first.pick()
    again = registry.balancer([("http://h:1/a", 3), ("http://h:1/b", 1)])
    assert again is first  # round-robin position, breakers and pools survive a reload
    other = registry.balancer([("http://h:1/a", 1)])
    assert other is not first
    assert other.targets[0] is first.targets[0]  # one pool and breaker per URL


def test_targets_no_route_uses_any_more_are_forgotten():
    registry = UpstreamRegistry()
    old = registry.balancer([("http://h:1/gone", 1)])
    assert [t.url for t in registry.targets] == ["http://h:1/gone"]
    del old
    gc.collect()
    registry.balancer([("http://h:1/new", 1)])
    assert [t.url for t in registry.targets] == ["http://h:1/new"]


# --- The breaker ----------------------------------------------------------------------------------


def test_the_breaker_opens_after_consecutive_failures_only():
    target = Target("http://h:1", breaker=BreakerSettings(failures=3, cooldown=60))
    target.failure()
    target.failure()
    target.success()  # consecutive: a success in between starts the count again
    target.failure()
    target.failure()
    assert target.breaker_state == "closed"
    target.failure()
    assert target.breaker_state == "open"
    assert not target.available(time.monotonic())


def test_after_the_cooldown_exactly_one_probe_goes_through():
    registry = UpstreamRegistry(breaker=BreakerSettings(failures=1, cooldown=0.1))
    balancer = registry.balancer([("http://h:1/a", 1), ("http://h:1/b", 1)])
    a, b = registry.target("http://h:1/a"), registry.target("http://h:1/b")
    a.failure()
    assert {balancer.pick().url for _ in range(4)} == {b.url}  # a is open: skipped
    time.sleep(0.12)
    picks = [balancer.pick() for _ in range(6)]
    assert picks.count(a) == 1  # the probe; a is half-open until it reports
    assert a.breaker_state == "half_open"
    a.failure()  # the probe failed: open for another cool-down
    assert a.breaker_state == "open"
    assert a not in [balancer.pick() for _ in range(4)]
    time.sleep(0.12)
    assert a in [balancer.pick() for _ in range(2)]
    a.success()  # the probe succeeded: closed, in the rotation again
    assert a.breaker_state == "closed"
    assert Counter(balancer.pick().url for _ in range(4)) == {a.url: 2, b.url: 2}


def test_a_probe_that_tells_nothing_passes_the_turn_on():
    target = Target("http://h:1", breaker=BreakerSettings(failures=1, cooldown=0.05))
    target.failure()
    time.sleep(0.06)
    assert target.acquire(time.monotonic()) is True
    assert not target.available(time.monotonic())
    target.release(probe=True)  # the client went away mid-probe
    assert target.available(time.monotonic())


def test_all_breakers_open_means_nothing_to_pick():
    registry = UpstreamRegistry(breaker=BreakerSettings(failures=1, cooldown=60))
    balancer = registry.balancer([("http://h:1/a", 1), ("http://h:1/b", 1)])
    for target in balancer.targets:
        target.failure()
    assert balancer.pick() is None


# --- The breaker through the node ------------------------------------------------------------------


def test_a_failing_upstream_is_cut_off_then_probed_back_in(proxy):
    failing = {"on": True}

    def handler(seen):
        return Reply(status=503, body=b"down") if failing["on"] else Reply(body=b"up")

    with Upstream(handler) as upstream:
        registry = UpstreamRegistry(breaker=BreakerSettings(failures=3, cooldown=0.3))
        node, gate = proxy(one_route(upstream), registry=registry)
        with RawClient(node.port) as client:
            relayed = [client.request("GET", "/api/x") for _ in range(3)]
            assert [(a.status, a.body) for a in relayed] == [(503, b"down")] * 3  # the upstream's own
            cut_off = client.request("GET", "/api/x")
            assert cut_off.status == 503
            assert cut_off.json() == {
                "error": {"code": "upstream_unavailable", "message": "No upstream is available for this API right now."}
            }
            assert cut_off.headers["x-request-id"] and cut_off.headers["content-type"] == "application/json"
            assert len(upstream.requests) == 3  # the open breaker spared the upstream
            failing["on"] = False
            time.sleep(0.35)
            assert client.request("GET", "/api/x").body == b"up"  # the probe
            assert [client.request("GET", "/api/x").status for _ in range(3)] == [200] * 3
        assert gate.wait_calls(8)[3].outcome.error == "upstream_unavailable"
        assert node.run(lambda: registry.target(upstream.url).breaker_state) == "closed"


def test_connect_failures_open_the_breaker_and_traffic_moves_to_the_healthy_target(upstream, proxy):
    from gateway_node.tests.upstreams import refused_url

    dead = refused_url()
    registry = UpstreamRegistry(breaker=BreakerSettings(failures=2, cooldown=60))
    node, _ = proxy({"/api": [(dead, 1), (upstream.url, 1)]}, registry=registry)
    with RawClient(node.port) as client:
        assert [client.request("GET", "/api/x").status for _ in range(6)] == [200] * 6
    assert node.run(lambda: registry.target(dead).breaker_state) == "open"
    assert node.run(lambda: registry.target(dead).failures) == 2  # not tried once it opened
