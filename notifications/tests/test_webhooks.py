"""Webhooks against a tiny HTTP server on 127.0.0.1: signatures, retries, the delivery log."""

import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.test.utils import override_settings
from django.utils import timezone

from notifications import services
from notifications.models import Webhook, WebhookDelivery
from notifications.tasks import deliver_webhook_task, retry_due_webhooks_task
from subscriptions import services as subscription_services
from subscriptions.tests.factories import membership


class Receiver:
    """Records requests; answers with the next status from ``codes`` (the last one repeats)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.codes = [200]
        self.location = ""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                code = receiver.codes.pop(0) if len(receiver.codes) > 1 else receiver.codes[0]
                self.send_response(code)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.end_headers()
                self.wfile.write(b"thanks")

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def hook(globex, charlie, receiver):
    return services.webhook_create(
        actor=membership(charlie, globex), url=receiver.url, events=["subscription.*", "key.*"], secret="s" * 24
    )


def _check_signature(request: dict, secret: str) -> None:
    header = request["headers"]["X-Portal-Signature"]
    parts = dict(p.split("=", 1) for p in header.split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + request["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected)


def test_subscription_events_reach_both_sides_signed(
    acme, alice, globex, charlie, catalog, shop, receiver, hook, django_capture_on_commit_callbacks
):
    provider_hook = services.webhook_create(
        actor=membership(alice, acme), url=receiver.url + "/acme", events=["subscription.requested"]
    )
    with django_capture_on_commit_callbacks(execute=True):
        subscription_services.subscription_request(
            actor=membership(charlie, globex), application=shop, plan=catalog.gold, use_case="x"
        )
    assert sorted(r["path"] for r in receiver.requests) == ["/hook", "/hook/acme"]
    for request in receiver.requests:
        secret = hook.secret if request["path"] == "/hook" else provider_hook.secret
        _check_signature(request, secret)
        body = json.loads(request["body"])
        assert body["event"] == "subscription.requested" == request["headers"]["X-Portal-Event"]
        assert body["data"]["api"]["name"] == "Orders API" and body["data"]["status"] == "pending"
    assert WebhookDelivery.objects.for_tenant(globex).get().status == "succeeded"
    assert WebhookDelivery.objects.for_tenant(globex).get().response_code == 200


def test_key_events_are_sent(globex, charlie, active_sub, shop, receiver, hook, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        key, _ = subscription_services.key_create(actor=membership(charlie, globex), application=shop, name="k")
        subscription_services.key_revoke(actor=membership(charlie, globex), key=key)
    events = [json.loads(r["body"])["event"] for r in receiver.requests]
    assert events == ["key.created", "key.revoked"]
    assert json.loads(receiver.requests[0]["body"])["data"]["key_id"] == key.key_id


def test_failures_are_retried_with_backoff_then_give_up(
    globex, charlie, receiver, hook, django_capture_on_commit_callbacks
):
    receiver.codes = [500]
    with (
        override_settings(WEBHOOK_MAX_ATTEMPTS=3, WEBHOOK_RETRY_BASE_SECONDS=10),
        django_capture_on_commit_callbacks(execute=True),
    ):
        delivery = services.webhook_send_test(actor=membership(charlie, globex), webhook=hook)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("pending", 1, 500)
    first_wait = delivery.next_attempt_at - delivery.last_attempt_at
    assert timedelta(seconds=9) < first_wait <= timedelta(seconds=10)
    # not due yet: a duplicate task does nothing (idempotent)
    assert deliver_webhook_task.delay(delivery.pk).get() == "skipped"
    with override_settings(WEBHOOK_MAX_ATTEMPTS=3, WEBHOOK_RETRY_BASE_SECONDS=10):
        for expected_wait in (20, None):
            WebhookDelivery.objects.for_tenant(globex).filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
            assert retry_due_webhooks_task.delay().get() == 1
            delivery.refresh_from_db()
            if expected_wait:
                wait = delivery.next_attempt_at - delivery.last_attempt_at
                assert timedelta(seconds=expected_wait - 1) < wait <= timedelta(seconds=expected_wait)
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 3, None)
    assert len(receiver.requests) == 3


def test_a_retry_that_succeeds(globex, charlie, receiver, hook, django_capture_on_commit_callbacks):
    receiver.codes = [503, 204]
    with django_capture_on_commit_callbacks(execute=True):
        delivery = services.webhook_send_test(actor=membership(charlie, globex), webhook=hook)
    WebhookDelivery.objects.for_tenant(globex).filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    retry_due_webhooks_task.delay()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("succeeded", 2, 204)


def test_redirects_are_not_followed(globex, charlie, receiver, hook, django_capture_on_commit_callbacks):
    receiver.codes = [302]
    receiver.location = "http://example.invalid/elsewhere"
    with django_capture_on_commit_callbacks(execute=True):
        delivery = services.webhook_send_test(actor=membership(charlie, globex), webhook=hook)
    delivery.refresh_from_db()
    assert delivery.response_code == 302 and "Redirects are not followed" in delivery.error
    assert len(receiver.requests) == 1


@override_settings(OUTBOUND_ALLOW_PRIVATE_TARGETS=False)
def test_private_targets_are_refused_in_production(globex, charlie, receiver, hook, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        delivery = services.webhook_send_test(actor=membership(charlie, globex), webhook=hook)
    delivery.refresh_from_db()
    assert "outbound policy" in delivery.error and "loopback" in delivery.error and receiver.requests == []


def test_unreachable_host_is_logged(globex, charlie, django_capture_on_commit_callbacks):
    hook = services.webhook_create(
        actor=membership(charlie, globex), url="http://127.0.0.1:9/nothing", events=["key.*"]
    )
    with django_capture_on_commit_callbacks(execute=True):
        delivery = services.webhook_send_test(actor=membership(charlie, globex), webhook=hook)
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.error and delivery.response_code is None


def test_webhook_input_is_checked(globex, charlie, acme, bob):
    actor = membership(charlie, globex)
    with pytest.raises(services.InvalidInput, match="http"):
        services.webhook_create(actor=actor, url="ftp://x.example", events=["key.*"])
    with pytest.raises(services.InvalidInput, match="Unknown event"):
        services.webhook_create(actor=actor, url="https://x.example", events=["everything"])
    with pytest.raises(services.InvalidInput, match="at least one"):
        services.webhook_create(actor=actor, url="https://x.example", events=[])
    with pytest.raises(services.InvalidInput, match="16 characters"):
        services.webhook_create(actor=actor, url="https://x.example", events=["key.*"], secret="short")
    from core.errors import Forbidden

    with pytest.raises(Forbidden):
        services.webhook_create(actor=membership(bob, acme), url="https://x.example", events=["key.*"])


def test_webhook_pages(client, globex, charlie, receiver, django_capture_on_commit_callbacks):
    client.force_login(charlie)
    response = client.post(
        "/t/globex/webhooks/", {"url": receiver.url, "events": ["subscription.*"], "secret": ""}, follow=True
    )
    assert response.redirect_chain == [("/t/globex/webhooks/", 302)]  # POST/redirect/GET
    body = response.content.decode()
    hook = Webhook.objects.for_tenant(globex).get()
    assert "it will not be shown again" in body and hook.secret in body and hook.secret.startswith("whsec_")
    assert hook.secret not in client.get("/t/globex/webhooks/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/t/globex/webhooks/{hook.pk}/test/")
    body = client.get(f"/t/globex/webhooks/{hook.pk}/").content.decode()
    assert "Test event sent" in body and "webhook.test" in body and ">200<" in body
    fragment = client.get(f"/t/globex/webhooks/{hook.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in fragment and "webhook.test" in fragment
    client.post(f"/t/globex/webhooks/{hook.pk}/toggle/")
    hook.refresh_from_db()
    assert not hook.is_active
    client.post(f"/t/globex/webhooks/{hook.pk}/delete/")
    assert not Webhook.objects.for_tenant(globex).exists()


def test_webhook_api(api, globex, charlie, receiver, django_capture_on_commit_callbacks):
    api.force_authenticate(charlie)
    base = "/api/v1/tenants/globex/webhooks/"
    created = api.post(base, {"url": receiver.url, "events": ["key.*"]}, format="json")
    assert created.status_code == 201 and created.json()["secret"].startswith("whsec_")
    pk = created.json()["id"]
    assert "secret" not in api.get(f"{base}{pk}/").json()
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post(f"{base}{pk}/test/").status_code == 202
    log = api.get(f"{base}{pk}/deliveries/").json()["results"]
    assert log[0]["event"] == "webhook.test" and log[0]["response_code"] == 200
    assert api.patch(f"{base}{pk}/", {"is_active": False}, format="json").json()["is_active"] is False
    bad = api.post(base, {"url": "not a url", "events": ["key.*"]}, format="json")
    assert bad.status_code == 400 and "url" in bad.json()["error"]["fields"]
    assert api.delete(f"{base}{pk}/").status_code == 204


def test_webhooks_are_for_owners_and_admins(api, client, acme, bob, vera):
    for user in (bob, vera):
        api.force_authenticate(user)
        assert api.get("/api/v1/tenants/acme/webhooks/").status_code == 403
        client.force_login(user)
        assert client.get("/t/acme/webhooks/").status_code == 403


def test_it_checks_ownership_of_webhooks(api, client, globex, charlie, alice, acme, receiver, hook):
    client.force_login(alice)
    urls = [
        ("get", "/t/globex/webhooks/"),
        ("get", f"/t/acme/webhooks/{hook.pk}/"),
        ("post", f"/t/acme/webhooks/{hook.pk}/test/"),
        ("post", f"/t/acme/webhooks/{hook.pk}/toggle/"),
        ("post", f"/t/acme/webhooks/{hook.pk}/delete/"),
    ]
    for method, url in urls:
        assert getattr(client, method)(url).status_code == 404, url
    api.force_authenticate(alice)
    for method, url in [
        ("get", "/api/v1/tenants/globex/webhooks/"),
        ("get", f"/api/v1/tenants/acme/webhooks/{hook.pk}/"),
        ("patch", f"/api/v1/tenants/acme/webhooks/{hook.pk}/"),
        ("delete", f"/api/v1/tenants/acme/webhooks/{hook.pk}/"),
        ("post", f"/api/v1/tenants/acme/webhooks/{hook.pk}/test/"),
        ("get", f"/api/v1/tenants/acme/webhooks/{hook.pk}/deliveries/"),
    ]:
        assert getattr(api, method)(url).status_code == 404, url
    assert Webhook.objects.for_tenant(globex).get().is_active
    assert receiver.requests == []


def test_a_delivery_never_attempted_is_picked_up_by_the_sweep(
    globex, charlie, receiver, hook, django_capture_on_commit_callbacks
):
    # The after-commit kick is lost (broker down): the delivery has never been attempted.
    with django_capture_on_commit_callbacks(execute=False):
        delivery = services.webhook_send_test(actor=membership(charlie, globex), webhook=hook)
    assert delivery.next_attempt_at is None and receiver.requests == []
    assert retry_due_webhooks_task.delay().get() == 1
    assert [r["headers"]["X-Portal-Delivery"] for r in receiver.requests] == [str(delivery.delivery_id)]
