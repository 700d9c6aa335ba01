"""Call-log record formats: validation and normalisation of native, Kong and APISIX entries.

Every entry becomes either a :class:`Row` (a plain tuple in the staging table's column order,
never a Django model instance) or a :class:`Reject` with a short machine-readable reason.
Nothing here raises on bad input: real gateways send odd things (numbers as strings, -1
latencies, missing ids, seconds instead of milliseconds) and each is either accepted, with
a warning when something was adjusted, or refused with a reason. The mapping is documented
in docs/gateway-protocol.md ("Logs").
"""

from __future__ import annotations

import ipaddress
import math
import re
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

#: Namespace of the uuid5 given to entries that carry no usable request id: the same entry
#: sent twice hashes to the same id, so a gateway's retry is still deduplicated.
REQUEST_ID_NAMESPACE = uuid.UUID("6f1d3c8e-2b7a-5e4f-9a0b-1c2d3e4f5a6b")

#: Epoch values below this are seconds, at or above it milliseconds (10^11 s is the year
#: 5138, 10^11 ms is 1973); at or above 10^14 they are microseconds.
_EPOCH_MS_FROM = 1e11
_EPOCH_US_FROM = 1e14
#: Records stamped further ahead than this are refused (a node with a broken clock would
#: otherwise park them in the default partition for ever).
MAX_FUTURE = timedelta(days=1)
_MIN_TS = datetime(2000, 1, 1, tzinfo=UTC)
_APP_REF = re.compile(r"^(?:app[_:-]?)(\d{1,18})$", re.IGNORECASE)
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,24}$")
_UA_MAX, _PATH_MAX, _ENDPOINT_MAX = 512, 2048, 300
_FLOAT_MAX = 1.7976931348623157e308

#: Columns of the staging table, in COPY order.
STAGING_COLUMNS = (
    "line",
    "request_id",
    "ts",
    "source",
    "api_version_id",
    "prefixes",
    "endpoint",
    "method",
    "path",
    "key_id",
    "application_id",
    "status",
    "latency_ms",
    "upstream_latency_ms",
    "request_bytes",
    "response_bytes",
    "client_ip",
    "user_agent",
    "error",
    "ai_provider",
    "ai_model",
    "ai_input_tokens",
    "ai_output_tokens",
    "ai_cost",
    "ai_route",
    "ai_cached_tokens",
    "ai_ttft_ms",
)

#: The AI fields of a call that is not an AI call, in staging order (ai_provider … ai_ttft_ms).
NO_AI: tuple[Any, ...] = ("", "", None, None, None, "", None, None)
_AI_KEYS = frozenset(
    (
        "ai_route",
        "ai_provider",
        "ai_model",
        "ai_input_tokens",
        "ai_output_tokens",
        "ai_cached_tokens",
        "ai_cost",
        "ai_ttft_ms",
    )
)
_ROUTE_MAX, _AI_PROVIDER_MAX, _AI_MODEL_MAX = 160, 64, 128
_TOKENS_MAX = 2**31 - 1
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_COST_LIMIT = Decimal(10) ** 10


class Reject(Exception):
    """A record refused: ``reason`` is one word-like code (quarantine and the answer show it)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


class Parsed(NamedTuple):
    row: tuple[Any, ...]
    warnings: list[str]


# --- small coercions ----------------------------------------------------------------------


def _text(value: Any, limit: int) -> str:
    if type(value) is str and "\x00" not in value:  # the common case, first
        return value[:limit]
    if value is None:
        return ""
    if not isinstance(value, str):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        else:
            return ""
    if "\x00" in value:
        value = value.replace("\x00", "")
    return value[:limit]


def _number(value: Any, field: str) -> float | None:
    """A finite number from a JSON number or a numeric string; None when absent."""
    kind = type(value)
    if kind is float:  # the common cases first (bool is not float, nor int: checked below)
        if value - value == 0.0:  # false for inf and nan
            return value
        raise Reject(f"invalid_{field}", f"{field} is not finite")
    if kind is int and -(2**62) <= value <= 2**62:
        return float(value)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise Reject(f"invalid_{field}", f"{field} is a boolean")
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond any float
            raise Reject(f"invalid_{field}", f"{field} out of range") from None
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise Reject(f"invalid_{field}", f"{field} is not a number: {value[:40]!r}") from None
    else:
        raise Reject(f"invalid_{field}", f"{field} is not a number")
    if not math.isfinite(number):
        raise Reject(f"invalid_{field}", f"{field} is not finite")
    return number


def _int(value: Any, field: str, *, low: int = 0, high: int = 2**62) -> int | None:
    number = _number(value, field)
    if number is None:
        return None
    if number != int(number) or not low <= number <= high:
        raise Reject(f"invalid_{field}", f"{field} out of range: {value!r}"[:120])
    return int(number)


def _latency(value: Any, field: str, warnings: list[str], *, scale: float = 1.0) -> float | None:
    number = _number(value, field)
    if number is None:
        return None
    number *= scale
    if number < 0:
        # Gateways log -1 (or other negatives) for a phase that never happened (no upstream
        # reached on a gateway-generated error): clamped, and said so in the answer.
        warnings.append(f"negative_{field}_clamped")
        return 0.0
    return number


def _bytes(value: Any, field: str, warnings: list[str]) -> int:
    number = _number(value, field)
    if number is None:
        return 0
    if number < 0:
        warnings.append(f"negative_{field}_clamped")
        return 0
    if number >= 2**62:
        raise Reject(f"invalid_{field}", f"{field} out of range")
    return int(number)


def _status(value: Any) -> int:
    status = _int(value, "status", low=100, high=599)
    if status is None:
        raise Reject("missing_status", "status is required")
    return status


def _ip(value: Any, warnings: list[str]) -> str | None:
    if not value or not isinstance(value, str):
        return None
    # inet_pton (C) validates what PostgreSQL's inet accepts; it normalises the text itself.
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in value else socket.AF_INET, value)
    except OSError:
        try:
            # An IPv6 zone ("fe80::1%eth0") has no place in PostgreSQL's inet: the address is kept.
            return str(ipaddress.ip_address(value.strip().split("%", 1)[0]))
        except ValueError:
            warnings.append("invalid_client_ip_dropped")
            return None
    return value


def _epoch(number: float) -> datetime:
    if number >= _EPOCH_US_FROM:
        number /= 1_000_000
    elif number >= _EPOCH_MS_FROM:
        number /= 1000
    try:
        return datetime.fromtimestamp(number, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise Reject("invalid_ts", "timestamp out of range") from None


def _ts(value: Any, now: datetime) -> datetime:
    """RFC 3339 text (naive = UTC) or an epoch number / numeric string in s, ms or µs."""
    if value is None or value == "":
        raise Reject("missing_ts", "ts is required")
    if isinstance(value, str):
        text = value.strip()
        try:
            ts = datetime.fromisoformat(text)
        except ValueError:
            try:
                ts = _epoch(float(text))
            except ValueError:
                raise Reject("invalid_ts", f"not an RFC 3339 time: {text[:40]!r}") from None
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        ts = _epoch(float(value))
    else:
        raise Reject("invalid_ts", "ts is not a time")
    if ts < _MIN_TS:
        raise Reject("invalid_ts", "ts before the year 2000")
    if ts > now + MAX_FUTURE:
        raise Reject("ts_in_future", "ts more than a day ahead of the portal's clock")
    return ts


def _request_id(value: Any, fallback: Callable[[], str]) -> uuid.UUID:
    """The entry's id as a UUID: a UUID as is, any other id hashed; absent → hash of the entry's fields."""
    if isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            return uuid.UUID(text)
        except ValueError:
            return uuid.uuid5(REQUEST_ID_NAMESPACE, "id:" + text[:200])
    if isinstance(value, int) and not isinstance(value, bool):
        return uuid.uuid5(REQUEST_ID_NAMESPACE, f"id:{value}")
    return uuid.uuid5(REQUEST_ID_NAMESPACE, fallback())


def path_prefixes(path: str) -> list[str]:
    """Candidate base paths of a request path, longest first: the SQL picks the longest that exists."""
    if not path.startswith("/"):
        return []
    out = [path]
    cut = path.rstrip("/")
    if cut != path and cut:
        out.append(cut)
    while cut:
        cut = cut.rsplit("/", 1)[0]
        out.append(cut + "/")
        if cut:
            out.append(cut)
    return out[:40]


def _split_uri(uri: Any) -> str:
    text = _text(uri, 4096)
    if "://" in text:
        text = "/" + text.split("://", 1)[1].partition("/")[2]
    return text.split("?", 1)[0].split("#", 1)[0][:_PATH_MAX]


def _consumer_ref(value: Any) -> tuple[str, int | None]:
    """A gateway consumer reference → (key_id, application_id) by the documented convention."""
    text = _text(value, 100).strip()
    if not text:
        return "", None
    match = _APP_REF.match(text)
    if match:
        return "", int(match.group(1))
    if _KEY_ID.match(text):
        return text, None
    return "", None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# --- the three formats --------------------------------------------------------------------


def parse_native(entry: dict[str, Any], line: int, now: datetime) -> Parsed:
    warnings: list[str] = []
    get = entry.get
    path = _text(get("path"), _PATH_MAX)
    base_path = _text(get("base_path"), 200)
    method = _text(get("method"), 10).upper()
    ts = _ts(get("ts"), now)
    # Fast paths for values that already have the right type and range (exact types: a bool is
    # neither); anything else goes through the checking helpers, which decide the same.
    status = get("status")
    if type(status) is not int or not 100 <= status <= 599:
        status = _status(status)
    key_id = _text(get("key_id"), 100)
    if len(key_id) > 24:
        raise Reject("invalid_key_id", "key_id longer than 24 characters")
    request_id = _request_id(
        get("request_id"), lambda: f"native|{get('ts')}|{method}|{path}|{key_id}|{status}|{get('client_ip')}"
    )
    api_version_id = get("api_version_id")
    if api_version_id is not None:
        api_version_id = _int(api_version_id, "api_version_id", low=1)
    prefixes = [base_path] if base_path else path_prefixes(path)
    # Most calls are not AI calls: one set operation decides, instead of eight lookups.
    ai = _ai_native(entry, warnings) if not _AI_KEYS.isdisjoint(entry) else NO_AI
    latency = get("latency_ms")
    if type(latency) is not float or not 0.0 < latency <= _FLOAT_MAX:
        latency = _latency(latency, "latency_ms", warnings) or 0.0
    upstream = get("upstream_latency_ms")
    if upstream is not None and (type(upstream) is not float or not 0.0 <= upstream <= _FLOAT_MAX):
        upstream = _latency(upstream, "upstream_latency_ms", warnings)
    request_bytes, response_bytes = get("request_bytes"), get("response_bytes")
    if type(request_bytes) is not int or not 0 <= request_bytes < 2**62:
        request_bytes = _bytes(request_bytes, "request_bytes", warnings)
    if type(response_bytes) is not int or not 0 <= response_bytes < 2**62:
        response_bytes = _bytes(response_bytes, "response_bytes", warnings)
    application_id = get("application_id")
    row = (
        line,
        request_id,
        ts,
        "native",
        api_version_id,
        prefixes,
        _text(get("endpoint"), _ENDPOINT_MAX),
        method,
        path,
        key_id,
        None if application_id is None else _int(application_id, "application_id", low=1),
        status,
        latency,
        upstream,
        request_bytes,
        response_bytes,
        _ip(get("client_ip"), warnings),
        _text(get("user_agent"), _UA_MAX),
        _text(get("error"), 64),
        *ai,
    )
    return Parsed(row, warnings)


def _cost(value: Any) -> Decimal | None:
    """A USD amount from a decimal string or a number; None when absent (the price is unknown)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise Reject("invalid_ai_cost", "ai_cost is not a number")
    try:
        cost = Decimal(value.strip() if isinstance(value, str) else str(value))
    except InvalidOperation:
        raise Reject("invalid_ai_cost", "ai_cost is not a number") from None
    if not cost.is_finite() or cost < 0 or cost >= _COST_LIMIT:
        raise Reject("invalid_ai_cost", "ai_cost out of range")
    return cost


def _ai_text(value: Any, field: str, limit: int) -> str:
    """A route, provider or model name: a string of at most ``limit`` characters ('' when absent).

    Refused rather than cut: these are dimensions of the AI rollups, and a cut name would be
    counted as another model than the one that answered."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Reject(f"invalid_{field}", f"{field} is not a string")
    value = value.strip()
    if len(value) > limit:
        raise Reject(f"invalid_{field}", f"{field} longer than {limit} characters")
    if _CONTROL.search(value):
        raise Reject(f"invalid_{field}", f"{field} contains control characters")
    return value


def _tokens(value: Any, field: str) -> int | None:
    return None if value is None else _int(value, field, high=_TOKENS_MAX)


def _ai(
    route: Any,
    provider: Any,
    model: Any,
    tokens_in: Any,
    tokens_out: Any,
    cached: Any,
    cost: Any,
    ttft: Any,
    warnings: list[str],
) -> tuple[Any, ...]:
    """The AI fields in staging order (ai_provider, ai_model, ai_input_tokens, ai_output_tokens,
    ai_cost, ai_route, ai_cached_tokens, ai_ttft_ms), each checked: a bad value refuses the record."""
    tokens_in, cached = _tokens(tokens_in, "ai_input_tokens"), _tokens(cached, "ai_cached_tokens")
    if cached is not None and tokens_in is not None and cached > tokens_in:
        # The cache-read tokens are a part of the input (docs/ai-gateway.md): more is a sender bug.
        raise Reject("invalid_ai_cached_tokens", "ai_cached_tokens exceeds ai_input_tokens")
    return (
        _ai_text(provider, "ai_provider", _AI_PROVIDER_MAX),
        _ai_text(model, "ai_model", _AI_MODEL_MAX),
        tokens_in,
        _tokens(tokens_out, "ai_output_tokens"),
        _cost(cost),
        _ai_text(route, "ai_route", _ROUTE_MAX),
        cached,
        _latency(ttft, "ai_ttft_ms", warnings),
    )


def _ai_native(entry: dict[str, Any], warnings: list[str]) -> tuple[Any, ...]:
    get = entry.get
    return _ai(
        get("ai_route"),
        get("ai_provider"),
        get("ai_model"),
        get("ai_input_tokens"),
        get("ai_output_tokens"),
        get("ai_cached_tokens"),
        get("ai_cost"),
        get("ai_ttft_ms"),
        warnings,
    )


#: Kong's AI plugins log under ``ai.proxy`` (recent versions) or ``ai.<plugin name>`` (3.6+); the
#: proxy plugins are the ones that call a model.
_KONG_AI_PLUGINS = ("proxy", "ai-proxy", "ai-proxy-advanced")


def _ai_kong(entry: dict[str, Any], warnings: list[str]) -> tuple[Any, ...]:
    """Kong AI Gateway's log object (``ai.proxy.usage`` / ``.meta``, or under the plugin's name) as our AI fields.

    ``meta.request_model`` is the model the client asked for (our route), ``response_model`` the
    one that answered; ``usage.prompt_tokens`` / ``completion_tokens`` (``prompt_token`` /
    ``completion_token`` in some versions' documentation) and ``usage.cost`` as Kong computed it.
    """
    ai = entry.get("ai")
    if not isinstance(ai, dict):
        return NO_AI
    found = next((ai[name] for name in _KONG_AI_PLUGINS if isinstance(ai.get(name), dict)), None)
    if found is None:  # another AI plugin's name: the first entry that reports usage or meta
        found = next(
            (v for k, v in ai.items() if k != "payload" and isinstance(v, dict) and ("usage" in v or "meta" in v)),
            None,
        )
    if found is None:
        return NO_AI
    usage, meta = _dict(found.get("usage")), _dict(found.get("meta"))
    tokens_in = usage.get("prompt_tokens", usage.get("prompt_token"))
    tokens_out = usage.get("completion_tokens", usage.get("completion_token"))
    return _ai(
        meta.get("request_model"),
        meta.get("provider_name"),
        meta.get("response_model") or meta.get("request_model"),
        tokens_in,
        tokens_out,
        None,
        usage.get("cost"),
        usage.get("time_to_first_token"),
        warnings,
    )


def _gateway_error(status: int, generated: bool) -> str:
    """The refusal reason of a response the gateway produced itself (no upstream answer)."""
    if status == 429:
        return "rate_limited"
    if not generated:
        return ""
    return {401: "bad_key", 403: "bad_key", 404: "unknown_route", 504: "upstream_timeout"}.get(
        status, "upstream_error" if status in (502, 503) else ""
    )


def _gateway_row(
    source: str,
    line: int,
    request_id: uuid.UUID,
    ts: datetime,
    method: str,
    path: str,
    key_id: str,
    application_id: int | None,
    status: int,
    latency: float | None,
    upstream: float | None,
    entry: dict[str, Any],
    request: dict[str, Any],
    response: dict[str, Any],
    headers: dict[str, Any],
    generated: bool,
    warnings: list[str],
    ai: tuple[Any, ...] = NO_AI,
) -> Parsed:
    """The staging row of a Kong or APISIX entry (their shared fields; no endpoint template)."""
    row = (
        line,
        request_id,
        ts,
        source,
        None,
        path_prefixes(path),
        "",
        method,
        path,
        key_id,
        application_id,
        status,
        latency or 0.0,
        upstream,
        _bytes(request.get("size"), "request_bytes", warnings),
        _bytes(response.get("size"), "response_bytes", warnings),
        _ip(entry.get("client_ip"), warnings),
        _text(headers.get("user-agent"), _UA_MAX),
        _gateway_error(status, generated),
        *ai,
    )
    return Parsed(row, warnings)


def parse_kong(entry: dict[str, Any], line: int, now: datetime) -> Parsed:
    warnings: list[str] = []
    request, response = _dict(entry.get("request")), _dict(entry.get("response"))
    headers = _dict(request.get("headers"))
    latencies = _dict(entry.get("latencies"))
    path = _split_uri(request.get("uri") or request.get("url"))
    method = _text(request.get("method"), 10).upper()
    status = _status(response.get("status"))
    ts = _ts(entry.get("started_at"), now)
    consumer = _dict(entry.get("consumer"))
    key_id, application_id = _consumer_ref(consumer.get("custom_id"))
    if not key_id and application_id is None:
        key_id, application_id = _consumer_ref(consumer.get("username"))
    proxy = _number(latencies.get("proxy"), "upstream_latency_ms")
    upstream = None if proxy is None or proxy < 0 else proxy
    if proxy is not None and proxy < 0:
        warnings.append("no_upstream_latency")
    generated = entry.get("source") == "kong" or (proxy is not None and proxy < 0)
    route = _dict(entry.get("route"))
    request_id = _request_id(
        request.get("id") or headers.get("x-kong-request-id") or headers.get("x-request-id"),
        lambda: (
            f"kong|{entry.get('started_at')}|{entry.get('client_ip')}|{method}|{request.get('uri')}"
            f"|{route.get('id')}|{status}|{consumer.get('id')}"
        ),
    )
    latency = _latency(latencies.get("request"), "latency_ms", warnings)
    return _gateway_row(
        "kong", line, request_id, ts, method, path, key_id, application_id, status, latency, upstream,
        entry, request, response, headers, generated, warnings, _ai_kong(entry, warnings),
    )  # fmt: skip


def parse_apisix(entry: dict[str, Any], line: int, now: datetime) -> Parsed:
    warnings: list[str] = []
    request, response = _dict(entry.get("request")), _dict(entry.get("response"))
    headers = _dict(request.get("headers"))
    path = _split_uri(request.get("uri") or request.get("url"))
    method = _text(request.get("method"), 10).upper()
    status = _status(response.get("status"))
    ts = _ts(entry.get("start_time"), now)
    consumer = _dict(entry.get("consumer"))
    key_id, application_id = _consumer_ref(consumer.get("username"))
    # APISIX logs milliseconds ("latency", "upstream_latency"); nginx variables a custom log
    # format may carry instead ("request_time", "upstream_response_time") are seconds.
    if entry.get("latency") is not None:
        latency = _latency(entry.get("latency"), "latency_ms", warnings)
    else:
        latency = _latency(entry.get("request_time"), "latency_ms", warnings, scale=1000.0)
    if entry.get("upstream_latency") is not None:
        upstream = _latency(entry.get("upstream_latency"), "upstream_latency_ms", warnings)
    else:
        upstream = _latency(entry.get("upstream_response_time"), "upstream_latency_ms", warnings, scale=1000.0)
    generated = not entry.get("upstream") or status in (502, 504)
    request_id = _request_id(
        headers.get("x-request-id") or entry.get("request_id") or headers.get("x-apisix-request-id"),
        lambda: (
            f"apisix|{entry.get('start_time')}|{entry.get('client_ip')}|{method}|{request.get('uri')}"
            f"|{entry.get('route_id')}|{status}|{consumer.get('username')}"
        ),
    )
    return _gateway_row(
        "apisix", line, request_id, ts, method, path, key_id, application_id, status, latency, upstream,
        entry, request, response, headers, generated, warnings,
    )  # fmt: skip


PARSERS: dict[str, Callable[[dict[str, Any], int, datetime], Parsed]] = {
    "native": parse_native,
    "kong": parse_kong,
    "apisix": parse_apisix,
}


def detect(entry: dict[str, Any]) -> str:
    """The format of one entry when the request did not say (``?format=``): by its telltale keys."""
    if "started_at" in entry or "latencies" in entry:
        return "kong"
    if "start_time" in entry or "route_id" in entry or "apisix_latency" in entry:
        return "apisix"
    return "native"


def sanitize(value: Any) -> Any:
    """Strip NUL and lone surrogates (from JSON ``\\u`` escapes) that PostgreSQL text cannot hold."""
    if isinstance(value, str):
        value = value.replace("\x00", "")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "replace").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {sanitize(k): sanitize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [sanitize(v) for v in value]
    return value
