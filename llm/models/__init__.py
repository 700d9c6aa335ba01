"""Models of the AI gateway: model providers and their credentials, models and prices, model
routes, AI surfaces of API versions, and prompt templates published as APIs."""

from llm.models.prompts import PromptTemplate, PromptVersion, ResponseMode
from llm.models.providers import (
    AiSurface,
    Capability,
    ModelPrice,
    ModelProvider,
    ModelRoute,
    ProviderCredential,
    ProviderKind,
    ProviderModel,
    RouteTarget,
    SurfaceKind,
)

__all__ = [
    "AiSurface",
    "Capability",
    "ModelPrice",
    "ModelProvider",
    "ModelRoute",
    "PromptTemplate",
    "PromptVersion",
    "ProviderCredential",
    "ProviderKind",
    "ProviderModel",
    "ResponseMode",
    "RouteTarget",
    "SurfaceKind",
]
