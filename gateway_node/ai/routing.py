"""The snapshot's ``ai`` section compiled, and the order in which a call tries its candidates.

A model route (``acme/chat-small``) names provider models by ``position``: every target of
position 0 before any of position 1, in a weighted random order within a position (a target
of weight 3 comes first three times as often as one of weight 1). Each target's provider then
offers its credentials: by ``priority`` (lowest first), weighted random within a priority; a
credential that the provider refused (401/403) or rate-limited (429) is put last for
:data:`COOLDOWN_SECONDS`. The handler walks the resulting list and stops at the first answer.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway_node.ai.client import Origin

#: How long a credential the provider refused or rate-limited goes to the back of the line.
COOLDOWN_SECONDS = 30.0


@dataclass(slots=True)
class AiCredential:
    id: int
    secret: str
    priority: int
    weight: int

    def __repr__(self) -> str:  # never the secret, not even in a traceback
        return f"AiCredential(id={self.id}, priority={self.priority}, weight={self.weight})"


@dataclass(slots=True)
class AiProvider:
    id: int
    slug: str
    kind: str
    origin: Origin | None  # None: the base URL is unusable (the provider is skipped)
    connect_timeout: float
    read_timeout: float
    credentials: list[AiCredential]


@dataclass(slots=True)
class AiModel:
    id: int
    provider_id: int
    model: str  # the provider's model id
    capability: str  # "chat" | "embeddings"
    context_window: int | None
    prices: list[dict[str, Any]]


@dataclass(slots=True)
class AiTarget:
    model_id: int
    position: int
    weight: int


@dataclass(slots=True)
class AiRoute:
    id: int
    name: str  # the public name: "acme/chat-small"
    capability: str
    targets: list[AiTarget]


@dataclass(slots=True)
class AiConfig:
    providers: dict[int, AiProvider] = field(default_factory=dict)
    models: dict[int, AiModel] = field(default_factory=dict)
    routes: dict[int, AiRoute] = field(default_factory=dict)


@dataclass(slots=True)
class Candidate:
    """One try: a provider model with one of its provider's credentials."""

    provider: AiProvider
    model: AiModel
    credential: AiCredential


def compile_ai(raw: dict[str, Any] | None) -> AiConfig:
    """The snapshot's top-level ``ai`` object as lookup tables (KeyError/TypeError/ValueError
    when malformed; the gate turns those into a refused snapshot)."""
    config = AiConfig()
    if not raw:
        return config
    for key, item in (raw.get("providers") or {}).items():
        try:
            origin: Origin | None = Origin.parse(str(item["base_url"]))
        except ValueError:
            origin = None
        config.providers[int(key)] = AiProvider(
            id=int(key),
            slug=str(item.get("slug") or item.get("kind") or ""),
            kind=str(item["kind"]),
            origin=origin,
            connect_timeout=(item.get("connect_timeout_ms") or 5000) / 1000,
            read_timeout=(item.get("read_timeout_ms") or 60000) / 1000,
            credentials=[
                AiCredential(
                    id=int(cred["id"]),
                    secret=str(cred["secret"]),
                    priority=int(cred.get("priority") or 0),
                    weight=max(1, int(cred.get("weight") or 1)),
                )
                for cred in item.get("credentials") or ()
                if cred.get("secret")  # a credential without its secret (unsealed copy) is no use
            ],
        )
    for key, item in (raw.get("models") or {}).items():
        config.models[int(key)] = AiModel(
            id=int(key),
            provider_id=int(item["provider_id"]),
            model=str(item["model"]),
            capability=str(item.get("capability") or "chat"),
            context_window=item.get("context_window"),
            prices=list(item.get("prices") or ()),
        )
    for key, item in (raw.get("routes") or {}).items():
        config.routes[int(key)] = AiRoute(
            id=int(key),
            name=str(item["name"]),
            capability=str(item.get("capability") or "chat"),
            targets=[
                AiTarget(int(t["model_id"]), int(t.get("position") or 0), max(1, int(t.get("weight") or 1)))
                for t in item.get("targets") or ()
            ],
        )
    return config


def weighted_order(items: list[Any], weight: Any, rng: random.Random) -> list[Any]:
    """``items`` in a weighted random order (without replacement): heavier ones tend to lead."""
    pool = list(items)
    out = []
    while pool:
        total = sum(weight(item) for item in pool)
        pick = rng.uniform(0, total)
        for index, item in enumerate(pool):
            pick -= weight(item)
            if pick <= 0 or index == len(pool) - 1:
                out.append(pool.pop(index))
                break
    return out


def _say(message: str) -> None:
    print(f"[gateway-node] {message}", file=sys.stderr, flush=True)


class Cooldowns:
    """Credentials to try last for a while (a 401/403/429 from the provider).

    A credential the provider refused (401/403) needs an operator: the node says so on stderr,
    once per cool-down, naming the provider and the credential's id (never its secret).
    """

    def __init__(self, seconds: float = COOLDOWN_SECONDS, report: Callable[[str], None] | None = None) -> None:
        self.seconds = seconds
        self.report = report if report is not None else _say
        self._until: dict[int, float] = {}

    def hit(self, credential_id: int, seconds: float | None = None, *, refused_by: str = "", status: int = 0) -> None:
        if refused_by and not self.cooling(credential_id):
            self.report(
                f"provider {refused_by} refused credential #{credential_id} ({status}): it is tried last for "
                f"{self.seconds:.0f} s; check or replace that key in the portal"
            )
        self._until[credential_id] = time.monotonic() + max(self.seconds, seconds or 0.0)

    def cooling(self, credential_id: int) -> bool:
        until = self._until.get(credential_id)
        if until is None:
            return False
        if until <= time.monotonic():
            del self._until[credential_id]
            return False
        return True


def candidates(route: AiRoute, config: AiConfig, rng: random.Random, cooldowns: Cooldowns) -> list[Candidate]:
    """Every (model, credential) pair to try for ``route``, in order."""
    out: list[Candidate] = []
    for position in sorted({target.position for target in route.targets}):
        level = [target for target in route.targets if target.position == position]
        for target in weighted_order(level, lambda t: t.weight, rng):
            model = config.models.get(target.model_id)
            provider = config.providers.get(model.provider_id) if model is not None else None
            if model is None or provider is None or provider.origin is None:
                continue
            ordered: list[AiCredential] = []
            for priority in sorted({cred.priority for cred in provider.credentials}):
                same = [cred for cred in provider.credentials if cred.priority == priority]
                ordered += weighted_order(same, lambda c: c.weight, rng)
            fresh = [cred for cred in ordered if not cooldowns.cooling(cred.id)]
            cooling = [cred for cred in ordered if cooldowns.cooling(cred.id)]
            out += [Candidate(provider, model, cred) for cred in fresh + cooling]
    return out
