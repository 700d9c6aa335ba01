"""Key restrictions in the gateway config: shipped per key, and every change is a new version."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from gateways.snapshot import current_version
from subscriptions import services
from subscriptions.models import ApiKey
from subscriptions.tests.factories import ApplicationFactory, make_catalog, membership

URL = "/gateway/v1/config"


@pytest.fixture
def world(acme, globex, charlie):
    """Acme's Orders API; Globex's app is subscribed (Free: no approval) and has a key."""
    catalog = make_catalog(acme)
    app = ApplicationFactory(tenant=globex)
    consumer = membership(charlie, globex)
    services.subscription_request(actor=consumer, application=app, plan=catalog.free)
    key, _ = services.key_create(actor=consumer, application=app, name="prod")
    return {"catalog": catalog, "app": app, "key": key, "consumer": consumer}


def _credentials(node_api) -> dict:
    response = node_api.get(URL)
    assert response.status_code == 200
    return json.loads(response.content)["credentials"]


def test_a_key_without_restrictions_ships_null(node_api, world):
    assert _credentials(node_api)[world["key"].key_id]["restrictions"] is None


def test_restrictions_are_shipped_per_key(node_api, world):
    catalog, key = world["catalog"], world["key"]
    services.key_set_restrictions(
        actor=world["consumer"],
        key=key,
        allowed_cidrs=["192.0.2.0/24", "2001:db8::/48"],
        allowed_apis=[catalog.api.pk],
        rate_limit_per_minute=30,
    )
    assert _credentials(node_api)[key.key_id]["restrictions"] == {
        "cidrs": ["192.0.2.0/24", "2001:db8::/48"],
        "api_ids": [catalog.api.pk],
        "rate_limit_per_minute": 30,
    }
    services.key_set_restrictions(actor=world["consumer"], key=key, allowed_cidrs=[], allowed_apis=[])
    assert _credentials(node_api)[key.key_id]["restrictions"] == {
        "cidrs": [],
        "api_ids": [],
        "rate_limit_per_minute": 30,
    }


@pytest.mark.parametrize(
    "change",
    [
        {"allowed_cidrs": ["192.0.2.0/24"]},
        {"allowed_apis": "orders"},
        {"rate_limit_per_minute": 9},
    ],
)
def test_each_kind_of_change_bumps_the_version(node_api, world, change):
    if change.get("allowed_apis") == "orders":
        change = {"allowed_apis": [world["catalog"].api.pk]}
    before = current_version()
    _credentials(node_api)
    services.key_set_restrictions(actor=world["consumer"], key=world["key"], **change)
    assert current_version() > before
    restrictions = _credentials(node_api)[world["key"].key_id]["restrictions"]
    assert restrictions is not None


def test_lifting_an_api_restriction_bumps_and_last_used_still_does_not(node_api, world):
    key = world["key"]
    services.key_set_restrictions(actor=world["consumer"], key=key, allowed_apis=[world["catalog"].api.pk])
    before = current_version()
    services.key_set_restrictions(actor=world["consumer"], key=key, allowed_apis=[])  # M2M rows deleted
    assert current_version() > before
    before = current_version()
    ApiKey.objects.for_tenant(key.tenant_id).filter(pk=key.pk).update(last_used_at=key.created_at)
    assert current_version() == before


def test_the_snapshot_stays_one_statement_with_restricted_keys(node_api, world):
    for n in range(5):
        services.key_create(
            actor=world["consumer"],
            application=world["app"],
            name=f"k{n}",
            allowed_cidrs=[f"10.{n}.0.0/16"],
            allowed_apis=[world["catalog"].api.pk],
        )
    with CaptureQueriesContext(connection) as queries:
        credentials = _credentials(node_api)
    assert len(credentials) == 6
    assert sum(1 for c in credentials.values() if c["restrictions"]) == 5
    assert len(queries) <= 4  # node auth (+ last-seen stamp), the version, the one snapshot statement
