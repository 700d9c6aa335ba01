"""The console's request: validated input, where it may go, and the answer as the page shows it.

No open proxy. The browser names only an endpoint of the version's OpenAPI document and the
values of its parameters; the destination is always built here:

* consumer console: ``GATEWAY_URL + base path + path`` (the platform's own gateway, never a
  host from the request);
* provider console: ``upstream URL + path`` of one of the version's own upstream targets, sent
  under ``core.outbound``'s policy like every other outbound request.

The path must match one of the version's endpoints (templates with ``{param}`` segments), in
plain RFC 3986 characters, with no empty, ``.`` or ``..`` segment (percent-encoded or not) and
no encoded slash. Headers are a short allow-list plus the header parameters the document
declares, minus everything that steers routing or credentials (``Host``, ``Authorization``,
``Cookie``, the key header, ``X-Forwarded-*`` …); a value with CR, LF or NUL is refused. The
body and the answer are capped.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote_to_bytes, urlencode

from django.conf import settings

from apis.models import ApiVersion, Endpoint
from console import conf, examples
from core import outbound
from core.errors import InvalidInput, PayloadTooLarge

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")
MAX_PATH_CHARS = 2000
MAX_QUERY_PAIRS = 50
MAX_HEADERS = 20
MAX_VALUE_CHARS = 2000
MAX_ANSWER_HEADERS = 60
#: Headers a console user may always set.
ALLOWED_HEADERS = frozenset(
    {
        "accept",
        "accept-language",
        "content-type",
        "if-match",
        "if-none-match",
        "if-modified-since",
        "if-unmodified-since",
        "prefer",
        "idempotency-key",
        "x-request-id",
    }
)
#: Never from the browser, even when the document declares them: routing, credentials, framing.
FORBIDDEN_HEADERS = frozenset(
    {
        "host",
        "authorization",
        "proxy-authorization",
        "cookie",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "expect",
        "forwarded",
        "via",
        "x-real-ip",
        "x-api-key",
    }
)
_FORBIDDEN_PREFIXES = ("x-forwarded-", "proxy-", "sec-")
#: Answer headers the page never shows.
_HIDDEN_ANSWER_HEADERS = frozenset({"set-cookie", "set-cookie2", "connection", "keep-alive", "transfer-encoding"})
_HEADER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
_PATH_CHARS = re.compile(r"^[A-Za-z0-9\-._~!$&'()*+,;=:@%/]+$")
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_TEMPLATE_PARAM = re.compile(r"\{[^}/]+\}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class Outgoing:
    """A validated request: what goes on the wire, except the destination's host and the key."""

    method: str
    path: str  # below the base path, percent-encoded, e.g. /orders/7
    query: str  # encoded, without "?"
    headers: dict[str, str]
    body: bytes
    endpoint: Endpoint

    @property
    def target(self) -> str:
        return self.path + (f"?{self.query}" if self.query else "")


@dataclass
class Answer:
    """What the page shows of an answer."""

    status: int
    time_ms: int
    headers: list[tuple[str, str]]
    body: str
    truncated: bool
    size: int
    content_type: str
    url: str
    via: str
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "time_ms": self.time_ms,
            "headers": [list(h) for h in self.headers],
            "body": self.body,
            "truncated": self.truncated,
            "size": self.size,
            "content_type": self.content_type,
            "url": self.url,
            "via": self.via,
            "notes": self.notes,
        }


# --- Validation -----------------------------------------------------------------------------


def _template_regex(template: str) -> re.Pattern[str]:
    parts = _TEMPLATE_PARAM.split(template)
    return re.compile("[^/]+".join(re.escape(p) for p in parts))


def check_path(path: Any, method: str, endpoints: list[Endpoint]) -> Endpoint:
    """The endpoint ``method path`` calls, or InvalidInput saying why the path is refused."""
    if not isinstance(path, str) or not path:
        raise InvalidInput("Choose an endpoint: the path is missing.", field="path")
    if len(path) > MAX_PATH_CHARS:
        raise InvalidInput(f"The path is longer than {MAX_PATH_CHARS} characters.", field="path")
    if not path.startswith("/") or path.startswith("//") or "://" in path:
        raise InvalidInput("The path must start with a single “/”: the console sends only to this API.", field="path")
    if not _PATH_CHARS.match(path) or _PERCENT.search(path):
        raise InvalidInput(
            "The path contains characters that must be percent-encoded (spaces, quotes, “?”, “#”, “\\” …).",
            field="path",
        )
    if "//" in path:
        raise InvalidInput("The path has an empty segment (“//”).", field="path")
    for segment in path.split("/")[1:]:
        decoded = unquote_to_bytes(segment)
        if decoded in (b".", b".."):
            raise InvalidInput("“.” and “..” segments are not allowed in the path.", field="path")
        if b"/" in decoded or b"\\" in decoded or _CONTROL.search(decoded.decode("latin-1")):
            raise InvalidInput("A path parameter contains an encoded “/”, “\\” or a control character.", field="path")
    for endpoint in endpoints:
        if endpoint.method == method and _template_regex(endpoint.path).fullmatch(path):
            return endpoint
    raise InvalidInput(f"{method} {path} is not an endpoint of this version's OpenAPI document.", field="path")


def _query(raw: Any) -> str:
    if raw in (None, "", [], {}):
        return ""
    pairs = list(raw.items()) if isinstance(raw, dict) else raw
    if not isinstance(pairs, list) or len(pairs) > MAX_QUERY_PAIRS:
        raise InvalidInput(f"The query is a list of at most {MAX_QUERY_PAIRS} [name, value] pairs.", field="query")
    clean: list[tuple[str, str]] = []
    for pair in pairs:
        if not (isinstance(pair, list | tuple) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            raise InvalidInput("Each query parameter is a [name, value] pair of strings.", field="query")
        name, value = pair
        if not name or len(name) > 200 or len(value) > MAX_VALUE_CHARS:
            raise InvalidInput(
                f"Query parameter names need 1–200 characters, values at most {MAX_VALUE_CHARS}.", field="query"
            )
        clean.append((name, value))
    return urlencode(clean, quote_via=quote)


def _headers(raw: Any, declared: set[str]) -> dict[str, str]:
    if raw in (None, {}, []):
        return {}
    pairs = list(raw.items()) if isinstance(raw, dict) else raw
    if not isinstance(pairs, list) or len(pairs) > MAX_HEADERS:
        raise InvalidInput(f"At most {MAX_HEADERS} headers.", field="headers")
    key_header = str(settings.GATEWAY_API_KEY_HEADER or "x-api-key").lower()
    headers: dict[str, str] = {}
    for pair in pairs:
        if not (isinstance(pair, list | tuple) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            raise InvalidInput("Each header is a [name, value] pair of strings.", field="headers")
        name, value = pair
        lower = name.lower()
        if not _HEADER_NAME.match(name):
            raise InvalidInput(f"“{name[:64]}” is not a header name.", field="headers")
        if lower in FORBIDDEN_HEADERS or lower == key_header or lower.startswith(_FORBIDDEN_PREFIXES):
            raise InvalidInput(
                f"The console does not send a {name} header: it sets what it needs itself.", field="headers"
            )
        if lower not in ALLOWED_HEADERS and lower not in declared:
            raise InvalidInput(
                f"The console sends only common headers and those the API documents; {name} is neither.",
                field="headers",
            )
        if len(value) > MAX_VALUE_CHARS or _CONTROL.search(value.replace("\t", " ")):
            raise InvalidInput(
                f"The {name} header's value has a line break or control character, or is too long.", field="headers"
            )
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            raise InvalidInput(
                f"The {name} header's value must be plain ASCII / Latin-1 text.", field="headers"
            ) from None
        headers[name] = value
    return headers


def parse(data: Any, version: ApiVersion, endpoints: list[Endpoint]) -> Outgoing:
    """Validate the console's JSON request for ``version`` (InvalidInput / PayloadTooLarge)."""
    if not isinstance(data, dict):
        raise InvalidInput("Send a JSON object: {method, path, query, headers, body}.")
    method = str(data.get("method") or "").upper()
    if method not in METHODS:
        raise InvalidInput(f"The method must be one of {', '.join(METHODS)}.", field="method")
    endpoint = check_path(data.get("path"), method, endpoints)
    body = data.get("body") or ""
    if not isinstance(body, str):
        raise InvalidInput("The body is text (JSON as a string).", field="body")
    encoded = body.encode() if method in BODY_METHODS else b""
    limit = conf.max_request_bytes()
    if len(encoded) > limit:
        raise PayloadTooLarge(f"The console sends bodies of at most {limit // 1024} KB.", field="body")
    return Outgoing(
        method=method,
        path=str(data["path"]),
        query=_query(data.get("query")),
        headers=_headers(data.get("headers"), examples.declared_headers(version, endpoint)),
        body=encoded,
        endpoint=endpoint,
    )


# --- Sending --------------------------------------------------------------------------------

#: The gateway URL is the operator's own setting, not a tenant's: any address it names is allowed
#: (it is loopback in development). Still sent through core.outbound: one pinned connection,
#: no redirects, a deadline, a size cap.
_GATEWAY_POLICY = outbound.OutboundPolicy.build(["0.0.0.0/0", "::/0"])


def _answer(result: outbound.OutboundResult, elapsed: float, url: str, via: str) -> Answer:
    headers = [(n, v[:MAX_VALUE_CHARS]) for n, v in result.headers if n.lower() not in _HIDDEN_ANSWER_HEADERS]
    content_type = next((v for n, v in result.headers if n.lower() == "content-type"), "")
    try:
        text = result.body.decode("utf-8")
    except UnicodeDecodeError:
        textual = content_type.startswith("text/") or "json" in content_type or "xml" in content_type
        text = result.body.decode("utf-8", errors="replace") if textual or result.truncated else ""
        if not text:
            text = f"({len(result.body)} bytes of binary content, not shown)"
    return Answer(
        status=result.status,
        time_ms=round(elapsed * 1000),
        headers=headers[:MAX_ANSWER_HEADERS],
        body=text,
        truncated=result.truncated,
        size=len(result.body),
        content_type=content_type[:200],
        url=url,
        via=via,
    )


def _send(
    policy: outbound.OutboundPolicy, url: str, out: Outgoing, headers: dict[str, str]
) -> tuple[outbound.OutboundResult, float]:
    started = time.monotonic()
    result = policy.request(
        out.method,
        url,
        out.body,
        headers,
        timeout=conf.timeout_seconds(),
        max_response_bytes=conf.max_response_bytes(),
    )
    return result, time.monotonic() - started


def _wire_headers(out: Outgoing) -> dict[str, str]:
    headers = {"User-Agent": "api-portal-console/1", **out.headers}
    if out.body and not any(n.lower() == "content-type" for n in headers):
        headers["Content-Type"] = "application/json"
    return headers


def _unknown_key(result: outbound.OutboundResult) -> bool:
    return result.status == 401 and b'"unknown_key"' in result.body[:2000]


def send_through_gateway(version: ApiVersion, out: Outgoing, key: str, *, minted_at: float) -> Answer:
    """Send ``out`` to the platform's gateway with the console key ``key``.

    A node learns a new key at its next config poll (every few seconds): while it answers
    ``401 unknown_key`` and the key is younger than CONSOLE_KEY_PROPAGATION_SECONDS, the relay
    waits and sends again (the gateway refused before any upstream saw the request, so this
    is safe for every method). ``minted_at`` is the key's ``time.time()`` of minting.
    """
    url = settings.GATEWAY_URL + version.base_path.rstrip("/") + out.target
    headers: dict[str, str] = {**_wire_headers(out), str(settings.GATEWAY_API_KEY_HEADER): key}
    waited = 0.0
    while True:
        result, elapsed = _send(_GATEWAY_POLICY, url, out, headers)
        young = time.time() - minted_at < conf.propagation_seconds()
        if not (_unknown_key(result) and young):
            break
        time.sleep(0.25)
        waited += 0.25 + elapsed
    answer = _answer(result, elapsed, url, "gateway")
    if waited:
        answer.notes.append(f"Waited {waited:.1f} s for the gateway to learn the console's new key.")
    return answer


def upstream_url(version: ApiVersion) -> str:
    """The upstream target the provider console calls: the heaviest, then the first listed."""
    targets = [t for t in (version.upstreams or []) if isinstance(t, dict) and t.get("url")]
    if not targets:
        raise InvalidInput("This version has no upstream target to call: add one in its settings.", field="upstreams")
    best = max(targets, key=lambda t: int(t.get("weight") or 0))
    return str(best["url"]).rstrip("/")


def send_to_upstream(version: ApiVersion, out: Outgoing) -> Answer:
    """Send ``out`` straight to the version's upstream, under the outbound-URL policy (no gateway, no key)."""
    url = upstream_url(version) + out.target
    result, elapsed = _send(outbound.policy(), url, out, _wire_headers(out))
    return _answer(result, elapsed, url, "upstream")
