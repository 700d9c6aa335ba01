import pytest
from django.core import mail

from subscriptions.models import ApiKey, Subscription
from subscriptions.tests.factories import make_key, membership
from tenants.tests.factories import UserFactory


def test_consumer_creates_application_and_subscribes(
    client, catalog, alice, charlie, django_capture_on_commit_callbacks
):
    client.force_login(charlie)
    response = client.post("/t/globex/apps/", {"name": "Shop", "description": "", "contact_email": ""})
    application = charlie.memberships.get().tenant.applications.get()
    assert response["Location"] == f"/t/globex/apps/{application.pk}/"
    page = client.get(f"/t/globex/apps/subscribe/?plan={catalog.gold.pk}").content.decode()
    assert "Needs approval" in page and "Shop" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/t/globex/apps/subscribe/",
            {"plan": catalog.gold.pk, "application": application.pk, "use_case": "Sync orders"},
            follow=True,
        )
    body = response.content.decode()
    assert "Request sent" in body and "Pending approval" in body
    assert mail.outbox and mail.outbox[0].to == ["alice@acme.example"]


def test_subscribe_refuses_duplicates_and_unknown_plans(client, active_sub, catalog, shop, charlie):
    client.force_login(charlie)
    response = client.post(
        "/t/globex/apps/subscribe/", {"plan": catalog.gold.pk, "application": shop.pk, "use_case": "x"}
    )
    assert response.status_code == 409 and "request a plan change instead" in response.content.decode()
    assert client.get("/t/globex/apps/subscribe/?plan=999999").status_code == 404
    assert client.get("/t/globex/apps/subscribe/").status_code == 404


def test_hidden_plan_is_refused_on_the_page(client, catalog, shop, charlie):
    client.force_login(charlie)
    response = client.post(
        "/t/globex/apps/subscribe/", {"plan": catalog.hidden.pk, "application": shop.pk, "use_case": "x"}
    )
    assert response.status_code == 404 and "Partner" not in response.content.decode()
    for plan in (catalog.hidden, catalog.archived):
        page = client.get(f"/t/globex/apps/subscribe/?plan={plan.pk}")
        assert page.status_code == 404 and plan.name not in page.content.decode()


def test_approval_queue_shows_who_what_and_waits(client, pending_sub, alice):
    client.force_login(alice)
    body = client.get("/t/acme/approvals/").content.decode()
    for text in ["Globex Retail", "charlie@globex.example", "Shop backend", "Orders API", "Gold", "Sync orders"]:
        assert text in body
    assert 'id="nav-approvals"' in body and "Requests waiting" in body  # the badge
    detail = client.get(f"/t/acme/subscriptions/{pending_sub.pk}/").content.decode()
    assert "Approve" in detail and "50 / s" in detail


def test_approve_from_the_page_and_decide_twice(client, pending_sub, alice):
    client.force_login(alice)
    url = f"/t/acme/subscriptions/{pending_sub.pk}"
    assert "Approved." in client.post(f"{url}/approve/", follow=True).content.decode()
    body = client.post(f"{url}/reject/", {"reason": "late"}, follow=True).content.decode()
    assert "already been decided" in body
    pending_sub.refresh_from_db()
    assert pending_sub.status == "active"


def test_bulk_approve_and_filters(client, pending_sub, catalog, alice):
    client.force_login(alice)
    assert "Shop backend" not in client.get(f"/t/acme/approvals/?plan={catalog.free.pk}").content.decode()
    assert "No requests are waiting" in client.get("/t/acme/approvals/?min_age_hours=24").content.decode()
    body = client.post("/t/acme/approvals/", {"ids": [pending_sub.pk], "decision": "reject"}, follow=True)
    assert "Give a reason" in body.content.decode()
    body = client.post("/t/acme/approvals/", {"ids": [pending_sub.pk], "decision": "approve"}, follow=True)
    assert "Approved 1 request." in body.content.decode()


@pytest.mark.parametrize("who", ["bob", "vera"])
def test_developers_and_viewers_have_no_queue(client, pending_sub, bob, vera, who):
    client.force_login({"bob": bob, "vera": vera}[who])
    assert client.get("/t/acme/approvals/").status_code == 403
    response = client.post(f"/t/acme/subscriptions/{pending_sub.pk}/approve/")
    assert response.status_code == 403
    assert "Approve" not in client.get(f"/t/acme/subscriptions/{pending_sub.pk}/").content.decode()
    pending_sub.refresh_from_db()
    assert pending_sub.status == "pending"


def test_staff_global_queue(client, pending_sub, alice):
    client.force_login(alice)
    assert client.get("/platform/approvals/").status_code == 302  # not staff: to the admin login
    client.force_login(UserFactory(is_staff=True))
    assert "Shop backend" in client.get("/platform/approvals/").content.decode()
    client.post("/platform/approvals/", {"ids": [pending_sub.pk], "decision": "approve"})
    pending_sub.refresh_from_db()
    assert pending_sub.status == "active"


def test_key_is_shown_once_then_masked(client, active_sub, shop, charlie):
    client.force_login(charlie)
    response = client.post(f"/t/globex/apps/{shop.pk}/keys/", {"name": "prod"}, follow=True)
    assert response.redirect_chain == [(f"/t/globex/apps/{shop.pk}/", 302)]  # POST/redirect/GET
    assert "no-store" in response["Cache-Control"]
    key = ApiKey.objects.for_tenant(shop.tenant).get()
    body = response.content.decode()
    assert "it will not be shown again" in body
    plaintext = body.split('id="key-value">')[1].split("<")[0]
    assert plaintext.startswith(f"apk_{key.key_id}_")
    again = client.get(f"/t/globex/apps/{shop.pk}/").content.decode()
    assert plaintext not in again and f"apk_{key.key_id}_…" in again


def test_rotate_and_revoke_from_the_page(client, active_sub, shop, charlie):
    client.force_login(charlie)
    key, _ = make_key(membership(charlie, shop.tenant), shop)
    rotated = client.post(f"/t/globex/apps/{shop.pk}/keys/{key.pk}/rotate/", {"grace_hours": 1}, follow=True)
    assert rotated.redirect_chain == [(f"/t/globex/apps/{shop.pk}/", 302)]
    body = rotated.content.decode()
    key.refresh_from_db()
    # The full date and time the old key stops (it used to say "keeps working until  UTC").
    until = key.expires_at.strftime("%-d %B %Y, %H:%M")
    assert f"keeps working until {until} UTC" in body and 'id="key-value"' in body
    client.post(f"/t/globex/apps/{shop.pk}/keys/{key.pk}/revoke/")
    key.refresh_from_db()
    assert key.status == "revoked"
    body = client.post(f"/t/globex/apps/{shop.pk}/keys/{key.pk}/rotate/", {"grace_hours": 1}, follow=True)
    assert "revoked key cannot be rotated" in body.content.decode()


def test_no_key_without_active_subscription(client, pending_sub, shop, charlie):
    client.force_login(charlie)
    response = client.post(f"/t/globex/apps/{shop.pk}/keys/", {"name": "prod"})
    assert response.status_code == 409 and "no active subscription" in response.content.decode()


def test_subscription_page_and_csv_for_both_sides(client, pending_sub, alice, charlie):
    from subscriptions import services

    services.subscription_reject(
        actor=membership(alice, pending_sub.provider_tenant), subscription=pending_sub, reason="=cmd"
    )
    for user, slug in [(alice, "acme"), (charlie, "globex")]:
        client.force_login(user)
        page = client.get(f"/t/{slug}/subscriptions/{pending_sub.pk}/").content.decode()
        assert "subscription.rejected" in page and "=cmd" in page
        csv = client.get(f"/t/{slug}/subscriptions/{pending_sub.pk}/events.csv")
        assert csv["Content-Type"].startswith("text/csv")
        text = csv.content.decode()
        assert "alice@acme.example,subscription.rejected,pending,rejected,'=cmd" in text


def test_consumer_plan_change_and_cancel_pages(client, active_sub, catalog, charlie):
    client.force_login(charlie)
    url = f"/t/globex/subscriptions/{active_sub.pk}"
    assert "Change plan" in client.get(f"{url}/").content.decode()
    client.post(f"{url}/change-plan/", {"plan": catalog.gold.pk})
    active_sub.refresh_from_db()
    assert active_sub.requested_plan == catalog.gold
    client.post(f"{url}/cancel/")
    active_sub.refresh_from_db()
    assert active_sub.status == "cancelled"


def test_it_checks_ownership_of_pages(client, active_sub, pending_sub_other_tenant, shop, charlie, alice, vera):
    key, _ = make_key(membership(charlie, shop.tenant), shop)
    client.force_login(alice)  # Acme provides the API but does not own Globex's application or keys
    urls_get = [
        "/t/globex/apps/",
        f"/t/acme/apps/{shop.pk}/",
        f"/t/acme/subscriptions/{pending_sub_other_tenant.pk}/",
        f"/t/acme/subscriptions/{pending_sub_other_tenant.pk}/events.csv",
        "/t/globex/approvals/",
        "/t/globex/apps/subscribe/?plan=1",
    ]
    for url in urls_get:
        assert client.get(url).status_code == 404, url
    urls_post = [
        f"/t/acme/apps/{shop.pk}/keys/",
        f"/t/acme/apps/{shop.pk}/keys/{key.pk}/rotate/",
        f"/t/acme/apps/{shop.pk}/keys/{key.pk}/revoke/",
        f"/t/acme/subscriptions/{pending_sub_other_tenant.pk}/approve/",
        f"/t/acme/subscriptions/{pending_sub_other_tenant.pk}/cancel/",
    ]
    for url in urls_post:
        assert client.post(url, {"name": "x", "grace_hours": 0}).status_code == 404, url
    key.refresh_from_db()
    assert key.status == "active"
    # the provider does see its own subscription page, read-only for the consumer's app
    assert client.get(f"/t/acme/subscriptions/{active_sub.pk}/").status_code == 200
    assert Subscription.objects.for_provider(shop.tenant).count() == 0


@pytest.fixture
def pending_sub_other_tenant(shop):
    from subscriptions.tests.factories import SubscriptionFactory, make_catalog
    from tenants.tests.factories import TenantFactory

    other = make_catalog(TenantFactory(slug="initech", name="Initech"), slug="tps")
    return SubscriptionFactory(application=shop, plan=other.gold, version=other.v1, status="pending")


def test_admin_pages_render_for_staff(client, active_sub, shop, charlie):
    make_key(membership(charlie, shop.tenant), shop)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    for url in [
        "/admin/subscriptions/application/",
        "/admin/subscriptions/subscription/",
        f"/admin/subscriptions/subscription/{active_sub.pk}/change/",
        "/admin/subscriptions/apikey/",
        f"/admin/subscriptions/apikey/{ApiKey.objects.for_tenant(shop.tenant).get().pk}/change/",
        "/admin/subscriptions/subscriptionevent/",
        "/admin/notifications/notification/",
        "/admin/notifications/webhook/",
        "/admin/notifications/webhookdelivery/",
    ]:
        assert client.get(url).status_code == 200, url


def test_edit_application(client, shop, charlie, globex):
    from subscriptions.tests.factories import ApplicationFactory
    from tenants.tests.factories import MembershipFactory

    client.force_login(charlie)
    url = f"/t/globex/apps/{shop.pk}/edit/"
    assert 'value="Shop backend"' in client.get(url).content.decode()
    response = client.post(
        url, {"name": "Shop API", "description": "Orders sync", "contact_email": "ops@globex.example"}
    )
    assert response["Location"] == f"/t/globex/apps/{shop.pk}/"
    shop.refresh_from_db()
    assert (shop.name, shop.description, shop.contact_email) == ("Shop API", "Orders sync", "ops@globex.example")
    assert "Edit</a>" in client.get(f"/t/globex/apps/{shop.pk}/").content.decode()

    # bad input: a clear field error, nothing changed
    ApplicationFactory(tenant=globex, name="Other")
    response = client.post(url, {"name": "other", "description": "", "contact_email": "not-an-email"})
    assert response.status_code == 400 and "Enter a valid email address" in response.content.decode()
    response = client.post(url, {"name": "other", "description": "", "contact_email": ""})
    assert response.status_code == 409 and "already" in response.content.decode()
    response = client.post(url, {"name": "", "description": "", "contact_email": ""})
    assert response.status_code == 400 and "This field is required" in response.content.decode()
    shop.refresh_from_db()
    assert shop.name == "Shop API"

    # a viewer may look but not edit; a stranger does not even see it
    viewer = MembershipFactory(tenant=globex, role="viewer").user
    client.force_login(viewer)
    assert client.post(url, {"name": "Hijacked"}).status_code == 403
    assert "Edit</a>" not in client.get(f"/t/globex/apps/{shop.pk}/").content.decode()
    stranger = MembershipFactory(role="owner").user
    client.force_login(stranger)
    slug = stranger.memberships.get().tenant.slug
    assert client.post(f"/t/{slug}/apps/{shop.pk}/edit/", {"name": "Hijacked"}).status_code == 404
    assert client.get(url).status_code == 404
    shop.refresh_from_db()
    assert shop.name == "Shop API"
