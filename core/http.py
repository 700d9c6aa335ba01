"""HTTP helpers shared by the web views and the REST API of every app."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.http import HttpResponseBase
from django.utils.cache import patch_cache_control

R = TypeVar("R", bound=HttpResponseBase)
V = TypeVar("V", bound=Callable[..., Any])


def no_store(response: R) -> R:
    """Mark a response that reveals a secret: no browser, proxy or back button may keep a copy."""
    patch_cache_control(response, no_store=True, no_cache=True, private=True, max_age=0)
    return response


def reveals_secret(view: V) -> V:
    """Decorate a view (function, or a DRF view method) whose response may show a secret once.

    Every response of the view gets ``Cache-Control: no-store``, errors included: it costs
    nothing and no branch can forget it.
    """

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return no_store(view(*args, **kwargs))

    return wrapper  # type: ignore[return-value]
