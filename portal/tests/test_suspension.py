"""Platform staff suspend an organisation: reason, reversible, audited; members read but cannot write."""

from __future__ import annotations

import pytest
from django.core import mail

from apis.models import Visibility
from subscriptions.tests.factories import ApplicationFactory, make_catalog
from tenants.models import SuspensionEvent, Tenant
from tenants.tests.factories import UserFactory

REASON = "Unpaid invoices since March"


@pytest.fixture
def staff(db):
    return UserFactory(email="ops@platform.example", is_staff=True)


def _suspend(client, staff, slug="globex", reason=REASON):
    client.force_login(staff)
    return client.post(f"/platform/organisations/{slug}/suspend/", {"reason": reason})


def test_staff_suspend_with_a_reason_and_the_owners_are_told(
    client, staff, globex, charlie, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _suspend(client, staff)
    assert response.status_code == 302 and response["Location"] == "/platform/organisations/globex/"
    globex.refresh_from_db()
    assert globex.suspended_at is not None and globex.suspension_reason == REASON and globex.suspended_by == staff
    [event] = SuspensionEvent.objects.for_tenant(globex)
    assert (event.action, event.actor_email, event.reason) == ("suspended", staff.email, REASON)
    [message] = [m for m in mail.outbox if "charlie@globex.example" in m.to]
    assert "Globex Retail is suspended" in message.subject and REASON in message.body
    page = client.get("/platform/organisations/globex/").content.decode()
    assert "Lift the suspension" in page and REASON in page
    assert "organisation suspended" in page  # the recent activity shows the trail


def test_a_reason_is_required(client, staff, globex):
    response = _suspend(client, staff, reason="  ")
    assert response.status_code == 400
    assert "This field is required" in response.content.decode()
    globex.refresh_from_db()
    assert globex.suspended_at is None


def test_only_staff_may_suspend(client, api, alice, acme, globex, charlie):
    client.force_login(charlie)  # the owner of Globex itself
    assert client.post("/platform/organisations/globex/suspend/", {"reason": "x"}).status_code == 302
    api.force_authenticate(alice)
    response = api.post("/api/v1/platform/tenants/globex/suspend/", {"reason": "x"}, format="json")
    assert response.status_code == 403
    assert not Tenant.objects.get(slug="globex").suspended_at


def test_members_read_with_a_banner_but_every_write_is_refused_with_the_reason(client, api, staff, globex, charlie):
    app = ApplicationFactory(tenant=globex, name="Shop")
    _suspend(client, staff)
    client.force_login(charlie)
    page = client.get("/t/globex/").content.decode()
    assert 'id="suspension-banner"' in page and REASON in page
    assert client.get(f"/t/globex/apps/{app.pk}/").status_code == 200
    # The catalog (no organisation in the URL) shows the banner too.
    assert REASON in client.get("/catalog/").content.decode()

    refused = client.post("/t/globex/apps/", {"name": "Another", "contact_email": "a@globex.example"})
    assert refused.status_code == 403
    assert REASON in refused.content.decode()
    assert client.post("/t/globex/settings/", {"name": "Renamed"}).status_code == 403

    api.force_authenticate(charlie)
    assert api.get("/api/v1/tenants/globex/applications/").status_code == 200
    rest = api.post("/api/v1/tenants/globex/applications/", {"name": "Via REST"}, format="json")
    assert rest.status_code == 403
    assert rest.json()["error"]["code"] == "tenant_suspended" and REASON in rest.json()["error"]["message"]
    assert api.patch("/api/v1/tenants/globex/", {"name": "x"}, format="json").status_code == 403
    me = api.get("/api/v1/tenants/globex/").json()
    assert me["suspension_reason"] == REASON and me["suspended_at"]
    globex.refresh_from_db()
    assert globex.name == "Globex Retail"


def test_its_apis_leave_the_catalog_until_the_suspension_is_lifted(client, api, staff, globex, charlie, acme, alice):
    make_catalog(globex, slug="stock", visibility=Visibility.PUBLIC)
    assert "Stock API" in client.get("/catalog/").content.decode()
    _suspend(client, staff)
    client.logout()
    assert "Stock API" not in client.get("/catalog/").content.decode()
    assert client.get("/catalog/globex/stock/").status_code == 404
    assert api.get("/api/v1/catalog/").json()["count"] == 0
    client.force_login(alice)
    assert "Stock API" not in client.get("/catalog/").content.decode()
    client.force_login(charlie)  # its own members still see their API
    assert client.get("/catalog/globex/stock/").status_code == 200

    client.force_login(staff)
    response = client.post("/platform/organisations/globex/unsuspend/", {"note": "Paid"})
    assert response.status_code == 302
    client.logout()
    assert "Stock API" in client.get("/catalog/").content.decode()


def test_lifting_lets_members_write_again(client, staff, globex, charlie, django_capture_on_commit_callbacks):
    _suspend(client, staff)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/platform/organisations/globex/unsuspend/", {"note": "Paid"})
    assert any("lifted" in m.subject for m in mail.outbox if "charlie@globex.example" in m.to)
    assert [e.action for e in SuspensionEvent.objects.for_tenant(globex)] == ["lifted", "suspended"]
    client.force_login(charlie)
    assert 'id="suspension-banner"' not in client.get("/t/globex/").content.decode()
    response = client.post("/t/globex/apps/", {"name": "Another", "contact_email": "a@globex.example"})
    assert response.status_code == 302


def test_rest_endpoint_for_staff(api, staff, globex, charlie, acme):
    api.force_authenticate(staff)
    empty = api.post("/api/v1/platform/tenants/globex/suspend/", {}, format="json")
    assert empty.status_code == 400 and "reason" in empty.json()["error"]["fields"]
    done = api.post("/api/v1/platform/tenants/globex/suspend/", {"reason": REASON}, format="json")
    assert done.status_code == 200
    assert done.json()["suspension_reason"] == REASON and done.json()["suspended_by"] == staff.email
    again = api.post("/api/v1/platform/tenants/globex/suspend/", {"reason": REASON}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_suspended"
    listed = api.get("/api/v1/platform/tenants/", {"suspended": "true"}).json()
    assert [t["slug"] for t in listed["results"]] == ["globex"]
    assert api.get("/api/v1/platform/tenants/", {"suspended": "maybe"}).status_code == 400
    assert api.get("/api/v1/platform/tenants/nope/").status_code == 404
    lifted = api.post("/api/v1/platform/tenants/globex/unsuspend/", {}, format="json")
    assert lifted.status_code == 200 and lifted.json()["suspended_at"] is None
    assert api.post("/api/v1/platform/tenants/globex/unsuspend/", {}, format="json").status_code == 409


def test_nobody_can_subscribe_to_a_suspended_providers_plans(client, api, staff, acme, alice, globex, charlie):
    catalog = make_catalog(acme)
    app = ApplicationFactory(tenant=globex)
    _suspend(client, staff, slug="acme")
    api.force_authenticate(charlie)
    response = api.post(
        "/api/v1/tenants/globex/subscriptions/",
        {"application": app.pk, "plan": catalog.free.pk, "use_case": "x"},
        format="json",
    )
    assert response.status_code == 404 and response.json()["error"]["code"] == "plan_not_found"
    client.force_login(charlie)
    assert client.get(f"/t/globex/apps/subscribe/?plan={catalog.free.pk}").status_code == 404
