from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import override_settings
from django.utils import timezone

from apis.models import VersionStatus
from core.crypto import hash_secret
from core.errors import Conflict, Forbidden, InvalidInput
from subscriptions import services
from subscriptions.models import ApiKey
from subscriptions.tests.factories import ApplicationFactory, make_key
from tenants.tests.factories import MembershipFactory


def _verify(plaintext, catalog, version=None):
    return services.key_verify(presented_key=plaintext, base_path=(version or catalog.v1).base_path)


def test_key_is_shown_once_and_only_its_hash_is_stored(active_sub, shop, charlie_m):
    key, plaintext = make_key(charlie_m, shop)
    prefix, key_id, secret = plaintext.split("_")
    assert prefix == "apk" and key_id == key.key_id and len(secret) >= 22  # ≥ 128 bits of base62
    assert key.key_hash == hash_secret(secret)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM subscriptions_apikey")
        rows = cursor.fetchall()
    assert secret not in repr(rows) and plaintext not in repr(rows)
    assert ApiKey.objects.for_tenant(shop.tenant).get().status == "active"


def test_keys_need_an_active_subscription(pending_sub, shop, charlie_m):
    with pytest.raises(Conflict, match="no active subscription"):
        make_key(charlie_m, shop)


def test_viewers_cannot_create_keys(active_sub, shop, globex):
    viewer = MembershipFactory(tenant=globex, role="viewer")
    with pytest.raises(Forbidden):
        make_key(viewer, shop)


def test_key_name_and_expiry_are_checked(active_sub, shop, charlie_m):
    with pytest.raises(InvalidInput, match="name"):
        services.key_create(actor=charlie_m, application=shop, name=" ")
    with pytest.raises(InvalidInput, match="future"):
        services.key_create(actor=charlie_m, application=shop, name="x", expires_at=timezone.now() - timedelta(1))


@override_settings(MAX_KEYS_PER_APPLICATION=2)
def test_live_key_limit_per_application(active_sub, shop, charlie_m):
    first, _ = make_key(charlie_m, shop, "a")
    make_key(charlie_m, shop, "b")
    with pytest.raises(Conflict, match="limit"):
        make_key(charlie_m, shop, "c")
    services.key_revoke(actor=charlie_m, key=first)
    make_key(charlie_m, shop, "c")


def test_verify_allows_with_plan_limits(active_sub, shop, charlie_m, catalog):
    key, plaintext = make_key(charlie_m, shop)
    verdict = _verify(plaintext, catalog)
    assert verdict.allowed and verdict.reason is None
    assert (verdict.application_id, verdict.subscription_id, verdict.plan_id) == (
        shop.pk,
        active_sub.pk,
        catalog.free.pk,
    )
    assert verdict.limits == {
        "rate_limit_per_second": 5,
        "rate_limit_per_minute": None,
        "quota_per_day": 1000,
        "quota_per_month": None,
    }
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_verify_reason_codes(active_sub, shop, charlie_m, catalog, alice_m, globex):
    key, plaintext = make_key(charlie_m, shop)
    assert _verify("garbage", catalog).reason == "unknown_key"
    assert _verify(f"apk_{key.key_id}_wrongsecret", catalog).reason == "unknown_key"
    assert _verify("apk_nosuchkeyid_" + "x" * 32, catalog).reason == "unknown_key"
    assert services.key_verify(presented_key=plaintext, base_path="/nowhere").reason == "unknown_route"
    assert _verify(plaintext, catalog, catalog.v2_draft).reason == "unknown_route"  # a draft serves nothing
    assert _verify(plaintext, catalog, catalog.v0_retired).reason == "api_retired"

    services.subscription_suspend(actor=alice_m, subscription=active_sub, reason="Abuse")
    assert _verify(plaintext, catalog).reason == "subscription_suspended"
    services.subscription_resume(actor=alice_m, subscription=active_sub)
    assert _verify(plaintext, catalog).allowed

    # another application of the same tenant, subscribed but still pending
    other = ApplicationFactory(tenant=globex, name="Other")
    services.subscription_request(actor=charlie_m, application=other, plan=catalog.free)
    _, other_plain = make_key(charlie_m, other)
    services.subscription_cancel(actor=charlie_m, subscription=other.subscriptions.get())
    services.subscription_request(actor=charlie_m, application=other, plan=catalog.gold, use_case="x")
    assert _verify(other_plain, catalog).reason == "subscription_pending"
    services.subscription_cancel(actor=charlie_m, subscription=other.subscriptions.get(status="pending"))
    assert _verify(other_plain, catalog).reason == "no_subscription"

    catalog.v1.status = VersionStatus.RETIRED
    catalog.v1.save()
    assert _verify(plaintext, catalog).reason == "api_retired"


def test_verify_revoked_and_expired(active_sub, shop, charlie_m, catalog):
    key, plaintext = make_key(charlie_m, shop)
    ApiKey.objects.for_tenant(shop.tenant).filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert _verify(plaintext, catalog).reason == "expired"
    services.key_revoke(actor=charlie_m, key=key)
    assert _verify(plaintext, catalog).reason == "revoked"


def test_rotation_grace_keeps_both_keys_until_it_ends(active_sub, shop, charlie_m, catalog):
    old, old_plain = make_key(charlie_m, shop)
    new, new_plain = services.key_rotate(actor=charlie_m, key=old, grace=timedelta(hours=1))
    assert new.pk != old.pk and new.name == old.name
    old.refresh_from_db()
    assert old.replaced_by == new
    assert timedelta(minutes=59) < old.expires_at - timezone.now() <= timedelta(hours=1)
    assert _verify(old_plain, catalog).allowed and _verify(new_plain, catalog).allowed
    # the grace ends: the old key expires by itself, the new one keeps working
    ApiKey.objects.for_tenant(shop.tenant).filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert _verify(old_plain, catalog).reason == "expired"
    assert _verify(new_plain, catalog).allowed
    with pytest.raises(Conflict, match="expired key cannot be rotated"):
        services.key_rotate(actor=charlie_m, key=old)


def test_rotation_without_grace_and_bad_grace(active_sub, shop, charlie_m, catalog):
    old, old_plain = make_key(charlie_m, shop)
    with pytest.raises(InvalidInput, match="between 0 hours and 168 hours"):
        services.key_rotate(actor=charlie_m, key=old, grace=timedelta(days=8))
    _, new_plain = services.key_rotate(actor=charlie_m, key=old, grace=timedelta(0))
    assert _verify(old_plain, catalog).reason == "expired"
    assert _verify(new_plain, catalog).allowed
    with pytest.raises(Conflict, match=r"already rotated|expired"):
        services.key_rotate(actor=charlie_m, key=old)


def test_revoke_is_immediate_and_revoked_keys_cannot_rotate(active_sub, shop, charlie_m, catalog):
    key, plaintext = make_key(charlie_m, shop)
    _, new_plain = services.key_rotate(actor=charlie_m, key=key, grace=timedelta(hours=24))
    services.key_revoke(actor=charlie_m, key=key)  # revoking during the grace ends it at once
    assert _verify(plaintext, catalog).reason == "revoked"
    assert _verify(new_plain, catalog).allowed
    with pytest.raises(Conflict, match="revoked key cannot be rotated"):
        services.key_rotate(actor=charlie_m, key=key)
    # revoking twice is harmless
    assert services.key_revoke(actor=charlie_m, key=key).status == "revoked"


def test_verification_does_no_slow_hashing(active_sub, shop, charlie_m, catalog, django_assert_max_num_queries):
    _, plaintext = make_key(charlie_m, shop)
    _verify(plaintext, catalog)  # first use writes last_used_at
    with django_assert_max_num_queries(3):  # key by id, version by base path, subscription
        assert _verify(plaintext, catalog).allowed


def test_cancelled_subscription_denies(active_sub, shop, charlie_m, catalog):
    _, plaintext = make_key(charlie_m, shop)
    services.subscription_cancel(actor=charlie_m, subscription=active_sub)
    assert _verify(plaintext, catalog).reason == "no_subscription"
