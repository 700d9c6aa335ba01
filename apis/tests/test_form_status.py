"""The provider pages follow core.web's status rules: invalid input 400, a refusal its status."""

from __future__ import annotations

from apis import services

T = "/t/acme/apis/"


def test_deleting_an_api_with_a_live_version_is_a_409_page(client, alice, alice_m, orders, orders_v1):
    services.version_publish(actor=alice_m, version=orders_v1)
    client.force_login(alice)
    response = client.post(f"{T}orders/delete/")
    assert response.status_code == 409  # was a 302 back to the page, hiding the refusal's status
    assert "Orders" in response.content.decode()


def test_a_too_long_publish_note_is_a_400_not_silently_dropped(client, alice, orders, orders_v1):
    client.force_login(alice)
    response = client.post(f"{T}orders/versions/v1/publish/", {"note": "x" * 2001})
    assert response.status_code == 400
    assert "at most 2000 characters" in response.content.decode()
    orders_v1.refresh_from_db()
    assert orders_v1.status == "draft"
