"""The deletion rule: nothing another tenant depends on is ever deleted (docs/decisions.md).

Acme (Alice) provides the Orders API; Globex (Charlie) subscribes to it with its application.
Whatever Acme deletes, through the services, the web pages, the REST API, the admin or the
ORM, Globex's subscriptions, keys and their trail stay.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError

from apis import services as catalog_services
from apis.models import Api, ApiVersion, Plan
from core.errors import Conflict
from subscriptions import services
from subscriptions.models import ApiKey, Application, Subscription, SubscriptionEvent
from subscriptions.tests.factories import Catalog, make_key
from tenants import services as tenant_services
from tenants.models import Membership, Tenant
from tenants.tests.factories import UserFactory, sign_in

REST = "/api/v1/tenants/acme/apis/orders/"
WEB = "/t/acme/apis/orders/"
STATUSES = ["active", "pending", "cancelled", "rejected"]


def _subscribe(status: str, catalog: Catalog, shop: Application, charlie_m: Membership, alice_m: Membership):
    """A subscription of Globex's application in ``status``, made the way users make it (with its trail)."""
    plan = catalog.gold if status in ("pending", "rejected") else catalog.free
    subscription = services.subscription_request(actor=charlie_m, application=shop, plan=plan, use_case="Sync orders")
    if status == "active":
        make_key(charlie_m, shop)
    elif status == "cancelled":
        services.subscription_cancel(actor=charlie_m, subscription=subscription, reason="Not needed")
    elif status == "rejected":
        services.subscription_reject(actor=alice_m, subscription=subscription, reason="Not yet")
    subscription.refresh_from_db()
    assert subscription.status == status
    return subscription


def _snapshot() -> dict[str, int]:
    """Row counts of everything that must survive a refused delete."""
    return {
        "subscriptions": Subscription.objects.unscoped().count(),
        "events": SubscriptionEvent.objects.unscoped().count(),
        "keys": ApiKey.objects.unscoped().count(),
        "apis": Api.objects.unscoped().count(),
        "versions": ApiVersion.objects.unscoped().count(),
        "plans": Plan.objects.unscoped().count(),
    }


def _targets(catalog: Catalog, subscription: Subscription) -> dict[str, tuple[object, str]]:
    """What the provider tries to delete, with the advice the 409 must give."""
    return {
        "plan": (subscription.plan, "Archive the plan instead"),
        "version": (catalog.v1, "Retire the version instead"),
        "api": (catalog.api, "Retire its versions and archive its plans; an API with subscription history"),
    }


def _delete_by_service(alice_m: Membership, kind: str, target: object) -> None:
    delete: Callable[..., None] = {
        "plan": lambda: catalog_services.plan_delete(actor=alice_m, plan=target),
        "version": lambda: catalog_services.version_delete(actor=alice_m, version=target),
        "api": lambda: catalog_services.api_delete(actor=alice_m, api=target),
    }[kind]
    delete()


def _web_url(kind: str, target: object) -> str:
    return {
        "plan": f"{WEB}plans/{getattr(target, 'pk', '')}/delete/",
        "version": f"{WEB}versions/v1/delete/",
        "api": f"{WEB}delete/",
    }[kind]


def _rest_url(kind: str, target: object) -> str:
    return {
        "plan": f"{REST}plans/{getattr(target, 'pk', '')}/",
        "version": f"{REST}versions/v1/",
        "api": REST,
    }[kind]


@pytest.mark.parametrize("kind", ["plan", "version", "api"])
@pytest.mark.parametrize("status", STATUSES)
def test_service_refuses_to_delete_what_has_subscription_history(status, kind, catalog, shop, charlie_m, alice_m):
    subscription = _subscribe(status, catalog, shop, charlie_m, alice_m)
    target, advice = _targets(catalog, subscription)[kind]
    before = _snapshot()
    with pytest.raises(Conflict) as refused:
        _delete_by_service(alice_m, kind, target)
    assert refused.value.code == "has_subscriptions"
    assert refused.value.status_code == 409
    assert advice in refused.value.message
    assert _snapshot() == before
    assert Subscription.objects.for_consumer(shop.tenant).get().status == status


@pytest.mark.parametrize("kind", ["plan", "version", "api"])
@pytest.mark.parametrize("status", STATUSES)
def test_rest_answers_409_with_the_advice(status, kind, api, catalog, shop, charlie_m, alice_m, alice):
    subscription = _subscribe(status, catalog, shop, charlie_m, alice_m)
    target, advice = _targets(catalog, subscription)[kind]
    before = _snapshot()
    api.force_authenticate(alice)
    response = api.delete(_rest_url(kind, target))
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "has_subscriptions"
    assert advice in error["message"]
    assert _snapshot() == before


@pytest.mark.parametrize("kind", ["plan", "version", "api"])
@pytest.mark.parametrize("status", STATUSES)
def test_web_answers_409_with_the_advice(status, kind, client, catalog, shop, charlie_m, alice_m, alice):
    subscription = _subscribe(status, catalog, shop, charlie_m, alice_m)
    target, advice = _targets(catalog, subscription)[kind]
    before = _snapshot()
    client.force_login(alice)
    response = client.post(_web_url(kind, target))
    assert response.status_code == 409
    assert advice in response.content.decode()
    assert _snapshot() == before


def test_pages_disable_the_delete_buttons_that_would_be_refused(client, catalog, shop, charlie_m, alice_m, alice):
    subscription = _subscribe("active", catalog, shop, charlie_m, alice_m)
    client.force_login(alice)
    page = client.get(WEB).content.decode()
    assert 'id="api-delete-refusal"' in page
    assert f'action="{WEB}delete/"' not in page
    # The subscribed plan's delete button is disabled; a plan nobody took keeps its form.
    assert f"{WEB}plans/{subscription.plan.pk}/delete/" not in page
    assert f"{WEB}plans/{catalog.hidden.pk}/delete/" in page
    version_page = client.get(f"{WEB}versions/v1/").content.decode()
    assert 'id="version-delete-refusal"' in version_page
    assert "Retire the version instead" in version_page


def test_what_never_had_subscriptions_can_still_be_deleted(api, client, catalog, shop, alice_m, alice, acme):
    # Service: a plan nobody took.
    catalog_services.plan_delete(actor=alice_m, plan=catalog.hidden)
    # REST: a draft version, then a plan.
    api.force_authenticate(alice)
    assert api.delete(f"{REST}versions/v2/").status_code == 204
    assert api.delete(f"{REST}plans/{catalog.archived.pk}/").status_code == 204
    # Web: a retired version, then (after retiring v1) the whole API.
    client.force_login(alice)
    assert client.post(f"{WEB}versions/v0/delete/").status_code == 302
    catalog_services.version_retire(actor=alice_m, version=catalog.v1)
    assert client.post(f"{WEB}delete/").status_code == 302
    assert not Api.objects.for_tenant(acme).exists()
    assert not Plan.objects.for_tenant(acme).exists()


def test_live_versions_still_block_an_api_without_history(alice_m, catalog):
    with pytest.raises(Conflict) as refused:
        catalog_services.api_delete(actor=alice_m, api=catalog.api)
    assert refused.value.code == "api_has_live_versions"


def test_pending_plan_change_protects_the_requested_plan(catalog, shop, charlie_m, alice_m):
    subscription = _subscribe("active", catalog, shop, charlie_m, alice_m)
    # Gold needs approval: the move waits, and the subscription stays on Free meanwhile.
    services.subscription_change_plan(actor=charlie_m, subscription=subscription, plan=catalog.gold.pk)
    with pytest.raises(Conflict, match="Archive the plan instead"):
        catalog_services.plan_delete(actor=alice_m, plan=catalog.gold)
    services.subscription_reject(actor=alice_m, subscription=subscription, reason="No")
    catalog_services.plan_delete(actor=alice_m, plan=catalog.gold)


def test_a_plan_a_subscription_moved_away_from_stays(catalog, shop, charlie_m, alice_m):
    """'Had subscriptions' counts: after Free → Partner, Free is no longer any subscription's plan."""
    subscription = _subscribe("active", catalog, shop, charlie_m, alice_m)
    catalog.hidden.is_public = True
    catalog.hidden.save()
    services.subscription_change_plan(actor=charlie_m, subscription=subscription, plan=catalog.hidden.pk)
    assert not Subscription.objects.unscoped().filter(plan=catalog.free).exists()
    with pytest.raises(Conflict, match="Archive the plan instead"):
        catalog_services.plan_delete(actor=alice_m, plan=catalog.free)
    assert Plan.objects.unscoped().filter(pk=catalog.free.pk).exists()


def test_protect_holds_outside_the_services(catalog, shop, charlie_m, alice_m, acme, globex):
    """Admin, shell or a cascade: the ORM refuses, and PostgreSQL refuses a raw DELETE."""
    subscription = _subscribe("cancelled", catalog, shop, charlie_m, alice_m)
    before = _snapshot()
    querysets = [
        Plan.objects.unscoped().filter(pk=subscription.plan_id),
        ApiVersion.objects.unscoped().filter(pk=catalog.v1.pk),
        Api.objects.unscoped().filter(pk=catalog.api.pk),
        Application.objects.unscoped().filter(pk=shop.pk),
        Subscription.objects.unscoped().filter(pk=subscription.pk),
        Tenant.objects.filter(pk=acme.pk),
        Tenant.objects.filter(pk=globex.pk),
    ]
    for queryset in querysets:
        with pytest.raises(ProtectedError), transaction.atomic():
            queryset.delete()
    for table, pk in [("apis_plan", subscription.plan_id), ("subscriptions_subscription", subscription.pk)]:
        with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE id = %s", [pk])
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert _snapshot() == before


def test_admin_cannot_delete_around_the_rule(client, catalog, shop, charlie_m, alice_m, acme):
    subscription = _subscribe("active", catalog, shop, charlie_m, alice_m)
    before = _snapshot()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    page = client.get(f"/admin/tenants/tenant/{acme.pk}/delete/").content.decode()
    assert "cannot delete tenant" in page.lower()
    client.post(f"/admin/tenants/tenant/{acme.pk}/delete/", {"post": "yes"})
    client.post(f"/admin/subscriptions/application/{shop.pk}/delete/", {"post": "yes"})
    # Subscriptions and their trail have no delete action at all.
    assert client.get(f"/admin/subscriptions/subscription/{subscription.pk}/delete/").status_code == 403
    assert Tenant.objects.filter(pk=acme.pk).exists()
    assert _snapshot() == before


@pytest.mark.parametrize("who", ["provider", "consumer"])
def test_tenant_with_subscription_history_cannot_be_deleted(
    who, api, client, catalog, shop, charlie_m, alice_m, alice, charlie
):
    _subscribe("rejected", catalog, shop, charlie_m, alice_m)
    actor, user = (alice_m, alice) if who == "provider" else (charlie_m, charlie)
    slug = actor.tenant.slug
    before = _snapshot()
    with pytest.raises(Conflict) as refused:
        tenant_services.tenant_delete(actor=actor, confirm_slug=slug)
    assert refused.value.code == "has_subscriptions"
    # Deleting an organisation needs an owner's write token or a fresh sign-in (tenants/reauth.py).
    _token, plaintext = tenant_services.token_create(actor=actor, name="ops", scope="write")
    response = api.delete(f"/api/v1/tenants/{slug}/", HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "has_subscriptions"
    sign_in(client, user)
    page = client.post(f"/t/{slug}/delete/", {"confirm_slug": slug})
    assert page.status_code == 409
    assert "kept for both sides" in page.content.decode()
    assert Tenant.objects.filter(slug=slug).exists()
    assert _snapshot() == before


def test_deleting_a_user_keeps_the_trail_with_the_email(catalog, shop, charlie_m, alice_m, charlie):
    subscription = _subscribe("rejected", catalog, shop, charlie_m, alice_m)
    charlie.delete()
    subscription.refresh_from_db()
    assert subscription.requested_by is None
    emails = set(SubscriptionEvent.objects.unscoped().values_list("actor_email", flat=True))
    assert {"charlie@globex.example", "alice@acme.example"} <= emails


def test_trail_stays_readable_and_exportable_after_retiring_and_archiving(
    api, client, catalog, shop, charlie_m, alice_m, alice, charlie
):
    subscription = _subscribe("active", catalog, shop, charlie_m, alice_m)
    services.subscription_cancel(actor=charlie_m, subscription=subscription, reason="Moving on")
    catalog_services.version_retire(actor=alice_m, version=catalog.v1)
    for plan in Plan.objects.for_tenant(alice_m.tenant).active():
        catalog_services.plan_archive(actor=alice_m, plan=plan)
    with pytest.raises(Conflict):
        catalog_services.api_delete(actor=alice_m, api=catalog.api)
    for user, slug, rest in [
        (alice, "acme", "provided-subscriptions"),
        (charlie, "globex", "subscriptions"),
    ]:
        client.force_login(user)
        page = client.get(f"/t/{slug}/subscriptions/{subscription.pk}/")
        assert page.status_code == 200 and "subscription.cancelled" in page.content.decode()
        csv = client.get(f"/t/{slug}/subscriptions/{subscription.pk}/events.csv").content.decode()
        assert "subscription.cancelled" in csv and "Moving on" in csv
        api.force_authenticate(user)
        events = api.get(f"/api/v1/tenants/{slug}/{rest}/{subscription.pk}/events/")
        assert events.status_code == 200
        assert [e["action"] for e in events.json()["results"]][-1] == "subscription.cancelled"
