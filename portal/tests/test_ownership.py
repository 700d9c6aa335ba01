"""Every service handed another tenant's object answers NotFound (404), never acts on it.

The caller here is Charlie, owner of Globex, with every permission in his own tenant: only
the ownership check stands between him and Acme's objects.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from apis import services as apis
from core.errors import NotFound
from notifications import services as notifications
from portal.tests.world import World, build_world
from subscriptions import services as subscriptions
from tenants import services as tenants
from tenants.models import Membership


@pytest.fixture
def world(acme, globex, alice, charlie) -> World:
    return build_world(acme, globex, alice, charlie)


CALLS: dict[str, Callable[[World], Any]] = {
    "membership_change_role": lambda w: tenants.membership_change_role(
        actor=w.charlie, membership=w.bob, role="viewer"
    ),
    "membership_remove": lambda w: tenants.membership_remove(actor=w.charlie, membership=w.bob),
    "invitation_resend": lambda w: tenants.invitation_resend(actor=w.charlie, invitation=w.invitation),
    "invitation_revoke": lambda w: tenants.invitation_revoke(actor=w.charlie, invitation=w.invitation),
    "token_revoke": lambda w: tenants.token_revoke(actor=w.charlie, token=w.token),
    "api_update": lambda w: apis.api_update(actor=w.charlie, api=w.version.api, name="Mine"),
    "api_delete": lambda w: apis.api_delete(actor=w.charlie, api=w.version.api),
    "version_create": lambda w: apis.version_create(
        actor=w.charlie, api=w.version.api, label="v9", base_path="/stolen/v9", upstreams=[]
    ),
    "version_update": lambda w: apis.version_update(actor=w.charlie, version=w.version, notes="x"),
    "version_deprecate": lambda w: apis.version_deprecate(actor=w.charlie, version=w.version, sunset_date=None),
    "version_retire": lambda w: apis.version_retire(actor=w.charlie, version=w.version),
    "version_delete": lambda w: apis.version_delete(actor=w.charlie, version=w.version),
    "plan_create": lambda w: apis.plan_create(actor=w.charlie, api=w.version.api, name="Stolen"),
    "plan_update": lambda w: apis.plan_update(actor=w.charlie, plan=w.plan, name="Mine"),
    "plan_archive": lambda w: apis.plan_archive(actor=w.charlie, plan=w.plan),
    "plan_delete": lambda w: apis.plan_delete(actor=w.charlie, plan=w.plan),
    "application_update": lambda w: subscriptions.application_update(
        actor=w.charlie, application=w.application, name="Mine"
    ),
    "key_create": lambda w: subscriptions.key_create(actor=w.charlie, application=w.application, name="k"),
    "key_rotate": lambda w: subscriptions.key_rotate(actor=w.charlie, key=w.key, grace=timedelta(0)),
    "key_revoke": lambda w: subscriptions.key_revoke(actor=w.charlie, key=w.key),
    "subscription_request": lambda w: subscriptions.subscription_request(
        actor=w.charlie, application=w.application, plan=w.plan
    ),
    "subscription_cancel": lambda w: subscriptions.subscription_cancel(actor=w.charlie, subscription=w.subscription),
    "subscription_change_plan": lambda w: subscriptions.subscription_change_plan(
        actor=w.charlie, subscription=w.subscription, plan=w.plan
    ),
    "subscription_approve": lambda w: subscriptions.subscription_approve(
        actor=w.charlie, subscription=w.provided_subscription
    ),
    "subscription_suspend": lambda w: subscriptions.subscription_suspend(
        actor=w.charlie, subscription=w.subscription, reason="x"
    ),
    "webhook_update": lambda w: notifications.webhook_update(actor=w.charlie, webhook=w.webhook, description="x"),
    "webhook_delete": lambda w: notifications.webhook_delete(actor=w.charlie, webhook=w.webhook),
    "webhook_send_test": lambda w: notifications.webhook_send_test(actor=w.charlie, webhook=w.webhook),
}


@pytest.mark.parametrize("service", sorted(CALLS))
def test_service_refuses_another_tenants_object(world: World, service: str) -> None:
    with pytest.raises(NotFound):
        CALLS[service](world)


def test_membership_of_another_tenant_is_neither_changed_nor_removed(world: World) -> None:
    for call in (CALLS["membership_change_role"], CALLS["membership_remove"]):
        with pytest.raises(NotFound, match="No such membership"):
            call(world)
    assert Membership.objects.for_tenant(world.acme).get(pk=world.bob.pk).role == "developer"


def test_vanished_object_is_not_found_not_a_crash(world: World) -> None:
    """A row deleted between the view's read and the service's lock is a 404, not DoesNotExist."""
    alice = world.alice
    webhook, key, token = world.webhook, world.key, world.token
    type(webhook).objects.for_tenant(world.acme).filter(pk=webhook.pk).delete()
    with pytest.raises(NotFound):
        notifications.webhook_update(actor=alice, webhook=webhook, description="x")
    type(token).objects.for_tenant(world.acme).filter(pk=token.pk).delete()
    with pytest.raises(NotFound):
        tenants.token_revoke(actor=alice, token=token)
    type(key).objects.for_tenant(world.acme).filter(pk=key.pk).delete()
    with pytest.raises(NotFound):
        subscriptions.key_revoke(actor=alice, key=key)
    subscription = world.subscription
    type(subscription).objects.unscoped().filter(pk=subscription.pk).delete()
    with pytest.raises(NotFound):
        subscriptions.subscription_cancel(actor=alice, subscription=subscription)
