from notifications.models import Notification
from notifications.services import notify_users
from subscriptions import services
from subscriptions.tests.factories import membership


def test_unread_count_list_and_mark_read(client, acme, alice, catalog, shop, charlie, globex):
    services.subscription_request(actor=membership(charlie, globex), application=shop, plan=catalog.gold, use_case="x")
    client.force_login(alice)
    page = client.get("/t/acme/notifications/").content.decode()
    assert "Globex Retail requests Orders API (Gold)" in page and "1 unread" in page
    assert 'title="Unread">1<' in page  # the nav badge
    notice = Notification.objects.for_member(acme, alice).get()
    response = client.post("/t/acme/notifications/read/", {"id": notice.pk, "next": notice.url})
    assert response["Location"] == notice.url
    assert "1 unread" not in client.get("/t/acme/notifications/").content.decode()


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
