"""The console's actions: open a session (mint the key), send a request, close the session.

The consumer console calls through the platform's gateway with a console key
(``subscriptions.services.console_keys``) that never leaves the server: its plaintext sits in
the cache under the (user, application) pair for the key's lifetime, and the browser only
learns when it expires. The provider console sends straight to the version's upstream, with no
key and no gateway (limits, analytics and key checks do not apply there: it is the provider's
own service). Both are rate-limited per user (CONSOLE_REQUESTS_PER_MINUTE).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.utils import timezone

from apis import selectors as api_selectors
from apis.models import ApiVersion, VersionKind
from console import conf, relay
from console import selectors as console_selectors
from core import outbound
from core.errors import InvalidInput, ServiceError
from subscriptions.models import Application
from subscriptions.services import console_keys
from tenants.models import Membership
from tenants.permissions import require
from tenants.roles import Perm

#: A cached key with less than this left is replaced before a request, so none expires mid-call.
RENEW_BEFORE_SECONDS = 60


class Throttled(ServiceError):
    status_code = 429
    default_code = "throttled"


class RelayFailed(ServiceError):
    """The request was allowed but got no answer (refused address, timeout, connection error)."""

    status_code = 502
    default_code = "no_answer"


@dataclass(frozen=True)
class Session:
    """A console key as the cache keeps it (server-side only)."""

    key: str
    key_id: str
    minted_at: float  # time.time()
    expires_at: datetime

    def as_public(self) -> dict[str, Any]:
        """What the browser may know: when it ends. Never the key."""
        return {"expires_at": self.expires_at.isoformat(), "minutes": conf.key_minutes()}


def _cache_key(user_id: int, application_id: int) -> str:
    return f"console:key:{user_id}:{application_id}"


def throttle(user_id: int) -> None:
    """A fixed one-minute window per user in Redis (fails open when Redis is down, like every limit here)."""
    limit = conf.requests_per_minute()
    key = f"console:rate:{user_id}:{int(time.time() // 60)}"
    cache.add(key, 0, timeout=120)
    if cache.incr(key) > limit:
        raise Throttled(
            f"At most {limit} console requests a minute; wait a moment and send again.", code="console_throttled"
        )


def _cached(actor: Membership, application: Application) -> Session | None:
    found = cache.get(_cache_key(actor.user_id, application.pk))
    if not isinstance(found, dict):
        return None
    try:
        session = Session(**found)
    except TypeError:
        return None
    if (session.expires_at - timezone.now()).total_seconds() < RENEW_BEFORE_SECONDS:
        return None
    return session


def console_open(*, actor: Membership, application: Application) -> Session:
    """The user's console session for ``application``: the cached key, or a freshly minted one.

    Called when the console opens (and when the user picks another application), so the
    gateway nodes have a poll interval or two to learn the key before the first Send.
    """
    require(actor, Perm.APPS_EDIT)
    session = _cached(actor, application)
    if session is not None:
        return session
    key, plaintext = console_keys.console_key_mint(actor=actor, application=application, minutes=conf.key_minutes())
    assert key.expires_at is not None
    session = Session(plaintext, key.key_id, time.time(), key.expires_at)
    ttl = max(int((key.expires_at - timezone.now()).total_seconds()), 1)
    cache.set(_cache_key(actor.user_id, application.pk), session.__dict__, timeout=ttl)
    return session


def console_close(*, actor: Membership, application: Application) -> bool:
    """End the session: revoke its key and forget it (the page calls this when it is left)."""
    found = cache.get(_cache_key(actor.user_id, application.pk))
    cache.delete(_cache_key(actor.user_id, application.pk))
    if isinstance(found, dict) and found.get("key_id"):
        return console_keys.console_key_revoke(actor=actor, key_id=str(found["key_id"])) > 0
    return False


def _endpoints(version: ApiVersion) -> list[Any]:
    return list(api_selectors.version_endpoints(version))


def _relay_error(exc: Exception, where: str) -> RelayFailed:
    if isinstance(exc, outbound.OutboundRefused):
        return RelayFailed(f"The {where} address is refused: {exc.reason}.", code="refused_address")
    return RelayFailed(f"No answer from the {where}: {exc}.", code="no_answer")


def console_send(*, actor: Membership, application: Application, data: Any) -> relay.Answer:
    """Send the console's request as ``application`` through the gateway (see the module docstring)."""
    require(actor, Perm.APPS_EDIT)
    if not isinstance(data, dict):
        raise InvalidInput("Send a JSON object: {version, method, path, query, headers, body}.")
    version = console_selectors.subscribed_version(application, data.get("version"))
    out = relay.parse(data, version, _endpoints(version))
    throttle(actor.user_id)
    session = console_open(actor=actor, application=application)
    try:
        return relay.send_through_gateway(version, out, session.key, minted_at=session.minted_at)
    except (outbound.OutboundRefused, outbound.OutboundError) as exc:
        raise _relay_error(exc, "gateway") from None


def provider_send(*, actor: Membership, version: ApiVersion, data: Any) -> relay.Answer:
    """Send the provider console's request straight to ``version``'s upstream (any status, drafts too)."""
    require(actor, Perm.APIS_EDIT)
    if version.tenant_id != actor.tenant_id:
        raise InvalidInput("No such version.")
    if version.kind != VersionKind.REST:
        raise InvalidInput(
            "This version is answered by the gateway itself (no upstream): try it from the catalog once published.",
            code="no_upstream",
        )
    out = relay.parse(data, version, _endpoints(version))
    throttle(actor.user_id)
    try:
        return relay.send_to_upstream(version, out)
    except (outbound.OutboundRefused, outbound.OutboundError) as exc:
        raise _relay_error(exc, "upstream") from None
