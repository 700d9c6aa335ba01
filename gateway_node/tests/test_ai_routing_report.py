"""A credential the provider refuses needs an operator: the node says which one, once, never its secret."""

from __future__ import annotations

from gateway_node.ai.routing import Cooldowns


def test_a_refused_credential_is_reported_once_per_cool_down_by_id():
    said: list[str] = []
    cooldowns = Cooldowns(seconds=30, report=said.append)
    cooldowns.hit(7, refused_by="openai", status=401)
    cooldowns.hit(7, refused_by="openai", status=401)  # still cooling: not again
    cooldowns.hit(8, 5.0)  # a 429: no operator needed
    assert said == [
        "provider openai refused credential #7 (401): it is tried last for 30 s; "
        "check or replace that key in the portal"
    ]
    assert cooldowns.cooling(7) and cooldowns.cooling(8)
