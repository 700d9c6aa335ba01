"""Writes to model routes: a public model name and the provider models that serve it, in order.

A route's targets are the organisation's own models of the route's capability. The name and
the capability are fixed once created: consumers call the public name, and the versions
listing the route generate their OpenAPI document from the capability.
"""

from __future__ import annotations

import re
from typing import Any

from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone

from apis.models import ROUTED_STATUSES
from core.errors import Conflict, InvalidInput
from core.validators import clean_text
from llm.models import ModelRoute, ProviderModel, RouteTarget, SurfaceKind
from llm.services.providers import _audit, _capability, _int, _save
from tenants.models import Membership
from tenants.ownership import get_owned
from tenants.permissions import require
from tenants.roles import Perm

NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,78}[a-z0-9])?$")
MAX_TARGETS = 20
#: Targets are tried by position, 0 first (one limit for the service, the form and the serializer).
MAX_POSITION = 100


def _name(value: Any) -> str:
    name = str(value or "").strip().lower()
    if not NAME_RE.match(name):
        raise InvalidInput(
            "Use 1–80 lowercase letters, digits, hyphens and underscores (e.g. chat-small).", field="name"
        )
    return name


def check_route_name_free(actor: Membership, name: str, *, exclude_pk: int | None = None) -> None:
    if ModelRoute.objects.for_tenant(actor.tenant).filter(name=name).exclude(pk=exclude_pk).exists():
        raise InvalidInput(f"A model route “{name}” already exists.", code="name_taken", field="name")


def _clean_targets(actor: Membership, capability: str, targets: Any) -> list[dict[str, Any]]:
    """``[{"model": <id or ProviderModel>, "position": 0, "weight": 1}, …]`` checked against the tenant's models."""
    if not isinstance(targets, list | tuple):
        raise InvalidInput("Targets must be a list of {model, position, weight}.", field="targets")
    if len(targets) > MAX_TARGETS:
        raise InvalidInput(f"At most {MAX_TARGETS} targets.", field="targets")
    ids: list[Any] = []
    for index, target in enumerate(targets, start=1):
        if not isinstance(target, dict) or "model" not in target:
            raise InvalidInput(f"Target {index}: expected an object with model, position and weight.", field="targets")
        model = target["model"]
        ids.append(model.pk if isinstance(model, ProviderModel) else model)
    try:
        wanted = [int(i) for i in ids]
    except (TypeError, ValueError):
        raise InvalidInput("Each target's model is a model id.", field="targets") from None
    models = {
        m.pk: m for m in ProviderModel.objects.for_tenant(actor.tenant).filter(pk__in=wanted).select_related("provider")
    }
    cleaned: list[dict[str, Any]] = []
    for index, (target, model_pk) in enumerate(zip(targets, wanted, strict=True), start=1):
        model = models.get(model_pk)
        if model is None:
            # Another tenant's model reads the same as a missing one.
            raise InvalidInput(f"Target {index}: no such model.", code="unknown_model", field="targets")
        if model.capability != capability:
            raise InvalidInput(
                f"Target {index}: {model} is a {model.get_capability_display().lower()} model; "
                f"this route serves {capability}.",
                code="capability_mismatch",
                field="targets",
            )
        if any(c["model"].pk == model.pk for c in cleaned):
            raise InvalidInput(f"Target {index}: {model} is listed twice.", code="duplicate_target", field="targets")
        cleaned.append(
            {
                "model": model,
                "position": _int(
                    target.get("position", index - 1), "targets", 0, MAX_POSITION, f"Positions are 0–{MAX_POSITION}."
                ),
                "weight": _int(target.get("weight", 1), "targets", 1, 1000, "Weights are 1–1000."),
            }
        )
    return cleaned


def _replace_targets(route: ModelRoute, cleaned: list[dict[str, Any]]) -> None:
    RouteTarget.objects.for_tenant(route.tenant_id).filter(route=route).delete()
    RouteTarget.objects.bulk_create(
        RouteTarget(
            tenant_id=route.tenant_id, route=route, model=t["model"], position=t["position"], weight=t["weight"]
        )
        for t in cleaned
    )


def route_is_live(route: ModelRoute) -> bool:
    """Served by a published or deprecated version (directly, or through a published prompt)."""
    from llm.models import AiSurface

    surfaces = AiSurface.objects.for_tenant(route.tenant_id).filter(version__status__in=ROUTED_STATUSES)
    return (
        surfaces.filter(kind=SurfaceKind.MODELS, routes=route).exists()
        or surfaces.filter(kind=SurfaceKind.PROMPT, prompt_version__route=route).exists()
    )


@transaction.atomic
def route_create(
    *,
    actor: Membership,
    name: str,
    capability: str = "chat",
    description: str = "",
    targets: list[dict[str, Any]] | None = None,
) -> ModelRoute:
    """A model route, public as ``<organisation slug>/<name>``; it can be published once it has a target."""
    require(actor, Perm.AI_MANAGE)
    route = ModelRoute(
        tenant=actor.tenant,
        name=_name(name),
        capability=_capability(capability),
        description=clean_text(description, field="description", max_length=300),
    )
    cleaned = _clean_targets(actor, route.capability, targets or [])
    check_route_name_free(actor, route.name)
    _save(route, unique_message=f"A model route “{route.name}” already exists.", unique_field="name", code="name_taken")
    _replace_targets(route, cleaned)
    _audit(actor, "ai_route.created", route, f"{len(cleaned)} target(s)")
    return route


@transaction.atomic
def route_update(*, actor: Membership, route: ModelRoute, description: Any = None, targets: Any = None) -> ModelRoute:
    """Change the description and/or replace the targets (all at once, in the order given)."""
    require(actor, Perm.AI_MANAGE)
    route = get_owned(actor, route, lock=True, related=("tenant",))
    changed = []
    if description is not None:
        text = clean_text(description, field="description", max_length=300)
        if text != route.description:
            route.description = text
            changed.append("description")
    if targets is not None:
        cleaned = _clean_targets(actor, route.capability, targets)
        if not cleaned and route_is_live(route):
            raise Conflict(
                f"{route.public_name} is served by a live version: it needs at least one target.",
                code="route_live",
                field="targets",
            )
        _replace_targets(route, cleaned)
        changed.append("targets")
    if changed:
        route.updated_at = timezone.now()
        route.save(update_fields=["description", "updated_at"])
        _audit(actor, "ai_route.updated", route, "Changed: " + ", ".join(changed))
    return route


@transaction.atomic
def route_delete(*, actor: Membership, route: ModelRoute) -> None:
    """Refused (409) while an AI version or a prompt version uses the route."""
    require(actor, Perm.AI_MANAGE)
    route = get_owned(actor, route, lock=True, related=("tenant",))
    if route.surfaces.exists():
        raise Conflict(f"API versions list {route.public_name}; remove it from them first.", code="route_in_use")
    _audit(actor, "ai_route.deleted", route)
    try:
        with transaction.atomic():
            route.delete()
    except ProtectedError:
        raise Conflict(f"Prompt versions use {route.public_name}.", code="route_in_use") from None
