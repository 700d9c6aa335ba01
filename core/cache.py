"""Django's Redis cache, made to fail open: a hung or unreachable Redis is a cache miss.

The cache holds only rate-limit counters (DRF throttles, allauth's sign-in limits) and
other throw-away values; sessions live in PostgreSQL. When Redis stops answering, a page
or an API call must not turn into a 500 (or hang) because a counter could not be read:
every operation gets a short socket timeout (``CACHE_SOCKET_TIMEOUT``), and a Redis error
is logged and answered as "nothing cached" / "not stored". Rate limits are therefore not
enforced while Redis is down: availability wins over throttling for that window.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


def _fail_open(name: str, fallback: Callable[..., Any]) -> Callable[..., Any]:
    method = getattr(RedisCache, name)

    def guarded(self: RedisCache, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (RedisError, OSError) as exc:
            logger.warning("Cache %s failed (%s); carrying on without the cache.", name, exc)
            return fallback(*args, **kwargs)

    guarded.__name__ = name
    guarded.__doc__ = method.__doc__
    return guarded


def _default(key: Any, default: Any = None, *args: Any, **kwargs: Any) -> Any:
    return default


def _value(default: Any) -> Any:
    return default() if callable(default) else default


class ResilientRedisCache(RedisCache):
    """RedisCache whose operations never raise for an unavailable Redis (see the module docstring)."""

    get = _fail_open("get", _default)
    get_many = _fail_open("get_many", lambda *a, **k: {})
    set = _fail_open("set", lambda *a, **k: None)
    set_many = _fail_open("set_many", lambda *a, **k: [])
    add = _fail_open("add", lambda *a, **k: True)  # as if stored: callers go on
    get_or_set = _fail_open(
        "get_or_set", lambda key, default=None, *a, **k: default() if callable(default) else default
    )
    touch = _fail_open("touch", lambda *a, **k: False)
    delete = _fail_open("delete", lambda *a, **k: False)
    delete_many = _fail_open("delete_many", lambda *a, **k: None)
    has_key = _fail_open("has_key", lambda *a, **k: False)
    incr = _fail_open("incr", lambda key, delta=1, *a, **k: delta)
    decr = _fail_open("decr", lambda key, delta=1, *a, **k: -delta)
    clear = _fail_open("clear", lambda *a, **k: None)
