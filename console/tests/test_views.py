"""The console's endpoints: who may use them (strangers 404, roles 403, no subscription 404),
CSRF, the rate limit, refused requests (no open proxy), and the pages that embed the console."""

import json

import pytest
from django.test import Client, override_settings

from subscriptions.models import ApiKey, KeyPurpose

pytestmark = pytest.mark.django_db


def send_url(world, slug="globex", pk=None):
    return f"/t/{slug}/console/applications/{pk or world.shop.pk}/send/"


def post(client, url, payload=None):
    return client.post(url, json.dumps(payload or {}), content_type="application/json")


def request(world, **extra):
    return {"version": world.v1.pk, "method": "GET", "path": "/rates", **extra}


@pytest.fixture
def charlie(client, world):
    client.force_login(world.charlie.user)
    return client


def test_opening_mints_a_console_key_and_tells_only_when_it_expires(charlie, world):
    response = post(charlie, f"/t/globex/console/applications/{world.shop.pk}/open/")
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    key = ApiKey.objects.unscoped().get(purpose=KeyPurpose.CONSOLE)
    assert set(response.json()) == {"expires_at", "minutes"}
    assert key.key_id not in response.content.decode()
    closed = post(charlie, f"/t/globex/console/applications/{world.shop.pk}/close/")
    assert closed.json() == {"revoked": True}
    key.refresh_from_db()
    assert key.status == "revoked"


def test_a_stranger_gets_404_for_everything(client, world):
    client.force_login(world.mallory.user)
    for path in ("open", "send", "close"):
        assert post(client, f"/t/globex/console/applications/{world.shop.pk}/{path}/").status_code == 404
        # Their own organisation's URL with Globex's application: still 404.
        assert post(client, f"/t/initech/console/applications/{world.shop.pk}/{path}/").status_code == 404
    assert post(client, "/t/acme/console/apis/orders/versions/v2/send/").status_code == 404
    assert post(client, "/t/initech/console/apis/orders/versions/v2/send/").status_code == 404
    assert not ApiKey.objects.unscoped().filter(purpose=KeyPurpose.CONSOLE).exists()


def test_signed_out_visitors_are_sent_to_sign_in_and_get_requests_are_refused(client, charlie, world):
    assert post(Client(), send_url(world)).status_code == 302
    assert charlie.get(send_url(world)).status_code == 405


def test_a_viewer_is_refused_with_the_reason(client, world):
    client.force_login(world.dave.user)
    response = post(client, send_url(world), request(world))
    assert response.status_code == 403
    assert "does not allow" in response.json()["error"]["message"]
    assert post(client, f"/t/globex/console/applications/{world.shop.pk}/open/").status_code == 403


def test_csrf_is_required(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.charlie.user)
    assert post(client, send_url(world), request(world)).status_code == 403


def test_a_version_the_application_is_not_subscribed_to_is_404(charlie, world):
    response = post(charlie, send_url(world), request(world, version=world.v2.pk))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "no_subscription"
    assert post(charlie, send_url(world), request(world, version="1")).status_code == 404


@pytest.mark.parametrize(
    "extra,status,fragment",
    [
        ({"path": "http://evil.example/"}, 400, "single “/”"),
        ({"path": "//evil.example/rates"}, 400, "single “/”"),
        ({"path": "/orders/../../admin"}, 400, "not allowed"),
        ({"path": "/orders/%2e%2e"}, 400, "not allowed"),
        ({"headers": [["Host", "evil.example"]]}, 400, "does not send"),
        ({"headers": [["Accept", "x\r\nHost: evil.example"]]}, 400, "line break"),
        ({"headers": [["X-Forwarded-For", "1.2.3.4"]]}, 400, "does not send"),
        ({"method": "CONNECT"}, 400, "method"),
    ],
)
def test_open_proxy_attempts_are_refused_before_anything_is_sent(charlie, world, extra, status, fragment):
    response = post(charlie, send_url(world), request(world, **extra))
    assert response.status_code == status
    assert fragment in response.json()["error"]["message"]
    assert not ApiKey.objects.unscoped().filter(purpose=KeyPurpose.CONSOLE).exists()  # nothing minted


@override_settings(CONSOLE_MAX_REQUEST_BYTES=2048)
def test_huge_bodies_are_refused_with_413(charlie, world):
    body = request(world, method="POST", path="/orders", body="x" * 3000)
    assert post(charlie, send_url(world), body).status_code == 413
    response = charlie.post(send_url(world), b"x" * 100_000, content_type="application/json")
    assert response.status_code == 413
    assert charlie.post(send_url(world), b"{not json", content_type="application/json").status_code == 400


@override_settings(CONSOLE_REQUESTS_PER_MINUTE=2, GATEWAY_URL="http://127.0.0.1:9")
def test_the_rate_limit_is_per_user_with_a_clear_429(charlie, world, client):
    for _ in range(2):
        assert post(charlie, send_url(world), request(world)).status_code == 502  # nothing listens on :9
    response = post(charlie, send_url(world), request(world))
    assert response.status_code == 429
    assert response.json()["error"] == {
        "code": "console_throttled",
        "message": "At most 2 console requests a minute; wait a moment and send again.",
        "fields": {},
    }
    # Someone else is not throttled by Charlie's requests.
    from tenants.tests.factories import MembershipFactory, UserFactory

    erin = MembershipFactory(tenant=world.globex, user=UserFactory(email="erin@globex.example"), role="developer")
    other = Client()
    other.force_login(erin.user)
    assert post(other, send_url(world), request(world)).status_code == 502


@override_settings(GATEWAY_URL="http://127.0.0.1:9")
def test_a_gateway_that_does_not_answer_is_a_502_with_the_reason(charlie, world):
    response = post(charlie, send_url(world), request(world))
    assert response.status_code == 502
    assert response.json()["error"]["message"].startswith("No answer from the gateway")


def test_the_provider_console_needs_apis_edit_and_refuses_refused_addresses(client, world):
    from tenants.tests.factories import MembershipFactory, UserFactory

    viewer = MembershipFactory(tenant=world.acme, user=UserFactory(email="vera@acme.example"), role="viewer")
    client.force_login(viewer.user)
    url = "/t/acme/console/apis/orders/versions/v2/send/"
    assert post(client, url, {"method": "GET", "path": "/rates"}).status_code == 403
    client.force_login(world.alice.user)
    assert post(client, "/t/acme/console/apis/orders/versions/v9/send/").status_code == 404
    # upstream.example does not resolve here; a link-local upstream is refused by the outbound policy.
    world.v2.upstreams = [{"url": "http://169.254.169.254", "weight": 1}]
    world.v2.save(update_fields=["upstreams"])
    response = post(client, url, {"method": "GET", "path": "/rates"})
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "refused_address"
    assert "link-local" in response.json()["error"]["message"]


def test_the_catalog_page_shows_the_console_to_a_subscriber(charlie, world):
    page = charlie.get("/catalog/acme/orders/").content.decode()
    assert 'id="try-it"' in page and 'data-console="gateway"' in page
    assert "Shop backend (Globex Retail)" in page
    assert f"/t/globex/console/applications/{world.shop.pk}/send/" in page
    assert '"GET /orders/{id}"' in page  # the endpoints' JSON block
    assert 'src="/static/console/console.js"' in page


def test_the_catalog_page_explains_the_console_to_others(client, world):
    page = client.get("/catalog/acme/orders/").content.decode()
    assert 'id="try-it-why"' in page and "sign in" in page and "data-console" not in page
    client.force_login(world.mallory.user)
    page = client.get("/catalog/acme/orders/").content.decode()
    assert "None of your applications has an active subscription" in page and 'href="#plans"' in page
    client.force_login(world.dave.user)
    page = client.get("/catalog/acme/orders/").content.decode()
    assert "Your role does not allow you to use the console" in page
    assert "data-console" not in page


def test_the_provider_version_page_offers_the_upstream_console_to_editors_only(client, world):
    client.force_login(world.alice.user)
    page = client.get("/t/acme/apis/orders/versions/v2/").content.decode()
    assert 'data-console="upstream"' in page and "bypassing the gateway" in page
    assert "/t/acme/console/apis/orders/versions/v2/send/" in page
    from tenants.tests.factories import MembershipFactory, UserFactory

    viewer = MembershipFactory(tenant=world.acme, user=UserFactory(email="vera@acme.example"), role="viewer")
    client.force_login(viewer.user)
    page = client.get("/t/acme/apis/orders/versions/v2/").content.decode()
    assert "data-console" not in page
