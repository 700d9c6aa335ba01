"""Platform staff's pages: landing, overview links, search, drill-down lists, organisation and user pages."""

from __future__ import annotations

import re

import pytest

from subscriptions.models import SubscriptionStatus
from subscriptions.tests.factories import ApplicationFactory, SubscriptionFactory, make_catalog
from tenants.models import Tenant
from tenants.tests.factories import UserFactory

STAFF_PAGES = [
    "/platform/",
    "/platform/search/?q=acme",
    "/platform/organisations/",
    "/platform/organisations/acme/",
    "/platform/users/",
    "/platform/apis/",
    "/platform/alerts/",
]


@pytest.fixture
def staff(db):
    return UserFactory(email="ops@platform.example", is_staff=True)


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def test_staff_land_on_the_platform_overview_after_sign_in(client, staff):
    from tenants.tests.factories import PASSWORD

    response = client.post("/accounts/login/", {"login": staff.email, "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == "/platform/"
    assert response.status_code == 200


@pytest.mark.parametrize("url", STAFF_PAGES)
def test_staff_pages_are_for_staff_only(client, alice, url):
    client.force_login(alice)
    assert client.get(url).status_code == 302  # to the staff sign-in, like the other /platform/ pages


def test_overview_names_are_links_and_counts_drill_down(staff_client, acme, alice, globex, charlie):
    Tenant.objects.filter(pk=globex.pk).update(suspended_at="2026-01-01T00:00Z", suspension_reason="x")
    page = staff_client.get("/platform/").content.decode()
    assert 'href="/platform/organisations/acme/"' in page
    assert f'href="/platform/users/{alice.pk}/"' in page
    assert 'href="/platform/organisations/?suspended=true"' in page
    assert 'href="/platform/users/?staff=true"' in page
    suspended = staff_client.get("/platform/organisations/", {"suspended": "true"}).content.decode()
    assert "Globex Retail" in suspended and "Acme Logistics" not in suspended
    staff_only = staff_client.get("/platform/users/", {"staff": "true"}).content.decode()
    assert "ops@platform.example" in staff_only and "alice@acme.example" not in staff_only
    assert staff_client.get("/platform/organisations/", {"suspended": "maybe"}).status_code == 400


def test_one_search_box_finds_organisations_users_and_apis(staff_client, acme, alice, globex, charlie):
    make_catalog(acme)
    page = staff_client.get("/platform/").content.decode()
    assert 'action="/platform/search/"' in page
    found = staff_client.get("/platform/search/", {"q": "acme"}).content.decode()
    organisations = found[found.index('id="results-organisations"') : found.index('id="results-users"')]
    users = found[found.index('id="results-users"') : found.index('id="results-apis"')]
    apis = found[found.index('id="results-apis"') :]
    assert "Acme Logistics" in organisations and "Globex" not in organisations
    assert "alice@acme.example" in users and "charlie" not in users
    assert "Orders API" in apis  # matched through its provider
    assert "orders" in staff_client.get("/platform/search/", {"q": "ORDERS"}).content.decode().lower()


def test_lists_are_paginated_with_a_total(staff_client, db):
    Tenant.objects.bulk_create([Tenant(name=f"Org {n:03}", slug=f"org-{n:03}") for n in range(60)])
    first = staff_client.get("/platform/organisations/").content.decode()
    assert re.search(r'id="list-total">60<', first)
    assert first.count('href="/platform/organisations/org-') == 50
    assert "1–50 of 60" in first and 'href="?page=2"' in first
    second = staff_client.get("/platform/organisations/", {"page": 2}).content.decode()
    assert second.count('href="/platform/organisations/org-') == 10
    filtered = staff_client.get("/platform/organisations/", {"q": "org-00"}).content.decode()
    assert re.search(r'id="list-total">10<', filtered)
    many = staff_client.get("/platform/search/", {"q": "org"}).content.decode()
    assert 'href="/platform/organisations/?q=org"' in many and "See all 60 organisations" in many


def test_the_organisation_page(staff_client, acme, alice, bob, globex, charlie):
    catalog = make_catalog(acme)
    SubscriptionFactory(
        application=ApplicationFactory(tenant=globex),
        plan=catalog.gold,
        version=catalog.v1,
        status=SubscriptionStatus.PENDING,
        awaiting_since="2026-01-01T00:00Z",
    )
    page = staff_client.get("/platform/organisations/acme/").content.decode()
    members = page[page.index('id="member-table"') :]
    assert f'href="/platform/users/{alice.pk}/"' in members and "bob@acme.example" in members
    assert re.search(r'id="count-apis">1<', page)
    assert re.search(r'id="count-provided">1<', page) and re.search(r'id="count-waiting">1<', page)
    assert "Orders API" in page
    acme = Tenant.objects.get(slug="acme")
    assert f'href="/platform/approvals/?provider={acme.pk}"' in page
    assert 'href="/platform/analytics/?provider=acme"' in page
    # The links lead somewhere that shows this organisation only.
    queue = staff_client.get("/platform/approvals/", {"provider": acme.pk})
    assert queue.status_code == 200 and "Globex Retail" in queue.content.decode()
    assert (
        "Globex Retail"
        not in staff_client.get(
            "/platform/approvals/", {"provider": Tenant.objects.get(slug="globex").pk}
        ).content.decode()
    )
    traffic = staff_client.get("/platform/analytics/", {"provider": "acme"})
    assert traffic.status_code == 200 and "Traffic to Acme Logistics" in traffic.content.decode()
    assert staff_client.get("/platform/analytics/", {"provider": "nope"}).status_code == 404
    assert staff_client.get("/platform/organisations/nope/").status_code == 404


def test_the_user_page_lists_memberships(staff_client, alice, acme, globex):
    from tenants.tests.factories import MembershipFactory

    MembershipFactory(tenant=globex, user=alice, role="viewer")
    page = staff_client.get(f"/platform/users/{alice.pk}/").content.decode()
    table = page[page.index('id="membership-table"') :]
    assert 'href="/platform/organisations/acme/"' in table and "Owner" in table
    assert 'href="/platform/organisations/globex/"' in table and "Viewer" in table
    assert staff_client.get("/platform/users/999999/").status_code == 404
