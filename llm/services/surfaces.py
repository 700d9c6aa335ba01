"""AI versions: API versions of kind ``ai`` whose surface lists model routes.

The version itself lives in ``apis`` (label, base path, lifecycle, plans, subscriptions, keys:
all unchanged); this module creates it with ``kind="ai"``, keeps its ``AiSurface`` (the
routes it serves) and regenerates its OpenAPI document whenever the routes change. It also
tells ``apis`` when such a version may be published (``register``, called from
``LlmConfig.ready``).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apis import kinds
from apis import services as catalog
from apis.models import Api, ApiVersion, VersionKind, VersionStatus
from core.errors import Conflict, InvalidInput
from llm import openapi
from llm.models import AiSurface, ModelRoute, RouteTarget, SurfaceKind
from tenants.models import Membership
from tenants.ownership import get_owned
from tenants.permissions import require
from tenants.roles import Perm

MAX_ROUTES = 50


def _routes(actor: Membership, routes: Any) -> list[ModelRoute]:
    """The tenant's routes named by id or instance, de-duplicated, in the order given."""
    if not isinstance(routes, list | tuple):
        raise InvalidInput("Routes must be a list of model route ids.", field="routes")
    if len(routes) > MAX_ROUTES:
        raise InvalidInput(f"At most {MAX_ROUTES} model routes.", field="routes")
    try:
        ids = list(dict.fromkeys(int(r.pk if isinstance(r, ModelRoute) else r) for r in routes))
    except (TypeError, ValueError):
        raise InvalidInput("Routes must be a list of model route ids.", field="routes") from None
    found = {r.pk: r for r in ModelRoute.objects.for_tenant(actor.tenant).filter(pk__in=ids).select_related("tenant")}
    missing = [i for i in ids if i not in found]
    if missing:
        # Another tenant's route reads the same as a missing one.
        raise InvalidInput(f"No such model route: {missing[0]}.", code="unknown_route", field="routes")
    return [found[i] for i in ids]


def generated_document(version: ApiVersion, routes: list[ModelRoute]) -> dict[str, Any]:
    return openapi.document_for(
        title=version.api.name,
        version_label=version.label,
        description=version.api.summary,
        routes=[(r.public_name, r.capability) for r in routes],
        key_header=str(settings.GATEWAY_API_KEY_HEADER),
    )


def _routes_without_targets(routes: list[ModelRoute]) -> list[ModelRoute]:
    if not routes:
        return []
    with_targets = set(
        RouteTarget.objects.for_tenant(routes[0].tenant_id)
        .filter(route__in=routes)
        .values_list("route_id", flat=True)
        .distinct()
    )
    return [r for r in routes if r.pk not in with_targets]


@transaction.atomic
def surface_set_routes(*, actor: Membership, version: ApiVersion, routes: Any) -> AiSurface:
    """Which model routes an AI version serves; its OpenAPI document follows.

    A live version keeps at least one route, each with a target (its consumers call them).
    """
    require(actor, Perm.APIS_EDIT)
    version = get_owned(actor, version, lock=True, related=("api",))
    if version.kind != VersionKind.AI:
        raise Conflict("Only versions of kind AI serve model routes.", code="not_ai_version")
    if version.status == VersionStatus.RETIRED:
        raise Conflict("A retired version can no longer be changed.", code="version_retired")
    chosen = _routes(actor, routes)
    if version.is_routed:
        if not chosen:
            raise Conflict("A live version needs at least one model route.", code="no_route", field="routes")
        empty = _routes_without_targets(chosen)
        if empty:
            raise Conflict(
                f"{empty[0].public_name} has no target model yet; add one before a live version serves it.",
                code="route_without_target",
                field="routes",
            )
    surface, _ = AiSurface.objects.for_tenant(actor.tenant).get_or_create(
        version=version, defaults={"tenant": actor.tenant, "kind": SurfaceKind.MODELS}
    )
    surface.routes.set(chosen)
    surface.updated_at = timezone.now()
    surface.save(update_fields=["updated_at"])
    catalog.version_store_generated_spec(actor=actor, version=version, document=generated_document(version, chosen))
    return surface


@transaction.atomic
def ai_version_create(
    *,
    actor: Membership,
    api: Api,
    label: str,
    base_path: str,
    routes: Any = (),
    release_notes: str = "",
) -> ApiVersion:
    """A draft version of kind AI serving ``routes``; publish it with the normal lifecycle."""
    version = catalog.version_create(
        actor=actor, api=api, label=label, base_path=base_path, release_notes=release_notes, kind=VersionKind.AI
    )
    surface_set_routes(actor=actor, version=version, routes=list(routes))
    version.refresh_from_db()
    return version


def surface_routes(version: ApiVersion) -> list[ModelRoute]:
    surface = AiSurface.objects.for_tenant(version.tenant_id).filter(version=version).first()
    if surface is None:
        return []
    return list(surface.routes.select_related("tenant").order_by("name"))


# --- What apis asks before publishing ---------------------------------------------------------


def ai_publish_problem(version: ApiVersion) -> str | None:
    routes = surface_routes(version)
    if not routes:
        return "Choose at least one model route before publishing: consumers need a model to call."
    empty = _routes_without_targets(routes)
    if empty:
        return f"{empty[0].public_name} has no target model yet; add one before publishing."
    return None


def prompt_publish_problem(version: ApiVersion) -> str | None:
    surface = (
        AiSurface.objects.for_tenant(version.tenant_id)
        .filter(version=version, kind=SurfaceKind.PROMPT)
        .select_related("prompt_version__route__tenant")
        .first()
    )
    if surface is None or surface.prompt_version is None:
        return "Choose the prompt version this API publishes first."
    if _routes_without_targets([surface.prompt_version.route]):
        return f"{surface.prompt_version.route.public_name} has no target model yet; add one before publishing."
    return None


def register() -> None:
    """Tell apis how AI and prompt versions are checked before publishing (from LlmConfig.ready)."""
    kinds.register_publish_check(VersionKind.AI, ai_publish_problem)
    kinds.register_publish_check(VersionKind.PROMPT, prompt_publish_problem)
