"""The reference gateway node: the platform's data plane (see docs/gateway-node.md).

A separate process that imports nothing from Django. It pulls the portal's config snapshot
(routes, key hashes, plan limits), authenticates API keys, enforces rate limits and quotas,
proxies to upstreams over its own lean HTTP/1.1 layer (uvloop + httptools) and ships every
call it handled back to the portal's log intake in batches.
"""

__version__ = "1.0.0"
SOFTWARE = f"portal-gw/{__version__}"
