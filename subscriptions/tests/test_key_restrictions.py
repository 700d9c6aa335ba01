"""Key restrictions in the portal: the service's rules and messages, rotation, REST and the pages.

Charlie (Globex) owns the application "Shop backend", subscribed to Acme's Orders API. The
gateway side is in gateway_node/tests/test_key_restrictions*.py, the snapshot in
gateways/tests/test_config_key_restrictions.py.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from apis.models import Api, Plan
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from subscriptions import services
from subscriptions.models import MAX_KEY_CIDRS, ApiKey, SubscriptionStatus
from subscriptions.tests.factories import SubscriptionFactory, make_catalog, make_key
from tenants.tests.factories import MembershipFactory, TenantFactory

BASE = "/api/v1/tenants"


@pytest.fixture
def weather(acme, shop):
    """Acme's Weather API too, and an active subscription of Shop backend to it."""
    catalog = make_catalog(acme, slug="weather")
    SubscriptionFactory(application=shop, plan=catalog.free, version=catalog.v1, status=SubscriptionStatus.ACTIVE)
    return catalog


@pytest.fixture
def key(active_sub, shop, charlie_m):
    return make_key(charlie_m, shop)[0]


def _restrict(actor, key, **changes):
    return services.key_set_restrictions(actor=actor, key=key, **changes)


# --- The service -----------------------------------------------------------------------------


def test_ranges_are_checked_and_written_the_canonical_way(key, charlie_m):
    key = _restrict(
        charlie_m,
        key,
        allowed_cidrs="203.0.113.0/24\n2001:DB8:0::/32, 198.51.100.7\n\n203.0.113.0/24\n::1",
    )
    assert key.allowed_cidrs == ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7/32", "::1/128"]
    assert ApiKey.objects.for_tenant(key.tenant_id).get(pk=key.pk).allowed_cidrs == key.allowed_cidrs


@pytest.mark.parametrize(
    ("cidrs", "message"),
    [
        (["10.1.2.3/8"], "“10.1.2.3/8” has host bits set: write 10.0.0.0/8 for the whole range, or 10.1.2.3/32"),
        (["2001:db8::1/32"], "write 2001:db8::/32 for the whole range, or 2001:db8::1/128"),
        (["office"], "“office” is not an IP address or CIDR range"),
        (["10.0.0.0/33"], "“10.0.0.0/33” is not an IP address or CIDR range"),
        (["300.1.1.1"], "is not an IP address"),
        (["10.0.0.0/8", "nope", "also-bad"], "“nope” is not an IP address or CIDR range (e.g. 203.0.113.0/24"),
    ],
)
def test_bad_ranges_are_refused_naming_each_one(key, charlie_m, cidrs, message):
    with pytest.raises(InvalidInput) as refused:
        _restrict(charlie_m, key, allowed_cidrs=cidrs)
    assert message in refused.value.message
    assert refused.value.field == "allowed_cidrs"
    if len(cidrs) == 3:
        assert "also-bad" in refused.value.message  # every bad entry, in one answer
    assert ApiKey.objects.for_tenant(key.tenant_id).get(pk=key.pk).allowed_cidrs == []


def test_at_most_max_ranges_after_duplicates_are_dropped(key, charlie_m):
    many = [f"10.0.{i}.0/24" for i in range(MAX_KEY_CIDRS)]
    assert len(_restrict(charlie_m, key, allowed_cidrs=many + many[:5]).allowed_cidrs) == MAX_KEY_CIDRS
    with pytest.raises(InvalidInput, match=f"at most {MAX_KEY_CIDRS} IP ranges \\(51 given\\)"):
        _restrict(charlie_m, key, allowed_cidrs=[*many, "192.0.2.0/24"])


def test_allowed_apis_must_be_approved_subscriptions_of_the_application(key, charlie_m, catalog, weather, acme):
    key = _restrict(charlie_m, key, allowed_apis=[weather.api.pk, catalog.api.pk, weather.api.pk])
    assert sorted(key.allowed_apis.values_list("pk", flat=True)) == sorted([catalog.api.pk, weather.api.pk])

    # Another organisation's API: refused by id, its name not told.
    stranger = make_catalog(TenantFactory(slug="initech"), slug="secret-payroll")
    with pytest.raises(InvalidInput) as refused:
        _restrict(charlie_m, key, allowed_apis=[stranger.api.pk])
    assert f"API {stranger.api.pk} is not one “Shop backend” subscribes to" in refused.value.message
    assert "payroll" not in refused.value.message.lower()
    assert refused.value.code == "api_not_subscribed" and refused.value.field == "allowed_apis"

    # An API of a subscription that is pending (or ended) is named, with its state.
    maps = make_catalog(acme, slug="maps")
    SubscriptionFactory(application=key.application, plan=maps.gold, version=maps.v1, status=SubscriptionStatus.PENDING)
    with pytest.raises(InvalidInput, match="“Maps API”: the subscription of “Shop backend” is pending approval"):
        _restrict(charlie_m, key, allowed_apis=[maps.api.pk])
    with pytest.raises(InvalidInput, match="API 987654 is not one"):
        _restrict(charlie_m, key, allowed_apis=[987654])
    # Nothing changed by the refusals.
    assert key.allowed_apis.count() == 2


def test_a_suspended_subscription_still_counts_as_approved(key, charlie_m, catalog, active_sub):
    active_sub.status = SubscriptionStatus.SUSPENDED
    active_sub.save(update_fields=["status"])
    assert list(_restrict(charlie_m, key, allowed_apis=[catalog.api.pk]).allowed_apis.all()) == [catalog.api]


def test_the_rate_limit_is_below_the_plans_it_applies_to(key, charlie_m, catalog, weather, acme):
    Plan.objects.for_tenant(acme).filter(pk=catalog.free.pk).update(rate_limit_per_minute=100)
    Plan.objects.for_tenant(acme).filter(pk=weather.free.pk).update(rate_limit_per_minute=1000)
    with pytest.raises(InvalidInput) as refused:
        _restrict(charlie_m, key, rate_limit_per_minute=100)
    assert refused.value.message == (
        "The key's rate limit must be below its plan's: plan “Free” of “Orders API” allows 100 calls a minute, "
        "so at most 99."
    )
    assert refused.value.field == "rate_limit_per_minute" and refused.value.code == "key_limit_not_below_plan"
    assert _restrict(charlie_m, key, rate_limit_per_minute=99).rate_limit_per_minute == 99
    # Limited to Weather, the key sits under Weather's plan only.
    key = _restrict(charlie_m, key, allowed_apis=[weather.api.pk], rate_limit_per_minute=500)
    assert key.rate_limit_per_minute == 500
    with pytest.raises(InvalidInput, match="at least 1"):
        _restrict(charlie_m, key, rate_limit_per_minute=0)
    # Null lifts it; plans without a per-minute limit (per second only) allow any number.
    assert _restrict(charlie_m, key, rate_limit_per_minute=None).rate_limit_per_minute is None


def test_keep_leaves_the_other_restrictions_alone_and_the_secret_never_changes(
    key, charlie_m, catalog, django_capture_on_commit_callbacks
):
    key_hash = key.key_hash
    _restrict(charlie_m, key, allowed_cidrs=["192.0.2.0/24"], allowed_apis=[catalog.api.pk], rate_limit_per_minute=5)
    key = _restrict(charlie_m, key, rate_limit_per_minute=7)
    assert key.allowed_cidrs == ["192.0.2.0/24"] and list(key.allowed_apis.all()) == [catalog.api]
    key = _restrict(charlie_m, key, allowed_cidrs=[], allowed_apis=[])
    assert (key.allowed_cidrs, list(key.allowed_apis.all()), key.rate_limit_per_minute) == ([], [], 7)
    assert ApiKey.objects.for_tenant(key.tenant_id).get(pk=key.pk).key_hash == key_hash


def test_a_kept_api_whose_subscription_ended_does_not_block_other_edits(key, charlie_m, catalog, active_sub):
    _restrict(charlie_m, key, allowed_apis=[catalog.api.pk])
    active_sub.status = SubscriptionStatus.CANCELLED
    active_sub.save(update_fields=["status"])
    key = _restrict(charlie_m, key, allowed_cidrs=["192.0.2.0/24"])
    assert list(key.allowed_apis.all()) == [catalog.api]  # never dropped silently: empty would mean "all"


def test_permissions_and_ownership(key, charlie_m, globex, alice_m):
    viewer = MembershipFactory(tenant=globex, role="viewer")
    with pytest.raises(Forbidden):
        _restrict(viewer, key, allowed_cidrs=["192.0.2.0/24"])
    with pytest.raises(NotFound):
        _restrict(alice_m, key, allowed_cidrs=["192.0.2.0/24"])  # another organisation's key
    services.key_revoke(actor=charlie_m, key=key)
    with pytest.raises(Conflict, match="revoked"):
        _restrict(charlie_m, key, allowed_cidrs=["192.0.2.0/24"])


def test_restrictions_at_creation_are_checked_before_the_key_exists(active_sub, shop, charlie_m, catalog):
    with pytest.raises(InvalidInput, match="host bits"):
        services.key_create(actor=charlie_m, application=shop, name="ci", allowed_cidrs=["10.0.0.1/8"])
    assert not ApiKey.objects.for_tenant(shop.tenant).exists()
    key, _ = services.key_create(
        actor=charlie_m,
        application=shop,
        name="ci",
        allowed_cidrs="192.0.2.0/24",
        allowed_apis=[catalog.api.pk],
        rate_limit_per_minute=30,
    )
    assert (key.allowed_cidrs, list(key.allowed_apis.all()), key.rate_limit_per_minute) == (
        ["192.0.2.0/24"],
        [catalog.api],
        30,
    )


def test_rotation_carries_the_restrictions_over(key, charlie_m, catalog):
    _restrict(charlie_m, key, allowed_cidrs=["192.0.2.0/24"], allowed_apis=[catalog.api.pk], rate_limit_per_minute=9)
    new_key, _ = services.key_rotate(actor=charlie_m, key=key)
    assert new_key.pk != key.pk
    assert (new_key.allowed_cidrs, list(new_key.allowed_apis.all()), new_key.rate_limit_per_minute) == (
        ["192.0.2.0/24"],
        [catalog.api],
        9,
    )


def test_changes_are_published_to_the_key_webhooks(key, charlie_m, globex, django_capture_on_commit_callbacks):
    from notifications.models import Webhook, WebhookDelivery

    Webhook.objects.create(tenant=globex, url="https://hooks.example/k", secret="s", events=["key.*"])
    _restrict(charlie_m, key, allowed_cidrs=["192.0.2.0/24"])
    _restrict(charlie_m, key, allowed_cidrs=["192.0.2.0/24"])  # no change: no event
    deliveries = list(WebhookDelivery.objects.for_tenant(globex).filter(event="key.restrictions_changed"))
    assert len(deliveries) == 1
    data = deliveries[0].payload["data"]
    assert data["restrictions"]["allowed_cidrs"] == ["192.0.2.0/24"]
    assert data["previous"]["allowed_cidrs"] == []


def test_verify_refuses_an_api_the_key_may_not_call(key, charlie_m, catalog, weather):
    plaintext_key, plaintext = services.key_create(actor=charlie_m, application=key.application, name="two")
    _restrict(charlie_m, plaintext_key, allowed_apis=[weather.api.pk])
    verdict = services.key_verify(presented_key=plaintext, path=catalog.v1.base_path + "/x")
    assert (verdict.allowed, verdict.reason) == (False, "key_api_not_allowed")
    assert services.key_verify(presented_key=plaintext, path=weather.v1.base_path + "/x").allowed


# --- REST ------------------------------------------------------------------------------------


def _error(response):
    return response.json()["error"]


def test_rest_shows_creates_and_patches_restrictions(api, key, charlie, catalog):
    api.force_authenticate(charlie)
    url = f"{BASE}/globex/keys/{key.pk}/"
    shown = api.get(url).json()
    assert (shown["allowed_cidrs"], shown["allowed_apis"], shown["rate_limit_per_minute"]) == ([], [], None)

    patched = api.patch(url, {"allowed_cidrs": ["2001:db8::/48"], "allowed_apis": [catalog.api.pk]}, format="json")
    assert patched.status_code == 200, patched.content
    assert patched.json()["allowed_cidrs"] == ["2001:db8::/48"] and patched.json()["allowed_apis"] == [catalog.api.pk]
    patched = api.patch(url, {"rate_limit_per_minute": 12}, format="json")
    assert patched.json()["allowed_cidrs"] == ["2001:db8::/48"] and patched.json()["rate_limit_per_minute"] == 12
    assert "key" not in patched.json() and patched.json()["key_id"] == key.key_id

    listed = api.get(f"{BASE}/globex/keys/").json()["results"][0]
    assert listed["allowed_apis"] == [catalog.api.pk] and listed["rate_limit_per_minute"] == 12

    created = api.post(
        f"{BASE}/globex/keys/",
        {"application": key.application_id, "name": "office", "allowed_cidrs": ["192.0.2.0/24"]},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["allowed_cidrs"] == ["192.0.2.0/24"] and created.json()["key"].startswith("apk_")


def test_rest_bad_restrictions_are_400_with_field_errors(api, key, charlie, acme):
    api.force_authenticate(charlie)
    url = f"{BASE}/globex/keys/{key.pk}/"
    bad_cidr = api.patch(url, {"allowed_cidrs": ["10.1.2.3/8"]}, format="json")
    assert bad_cidr.status_code == 400
    assert "host bits" in _error(bad_cidr)["fields"]["allowed_cidrs"][0]
    other = Api.objects.create(tenant=acme, name="Hidden", slug="hidden", visibility="private")
    bad_api = api.patch(url, {"allowed_apis": [other.pk]}, format="json")
    assert bad_api.status_code == 400 and "allowed_apis" in _error(bad_api)["fields"]
    zero = api.patch(url, {"rate_limit_per_minute": 0}, format="json")
    assert zero.status_code == 400 and "rate_limit_per_minute" in _error(zero)["fields"]
    not_a_list = api.patch(url, {"allowed_cidrs": "10.0.0.0/8"}, format="json")
    assert not_a_list.status_code == 400
    bad_create = api.post(
        f"{BASE}/globex/keys/",
        {"application": key.application_id, "name": "x", "allowed_cidrs": ["nope"]},
        format="json",
    )
    assert bad_create.status_code == 400 and "allowed_cidrs" in _error(bad_create)["fields"]


def test_rest_patch_checks_ownership_and_role(api, key, alice, globex):
    api.force_authenticate(alice)  # Acme's owner: a stranger to Globex
    assert api.patch(f"{BASE}/globex/keys/{key.pk}/", {"allowed_cidrs": []}, format="json").status_code == 404
    assert api.patch(f"{BASE}/acme/keys/{key.pk}/", {"allowed_cidrs": []}, format="json").status_code == 404
    viewer = MembershipFactory(tenant=globex, role="viewer").user
    api.force_authenticate(viewer)
    assert api.patch(f"{BASE}/globex/keys/{key.pk}/", {"allowed_cidrs": []}, format="json").status_code == 403


# --- Pages -----------------------------------------------------------------------------------


def test_the_key_page_shows_and_edits_restrictions(client, key, charlie, catalog):
    client.force_login(charlie)
    url = reverse("subscriptions:key-detail", args=["globex", key.application_id, key.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert "any address" in page.content.decode() and "Orders API" in page.content.decode()

    refused = client.post(url, {"allowed_cidrs": "10.1.2.3/8\nbad", "rate_limit_per_minute": ""})
    assert refused.status_code == 400
    body = refused.content.decode()
    assert "has host bits set" in body and "“bad” is not an IP address" in body

    saved = client.post(
        url,
        {
            "allowed_cidrs": "192.0.2.0/24\n2001:db8::/48",
            "allowed_apis": [catalog.api.pk],
            "rate_limit_per_minute": "40",
        },
    )
    assert saved.status_code == 302
    page = client.get(saved.url).content.decode()
    assert "192.0.2.0/24" in page and "40 calls a minute" in page and "gateways apply them within seconds" in page

    listing = client.get(reverse("subscriptions:application", args=["globex", key.application_id])).content.decode()
    assert "IP: 2 ranges" in listing and "APIs: Orders API" in listing and "40/min" in listing


def test_the_new_key_form_takes_restrictions(client, active_sub, shop, charlie, catalog):
    client.force_login(charlie)
    url = reverse("subscriptions:key-create", args=["globex", shop.pk])
    refused = client.post(url, {"name": "office", "allowed_cidrs": "office-network"})
    assert refused.status_code == 400
    body = refused.content.decode()
    assert "is not an IP address" in body and 'id="new-key-restrictions" open' in body
    created = client.post(url, {"name": "office", "allowed_cidrs": "192.0.2.0/24", "allowed_apis": [catalog.api.pk]})
    assert created.status_code == 302
    key = ApiKey.objects.for_tenant(shop.tenant).get(name="office")
    assert key.allowed_cidrs == ["192.0.2.0/24"] and list(key.allowed_apis.all()) == [catalog.api]


def test_the_key_page_is_404_for_strangers_and_read_only_for_viewers(client, key, alice, globex):
    url = reverse("subscriptions:key-detail", args=["globex", key.application_id, key.pk])
    client.force_login(alice)
    assert client.get(url).status_code == 404
    viewer = MembershipFactory(tenant=globex, role="viewer").user
    client.force_login(viewer)
    page = client.get(url)
    assert page.status_code == 200 and "Save restrictions" not in page.content.decode()
    assert client.post(url, {"allowed_cidrs": "192.0.2.0/24"}).status_code == 403
