"""HTTP helpers shared by the web views and the REST API of every app."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponseBase
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


#: Session key of a secret waiting to be shown once on the page a POST redirected to.
_REVEAL_KEY = "portal.reveal_once"
#: A secret nobody came to fetch (the redirect was not followed) is dropped after this long.
REVEAL_MAX_AGE_SECONDS = 300


def reveal_once(request: HttpRequest, url: str, data: Mapping[str, Any]) -> None:
    """Carry a secret shown once (``data``, JSON-serialisable) to ``url``, the page a POST redirects to.

    POST/redirect/GET means the secret cannot live in the POST's response only; it waits in the
    server-side session until the next GET of ``url`` takes it (``take_revealed``), and is gone
    after that read — a reload or the back button shows the page without it. Only one secret
    waits at a time: a newer one replaces an older one.
    """
    request.session[_REVEAL_KEY] = {"path": urlsplit(url).path, "at": time.time(), "data": dict(data)}


def take_revealed(request: HttpRequest) -> dict[str, Any] | None:
    """The secret waiting for this page, removed from the session; None when there is none (or it is stale)."""
    stash = request.session.get(_REVEAL_KEY)
    if not stash or stash.get("path") != request.path:
        return None
    del request.session[_REVEAL_KEY]
    if time.time() - float(stash.get("at", 0)) > REVEAL_MAX_AGE_SECONDS:
        return None
    return dict(stash["data"])
