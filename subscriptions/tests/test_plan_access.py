"""Hidden and archived plans are disclosed only to those who may subscribe to them."""

import pytest

from subscriptions.tests.factories import ApplicationFactory

BASE = "/api/v1/tenants"


def test_rest_request_and_plan_change_answer_404_for_hidden_and_archived(api, catalog, shop, charlie, active_sub):
    api.force_authenticate(charlie)
    for plan in (catalog.hidden, catalog.archived):
        created = api.post(
            f"{BASE}/globex/subscriptions/", {"application": shop.pk, "plan": plan.pk, "use_case": "x"}, format="json"
        )
        changed = api.post(f"{BASE}/globex/subscriptions/{active_sub.pk}/change-plan/", {"plan": plan.pk})
        for response in (created, changed):
            assert response.status_code == 404, response.content
            error = response.json()["error"]
            assert error["code"] == "plan_not_found" and plan.name not in error["message"]


def test_change_plan_choices_never_list_hidden_or_archived(client, catalog, active_sub, charlie):
    client.force_login(charlie)
    page = client.get(f"/t/globex/subscriptions/{active_sub.pk}/").content.decode()
    assert "Gold" in page
    assert "Partner" not in page and "Legacy" not in page


@pytest.mark.parametrize(("who", "hidden_status"), [("alice", 200), ("charlie", 404)])
def test_only_the_providers_members_see_a_hidden_plan_on_the_subscribe_page(
    client, catalog, acme, alice, charlie, who, hidden_status
):
    user = {"alice": alice, "charlie": charlie}[who]
    slug = "acme" if who == "alice" else "globex"
    client.force_login(user)
    assert client.get(f"/t/{slug}/apps/subscribe/?plan={catalog.hidden.pk}").status_code == hidden_status
    assert client.get(f"/t/{slug}/apps/subscribe/?plan={catalog.archived.pk}").status_code == 404
    assert client.get(f"/t/{slug}/apps/subscribe/?plan={catalog.free.pk}").status_code == 200


def test_the_provider_may_subscribe_its_own_app_to_a_hidden_plan(api, catalog, acme, alice):
    app = ApplicationFactory(tenant=acme, name="Internal", created_by=alice)
    api.force_authenticate(alice)
    response = api.post(
        f"{BASE}/acme/subscriptions/", {"application": app.pk, "plan": catalog.hidden.pk, "use_case": "x"}
    )
    assert response.status_code == 201, response.content
