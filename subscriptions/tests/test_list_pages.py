"""Subscription pages at two data sizes: same number of queries; every list paginated with its total."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from core.tests.queries import assert_flat_queries
from subscriptions.models import ApiKey, Application, Subscription, SubscriptionEvent, SubscriptionStatus
from tenants.tests.factories import UserFactory

pytestmark = pytest.mark.django_db
_serial = itertools.count()


def _apps(tenant, n):
    return Application.objects.bulk_create(
        [Application(tenant=tenant, name=f"Bulk app {next(_serial):05d}") for _ in range(n)]
    )


def _subs(tenant, catalog, n, *, waiting=False, plan=None):
    """``n`` subscriptions of ``tenant`` to the catalog's API (one application each: one live per app and API)."""
    now = timezone.now()
    plan = plan or catalog.free
    return Subscription.objects.bulk_create(
        [
            Subscription(
                application=app,
                consumer_tenant=tenant,
                provider_tenant=catalog.api.tenant,
                api=catalog.api,
                version=catalog.v1,
                plan=plan,
                status=SubscriptionStatus.PENDING if waiting else SubscriptionStatus.ACTIVE,
                awaiting_since=now - timedelta(hours=2) if waiting else None,
                use_case="Bulk",
            )
            for app in _apps(tenant, n)
        ]
    )


def test_applications_page(client, charlie, globex, catalog):
    _subs(globex, catalog, 3)
    client.force_login(charlie)
    url = reverse("subscriptions:applications", args=[globex.slug])
    _, page = assert_flat_queries(client, url, lambda: _subs(globex, catalog, 27))
    assert page.content.decode().count("Bulk app") == 60  # 30 in each list


def test_applications_page_paginates_with_a_total(client, charlie, globex):
    _apps(globex, 120)
    client.force_login(charlie)
    url = reverse("subscriptions:applications", args=[globex.slug])
    first = client.get(url).content.decode()
    assert "1–50 of 120" in first
    last = client.get(url + "?page=3").content.decode()
    assert "101–120 of 120" in last
    assert last.count("Bulk app") == 20
    assert client.get(url + "?page=banana").status_code == 200


def test_application_page_keys_and_subscriptions(client, charlie, globex, shop, catalog):
    def grow(n):
        ApiKey.objects.bulk_create(
            [
                ApiKey(tenant=globex, application=shop, name=f"key {serial}", key_id=f"k{serial:08d}", key_hash="x")
                for serial in (next(_serial) for _ in range(n))
            ]
        )

    grow(3)
    client.force_login(charlie)
    url = reverse("subscriptions:application", args=[globex.slug, shop.pk])
    _, page = assert_flat_queries(client, url, lambda: grow(27))
    assert page.content.decode().count("data-key-id=") == 30


def test_application_keys_page_two_keeps_the_other_list_page(client, charlie, globex, shop):
    ApiKey.objects.bulk_create(
        [ApiKey(tenant=globex, application=shop, name=f"key {i}", key_id=f"p{i:08d}", key_hash="x") for i in range(60)]
    )
    client.force_login(charlie)
    url = reverse("subscriptions:application", args=[globex.slug, shop.pk])
    html = client.get(url + "?subs_page=1&keys_page=2").content.decode()
    assert "51–60 of 60" in html
    assert html.count("data-key-id=") == 10


def test_provider_view_of_a_subscription_does_not_query_per_other_subscription(
    client, alice, acme, globex, catalog, pending_sub
):
    # Globex's other subscriptions to Acme's API, and a long history of the one under review.
    def grow(n):
        _subs(globex, catalog, n)
        SubscriptionEvent.objects.bulk_create(
            [
                SubscriptionEvent(
                    subscription=pending_sub,
                    consumer_tenant=globex,
                    provider_tenant=acme,
                    action="subscription.note",
                    note=f"note {i}",
                )
                for i in range(n)
            ]
        )

    grow(3)
    client.force_login(alice)
    url = reverse("subscriptions:subscription", args=[acme.slug, pending_sub.pk])
    _, page = assert_flat_queries(client, url, lambda: grow(27))
    html = page.content.decode()
    assert "1–20 of 30" in html  # the other subscriptions, 20 a page
    assert "subscription.note" in html


def test_provider_queue(client, alice, acme, globex, catalog):
    _subs(globex, catalog, 3, waiting=True, plan=catalog.gold)
    client.force_login(alice)
    url = reverse("subscriptions:approvals", args=[acme.slug])
    _, page = assert_flat_queries(client, url, lambda: _subs(globex, catalog, 27, waiting=True, plan=catalog.gold))
    html = page.content.decode()
    assert html.count("data-subscription=") == 30
    assert "1–30 of 30" in html


def test_queue_menus_list_only_what_waits(client, alice, acme, globex, catalog):
    from subscriptions.tests.factories import make_catalog

    idle = make_catalog(acme, slug="idle")  # an API of Acme nobody waits for
    _subs(globex, catalog, 2, waiting=True, plan=catalog.gold)
    client.force_login(alice)
    html = client.get(reverse("subscriptions:approvals", args=[acme.slug])).content.decode()
    assert f'<option value="{catalog.api.pk}"' in html
    assert f'<option value="{idle.api.pk}"' not in html
    assert f'<option value="{catalog.gold.pk}"' in html
    assert f'<option value="{catalog.free.pk}"' not in html


def test_queue_page_two_keeps_the_filters(client, alice, acme, globex, catalog):
    _subs(globex, catalog, 60, waiting=True, plan=catalog.gold)
    client.force_login(alice)
    url = reverse("subscriptions:approvals", args=[acme.slug]) + f"?plan={catalog.gold.pk}"
    html = client.get(url).content.decode()
    assert "1–50 of 60" in html
    assert f"?plan={catalog.gold.pk}&amp;page=2" in html
    html = client.get(url + "&page=2").content.decode()
    assert html.count("data-subscription=") == 10


@pytest.fixture
def staff(db):
    return UserFactory(is_staff=True, email="ops@platform.example")


def test_staff_queue(client, staff, acme, globex, catalog):
    _subs(globex, catalog, 3, waiting=True, plan=catalog.gold)
    client.force_login(staff)
    url = reverse("platform-approvals")
    _, page = assert_flat_queries(client, url, lambda: _subs(globex, catalog, 27, waiting=True, plan=catalog.gold))
    html = page.content.decode()
    assert html.count("data-subscription=") == 30
    # Every row opens the request's page.
    first = Subscription.objects.unscoped().filter(provider_tenant=acme).order_by("awaiting_since", "pk").first()
    assert reverse("platform-request", args=[first.pk]) in html


def test_staff_queue_filters_by_provider_then_api(client, staff, acme, globex, catalog):
    from subscriptions.tests.factories import make_catalog

    other = make_catalog(globex, slug="stock")
    _subs(globex, catalog, 2, waiting=True, plan=catalog.gold)
    _subs(acme, other, 3, waiting=True, plan=other.gold)
    client.force_login(staff)
    url = reverse("platform-approvals")
    html = client.get(url).content.decode()
    assert html.count("data-subscription=") == 5
    assert f'<option value="{acme.pk}"' in html and f'<option value="{globex.pk}"' in html
    assert 'id="f-api"' not in html  # API and plan menus once a provider is chosen
    html = client.get(f"{url}?provider={globex.pk}").content.decode()
    assert html.count("data-subscription=") == 3
    assert f'<option value="{other.api.pk}"' in html and f'<option value="{catalog.api.pk}"' not in html
    assert client.get(f"{url}?provider=abc").status_code == 400


def test_staff_can_open_and_decide_a_request(client, staff, globex, catalog, pending_sub):
    client.force_login(staff)
    url = reverse("platform-request", args=[pending_sub.pk])
    html = client.get(url).content.decode()
    assert "Sync orders" in html and "Shop backend" in html
    response = client.post(reverse("platform-approvals"), {"ids": [pending_sub.pk], "decision": "approve"})
    assert response.status_code == 302
    pending_sub.refresh_from_db()
    assert pending_sub.status == SubscriptionStatus.ACTIVE
    assert client.get(reverse("platform-request", args=[999999])).status_code == 404


def test_request_page_is_staff_only(client, alice, pending_sub):
    client.force_login(alice)
    assert client.get(reverse("platform-request", args=[pending_sub.pk])).status_code == 302


@pytest.mark.parametrize("raw", ["²", "٣", "9" * 30])
def test_unicode_digits_are_refused_not_a_500(client, alice, acme, charlie, globex, catalog, pending_sub, raw):
    client.force_login(charlie)
    assert client.get(reverse("subscriptions:subscribe", args=[globex.slug]), {"plan": raw}).status_code == 404
    client.force_login(alice)
    response = client.post(reverse("subscriptions:approvals", args=[acme.slug]), {"ids": [raw], "decision": "approve"})
    assert response.status_code == 302
    url = reverse("subscriptions:subscription-action", args=[acme.slug, pending_sub.pk, "change-plan"])
    assert client.post(url, {"plan": raw}).status_code == 400


def test_a_page_answering_a_post_links_its_pages_to_itself(client, charlie, globex, shop, active_sub):
    now = timezone.now()  # revoked: old keys do not count against the live-key limit
    ApiKey.objects.bulk_create(
        [
            ApiKey(tenant=globex, application=shop, name=f"old {i}", key_id=f"q{i:08d}", key_hash="x", revoked_at=now)
            for i in range(60)
        ]
    )
    client.force_login(charlie)
    # A refused POST (the name is missing) answers with the application page itself.
    response = client.post(reverse("subscriptions:key-create", args=[globex.slug, shop.pk]), {"name": ""})
    assert response.status_code == 400
    page_two = reverse("subscriptions:application", args=[globex.slug, shop.pk]) + "?keys_page=2"
    assert f'href="{page_two}"' in response.content.decode()


def test_subscribe_menu_is_bounded_and_searchable(client, charlie, globex, catalog):
    """An organisation with more applications than the menu holds gets a search, not a huge page."""
    from subscriptions.views import APPLICATION_MENU_SIZE

    apps = _apps(globex, APPLICATION_MENU_SIZE + 5)
    client.force_login(charlie)
    url = reverse("subscriptions:subscribe", args=[globex.slug])
    html = client.get(url, {"plan": catalog.free.pk}).content.decode()
    assert html.count("<option value=") == APPLICATION_MENU_SIZE
    assert f"first {APPLICATION_MENU_SIZE} of {APPLICATION_MENU_SIZE + 5:,} applications" in html
    last = apps[-1]
    assert f'<option value="{last.pk}"' not in html  # beyond the menu: found by searching
    found = client.get(url, {"plan": catalog.free.pk, "app_q": last.name[-5:]}).content.decode()
    assert f'<option value="{last.pk}"' in found and "1 application matches" in found
    # Asked for by id (or posted), the application is offered and chosen even beyond the menu.
    chosen = client.get(url, {"plan": catalog.free.pk, "application": last.pk}).content.decode()
    assert f'<option value="{last.pk}" selected' in chosen
    posted = client.post(url, {"plan": catalog.free.pk, "application": last.pk, "use_case": "x"})
    assert posted.status_code == 302
    assert Subscription.objects.for_consumer(globex).filter(application=last).exists()
    # Bad search text is a clear answer, never a 500: a NUL is refused up front, long text is cut.
    assert client.get(url, {"plan": catalog.free.pk, "app_q": "a\x00b"}).status_code == 400
    assert client.get(url, {"plan": catalog.free.pk, "app_q": "ab" * 500}).status_code == 200
    assert "No application matches" in client.get(url, {"plan": catalog.free.pk, "app_q": "zzz"}).content.decode()
