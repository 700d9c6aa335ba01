"""Known model providers (wire format and base URL) and the curated price list (llm/data/prices.json).

Picking a preset fills the provider form; picking an entry of the price list fills the model
form with its id, capability, context window and prices (from the entry's ``as_of`` date, the
``source`` credited on the model page). Prices change: operators must check them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

PRICES_FILE = Path(__file__).resolve().parent / "data" / "prices.json"


@dataclass(frozen=True)
class ProviderPreset:
    key: str
    name: str
    kind: str
    base_url: str
    docs_url: str
    #: Which entries of the price list belong to this preset (``provider`` of prices.json).
    price_list: str = ""
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


_LOCAL = "A local server: allowed only where the operator allows its network (OUTBOUND_ALLOWED_NETWORKS)."

PRESETS: tuple[ProviderPreset, ...] = (
    ProviderPreset(
        "openai", "OpenAI", "openai", "https://api.openai.com/v1", "https://platform.openai.com/docs", "openai"
    ),
    ProviderPreset("mistral", "Mistral", "openai", "https://api.mistral.ai/v1", "https://docs.mistral.ai", "mistral"),
    ProviderPreset(
        "deepseek", "DeepSeek", "openai", "https://api.deepseek.com/v1", "https://api-docs.deepseek.com", "deepseek"
    ),
    ProviderPreset("groq", "Groq", "openai", "https://api.groq.com/openai/v1", "https://console.groq.com/docs", "groq"),
    ProviderPreset("together", "Together AI", "openai", "https://api.together.xyz/v1", "https://docs.together.ai"),
    ProviderPreset("openrouter", "OpenRouter", "openai", "https://openrouter.ai/api/v1", "https://openrouter.ai/docs"),
    ProviderPreset("vllm", "vLLM (local)", "openai", "http://localhost:8000/v1", "https://docs.vllm.ai", note=_LOCAL),
    ProviderPreset(
        "ollama-openai",
        "Ollama (OpenAI-compatible /v1)",
        "openai",
        "http://localhost:11434/v1",
        "https://github.com/ollama/ollama/blob/main/docs/openai.md",
        note=_LOCAL,
    ),
    ProviderPreset(
        "anthropic", "Anthropic", "anthropic", "https://api.anthropic.com", "https://docs.anthropic.com", "anthropic"
    ),
    ProviderPreset(
        "gemini",
        "Google Gemini",
        "gemini",
        "https://generativelanguage.googleapis.com/v1beta",
        "https://ai.google.dev/gemini-api/docs",
        "gemini",
    ),
    ProviderPreset(
        "ollama",
        "Ollama (native API)",
        "ollama",
        "http://localhost:11434",
        "https://github.com/ollama/ollama/blob/main/docs/api.md",
        note=_LOCAL,
    ),
)


def preset(key: str | None) -> ProviderPreset | None:
    return next((p for p in PRESETS if p.key == key), None)


@dataclass(frozen=True)
class ListedPrice:
    """One entry of the curated price list."""

    provider: str
    model: str
    capability: str
    context_window: int | None
    input: str
    output: str
    cached_input: str | None
    source: str
    as_of: str

    @property
    def key(self) -> str:
        return f"{self.provider}/{self.model}"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "key": self.key}


@cache
def price_list() -> tuple[ListedPrice, ...]:
    data = json.loads(PRICES_FILE.read_text(encoding="utf-8"))
    return tuple(ListedPrice(**entry) for entry in data["prices"])


def price_list_note() -> str:
    return str(json.loads(PRICES_FILE.read_text(encoding="utf-8"))["note"])


def listed_price(key: str | None) -> ListedPrice | None:
    return next((p for p in price_list() if p.key == key), None)
