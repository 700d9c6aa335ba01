"""Reads of the AI gateway's configuration, always inside one tenant (NotFound for anything else)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Prefetch, QuerySet

from core.errors import NotFound
from llm.models import ModelPrice, ModelProvider, ModelRoute, ProviderCredential, ProviderModel, RouteTarget
from tenants.models import Tenant


def _get(queryset: QuerySet, pk: Any, what: str) -> Any:
    try:
        return queryset.get(pk=int(pk))
    except (ValueError, TypeError, queryset.model.DoesNotExist):
        raise NotFound(f"No such {what}.") from None


def providers(tenant: Tenant) -> QuerySet[ModelProvider]:
    return (
        ModelProvider.objects.for_tenant(tenant)
        .annotate(credential_count=Count("credentials", distinct=True), model_count=Count("models", distinct=True))
        .order_by("name", "pk")
    )


def provider(tenant: Tenant, pk: Any) -> ModelProvider:
    return _get(ModelProvider.objects.for_tenant(tenant), pk, "provider")


def credentials(provider: ModelProvider) -> QuerySet[ProviderCredential]:
    # ``secret_encrypted`` is never needed to show a credential: leave it in the database.
    return (
        ProviderCredential.objects.for_tenant(provider.tenant_id)
        .filter(provider=provider)
        .defer("secret_encrypted")
        .order_by("priority", "-weight", "pk")
    )


def credential(provider: ModelProvider, pk: Any) -> ProviderCredential:
    return _get(credentials(provider).select_related("provider"), pk, "credential")


def _prices() -> Prefetch:
    return Prefetch("prices", queryset=ModelPrice.objects.unscoped().order_by("-effective_from"))  # under one model


def models(tenant: Tenant, *, provider: ModelProvider | None = None) -> QuerySet[ProviderModel]:
    queryset = ProviderModel.objects.for_tenant(tenant).select_related("provider").prefetch_related(_prices())
    if provider is not None:
        queryset = queryset.filter(provider=provider)
    return queryset.order_by("provider__name", "model_id", "pk")


def model(tenant: Tenant, pk: Any) -> ProviderModel:
    return _get(models(tenant), pk, "model")


def prices(model: ProviderModel) -> QuerySet[ModelPrice]:
    return ModelPrice.objects.for_tenant(model.tenant_id).filter(model=model).order_by("-effective_from")


def current_price(model: ProviderModel) -> ModelPrice | None:
    """The price that applies today (prefetched prices are newest first)."""
    from django.utils import timezone

    today = timezone.now().date()
    return next((p for p in model.prices.all() if p.effective_from <= today), None)


def routes(tenant: Tenant) -> QuerySet[ModelRoute]:
    targets = Prefetch(
        "targets",
        queryset=RouteTarget.objects.unscoped().select_related("model__provider").order_by("position", "pk"),
    )
    return ModelRoute.objects.for_tenant(tenant).select_related("tenant").prefetch_related(targets).order_by("name")


def route(tenant: Tenant, pk: Any) -> ModelRoute:
    return _get(routes(tenant), pk, "model route")
