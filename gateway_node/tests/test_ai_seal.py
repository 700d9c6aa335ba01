"""Provider secrets never sit in clear in the node's saved snapshot."""

from __future__ import annotations

import asyncio
import copy
import json

import msgspec
import pytest

from gateway_node.ai import seal
from gateway_node.portal_client import ConfigSource, PortalHttp
from gateway_node.tests.upstreams import Reply, Upstream

TOKEN = "gwn_node-token-one"
SNAPSHOT = {
    "version": 5,
    "routes": [],
    "credentials": {},
    "ai": {
        "providers": {
            "12": {
                "slug": "openai",
                "kind": "openai",
                "base_url": "https://api.openai.com/v1",
                "credentials": [
                    {"id": 3, "secret": "sk-live-aaaaaaaaaaaa", "priority": 0, "weight": 1},
                    {"id": 4, "secret": "sk-live-bbbbbbbbbbbb", "priority": 1, "weight": 1},
                ],
            }
        },
        "models": {},
        "routes": {},
    },
}


def test_seal_and_unseal_round_trip_without_touching_the_input():
    original = copy.deepcopy(SNAPSHOT)
    sealed = seal.seal(SNAPSHOT, TOKEN)
    assert original == SNAPSHOT
    text = json.dumps(sealed)
    assert "sk-live" not in text
    creds = sealed["ai"]["providers"]["12"]["credentials"]
    assert all(c["secret_sealed"].startswith("v1.") and "secret" not in c for c in creds)
    opened, failed = seal.unseal(sealed, TOKEN)
    assert failed == 0
    assert opened == original


def test_the_same_secret_seals_differently_each_time():
    one = seal.seal(SNAPSHOT, TOKEN)["ai"]["providers"]["12"]["credentials"][0]["secret_sealed"]
    two = seal.seal(SNAPSHOT, TOKEN)["ai"]["providers"]["12"]["credentials"][0]["secret_sealed"]
    assert one != two  # a fresh nonce per seal


def test_another_token_opens_nothing_and_the_credentials_are_dropped():
    sealed = seal.seal(SNAPSHOT, TOKEN)
    opened, failed = seal.unseal(sealed, "gwn_another-token")
    assert failed == 2
    assert opened["ai"]["providers"]["12"]["credentials"] == []


def test_a_seal_moved_to_another_credential_does_not_open():
    sealed = seal.seal(SNAPSHOT, TOKEN)
    creds = sealed["ai"]["providers"]["12"]["credentials"]
    creds[0]["secret_sealed"], creds[1]["secret_sealed"] = creds[1]["secret_sealed"], creds[0]["secret_sealed"]
    _, failed = seal.unseal(sealed, TOKEN)
    assert failed == 2


def test_a_snapshot_without_secrets_is_saved_as_the_portal_sent_it():
    plain = {"version": 1, "routes": []}
    assert seal.seal(plain, TOKEN) is plain
    assert seal.unseal(plain, TOKEN) == (plain, 0)


@pytest.fixture(name="portal")
def portal_fixture():
    body = msgspec.json.encode(SNAPSHOT)
    with Upstream(lambda seen: Reply(200, body, [("Content-Type", "application/json"), ("ETag", '"5"')])) as server:
        yield server


def test_the_node_saves_sealed_secrets_and_starts_from_them(portal, tmp_path):
    applied: list[dict] = []

    async def first_start() -> None:
        source = ConfigSource(portal_url=portal.url, token=TOKEN, state_dir=tmp_path, on_snapshot=applied.append)
        assert await source.poll()

    asyncio.run(first_start())
    assert applied[-1]["ai"]["providers"]["12"]["credentials"][0]["secret"] == "sk-live-aaaaaaaaaaaa"
    on_disk = (tmp_path / "config.json").read_bytes()
    assert b"sk-live" not in on_disk
    assert b"secret_sealed" in on_disk

    # The portal is away: the node starts from the disk copy, secrets opened with its token.
    portal.stop()

    async def restart(token: str) -> ConfigSource:
        source = ConfigSource(
            portal_url=portal.url, token=token, state_dir=tmp_path, on_snapshot=applied.append, timeout=0.5
        )
        assert await source.load_initial()
        return source

    source = asyncio.run(restart(TOKEN))
    assert source.source == "disk" and not source.degraded
    assert applied[-1]["ai"]["providers"]["12"]["credentials"][1]["secret"] == "sk-live-bbbbbbbbbbbb"


def test_a_new_token_starts_without_ai_credentials_until_the_portal_answers(portal, tmp_path, capsys):
    applied: list[dict] = []

    async def scenario() -> ConfigSource:
        source = ConfigSource(portal_url=portal.url, token=TOKEN, state_dir=tmp_path, on_snapshot=applied.append)
        assert await source.poll()
        # Restart with another token while the portal is unreachable...
        other = ConfigSource(
            portal_url="http://127.0.0.1:9", token="gwn_new-token", state_dir=tmp_path, on_snapshot=applied.append
        )
        assert other._load_disk()
        assert other.degraded
        assert applied[-1]["ai"]["providers"]["12"]["credentials"] == []
        # ...then the portal answers the same version: it is taken again, whole.
        other.http = PortalHttp(portal.url, "gwn_new-token")
        assert await other.poll()
        return other

    other = asyncio.run(scenario())
    assert not other.degraded
    assert applied[-1]["ai"]["providers"]["12"]["credentials"][0]["secret"] == "sk-live-aaaaaaaaaaaa"
    assert b"sk-live" not in (tmp_path / "config.json").read_bytes()
    err = capsys.readouterr().err
    assert "sealed with another node token" in err
    assert "sk-live" not in err
