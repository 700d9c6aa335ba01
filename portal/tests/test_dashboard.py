"""The organisation dashboard (/t/<slug>/): provider and consumer panels, the getting-started
checklist, and a query count that does not grow with the organisation's data."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from analytics.tests.factories import rollup
from apis.models import Api, ApiVersion, VersionStatus
from subscriptions.models import ApiKey, SubscriptionStatus
from subscriptions.tests.factories import ApplicationFactory, SubscriptionFactory, make_catalog, make_key, membership
from tenants.tests.factories import MembershipFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db


def _page(client, user, slug: str) -> str:
    client.force_login(user)
    response = client.get(f"/t/{slug}/")
    assert response.status_code == 200
    return response.content.decode()


def _figure(html: str, name: str) -> str:
    match = re.search(rf'data-figure="{name}">(.*?)</div>', html, re.S)
    assert match, f"no figure {name}"
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


def _steps(html: str) -> dict[str, bool]:
    """{step label: done} of the getting-started checklist."""
    found = {}
    for done, body in re.findall(r'data-step-done="(true|false)">(.*?)</li>', html, re.S):
        label = re.sub(r"<[^>]+>", "|", body).split("|")
        found[
            next(part.strip() for part in label if part.strip() and part.strip() not in {"✓", "1", "2", "3", "4", "5"})
        ] = done == "true"
    return found


def test_a_new_organisation_gets_both_checklists_with_links(client, alice, acme):
    html = _page(client, alice, "acme")
    assert 'id="getting-started"' in html
    assert _steps(html) == {
        "Register an API": False,
        "Publish a version": False,
        "Create a plan": False,
        "Browse the catalog": False,
        "Create an application": False,
        "Subscribe to an API": False,
        "Create an API key": False,
        "Make a first call": False,
    }
    assert '<a href="/t/acme/apis/new/">Register an API</a>' in html
    assert '<a href="/catalog/">Browse the catalog</a>' in html
    assert '<a href="/t/acme/apps/">Create an application</a>' in html
    # Nothing to show yet on either side.
    assert 'id="dashboard-provider"' not in html and 'id="dashboard-consumer"' not in html


def test_steps_are_ticked_as_they_are_done(client, charlie, globex, acme):
    catalog = make_catalog(acme)
    html = _page(client, charlie, "globex")
    assert not any(_steps(html).values())
    shop = ApplicationFactory(tenant=globex, name="Shop")
    html = _page(client, charlie, "globex")
    steps = _steps(html)
    assert steps["Browse the catalog"] and steps["Create an application"] and not steps["Subscribe to an API"]
    assert f'<a href="/t/globex/apps/{shop.pk}/">Create an API key</a>' in html
    SubscriptionFactory(application=shop, plan=catalog.free, version=catalog.v1)
    key, _ = make_key(membership(charlie, globex), shop)
    steps = _steps(_page(client, charlie, "globex"))
    assert steps["Subscribe to an API"] and steps["Create an API key"] and not steps["Make a first call"]
    ApiKey.objects.for_tenant(globex).filter(pk=key.pk).update(last_used_at=timezone.now())
    # Every consumer step done: the organisation has found its way, the checklist goes.
    assert 'id="getting-started"' not in _page(client, charlie, "globex")


def test_provider_steps_tick_and_a_complete_track_hides_the_checklist(client, alice, acme):
    api = Api.objects.create(tenant=acme, name="Orders", slug="orders")
    steps = _steps(_page(client, alice, "acme"))
    assert steps["Register an API"] and not steps["Publish a version"] and not steps["Create a plan"]
    make_catalog(acme, slug="billing")  # a published version and plans
    html = _page(client, alice, "acme")
    assert 'id="getting-started"' not in html
    assert api.name in html


def test_provider_sees_apis_with_state_subscribers_waiting_and_todays_calls(client, alice, vera, acme, globex):
    catalog = make_catalog(acme)
    drafty = Api.objects.create(tenant=acme, name="Drafty", slug="drafty")
    ApiVersion.objects.create(tenant=acme, api=drafty, label="v1", base_path="/drafty/v1", status=VersionStatus.DRAFT)
    shop = ApplicationFactory(tenant=globex)
    SubscriptionFactory(application=shop, plan=catalog.free, version=catalog.v1, status=SubscriptionStatus.ACTIVE)
    other = ApplicationFactory(tenant=TenantFactory(slug="initech"))
    SubscriptionFactory(
        application=other,
        plan=catalog.gold,
        version=catalog.v1,
        status=SubscriptionStatus.PENDING,
        awaiting_since=timezone.now(),
    )
    now = timezone.now()
    dims = {"provider_tenant_id": acme.pk, "api_id": catalog.api.pk}
    rollup("minute", now.replace(second=0, microsecond=0), calls=40, **dims)
    rollup("minute", now.replace(second=0, microsecond=0), calls=3, status=502, **dims)
    rollup("minute", now - timedelta(days=1), calls=999, coarser=False, **dims)  # yesterday: not today
    rollup("minute", now.replace(second=0, microsecond=0), calls=77, provider_tenant_id=globex.pk)  # someone else

    html = _page(client, alice, "acme")
    assert _figure(html, "apis") == "2"
    assert _figure(html, "subscribers") == "1"
    assert _figure(html, "waiting") == "1"
    assert '<a href="/t/acme/approvals/">1</a>' in html
    orders_row = re.search(r"Orders API</a></td>(.*?)</tr>", html, re.S).group(1)
    assert "Live" in orders_row and orders_row.rstrip().endswith('<td class="text-end">1</td>')
    assert "Draft" in re.search(r"Drafty</a></td>(.*?)</tr>", html, re.S).group(1)
    assert _figure(html, "calls-today") == "43"
    assert _figure(html, "errors-today") == "3"
    assert _figure(html, "errors-5xx-today") == "3"
    # A viewer sees the figures, but not a link to a queue it may not open.
    html = _page(client, vera, "acme")
    assert _figure(html, "waiting") == "1" and "/t/acme/approvals/" not in html


def test_consumer_sees_applications_keys_subscriptions_and_quota(client, charlie, globex, acme):
    catalog = make_catalog(acme)
    shop = ApplicationFactory(tenant=globex, name="Shop backend")
    ApplicationFactory(tenant=globex, name="Warehouse")
    SubscriptionFactory(application=shop, plan=catalog.free, version=catalog.v1, status=SubscriptionStatus.ACTIVE)
    second = make_catalog(acme, slug="billing")
    SubscriptionFactory(application=shop, plan=second.gold, version=second.v1, status=SubscriptionStatus.PENDING)
    actor = membership(charlie, globex)
    now = timezone.now()
    soon, _ = make_key(actor, shop, "soon")
    ApiKey.objects.for_tenant(globex).filter(pk=soon.pk).update(expires_at=now + timedelta(days=3))
    make_key(actor, shop, "later")
    gone, _ = make_key(actor, shop, "gone")
    ApiKey.objects.for_tenant(globex).filter(pk=gone.pk).update(revoked_at=now)
    dims = {"application_id": shop.pk, "consumer_tenant_id": globex.pk, "api_id": catalog.api.pk}
    rollup("minute", now.replace(second=0, microsecond=0), calls=120, **dims)

    html = _page(client, charlie, "globex")
    assert _figure(html, "applications") == "2"
    assert _figure(html, "live-keys") == "2"
    assert _figure(html, "expiring-keys") == "1"
    assert re.search(r'data-state="active">Active: 1<', html)
    assert re.search(r'data-state="pending">Pending approval: 1<', html)
    day = re.search(r'data-quota="day">(.*?)</div>', html, re.S).group(1)
    assert day.startswith("Today: 120 of 1,000")
    assert "Shop backend</a> → Orders API" in html
    assert 'id="dashboard-provider"' not in html


def _grow(provider, consumer, actor, start: int, n: int) -> None:
    """n more APIs (with versions and plans), applications, subscriptions and keys."""
    for i in range(start, start + n):
        catalog = make_catalog(provider, slug=f"extra-{i}")
        app = ApplicationFactory(tenant=consumer)
        SubscriptionFactory(application=app, plan=catalog.free, version=catalog.v1, status=SubscriptionStatus.ACTIVE)
        more = make_catalog(provider, slug=f"more-{i}")
        SubscriptionFactory(
            application=app,
            plan=more.gold,
            version=more.v1,
            status=SubscriptionStatus.PENDING,
            awaiting_since=timezone.now(),
        )
        make_key(actor, app)
        rollup(
            "minute",
            timezone.now().replace(second=0, microsecond=0),
            calls=5,
            application_id=app.pk,
            consumer_tenant_id=consumer.pk,
            provider_tenant_id=provider.pk,
            api_id=catalog.api.pk,
        )


def test_the_query_count_does_not_grow_with_data(client):
    """One organisation both provides and consumes (its own APIs): every panel is on the page."""
    tenant = TenantFactory(slug="both")
    user = UserFactory(email="owner@both.example")
    MembershipFactory(tenant=tenant, user=user, role="owner")
    actor = membership(user, tenant)
    client.force_login(user)

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/t/both/").status_code == 200
        return len(ctx.captured_queries)

    _grow(tenant, tenant, actor, 0, 2)
    # The first visit also remembers the organisation in the session (the navigation's choice).
    html = client.get("/t/both/").content.decode()
    small = queries()
    assert 'id="panel-provider-apis"' in html and 'id="panel-consumer-quota"' in html
    _grow(tenant, tenant, actor, 2, 12)
    assert queries() == small
