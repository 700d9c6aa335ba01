"""Console keys: minted per (user, application), short-lived, never listed as ordinary keys,
outside the key limit, revoked when the session ends, swept once expired."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from console import services, tasks
from core.errors import Conflict, Forbidden
from subscriptions import selectors
from subscriptions.models import ApiKey, KeyPurpose, SubscriptionStatus
from subscriptions.services import console_keys, key_create
from subscriptions.tests.factories import ApplicationFactory


def test_minting_gives_a_console_key_that_expires_in_minutes(world):
    before = timezone.now()
    key, plaintext = console_keys.console_key_mint(actor=world.charlie, application=world.shop, minutes=10)
    assert key.purpose == KeyPurpose.CONSOLE and key.status == "active"
    assert plaintext.startswith(f"apk_{key.key_id}_")
    assert before + timedelta(minutes=9) < key.expires_at <= timezone.now() + timedelta(minutes=10)
    assert key.created_by == world.charlie.user and "Try-it console" in key.name


def test_a_new_console_key_revokes_the_users_previous_one_only(world):
    from tenants.tests.factories import MembershipFactory, UserFactory

    erin = MembershipFactory(tenant=world.globex, user=UserFactory(email="erin@globex.example"), role="developer")
    first, _ = console_keys.console_key_mint(actor=world.charlie, application=world.shop, minutes=10)
    others, _ = console_keys.console_key_mint(actor=erin, application=world.shop, minutes=10)
    second, _ = console_keys.console_key_mint(actor=world.charlie, application=world.shop, minutes=10)
    first.refresh_from_db()
    others.refresh_from_db()
    assert first.status == "revoked" and second.status == "active" and others.status == "active"


def test_console_keys_are_not_in_the_key_lists_and_not_counted_by_the_dashboard(world, client):
    standard, _ = key_create(actor=world.charlie, application=world.shop, name="production")
    console, _ = console_keys.console_key_mint(actor=world.charlie, application=world.shop, minutes=10)
    assert list(selectors.application_keys(world.shop)) == [standard]
    assert list(selectors.tenant_keys(world.globex)) == [standard]
    client.force_login(world.charlie.user)
    page = client.get(f"/t/globex/apps/{world.shop.pk}/").content.decode()
    assert standard.key_id in page and console.key_id not in page


@override_settings(MAX_KEYS_PER_APPLICATION=2)
def test_console_keys_do_not_need_room_under_the_key_limit(world):
    for name in ("one", "two"):
        key_create(actor=world.charlie, application=world.shop, name=name)
    key, _ = console_keys.console_key_mint(actor=world.charlie, application=world.shop, minutes=10)
    assert key.status == "active"  # the application is at its limit of ordinary keys


def test_minting_needs_apps_edit_and_an_active_subscription(world):
    with pytest.raises(Forbidden):
        console_keys.console_key_mint(actor=world.dave, application=world.shop, minutes=10)
    idle = ApplicationFactory(tenant=world.globex, name="Idle")
    with pytest.raises(Conflict) as caught:
        console_keys.console_key_mint(actor=world.charlie, application=idle, minutes=10)
    assert caught.value.code == "no_active_subscription"
    world.subscription.status = SubscriptionStatus.SUSPENDED
    world.subscription.save(update_fields=["status"])
    with pytest.raises(Conflict):
        console_keys.console_key_mint(actor=world.charlie, application=world.shop, minutes=10)


def test_another_organisations_application_is_not_found(world):
    from core.errors import NotFound

    with pytest.raises(NotFound):
        console_keys.console_key_mint(actor=world.mallory, application=world.shop, minutes=10)


def test_the_session_keeps_one_key_until_it_nearly_expires_and_closing_revokes_it(world):
    first = services.console_open(actor=world.charlie, application=world.shop)
    again = services.console_open(actor=world.charlie, application=world.shop)
    assert again.key == first.key
    key = ApiKey.objects.unscoped().get(key_id=first.key_id)
    assert services.console_close(actor=world.charlie, application=world.shop) is True
    key.refresh_from_db()
    assert key.status == "revoked"
    assert services.console_close(actor=world.charlie, application=world.shop) is False  # idempotent
    fresh = services.console_open(actor=world.charlie, application=world.shop)
    assert fresh.key_id != first.key_id
    # Less than a minute left: renewed before the next request.
    ApiKey.objects.unscoped().filter(key_id=fresh.key_id).update(expires_at=timezone.now() + timedelta(seconds=30))
    from django.core.cache import cache

    cache.set(
        services._cache_key(world.charlie.user_id, world.shop.pk),
        {**fresh.__dict__, "expires_at": timezone.now() + timedelta(seconds=30)},
    )
    assert services.console_open(actor=world.charlie, application=world.shop).key_id != fresh.key_id


def test_the_public_view_of_a_session_never_holds_the_key(world):
    session = services.console_open(actor=world.charlie, application=world.shop)
    assert session.key not in str(session.as_public()) and session.key_id not in str(session.as_public())


def test_the_beat_sweep_revokes_expired_console_keys_only(world):
    expired, _ = console_keys.console_key_mint(actor=world.charlie, application=world.shop, minutes=10)
    ApiKey.objects.unscoped().filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    standard, _ = key_create(
        actor=world.charlie, application=world.shop, name="short", expires_at=timezone.now() + timedelta(seconds=5)
    )
    ApiKey.objects.unscoped().filter(pk=standard.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert tasks.sweep_console_keys_task() == 1
    expired.refresh_from_db()
    standard.refresh_from_db()
    assert expired.revoked_at == expired.expires_at
    assert standard.revoked_at is None  # ordinary keys keep their "expired" state
    assert tasks.sweep_console_keys_task() == 0


def test_signing_out_revokes_the_users_console_keys(world, client):
    session = services.console_open(actor=world.charlie, application=world.shop)
    client.force_login(world.charlie.user)
    client.post("/accounts/logout/")
    assert ApiKey.objects.unscoped().get(key_id=session.key_id).status == "revoked"


def test_the_beat_schedule_runs_the_sweep():
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["console-sweep-keys"]
    assert entry["task"] == "console.tasks.sweep_console_keys_task"


@override_settings(MAX_KEYS_PER_APPLICATION=2)
def test_live_console_keys_do_not_take_room_from_ordinary_keys(world):
    console_keys.console_key_mint(actor=world.charlie, application=world.shop, minutes=10)
    for name in ("one", "two"):
        key_create(actor=world.charlie, application=world.shop, name=name)
