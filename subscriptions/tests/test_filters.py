"""FilterSets on every list: a bad filter value answers 400 in the error shape (REST) or shows an
error on the page (web); it is never silently ignored and never a 500. Good values still filter."""

from __future__ import annotations

import pytest

from notifications.services import notify_users
from subscriptions.tests.factories import membership

BAD_REST_FILTERS = [
    ("/api/v1/catalog/", "sort=bogus", "sort"),
    ("/api/v1/tenants/acme/apis/", "visibility=secret", "visibility"),
    ("/api/v1/tenants/acme/apis/orders/plans/", "is_public=maybe", "is_public"),
    ("/api/v1/tenants/acme/provided-subscriptions/", "awaiting=maybe", "awaiting"),
    ("/api/v1/tenants/acme/provided-subscriptions/", "api=abc", "api"),
    ("/api/v1/tenants/acme/provided-subscriptions/", "plan=1.5", "plan"),
    ("/api/v1/tenants/acme/provided-subscriptions/", "min_age_hours=-1", "min_age_hours"),
    ("/api/v1/tenants/acme/provided-subscriptions/", "min_age_hours=99999999999999999999", "min_age_hours"),
    ("/api/v1/tenants/acme/provided-subscriptions/", "status=paused", "status"),
    ("/api/v1/tenants/acme/subscriptions/", "status=paused", "status"),
    ("/api/v1/tenants/acme/keys/", "application=99999999999999999999999", "application"),
    ("/api/v1/tenants/acme/invitations/", "status=old", "status"),
    ("/api/v1/tenants/acme/tokens/", "all=maybe", "all"),
    ("/api/v1/tenants/acme/notifications/", "unread=maybe", "unread"),
    ("/api/v1/platform/approvals/", "api=x", "api"),
]


@pytest.mark.parametrize(("url", "query", "field"), BAD_REST_FILTERS)
def test_a_bad_rest_filter_is_a_400_in_the_error_shape(api, alice, catalog, url, query, field):
    alice.is_staff = True  # the staff-wide queue needs staff; nothing else depends on it
    alice.save()
    api.force_authenticate(alice)
    response = api.get(f"{url}?{query}")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid" and list(error["fields"]) == [field]


def test_good_rest_filters_still_filter(api, acme, alice, catalog, shop, charlie, globex, pending_sub):
    api.force_authenticate(alice)
    base = "/api/v1/tenants/acme/provided-subscriptions/"
    ids = lambda query: [r["id"] for r in api.get(f"{base}?{query}").json()["results"]]  # noqa: E731
    assert ids("awaiting=true") == [pending_sub.pk]
    assert ids(f"awaiting=true&plan={catalog.gold.pk}") == [pending_sub.pk]
    assert ids("awaiting=true&min_age_hours=48") == []
    assert ids("status=active") == []
    notify_users(tenant=acme, users=[alice], kind="x", title="Hello", email=False)
    assert api.get("/api/v1/tenants/acme/notifications/?unread=false").json()["results"]
    assert api.get("/api/v1/tenants/acme/invitations/?status=all").status_code == 200


def test_a_bad_filter_on_the_web_queue_shows_an_error(client, alice, catalog, pending_sub):
    client.force_login(alice)
    response = client.get("/t/acme/approvals/?min_age_hours=soon")
    assert response.status_code == 400
    assert "Filter ignored: min_age_hours: Enter a whole number." in response.content.decode()
    assert client.get(f"/t/acme/approvals/?plan={catalog.gold.pk}").status_code == 200


def test_a_bad_sort_on_the_web_catalog_shows_an_error(client, db):
    response = client.get("/catalog/?sort=bogus")
    assert response.status_code == 400
    assert "Filter ignored: Select a valid choice. bogus is not one of the available choices." in (
        response.content.decode()
    )


def test_the_schema_documents_filters_and_their_400(api, db):
    schema = api.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/tenants/{tenant_slug}/provided-subscriptions/"]["get"]
    names = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
    assert {"awaiting", "api", "plan", "min_age_hours", "status"} <= names
    assert "400" in operation["responses"]
    events = schema["paths"]["/api/v1/tenants/{tenant_slug}/subscriptions/{id}/events/"]["get"]
    assert not any(p["name"] == "status" for p in events.get("parameters", []))


def test_a_filter_does_not_hide_objects_from_detail_actions(api, alice, acme, catalog, shop, charlie, globex):
    """The invitations list defaults to pending; retrieving a revoked one still works (list-only filters)."""
    from tenants import services as tenant_services

    owner = membership(alice, acme)
    invitation, _ = tenant_services.invitation_create(actor=owner, email="x@example.com", role="developer")
    tenant_services.invitation_revoke(actor=owner, invitation=invitation)
    api.force_authenticate(alice)
    assert api.get("/api/v1/tenants/acme/invitations/").json()["count"] == 0
    assert api.get(f"/api/v1/tenants/acme/invitations/{invitation.pk}/").status_code == 200
