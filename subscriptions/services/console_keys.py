"""Console keys: short-lived API keys the try-it console (``console``) mints to call through the gateway.

Stored keys are only hashes, so the console can never reuse a consumer's key: it mints its own
for one (user, application), valid for minutes (``expires_at``), marked ``purpose=console`` so
that analytics can tell console traffic apart. The plaintext goes back to the console only,
which keeps it server-side (cache) and never sends it to the browser.

How they differ from ordinary keys (``subscriptions.services.keys``, whose internals are reused
unchanged):

* at most one live console key per (user, application): minting revokes the user's previous one;
* no per-application key limit (``MAX_KEYS_PER_APPLICATION``) applies: they are not the
  consumer's keys to manage, and they end by themselves;
* no ``key.*`` webhook events: a console session is not a change of the consumer's credentials;
* they are left out of the application's and the organisation's key lists (selectors);
* revoked when the console session ends (:func:`console_key_revoke`), and once expired by the
  beat sweep (:func:`console_keys_sweep`), so none lingers as "active" anywhere.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.errors import Conflict, InvalidInput, NotFound
from subscriptions.models import ApiKey, Application, KeyPurpose, Subscription, SubscriptionStatus
from subscriptions.services.keys import _new_key
from tenants.models import Membership
from tenants.ownership import get_owned
from tenants.permissions import require
from tenants.roles import Perm

#: Longest lifetime a console key may be given, whatever the caller asks for.
MAX_CONSOLE_KEY_MINUTES = 60


@transaction.atomic
def console_key_mint(*, actor: Membership, application: Application, minutes: int) -> tuple[ApiKey, str]:
    """A fresh console key for ``actor``'s user and ``application``; the plaintext is returned once.

    Needs ``apps.edit`` (it is a key of the application) and an active subscription of the
    application. The user's previous console key for the application is revoked first.
    """
    require(actor, Perm.APPS_EDIT)
    if application.tenant_id != actor.tenant_id:
        raise NotFound("No such application.", field="application")
    if not 1 <= minutes <= MAX_CONSOLE_KEY_MINUTES:
        raise InvalidInput(f"A console key lives between 1 and {MAX_CONSOLE_KEY_MINUTES} minutes.", field="minutes")
    application = get_owned(actor, application, lock=True)
    active = Subscription.objects.for_consumer(actor.tenant).filter(
        application=application, status=SubscriptionStatus.ACTIVE
    )
    if not active.exists():
        raise Conflict(
            f"“{application.name}” has no active subscription: the console can only call APIs it is subscribed to.",
            code="no_active_subscription",
        )
    now = timezone.now()
    ApiKey.objects.for_tenant(actor.tenant).filter(
        application=application, purpose=KeyPurpose.CONSOLE, created_by=actor.user, revoked_at__isnull=True
    ).update(revoked_at=now)
    # A random suffix: the name is unique among the application's current keys (a constraint).
    name = f"Try-it console · {actor.user.email}"[:90] + f" · {secrets.token_hex(3)}"
    key, plaintext = _new_key(actor, application, name, now + timedelta(minutes=minutes))
    key.purpose = KeyPurpose.CONSOLE
    key.save(update_fields=["purpose"])
    return key, plaintext


@transaction.atomic
def console_key_revoke(*, actor: Membership, key_id: str) -> int:
    """Revoke the user's console key ``key_id`` (idempotent; 0 when it was already gone)."""
    return (
        ApiKey.objects.for_tenant(actor.tenant)
        .filter(key_id=key_id, purpose=KeyPurpose.CONSOLE, created_by=actor.user, revoked_at__isnull=True)
        .update(revoked_at=timezone.now())
    )


def console_keys_revoke_for_user(user_id: int) -> int:
    """Revoke every live console key a user minted, in every organisation (when they sign out).

    Crosses tenants on purpose: the keys are selected by their creator, who is signing out.
    """
    return (
        ApiKey.objects.unscoped()
        .filter(purpose=KeyPurpose.CONSOLE, created_by_id=user_id, revoked_at__isnull=True)
        .update(revoked_at=timezone.now())
    )


def console_keys_sweep() -> int:
    """Mark expired console keys revoked as of their expiry (the beat task); returns how many.

    Crosses tenants on purpose: a platform housekeeping task. An expired key is already refused
    by every node; this makes its end explicit and keeps the rows out of "live" counts.
    """
    return (
        ApiKey.objects.unscoped()
        .filter(purpose=KeyPurpose.CONSOLE, revoked_at__isnull=True, expires_at__lte=timezone.now())
        .update(revoked_at=F("expires_at"))
    )
