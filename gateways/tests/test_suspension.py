"""A suspended organisation's keys leave the gateway config (the version moves) and verify refuses them."""

import json

from gateways.models import ConfigState
from subscriptions import services
from subscriptions.services import key_verify
from subscriptions.tests.factories import ApplicationFactory, make_catalog, membership
from tenants import services as tenant_services


def _version() -> int:
    return ConfigState.objects.get(pk=1).version


def test_suspension_takes_the_keys_out_of_the_snapshot_and_lifting_it_puts_them_back(
    node_api, staff, acme, alice, globex, charlie
):
    catalog = make_catalog(acme)
    app = ApplicationFactory(tenant=globex)
    consumer = membership(charlie, globex)
    services.subscription_request(actor=consumer, application=app, plan=catalog.free)
    key, plaintext = services.key_create(actor=consumer, application=app, name="prod")
    first = json.loads(node_api.get("/gateway/v1/config").content)
    assert key.key_id in first["credentials"]
    assert key_verify(presented_key=plaintext, path="/acme/orders/v1/x").allowed

    tenant_services.tenant_suspend(staff=staff, tenant=globex, reason="Unpaid invoices")
    suspended = json.loads(node_api.get("/gateway/v1/config").content)
    assert suspended["version"] > first["version"]
    assert key.key_id not in suspended["credentials"]
    # The provider's routes stay: only the suspended organisation's own keys stop.
    assert [r["base_path"] for r in suspended["routes"]] == ["/acme/orders/v1"]
    verdict = key_verify(presented_key=plaintext, path="/acme/orders/v1/x")
    assert (verdict.allowed, verdict.reason) == (False, "unknown_key")
    # A node that already has this version is told nothing changed.
    etag = node_api.get("/gateway/v1/config")["ETag"]
    assert node_api.get("/gateway/v1/config", HTTP_IF_NONE_MATCH=etag).status_code == 304

    tenant_services.tenant_unsuspend(staff=staff, tenant=globex)
    lifted = json.loads(node_api.get("/gateway/v1/config").content)
    assert lifted["version"] > suspended["version"]
    assert key.key_id in lifted["credentials"]
    assert key_verify(presented_key=plaintext, path="/acme/orders/v1/x").allowed


def test_a_rename_does_not_bump_the_config_version(staff, acme, alice):
    from tenants.services import tenant_update

    before = _version()
    tenant_update(actor=membership(alice, acme), name="Acme Ltd")
    assert _version() == before
