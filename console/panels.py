"""The console's parts of the API pages (registered with ``apis.kinds`` from ConsoleConfig.ready).

* catalog: "Try it" for the selected version: the visitor's applications subscribed to it, or
  why there are none (signed out, no subscription, a role without ``apps.edit``);
* version (provider side): "Try it against the upstream" for members who may edit the API.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse

from apis import kinds
from apis import selectors as api_selectors
from apis.models import ApiVersion, VersionKind, VersionStatus
from console import conf, examples, relay
from console import selectors as console_selectors
from core.errors import InvalidInput
from tenants.permissions import can
from tenants.roles import Perm


def _endpoints(version: ApiVersion) -> list[dict[str, Any]]:
    return examples.console_endpoints(version, list(api_selectors.version_endpoints(version)))


def catalog_panel(version: ApiVersion, request: HttpRequest) -> dict[str, Any] | None:
    if version.status not in (VersionStatus.PUBLISHED, VersionStatus.DEPRECATED):
        return None  # drafts are tried from the provider's version page; retired ones are not routed
    choices = console_selectors.choices(request.user, version)
    usable = [c for c in choices if c.allowed]
    apps = [
        {
            "label": f"{c.application.name} ({c.tenant.name})",
            "open": reverse("console:open", args=[c.tenant.slug, c.application.pk]),
            "send": reverse("console:send", args=[c.tenant.slug, c.application.pk]),
            "close": reverse("console:close", args=[c.tenant.slug, c.application.pk]),
        }
        for c in usable
    ]
    return {
        "template": "console/partials/catalog_console.html",
        "console_apps": apps,
        "console_blocked": [c for c in choices if not c.allowed],
        "console_elsewhere": console_selectors.subscribed_elsewhere(request.user, version) if not choices else [],
        "console_endpoints": _endpoints(version) if apps else [],
        "console_version_id": version.pk,
        "console_base_url": settings.GATEWAY_URL + version.base_path.rstrip("/"),
        "console_minutes": conf.key_minutes(),
        "console_methods": relay.METHODS,
    }


def version_panel(version: ApiVersion, request: HttpRequest) -> dict[str, Any] | None:
    membership = getattr(request, "membership", None)
    if version.kind != VersionKind.REST or not can(membership, Perm.APIS_EDIT):
        return None
    try:
        upstream = relay.upstream_url(version)
    except InvalidInput:  # no upstream yet: the panel says so
        upstream = ""
    tenant_slug = version.tenant.slug
    return {
        "template": "console/partials/version_console.html",
        "console_endpoints": _endpoints(version) if upstream else [],
        "console_upstream": upstream,
        "console_send": reverse("console:provider-send", args=[tenant_slug, version.api.slug, version.label]),
    }


def register() -> None:
    """Register the panels with apis (from ConsoleConfig.ready)."""
    kinds.register_panel("catalog", catalog_panel)
    kinds.register_panel("version", version_panel)
