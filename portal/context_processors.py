"""What every page's layout needs: the site name, the organisation switcher, the current section."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest

#: Navigation sections by URL name (``namespace:name``, or a namespace alone for all its pages).
_SECTIONS = {
    "apis:catalog": "catalog",
    "apis:catalog-detail": "catalog",
    "apis": "apis",
    "tenants:dashboard": "dashboard",
    "subscriptions:approvals": "approvals",
    # A subscription's page is seen by both sides: it belongs to neither section for sure.
    "subscriptions:subscription": "",
    "subscriptions:subscription-csv": "",
    "subscriptions": "applications",
    "notifications:list": "notifications",
    "notifications": "organisation",
    "analytics": "organisation",
    "tenants": "organisation",
}
_PLATFORM_PREFIX = "platform"
_ACCOUNT_PREFIXES = ("account_", "mfa_", "socialaccount_", "usersessions_")


def nav_section(request: HttpRequest) -> str:
    """The section of the navigation the current page belongs to ("" when none)."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return ""
    view_name = match.view_name or ""
    if view_name in _SECTIONS:
        return _SECTIONS[view_name]
    namespace = match.namespace
    if namespace in _SECTIONS:
        return _SECTIONS[namespace]
    if view_name.startswith(_PLATFORM_PREFIX):
        return "platform"
    if view_name.startswith(_ACCOUNT_PREFIXES):
        return "account"
    return ""


def _memo(compute: Callable[[], Any]) -> Callable[[], Any]:
    """A callable the template engine resolves at first use only (no query on pages that don't ask)."""
    box: list[Any] = []

    def get() -> Any:
        if not box:
            box.append(compute())
        return box[0]

    return get


def site(request: HttpRequest) -> dict[str, object]:
    """Site name and, for signed-in users, the organisations and the one the navigation shows."""
    context: dict[str, object] = {"SITE_NAME": settings.SITE_NAME, "nav_section": nav_section(request)}
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        from tenants.selectors import memberships_for_user
        from tenants.web import navigation_membership

        memberships = _memo(lambda: _with_user(list(memberships_for_user(user)), user))
        context["my_memberships"] = memberships
        context["nav_membership"] = _memo(lambda: navigation_membership(request, memberships()))
    return context


def _with_user(memberships: list[Any], user: Any) -> list[Any]:
    """Each membership is the signed-in user's: set it, so the navigation's tags query nothing more."""
    for membership in memberships:
        membership.user = user
    return memberships
