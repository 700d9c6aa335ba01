"""Copy-paste examples of calling an API version through the gateway, with an API key placeholder."""

from __future__ import annotations

import json
import re

from django.conf import settings

from apis.models import ApiVersion, Endpoint

KEY_PLACEHOLDER = "YOUR_API_KEY"
_PARAM = re.compile(r"\{([^}/]+)\}")


def example_endpoint(endpoints: list[Endpoint]) -> Endpoint | None:
    """A GET without path parameters reads best in an example; fall back to anything."""
    for endpoint in endpoints:
        if endpoint.method == "GET" and "{" not in endpoint.path:
            return endpoint
    for endpoint in endpoints:
        if endpoint.method == "GET":
            return endpoint
    return endpoints[0] if endpoints else None


def snippets(version: ApiVersion, endpoints: list[Endpoint]) -> dict[str, str]:
    """``{"curl": …, "python": …, "javascript": …}`` for one example call."""
    endpoint = example_endpoint(endpoints)
    method = endpoint.method if endpoint else "GET"
    path = _PARAM.sub(lambda m: f"<{m.group(1)}>", endpoint.path) if endpoint else "/"
    url = f"{settings.GATEWAY_URL}{version.base_path}{path}"
    header = settings.GATEWAY_API_KEY_HEADER
    has_body = method in {"POST", "PUT", "PATCH"}
    curl = f"curl -X {method} '{url}' \\\n  -H '{header}: {KEY_PLACEHOLDER}'"
    if has_body:
        curl += " \\\n  -H 'Content-Type: application/json' \\\n  -d '{}'"
    python = (
        "import requests\n\n"
        f"response = requests.request(\n    {method!r},\n    {url!r},\n"
        f"    headers={{{header!r}: {KEY_PLACEHOLDER!r}}},\n"
        + ("    json={},\n" if has_body else "")
        + "    timeout=30,\n)\nresponse.raise_for_status()\nprint(response.json())"
    )
    js_headers = {header: KEY_PLACEHOLDER}
    if has_body:
        js_headers["Content-Type"] = "application/json"
    javascript = (
        f"const response = await fetch({json.dumps(url)}, {{\n  method: {json.dumps(method)},\n"
        f"  headers: {json.dumps(js_headers)},\n"
        + ("  body: JSON.stringify({}),\n" if has_body else "")
        + "});\nif (!response.ok) throw new Error(`HTTP ${response.status}`);\nconsole.log(await response.json());"
    )
    return {"curl": curl, "python": python, "javascript": javascript}
