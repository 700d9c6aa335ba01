"""API keys: create (optionally restricted), rotate with a grace period, revoke."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from core.crypto import make_prefixed_token
from core.errors import Conflict, InvalidInput, NotFound
from core.validators import clean_text as _text
from subscriptions.models import (
    ApiKey,
    Application,
    KeyPurpose,
    Subscription,
)
from subscriptions.services.common import KEY_LAST_USED_RESOLUTION, S, key_event
from subscriptions.services.key_restrictions import apply_restrictions, check_restrictions
from tenants.models import Membership
from tenants.ownership import get_owned
from tenants.permissions import require
from tenants.roles import Perm

# --- API keys ------------------------------------------------------------------------


def _check_key_room(application: Application) -> None:
    live = (
        ApiKey.objects.for_tenant(application.tenant)
        .live()
        .filter(application=application)
        .exclude(purpose=KeyPurpose.CONSOLE)  # the console's own short-lived keys take no room
        .count()
    )
    if live >= settings.MAX_KEYS_PER_APPLICATION:
        raise Conflict(
            f"“{application.name}” already has {live} live keys (the limit). Revoke one first.", code="key_limit"
        )


def _name_taken(name: str) -> Conflict:
    return Conflict(
        f"This application already has a key named “{name}”. Choose another name, or revoke that key first.",
        code="key_name_taken",
        field="name",
    )


def check_key_name_free(application: Application, name: str, *, exclude: ApiKey | None = None) -> None:
    """A name belongs to one current key of the application (``apikey_name_unique_per_application``).

    An expired key does not count here: ``_release_expired_names`` frees its name on creation.
    """
    holders = (
        ApiKey.objects.for_tenant(application.tenant)
        .filter(application=application, name__iexact=name, revoked_at__isnull=True, rotated_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
    )
    if exclude is not None:
        holders = holders.exclude(pk=exclude.pk)
    if name and holders.exists():
        raise _name_taken(name)


def _release_expired_names(application: Application, name: str) -> None:
    """An expired key gives up its name when it is reused: it is marked revoked as of its expiry."""
    ApiKey.objects.for_tenant(application.tenant).filter(
        application=application,
        name__iexact=name,
        revoked_at__isnull=True,
        rotated_at__isnull=True,
        expires_at__lte=timezone.now(),
    ).update(revoked_at=F("expires_at"))


def _new_key(actor: Membership, application: Application, name: str, expires_at: datetime | None) -> tuple[ApiKey, str]:
    check_key_name_free(application, name)
    _release_expired_names(application, name)
    plaintext, key_id, secret = make_prefixed_token(ApiKey.PREFIX)
    key = ApiKey(
        tenant=application.tenant, application=application, name=name, expires_at=expires_at, created_by=actor.user
    )
    key.set_secret(key_id, secret)
    try:
        with transaction.atomic():
            key.save()
    except IntegrityError:  # a concurrent request took the name between the check and the insert
        raise _name_taken(name) from None
    return key, plaintext


@transaction.atomic
def key_create(
    *,
    actor: Membership,
    application: Application,
    name: str,
    expires_at: datetime | None = None,
    allowed_cidrs: Iterable[str] | str = (),
    allowed_apis: Iterable[Any] = (),
    rate_limit_per_minute: int | None = None,
) -> tuple[ApiKey, str]:
    """Create a key, optionally restricted (``key_restrictions``); the plaintext is returned here and never again."""
    require(actor, Perm.APPS_EDIT)
    if application.tenant_id != actor.tenant_id:
        raise NotFound("No such application.", field="application")
    application = get_owned(actor, application, lock=True)
    name = _text(name, field="name", max_length=100, required=True, label="Give the key a name.")
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidInput("The expiry must be in the future.", field="expires_at")
    if not Subscription.objects.for_consumer(actor.tenant).filter(application=application, status=S.ACTIVE).exists():
        raise Conflict(
            f"“{application.name}” has no active subscription yet; keys are created once one is approved.",
            code="no_active_subscription",
        )
    _check_key_room(application)
    cidrs, apis, rate_limit = check_restrictions(
        application, allowed_cidrs=allowed_cidrs, allowed_apis=allowed_apis, rate_limit_per_minute=rate_limit_per_minute
    )
    key, plaintext = _new_key(actor, application, name, expires_at)
    if cidrs or apis or rate_limit is not None:
        apply_restrictions(key, cidrs, apis, rate_limit)
    key_event(key, "key.created", actor.user)
    return key, plaintext


@transaction.atomic
def key_rotate(
    *, actor: Membership, key: ApiKey, grace: timedelta = timedelta(0), name: str | None = None
) -> tuple[ApiKey, str]:
    """Replace a key: the new one works at once, the old one keeps working for ``grace``."""
    require(actor, Perm.APPS_EDIT)
    key = get_owned(actor, key, lock=True, related=("application",))
    max_grace = timedelta(hours=settings.MAX_KEY_ROTATION_GRACE_HOURS)
    if grace < timedelta(0) or grace > max_grace:
        raise InvalidInput(
            f"The grace period must be between 0 hours and {settings.MAX_KEY_ROTATION_GRACE_HOURS} hours.",
            field="grace_hours",
        )
    if key.status == "revoked":
        raise Conflict("A revoked key cannot be rotated; create a new key instead.", code="key_revoked")
    if key.status == "expired":
        raise Conflict("An expired key cannot be rotated; create a new key instead.", code="key_expired")
    if key.replaced_by_id:
        raise Conflict("This key was already rotated; rotate its replacement instead.", code="key_rotated")
    application = get_owned(actor, key.application_id, model=Application, lock=True)
    # The old key counts against the limit only until its grace ends; the new one replaces it.
    live = (
        ApiKey.objects.for_tenant(actor.tenant)
        .live()
        .filter(application=application)
        .exclude(pk=key.pk)
        .exclude(purpose=KeyPurpose.CONSOLE)
        .count()
    )
    if live >= settings.MAX_KEYS_PER_APPLICATION:
        raise Conflict(f"“{application.name}” already has {live + 1} live keys (the limit).", code="key_limit")
    now = timezone.now()
    new_name = _text(name, field="name", max_length=100) or key.name
    check_key_name_free(application, new_name, exclude=key)
    new_expiry = key.expires_at
    # The old key gives its name to the new one: mark it rotated before the new one is inserted.
    grace_end = now + grace
    key.expires_at = grace_end if key.expires_at is None else min(key.expires_at, grace_end)
    key.rotated_at = now
    key.save(update_fields=["expires_at", "rotated_at"])
    new_key, plaintext = _new_key(actor, application, new_name, new_expiry)
    # The successor is restricted exactly like its predecessor (not checked again: the same
    # application, and a restriction that outlived its subscription allows nothing anyway).
    kept_apis = list(key.allowed_apis.all())
    if key.allowed_cidrs or kept_apis or key.rate_limit_per_minute is not None:
        apply_restrictions(new_key, list(key.allowed_cidrs), kept_apis, key.rate_limit_per_minute)
    key.replaced_by = new_key
    key.save(update_fields=["replaced_by"])
    key_event(key, "key.rotated", actor.user, replaced_by=new_key.key_id, grace_ends_at=key.expires_at)
    key_event(new_key, "key.created", actor.user, replaces=key.key_id)
    return new_key, plaintext


@transaction.atomic
def key_revoke(*, actor: Membership, key: ApiKey) -> ApiKey:
    """Refuse the key from now on (idempotent)."""
    require(actor, Perm.APPS_EDIT)
    key = get_owned(actor, key, lock=True, related=("application",))
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        key_event(key, "key.revoked", actor.user)
    return key


#: Keys whose last use moved by more than KEY_LAST_USED_RESOLUTION, locked in id order and
#: skipping rows another batch is writing right now (it writes about the same time): concurrent
#: log batches naming the same keys never wait on each other or deadlock.
_MARK_USED_SQL = """
WITH used AS (SELECT * FROM unnest(%(key_ids)s::text[], %(last)s::timestamptz[]) AS u(key_id, last)),
due AS (
    SELECT k.id, used.last FROM subscriptions_apikey k JOIN used ON used.key_id = k.key_id
    WHERE k.last_used_at IS NULL OR k.last_used_at < used.last - make_interval(secs => %(resolution)s)
    ORDER BY k.id
    FOR UPDATE OF k SKIP LOCKED
)
UPDATE subscriptions_apikey k SET last_used_at = due.last FROM due WHERE k.id = due.id
"""


def keys_mark_used(last_used: dict[str, datetime]) -> int:
    """Record when keys were last used, from the gateways' call records (``key id → time``).

    Gateways check keys from their config snapshot, never through ``key_verify``, so their call
    logs are what tells a key's "last used". At most one write per key a minute, as for
    verification. Crosses tenants on purpose: the key ids come from a trusted node's records.
    Returns how many keys were updated.
    """
    if not last_used:
        return 0
    key_ids = sorted(last_used)
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            _MARK_USED_SQL,
            {
                "key_ids": key_ids,
                "last": [last_used[k] for k in key_ids],
                "resolution": KEY_LAST_USED_RESOLUTION.total_seconds(),
            },
        )
        return cur.rowcount
