"""Provider adapters: one per wire format, all pure (no I/O), chosen by the provider's kind."""

from __future__ import annotations

from gateway_node.ai.adapters.anthropic import AnthropicAdapter
from gateway_node.ai.adapters.base import (
    Adapter,
    ProviderCall,
    ProviderError,
    StreamTranslator,
    Usage,
    retry_after,
)
from gateway_node.ai.adapters.gemini import GeminiAdapter
from gateway_node.ai.adapters.ollama import OllamaAdapter
from gateway_node.ai.adapters.openai import OpenAIAdapter

__all__ = [
    "KINDS",
    "Adapter",
    "ProviderCall",
    "ProviderError",
    "StreamTranslator",
    "Usage",
    "adapter_for",
    "retry_after",
]

_ADAPTERS: dict[str, Adapter] = {
    "openai": OpenAIAdapter(),
    "anthropic": AnthropicAdapter(),
    "gemini": GeminiAdapter(),
    "ollama": OllamaAdapter(),
}
KINDS = tuple(_ADAPTERS)


def adapter_for(kind: str) -> Adapter:
    """The adapter of a provider kind (KeyError for an unknown kind)."""
    return _ADAPTERS[kind]
