import pytest

from subscriptions.models import ApiKey, Subscription
from subscriptions.tests.factories import make_key
from tenants.tests.factories import MembershipFactory, UserFactory

BASE = "/api/v1/tenants"


def _error(response):
    return response.json()["error"]


def test_consumer_flow_over_rest(api, catalog, charlie, alice, django_capture_on_commit_callbacks):
    api.force_authenticate(charlie)
    app = api.post(f"{BASE}/globex/applications/", {"name": "Shop", "contact_email": "ops@globex.example"})
    assert app.status_code == 201, app.content
    app_id = app.json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        sub = api.post(
            f"{BASE}/globex/subscriptions/",
            {"application": app_id, "plan": catalog.gold.pk, "use_case": "Sync orders"},
            format="json",
        )
    assert sub.status_code == 201 and sub.json()["status"] == "pending" and sub.json()["request_kind"] == "subscription"
    sub_id = sub.json()["id"]
    # no key before approval
    refused = api.post(f"{BASE}/globex/keys/", {"application": app_id, "name": "prod"})
    assert refused.status_code == 409 and "no active subscription" in _error(refused)["message"]

    api.force_authenticate(alice)
    queue = api.get(f"{BASE}/acme/provided-subscriptions/?awaiting=true").json()["results"]
    assert [q["id"] for q in queue] == [sub_id] and queue[0]["use_case"] == "Sync orders"
    assert api.post(f"{BASE}/acme/provided-subscriptions/{sub_id}/approve/", {}).json()["status"] == "active"
    again = api.post(f"{BASE}/acme/provided-subscriptions/{sub_id}/reject/", {"reason": "late"})
    assert again.status_code == 409 and _error(again)["message"] == "This request has already been decided."

    api.force_authenticate(charlie)
    created = api.post(f"{BASE}/globex/keys/", {"application": app_id, "name": "prod"})
    assert created.status_code == 201 and created.json()["key"].startswith("apk_")
    key_pk = created.json()["id"]
    listed = api.get(f"{BASE}/globex/keys/").json()["results"]
    assert "key" not in listed[0] and listed[0]["status"] == "active"
    assert created.json()["key"] not in api.get(f"{BASE}/globex/keys/{key_pk}/").content.decode()

    rotated = api.post(f"{BASE}/globex/keys/{key_pk}/rotate/", {"grace_hours": 1})
    assert rotated.status_code == 201 and rotated.json()["key"] != created.json()["key"]
    revoked = api.post(f"{BASE}/globex/keys/{key_pk}/revoke/")
    assert revoked.json()["status"] == "revoked"
    bad = api.post(f"{BASE}/globex/keys/{key_pk}/rotate/", {"grace_hours": 1})
    assert bad.status_code == 409 and "revoked key cannot be rotated" in _error(bad)["message"]

    events = api.get(f"{BASE}/globex/subscriptions/{sub_id}/events/").json()["results"]
    assert [e["action"] for e in events] == ["subscription.requested", "subscription.approved"]
    assert events[1]["actor"] == "alice@acme.example"
    # the provider sees the same trail
    api.force_authenticate(alice)
    assert len(api.get(f"{BASE}/acme/provided-subscriptions/{sub_id}/events/").json()["results"]) == 2


def test_plan_change_and_cancel_over_rest(api, active_sub, catalog, charlie, alice):
    api.force_authenticate(charlie)
    url = f"{BASE}/globex/subscriptions/{active_sub.pk}"
    changed = api.post(f"{url}/change-plan/", {"plan": catalog.gold.pk, "note": "more"})
    assert changed.status_code == 200 and changed.json()["requested_plan"]["name"] == "Gold"
    assert changed.json()["plan"]["name"] == "Free"
    api.force_authenticate(alice)
    rejected = api.post(f"{BASE}/acme/provided-subscriptions/{active_sub.pk}/reject/", {"reason": "No"})
    assert rejected.json()["plan"]["name"] == "Free" and rejected.json()["requested_plan"] is None
    api.force_authenticate(charlie)
    assert api.post(f"{url}/cancel/", {"reason": "done"}).json()["status"] == "cancelled"
    again = api.post(f"{url}/cancel/", {})
    assert again.status_code == 409


def test_bad_inputs_get_clear_errors(api, catalog, shop, charlie, active_sub):
    api.force_authenticate(charlie)
    url = f"{BASE}/globex/subscriptions/"

    def post(**body):
        return api.post(url, {"application": shop.pk, "use_case": "x", **body}, format="json")

    cases = [
        (post(plan=catalog.hidden.pk), 404, "No such plan"),
        (post(plan=catalog.archived.pk), 404, "No such plan"),
        (post(plan=catalog.free.pk, version=catalog.v2_draft.pk), 400, "not published"),
        (post(plan=catalog.free.pk, version=catalog.v0_retired.pk), 400, "retired"),
        (post(plan=catalog.free.pk), 409, "request a plan change instead"),
        (post(plan=999999), 404, "No such plan"),
        (post(plan=catalog.free.pk, application=999999), 400, "No such application"),
        (api.post(url, {}, format="json"), 400, "Invalid input for application"),
    ]
    for response, code, message in cases:
        assert response.status_code == code, response.content
        assert message in _error(response)["message"]
    reject = api.post(f"{BASE}/globex/keys/", {"application": shop.pk, "name": ""})
    assert reject.status_code == 400 and "name" in _error(reject)["fields"]


def test_provider_reject_requires_reason(api, pending_sub, alice):
    api.force_authenticate(alice)
    response = api.post(f"{BASE}/acme/provided-subscriptions/{pending_sub.pk}/reject/", {})
    assert response.status_code == 400 and "reason" in _error(response)["fields"]


@pytest.mark.parametrize("who", ["bob", "vera"])
def test_developers_and_viewers_cannot_approve(api, pending_sub, bob, vera, who):
    api.force_authenticate({"bob": bob, "vera": vera}[who])
    url = f"{BASE}/acme/provided-subscriptions"
    for verb, body in [("approve", {}), ("reject", {"reason": "x"}), ("suspend", {"reason": "x"}), ("cancel", {})]:
        response = api.post(f"{url}/{pending_sub.pk}/{verb}/", body)
        assert response.status_code == 403, verb
    assert (
        api.post(f"{url}/bulk-decide/", {"ids": [pending_sub.pk], "decision": "approve"}, format="json").status_code
        == 403
    )
    # but they may look
    assert api.get(f"{url}/{pending_sub.pk}/").status_code == 200
    pending_sub.refresh_from_db()
    assert pending_sub.status == "pending"


def test_bulk_decide(api, pending_sub, alice):
    api.force_authenticate(alice)
    response = api.post(
        f"{BASE}/acme/provided-subscriptions/bulk-decide/",
        {"ids": [pending_sub.pk, 424242], "decision": "reject", "reason": "Not yet"},
        format="json",
    )
    assert response.status_code == 200
    assert [d["status"] for d in response.json()["decided"]] == ["rejected"]
    assert response.json()["skipped"] == {"424242": "No such request."}


def test_key_verify_endpoint_is_staff_only(api, active_sub, shop, catalog, charlie):
    from subscriptions.tests.factories import membership

    _, plaintext = make_key(membership(charlie, shop.tenant), shop)
    body = {"key": plaintext, "base_path": catalog.v1.base_path}
    api.force_authenticate(charlie)
    assert api.post("/api/v1/keys/verify/", body).status_code == 403
    api.force_authenticate(UserFactory(is_staff=True))
    verdict = api.post("/api/v1/keys/verify/", body).json()
    assert verdict["allowed"] is True and verdict["limits"]["quota_per_day"] == 1000
    assert api.post("/api/v1/keys/verify/", {**body, "key": "nope"}).json()["reason"] == "unknown_key"


def test_it_checks_ownership_of_every_endpoint(api, catalog, shop, active_sub, pending_sub_other, charlie, alice, acme):
    """A stranger gets 404 for every object URL; a provider sees only subscriptions to its APIs."""
    from subscriptions.tests.factories import membership

    key, _ = make_key(membership(charlie, shop.tenant), shop)
    stranger = MembershipFactory(role="owner").user
    slug = MembershipFactory._meta.model.objects.for_user(stranger).get().tenant.slug
    api.force_authenticate(stranger)
    object_urls = [
        ("get", f"{BASE}/globex/applications/"),
        ("get", f"{BASE}/globex/applications/{shop.pk}/"),
        ("get", f"{BASE}/globex/subscriptions/{active_sub.pk}/"),
        ("get", f"{BASE}/globex/keys/"),
        ("get", f"{BASE}/acme/provided-subscriptions/"),
        # through the stranger's own tenant, foreign ids are unknown
        ("get", f"{BASE}/{slug}/applications/{shop.pk}/"),
        ("patch", f"{BASE}/{slug}/applications/{shop.pk}/"),
        ("get", f"{BASE}/{slug}/subscriptions/{active_sub.pk}/"),
        ("get", f"{BASE}/{slug}/subscriptions/{active_sub.pk}/events/"),
        ("post", f"{BASE}/{slug}/subscriptions/{active_sub.pk}/cancel/"),
        ("post", f"{BASE}/{slug}/subscriptions/{active_sub.pk}/change-plan/"),
        ("get", f"{BASE}/{slug}/provided-subscriptions/{active_sub.pk}/"),
        ("get", f"{BASE}/{slug}/provided-subscriptions/{active_sub.pk}/events/"),
        ("post", f"{BASE}/{slug}/provided-subscriptions/{active_sub.pk}/approve/"),
        ("post", f"{BASE}/{slug}/provided-subscriptions/{active_sub.pk}/reject/"),
        ("post", f"{BASE}/{slug}/provided-subscriptions/{active_sub.pk}/suspend/"),
        ("post", f"{BASE}/{slug}/provided-subscriptions/{active_sub.pk}/resume/"),
        ("post", f"{BASE}/{slug}/provided-subscriptions/{active_sub.pk}/cancel/"),
        ("get", f"{BASE}/{slug}/keys/{key.pk}/"),
        ("post", f"{BASE}/{slug}/keys/{key.pk}/rotate/"),
        ("post", f"{BASE}/{slug}/keys/{key.pk}/revoke/"),
    ]
    for method, url in object_urls:
        response = getattr(api, method)(url, {"reason": "x", "plan": catalog.gold.pk}, format="json")
        assert response.status_code == 404, (method, url, response.status_code)
    # the stranger's lists are empty, and body references to foreign objects are refused
    assert api.get(f"{BASE}/{slug}/subscriptions/").json()["results"] == []
    assert api.get(f"{BASE}/{slug}/keys/").json()["results"] == []
    assert api.post(f"{BASE}/{slug}/keys/", {"application": shop.pk, "name": "x"}).status_code == 400
    bulk = api.post(
        f"{BASE}/{slug}/provided-subscriptions/bulk-decide/",
        {"ids": [active_sub.pk], "decision": "approve"},
        format="json",
    )
    assert bulk.json()["decided"] == []
    assert ApiKey.objects.for_tenant(shop.tenant).get().status == "active"

    # the provider (Acme) sees subscriptions to its APIs but not Globex's application keys or other providers'
    api.force_authenticate(alice)
    provided = [s["id"] for s in api.get(f"{BASE}/acme/provided-subscriptions/").json()["results"]]
    assert active_sub.pk in provided and pending_sub_other.pk not in provided
    assert api.get(f"{BASE}/acme/subscriptions/{active_sub.pk}/").status_code == 404  # not Acme's own app
    assert api.get(f"{BASE}/acme/keys/{key.pk}/").status_code == 404
    assert api.get(f"{BASE}/acme/applications/{shop.pk}/").status_code == 404
    assert Subscription.objects.for_provider(acme).count() == 1


@pytest.fixture
def pending_sub_other(shop, charlie):
    """A subscription of Globex's app to an API of a third provider."""
    from subscriptions.tests.factories import SubscriptionFactory, make_catalog
    from tenants.tests.factories import TenantFactory

    other = make_catalog(TenantFactory(slug="initech", name="Initech"), slug="tps")
    return SubscriptionFactory(application=shop, plan=other.free, version=other.v1)


def test_staff_global_queue_over_rest(api, pending_sub, catalog, alice, charlie, django_capture_on_commit_callbacks):
    from django.core import mail

    from subscriptions.tests.factories import SubscriptionFactory, make_catalog
    from tenants.tests.factories import TenantFactory, UserFactory

    other = make_catalog(TenantFactory(slug="initech", name="Initech"), slug="tps")
    other_pending = SubscriptionFactory(
        application=pending_sub.application,
        plan=other.gold,
        version=other.v1,
        status="pending",
        awaiting_since=pending_sub.awaiting_since,
    )
    url = "/api/v1/platform/approvals/"
    # provider admins and consumers are not platform staff
    for user in (alice, charlie):
        api.force_authenticate(user)
        assert api.get(url).status_code == 403
        assert api.post(f"{url}{pending_sub.pk}/approve/", {}).status_code == 403
    api.force_authenticate(None)
    assert api.get(url).status_code in (401, 403)

    api.force_authenticate(UserFactory(is_staff=True))
    listing = api.get(url).json()
    assert {r["id"] for r in listing["results"]} == {pending_sub.pk, other_pending.pk}
    assert [r["id"] for r in api.get(f"{url}?api={other.api.pk}").json()["results"]] == [other_pending.pk]
    assert api.get(f"{url}?min_age_hours=48").json()["results"] == []
    bad = api.get(f"{url}?api=abc")  # a non-number filter is a 400 in the error shape, never ignored nor a 500
    assert bad.status_code == 400 and bad.json()["error"]["fields"] == {"api": ["Enter a whole number."]}

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"{url}{pending_sub.pk}/approve/", {"note": "ok"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "active"
    assert any("charlie@globex.example" in m.to for m in mail.outbox)
    # decided requests leave the queue, and cannot be decided twice
    response = api.post(f"{url}{pending_sub.pk}/approve/", {})
    assert response.status_code == 409
    assert api.get(f"{url}?api={catalog.api.pk}").json()["results"] == []
    response = api.post(f"{url}{other_pending.pk}/reject/", {})
    assert response.status_code == 400 and "reason" in _error(response)["fields"]
    response = api.post(f"{url}bulk-decide/", {"ids": [other_pending.pk], "decision": "reject", "reason": "Dup"})
    assert [d["status"] for d in response.json()["decided"]] == ["rejected"]
    assert api.get(url).json()["results"] == []
