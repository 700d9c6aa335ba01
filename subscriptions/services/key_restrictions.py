"""API key restrictions: client IP ranges, allowed APIs and a per-key rate limit.

The portal only stores and validates them; gateway nodes enforce them from the config
snapshot (docs/subscriptions.md, "Key restrictions"). Empty means "no restriction": a key
without any is exactly as it was before restrictions existed.

Rules, each refused with a message that says what to change:

* IP ranges: IPv4 or IPv6, in CIDR notation or as a bare address (one address: ``/32`` or
  ``/128``). A range with host bits set (``10.1.2.3/8``) is *refused*, not normalised: the
  writer meant either the whole range or one address, and guessing wrong silently opens or
  closes access. Duplicates are dropped; at most ``MAX_KEY_CIDRS`` remain.
* Allowed APIs: APIs the key's application holds an approved subscription to (active, or
  suspended: approved once and resumable). Anything else (pending, ended, another
  organisation's API, an unknown id) is refused; an API is named only when the application
  subscribed to it, so an id tells nothing about other organisations.
* Rate limit: at least 1 call a minute, and below the per-minute limit of every plan it sits
  under (the subscriptions of the allowed APIs, or all of them) that has one.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Any, Final

from django.db import transaction

from apis.models import Api
from core.errors import Conflict, InvalidInput
from subscriptions.models import APPROVED_STATUSES, MAX_KEY_CIDRS, ApiKey, Application, Subscription
from subscriptions.services.common import key_event, restrictions_data
from tenants.models import Membership
from tenants.ownership import get_owned
from tenants.permissions import require
from tenants.roles import Perm

#: More problems than this in one list are summed up ("and 3 more").
_SHOWN_PROBLEMS = 5
_SEPARATORS = re.compile(r"[\s,]+")


class _Keep:
    """``KEEP``: leave this restriction as it is (a PATCH that does not name it)."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Final = _Keep()


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_cidrs(values: Iterable[str] | str) -> list[str]:
    """Client IP ranges, checked and written the canonical way (``2001:db8::/32``).

    ``values``: one range per item, or text with one per line (commas and spaces separate
    too). Raises InvalidInput naming every bad entry.
    """
    items = values.splitlines() if isinstance(values, str) else list(values)
    ranges: list[str] = []
    problems: list[str] = []
    for item in items:
        for entry in _SEPARATORS.split(str(item).strip()):
            if not entry:
                continue
            try:
                network = ipaddress.ip_network(entry, strict=True)
            except ValueError:
                problems.append(_cidr_problem(entry))
                continue
            text = str(network)
            if text not in ranges:
                ranges.append(text)
    if problems:
        more = len(problems) - _SHOWN_PROBLEMS
        message = "; ".join(problems[:_SHOWN_PROBLEMS]) + (f"; and {more} more." if more > 0 else ".")
        raise InvalidInput(message, code="invalid_cidr", field="allowed_cidrs")
    if len(ranges) > MAX_KEY_CIDRS:
        raise InvalidInput(
            f"A key takes at most {MAX_KEY_CIDRS} IP ranges ({len(ranges)} given); use wider ranges.",
            code="too_many_cidrs",
            field="allowed_cidrs",
        )
    return ranges


def _cidr_problem(entry: str) -> str:
    try:
        loose = ipaddress.ip_network(entry, strict=False)
    except ValueError:
        return f"“{_shorten(entry)}” is not an IP address or CIDR range (e.g. 203.0.113.0/24 or 2001:db8::/48)"
    address = entry.split("/", 1)[0]
    return (
        f"“{entry}” has host bits set: write {loose} for the whole range, "
        f"or {address}/{loose.max_prefixlen} for that one address"
    )


def _approved_subscriptions(application: Application) -> list[Subscription]:
    return list(
        Subscription.objects.for_consumer(application.tenant)
        .filter(application=application, status__in=APPROVED_STATUSES)
        .select_related("api", "plan")
        .order_by("api__name", "id")
    )


def _check_apis(application: Application, api_ids: Iterable[Any], approved: list[Subscription]) -> list[Api]:
    wanted: list[int] = []
    for value in api_ids:
        pk = value.pk if isinstance(value, Api) else value
        try:
            pk = int(pk)
        except (TypeError, ValueError):
            raise InvalidInput(f"“{_shorten(str(pk))}” is not an API id.", field="allowed_apis") from None
        if pk not in wanted:
            wanted.append(pk)
    apis = {s.api_id: s.api for s in approved}
    problems = []
    for pk in wanted:
        if pk in apis:
            continue
        # Named only if this application ever subscribed to it: an id of another organisation's
        # API must not tell its name.
        other = (
            Subscription.objects.for_consumer(application.tenant)
            .filter(application=application, api_id=pk)
            .select_related("api")
            .order_by("-created_at")
            .first()
        )
        if other is None:
            problems.append(f"API {pk} is not one “{application.name}” subscribes to")
        else:
            problems.append(
                f"“{other.api.name}”: the subscription of “{application.name}” is "
                f"{other.get_status_display().lower()}, not approved"
            )
    if problems:
        raise InvalidInput(
            "; ".join(problems) + ". A key can be limited to APIs with an approved subscription only.",
            code="api_not_subscribed",
            field="allowed_apis",
        )
    return [apis[pk] for pk in wanted]


def _check_rate_limit(limit: int, apis: list[Api], approved: list[Subscription]) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidInput(
            "The key's rate limit is a whole number of calls a minute, at least 1 (empty: the plan's).",
            field="rate_limit_per_minute",
        )
    allowed = {api.pk for api in apis}
    for subscription in approved:
        if allowed and subscription.api_id not in allowed:
            continue
        plan_limit = subscription.plan.rate_limit_per_minute
        if plan_limit and limit >= plan_limit:
            raise InvalidInput(
                f"The key's rate limit must be below its plan's: plan “{subscription.plan.name}” of "
                f"“{subscription.api.name}” allows {plan_limit} calls a minute, so at most {plan_limit - 1}.",
                code="key_limit_not_below_plan",
                field="rate_limit_per_minute",
            )


def check_restrictions(
    application: Application,
    *,
    allowed_cidrs: Iterable[str] | str = (),
    allowed_apis: Iterable[Any] = (),
    rate_limit_per_minute: int | None = None,
    kept_apis: list[Api] | None = None,
    check_rate_limit: bool = True,
) -> tuple[list[str], list[Api], int | None]:
    """Validate a full set of restrictions for a key of ``application``; return them cleaned.

    ``kept_apis``: the key's allowed APIs, unchanged and not checked again (a subscription
    ended since must not block an edit of the IP ranges; such an API allows nothing anyway).
    ``check_rate_limit=False``: the rate limit is unchanged and applies to the same APIs.
    Read-only (the key services write), so forms can show every problem before the write.
    """
    cidrs = parse_cidrs(allowed_cidrs)
    approved = _approved_subscriptions(application)
    apis = kept_apis if kept_apis is not None else _check_apis(application, allowed_apis, approved)
    if rate_limit_per_minute is not None and check_rate_limit:
        _check_rate_limit(rate_limit_per_minute, apis, approved)
    return cidrs, apis, rate_limit_per_minute


def apply_restrictions(key: ApiKey, cidrs: list[str], apis: list[Api], rate_limit: int | None) -> None:
    """Write checked restrictions on a saved key (the config version moves: gateways migration 0007)."""
    key.allowed_cidrs = cidrs
    key.rate_limit_per_minute = rate_limit
    key.save(update_fields=["allowed_cidrs", "rate_limit_per_minute"])
    key.allowed_apis.set(apis)


@transaction.atomic
def key_set_restrictions(
    *,
    actor: Membership,
    key: ApiKey,
    allowed_cidrs: Iterable[str] | str | _Keep = KEEP,
    allowed_apis: Iterable[Any] | _Keep = KEEP,
    rate_limit_per_minute: int | _Keep | None = KEEP,
) -> ApiKey:
    """Change a key's restrictions (``KEEP``: leave one as it is). The key's secret stays the same.

    Nodes apply the change at their next config poll (a couple of seconds).
    """
    require(actor, Perm.APPS_EDIT)
    key = get_owned(actor, key, lock=True, related=("application",))
    if key.status != "active":
        raise Conflict(f"This key is {key.status}; its restrictions can no longer change.", code=f"key_{key.status}")
    keep_apis = isinstance(allowed_apis, _Keep)
    keep_limit = isinstance(rate_limit_per_minute, _Keep)
    cidrs, apis, rate_limit = check_restrictions(
        key.application,
        allowed_cidrs=key.allowed_cidrs if isinstance(allowed_cidrs, _Keep) else allowed_cidrs,
        allowed_apis=() if isinstance(allowed_apis, _Keep) else allowed_apis,
        kept_apis=list(key.allowed_apis.all()) if keep_apis else None,
        rate_limit_per_minute=key.rate_limit_per_minute
        if isinstance(rate_limit_per_minute, _Keep)
        else rate_limit_per_minute,
        check_rate_limit=not (keep_apis and keep_limit),
    )
    before = restrictions_data(key)
    apply_restrictions(key, cidrs, apis, rate_limit)
    after = restrictions_data(key)
    if after != before:
        key_event(key, "key.restrictions_changed", actor.user, previous=before)
    return key
