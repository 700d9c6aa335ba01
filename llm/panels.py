"""Parts llm adds to the pages of AI versions (registered with apis.kinds from LlmConfig.ready).

* catalog: the models consumers may call (public names, context window, prices per million of
  the model that answers first) and how to call them (curl, and Python with the ``openai``
  package pointed at the gateway);
* version (provider side): the routes it serves and a link to change them.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from apis import kinds
from apis.models import ApiVersion, VersionKind
from llm import selectors
from llm.models import ModelRoute, RouteTarget
from llm.services import surfaces


def _primary(route: ModelRoute) -> RouteTarget | None:
    """The target tried first: lowest position, then highest weight."""
    targets = sorted(route.targets.all(), key=lambda t: (t.position, -t.weight, t.pk))
    return targets[0] if targets else None


def _model_rows(version: ApiVersion) -> list[dict[str, Any]]:
    routes = {r.pk: r for r in selectors.routes(version.tenant)}
    rows = []
    for route in surfaces.surface_routes(version):
        full = routes.get(route.pk, route)
        first = _primary(full)
        price = None
        if first is not None:
            model = selectors.model(version.tenant, first.model_id)
            price = selectors.current_price(model)
        rows.append(
            {
                "name": full.public_name,
                "capability": full.get_capability_display(),
                "description": full.description,
                "context_window": first.model.context_window if first else None,
                "price": price,
            }
        )
    return rows


def catalog_panel(version: ApiVersion, request: HttpRequest) -> dict[str, Any] | None:
    if version.kind != VersionKind.AI:
        return None
    rows = _model_rows(version)
    base_url = settings.GATEWAY_URL + version.base_path
    example = next((r["name"] for r in rows if r["capability"] == "Chat completions"), rows[0]["name"] if rows else "")
    return {
        "template": "llm/partials/catalog_models.html",
        "ai_models": rows,
        "ai_base_url": base_url,
        "ai_example": example,
    }


def version_panel(version: ApiVersion, request: HttpRequest) -> dict[str, Any] | None:
    if version.kind != VersionKind.AI:
        return None
    return {"template": "llm/partials/version_routes.html", "ai_routes": surfaces.surface_routes(version)}


def register() -> None:
    """Register the panels with apis (from LlmConfig.ready)."""
    kinds.register_panel("catalog", catalog_panel)
    kinds.register_panel("version", version_panel)
