from notifications.models import Notification
from notifications.services import notify_users
from subscriptions import services
from subscriptions.tests.factories import membership


def test_opening_the_list_marks_what_it_shows_read(client, acme, alice, catalog, shop, charlie, globex):
    services.subscription_request(actor=membership(charlie, globex), application=shop, plan=catalog.gold, use_case="x")
    client.force_login(alice)
    assert 'title="Unread">1<' in client.get("/t/acme/").content.decode()  # the nav badge
    page = client.get("/t/acme/notifications/").content.decode()
    # Shown as new this once, and read from now on: the badge is gone on this very page.
    assert "Globex Retail requests Orders API (Gold)" in page and "1 new" in page
    assert 'title="Unread"' not in page
    assert not Notification.objects.for_member(acme, alice).unread().exists()
    assert "1 new" not in client.get("/t/acme/notifications/").content.decode()


def test_only_the_notices_shown_are_marked_read(client, acme, alice):
    from core.paging import PAGE_SIZE

    for n in range(PAGE_SIZE + 1):
        notify_users(tenant=acme, users=[alice], kind="x", title=f"Notice {n}", email=False)
    client.force_login(alice)
    client.get("/t/acme/notifications/")
    unread = Notification.objects.for_member(acme, alice).unread()
    assert [n.title for n in unread] == ["Notice 0"]  # the oldest was not on the page


def test_a_decided_request_shows_its_outcome_and_is_read_for_every_admin(
    client, acme, alice, catalog, shop, charlie, globex
):
    from tenants.tests.factories import MembershipFactory, UserFactory

    other_admin = MembershipFactory(tenant=acme, user=UserFactory(email="ada@acme.example"), role="admin").user
    subscription = services.subscription_request(
        actor=membership(charlie, globex), application=shop, plan=catalog.gold, use_case="x"
    )
    services.subscription_approve(actor=membership(alice, acme), subscription=subscription)
    for admin in (alice, other_admin):
        notice = Notification.objects.for_member(acme, admin).get(kind="subscription.requested")
        assert notice.read_at is not None and notice.outcome == "Approved by alice@acme.example"
    client.force_login(other_admin)
    page = client.get("/t/acme/notifications/").content.decode()
    assert "Approved by alice@acme.example" in page and "new" not in page.split('id="notification-list"')[0]


def test_a_withdrawn_or_rejected_request_says_so(acme, alice, catalog, shop, charlie, globex):
    consumer = membership(charlie, globex)
    first = services.subscription_request(actor=consumer, application=shop, plan=catalog.gold, use_case="x")
    services.subscription_cancel(actor=consumer, subscription=first)
    second = services.subscription_request(actor=consumer, application=shop, plan=catalog.gold, use_case="y")
    services.subscription_reject(actor=membership(alice, acme), subscription=second, reason="no")
    outcomes = sorted(Notification.objects.for_member(acme, alice).values_list("outcome", flat=True))
    assert outcomes == ["Rejected by alice@acme.example", "Withdrawn: cancelled by charlie@globex.example"]
    assert not Notification.objects.for_member(acme, alice).unread().exists()


def test_mark_all_read_and_offsite_next_is_ignored(client, acme, alice):
    notify_users(tenant=acme, users=[alice], kind="x", title="One", email=False)
    notify_users(tenant=acme, users=[alice], kind="x", title="Two", email=False)
    client.force_login(alice)
    response = client.post("/t/acme/notifications/read/", {"next": "//evil.example/"})
    assert response["Location"] == "/t/acme/notifications/"
    assert not Notification.objects.for_member(acme, alice).unread().exists()


def test_notifications_api(api, acme, alice):
    notify_users(tenant=acme, users=[alice], kind="x", title="Hello", email=False)
    api.force_authenticate(alice)
    base = "/api/v1/tenants/acme/notifications/"
    assert api.get(f"{base}unread-count/").json() == {"unread": 1}
    item = api.get(f"{base}?unread=true").json()["results"][0]
    assert item["title"] == "Hello" and item["read"] is False
    assert api.post(f"{base}{item['id']}/read/").json()["read"] is True
    notify_users(tenant=acme, users=[alice], kind="x", title="Again", email=False)
    assert api.post(f"{base}read-all/").json() == {"marked": 1}
    assert api.get(f"{base}unread-count/").json() == {"unread": 0}


def test_it_checks_ownership_of_notifications(api, client, acme, alice, bob, globex, charlie):
    notice = notify_users(tenant=acme, users=[alice], kind="x", title="Private", email=False)[0]
    # a teammate does not see another member's notifications
    api.force_authenticate(bob)
    assert api.get(f"/api/v1/tenants/acme/notifications/{notice.pk}/").status_code == 404
    assert api.post(f"/api/v1/tenants/acme/notifications/{notice.pk}/read/").status_code == 404
    assert api.get("/api/v1/tenants/acme/notifications/").json()["results"] == []
    # a stranger gets 404 for the organisation's pages and endpoints
    api.force_authenticate(charlie)
    assert api.get("/api/v1/tenants/acme/notifications/").status_code == 404
    assert api.get(f"/api/v1/tenants/globex/notifications/{notice.pk}/").status_code == 404
    client.force_login(charlie)
    assert client.get("/t/acme/notifications/").status_code == 404
    client.post("/t/globex/notifications/read/", {"id": notice.pk})
    notice.refresh_from_db()
    assert notice.read_at is None
