"""The config version moves with every write a snapshot depends on, in the same transaction."""

import pytest
from django.db import transaction

from gateways.models import ConfigState
from subscriptions import services
from subscriptions.models import ApiKey
from subscriptions.tests.factories import ApplicationFactory, make_catalog, membership


def _version() -> int:
    return ConfigState.objects.get(pk=1).version


@pytest.fixture
def catalog(acme, alice):
    return make_catalog(acme)


def test_revoking_a_key_bumps_the_version_but_a_last_used_stamp_does_not(catalog, globex, charlie):
    app = ApplicationFactory(tenant=globex)
    actor = membership(charlie, globex)
    services.subscription_request(actor=actor, application=app, plan=catalog.free)
    key, _plaintext = services.key_create(actor=actor, application=app, name="ci")
    before = _version()
    ApiKey.objects.for_tenant(globex).filter(pk=key.pk).update(last_used_at=key.created_at)
    assert _version() == before
    services.key_revoke(actor=actor, key=key)
    assert _version() > before


def test_a_rolled_back_change_leaves_the_version_alone(catalog, alice, acme):
    from apis import services as catalog_services

    before = _version()
    with pytest.raises(RuntimeError), transaction.atomic():
        catalog_services.plan_archive(actor=membership(alice, acme), plan=catalog.free)
        raise RuntimeError("roll back")
    assert _version() == before


def test_node_tokens_authenticate_until_rotated_or_revoked(db, api):
    from gateways import services as node_services
    from gateways.auth import node_authenticate
    from tenants.tests.factories import UserFactory

    staff = UserFactory(is_staff=True)
    node, token = node_services.node_create(actor=staff, name="edge-1")
    assert node_authenticate(token) == node
    node, rotated = node_services.node_rotate(actor=staff, node=node)
    assert node_authenticate(token) is None and node_authenticate(rotated) == node
    node_services.node_revoke(actor=staff, node=node)
    assert node_authenticate(rotated) is None
    assert node.token_hash not in (token, rotated) and token.split("_")[2] not in node.token_hash
