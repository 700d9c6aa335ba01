"""What higher layers add to API versions that are not plain REST (kind ``ai`` / ``prompt``).

``apis`` routes REST versions to upstreams itself; AI versions are answered by the gateway
node from configuration ``llm`` owns, and ``apis`` must not import ``llm`` (layering,
portal/tests/test_layers.py). So ``llm`` registers, from its ``AppConfig.ready()``:

* a **publish check** per kind: returns why the version cannot be published yet (a sentence
  for people, or None); ``version_publish`` refuses with it (409) instead of asking for
  upstreams and an uploaded document;
* **panels**: callables that get a version and the request and return ``{"template": …,
  **context}`` (or None) to include in the catalog page ("catalog") or the provider's
  version page ("version"), e.g. the models and prices of an AI version.

A kind without a registered check cannot be published: fail closed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from django.http import HttpRequest

    from apis.models import ApiVersion

PublishCheck = Callable[["ApiVersion"], "str | None"]
Panel = Callable[["ApiVersion", "HttpRequest"], "dict[str, Any] | None"]
Place = Literal["catalog", "version"]

_publish_checks: dict[str, PublishCheck] = {}
_panels: dict[str, list[Panel]] = {"catalog": [], "version": []}


def register_publish_check(kind: str, check: PublishCheck) -> None:
    _publish_checks[kind] = check


def register_panel(place: Place, panel: Panel) -> None:
    if panel not in _panels[place]:
        _panels[place].append(panel)


def publish_problem(version: ApiVersion) -> str | None:
    """Why a non-REST ``version`` cannot be published now, or None when it can."""
    check = _publish_checks.get(version.kind)
    if check is None:
        return f"Versions of kind “{version.kind}” cannot be published on this platform."
    return check(version)


def panels(place: Place, version: ApiVersion | None, request: HttpRequest) -> list[dict[str, Any]]:
    """The extra parts of a page for ``version``, in registration order.

    REST versions get the try-it console's panels (console.panels); AI versions the llm ones too.
    """
    if version is None:
        return []
    found = []
    for panel in _panels[place]:
        part = panel(version, request)
        if part:
            found.append(part)
    return found
