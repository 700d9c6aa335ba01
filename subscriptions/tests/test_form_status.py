"""Web form pages answer with consistent status codes (core.web.submit_form)."""

from __future__ import annotations

from subscriptions.tests.factories import ApplicationFactory


def test_a_conflict_on_a_real_form_page_is_a_409_with_the_field_message(client, acme, alice):
    """An application name that is taken: the form page again, 409, the message under the field."""
    ApplicationFactory(tenant=acme, name="Shop", created_by=alice)
    client.force_login(alice)
    response = client.post("/t/acme/apps/", {"name": "Shop", "description": "", "contact_email": ""})
    assert response.status_code == 409
    assert "already exists" in response.content.decode()


def test_an_invalid_form_page_is_a_400(client, acme, alice):
    client.force_login(alice)
    response = client.post("/t/acme/apps/", {"name": ""})
    assert response.status_code == 400 and "This field is required." in response.content.decode()


def test_the_settings_form_answers_400_when_invalid_and_302_when_saved(client, acme, alice):
    """Used to answer 200 with the errors: every invalid form is a 400 now."""
    client.force_login(alice)
    assert client.post("/t/acme/settings/", {"name": ""}).status_code == 400
    response = client.post("/t/acme/settings/", {"name": "Acme Ltd"})
    assert response.status_code == 302 and response["Location"] == "/t/acme/settings/"


def test_a_second_decision_on_the_web_is_a_409_page_with_the_reason(client, alice, pending_sub):
    """Buttons follow the same rule as forms: a refusal is the page again with its status, not a redirect."""
    client.force_login(alice)
    url = f"/t/acme/subscriptions/{pending_sub.pk}"
    assert client.post(f"{url}/approve/").status_code == 302
    response = client.post(f"{url}/reject/", {"reason": "too late"})
    assert response.status_code == 409
    assert "This request has already been decided." in response.content.decode()
