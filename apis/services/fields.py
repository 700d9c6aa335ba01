"""Validation of catalog fields: tags, labels, base paths, upstream targets, timeouts."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db.models import Q

from apis.models import ApiVersion, Visibility
from core import outbound
from core.errors import InvalidInput
from core.outbound import OutboundRefused

LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
BASE_PATH_SEGMENT_RE = re.compile(r"^[A-Za-z0-9._~-]+$")
TAG_RE = re.compile(r"^[a-z0-9][a-z0-9+#._-]{0,39}$")
MAX_TAGS = 20
MAX_UPSTREAMS = 20
MAX_WEIGHT = 1000
MAX_TIMEOUT_MS = 300_000
#: Path prefixes gateways keep for themselves (health, metrics); APIs cannot claim them.
RESERVED_BASE_PATHS = frozenset({"/_gateway", "/gateway", "/healthz", "/metrics"})


# --- Field validation ------------------------------------------------------------------


def validate_tags(tags: Iterable[str] | str | None) -> list[str]:
    """Lowercase, de-duplicated tags; accepts a list or a comma-separated string."""
    if isinstance(tags, str):
        tags = tags.split(",")
    cleaned: list[str] = []
    for raw in tags or []:
        tag = str(raw).strip().lower()
        if not tag:
            continue
        if not TAG_RE.match(tag):
            raise InvalidInput(
                f"Tag “{tag[:40]}” is not valid: use up to 40 lowercase letters, digits and - . _ + #.", field="tags"
            )
        if tag not in cleaned:
            cleaned.append(tag)
    if len(cleaned) > MAX_TAGS:
        raise InvalidInput(f"At most {MAX_TAGS} tags.", field="tags")
    return cleaned


def _visibility(value: str) -> str:
    if value not in Visibility.values:
        raise InvalidInput(
            f"Unknown visibility “{value}”. Choose one of: {', '.join(Visibility.values)}.", field="visibility"
        )
    return value


def _contact(email: str | None, url: str | None) -> tuple[str, str]:
    email = (email or "").strip()
    url = (url or "").strip()
    if email:
        try:
            EmailValidator()(email)
        except ValidationError:
            raise InvalidInput("Enter a valid e-mail address.", field="contact_email") from None
    if url:
        try:
            URLValidator(schemes=["http", "https"])(url)
        except ValidationError:
            raise InvalidInput("Enter an absolute http(s) URL.", field="contact_url") from None
    return email, url


def validate_label(label: str) -> str:
    label = (label or "").strip()
    if not LABEL_RE.match(label):
        raise InvalidInput(
            "Use 1–40 letters, digits, dots, hyphens or underscores (e.g. v1 or 2024-06-01).", field="label"
        )
    return label


def validate_base_path(base_path: str) -> str:
    """``/orders/v1``: absolute, no trailing slash, plain segments (gateways match it literally)."""
    path = (base_path or "").strip()
    if len(path) > 1:
        path = path.rstrip("/")
    segments = path.split("/")[1:]
    if (
        not path.startswith("/")
        or path == "/"
        or len(path) > 200
        or not all(BASE_PATH_SEGMENT_RE.match(s) and s not in {".", ".."} for s in segments)
    ):
        raise InvalidInput(
            "The base path must start with /, have at least one segment and use only letters, digits and - . _ ~ "
            "(e.g. /orders/v1).",
            field="base_path",
        )
    for reserved in RESERVED_BASE_PATHS:
        if path == reserved or path.startswith(reserved + "/"):
            raise InvalidInput(f"Paths under “{reserved}” are reserved for the gateway itself.", field="base_path")
    return path


def check_base_path_free(path: str, *, exclude_pk: int | None = None) -> None:
    """Gateways route on the longest prefix; two APIs nesting inside each other would be ambiguous."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(2, len(parts))]
    # Crossing tenants on purpose: base paths are one namespace for the whole platform.
    clash = (
        ApiVersion.objects.unscoped()
        .filter(Q(base_path=path) | Q(base_path__in=prefixes) | Q(base_path__startswith=path + "/"))
        .exclude(pk=exclude_pk)
        .values_list("base_path", flat=True)
        .first()
    )
    if clash == path:
        raise InvalidInput(f"The base path “{path}” is already in use.", code="base_path_taken", field="base_path")
    if clash:
        raise InvalidInput(
            f"The base path “{path}” overlaps the base path “{clash}” that is already in use.",
            code="base_path_overlap",
            field="base_path",
        )


def validate_upstreams(upstreams: Any) -> list[dict[str, Any]]:
    """``[{"url": "https://…", "weight": 1}, …]``. Only stored and handed to gateways: never fetched here.

    The outbound policy's save-time check applies (no loopback, private, link-local … hosts
    in any spelling, unless ``OUTBOUND_ALLOWED_NETWORKS`` allows them); names are not
    resolved here, the gateway vets the address it connects to with the same policy.
    """
    if not isinstance(upstreams, list):
        raise InvalidInput("Upstreams must be a list of {url, weight}.", field="upstreams")
    if len(upstreams) > MAX_UPSTREAMS:
        raise InvalidInput(f"At most {MAX_UPSTREAMS} upstream targets.", field="upstreams")
    cleaned: list[dict[str, Any]] = []
    for index, target in enumerate(upstreams, start=1):
        if isinstance(target, str):
            target = {"url": target}
        if not isinstance(target, dict):
            raise InvalidInput(f"Upstream {index}: expected an object with url and weight.", field="upstreams")
        url = str(target.get("url") or "").strip()
        try:
            parts = urlsplit(url)
        except ValueError:  # e.g. an unclosed IPv6 bracket
            raise InvalidInput(f"Upstream {index}: “{url[:200]}” is not a valid URL.", field="upstreams") from None
        if parts.username or parts.password:
            # Before anything that echoes the URL back: the message must not repeat the secret.
            raise InvalidInput(
                f"Upstream {index}: credentials in the URL are not allowed (they would be shipped to every gateway).",
                field="upstreams",
            )
        if parts.scheme in {"http", "https"} and parts.hostname:
            # Gateways will connect here on the platform's behalf: the outbound policy decides
            # (first, so that 2130706433 or 0x7f.1 are named for what they are).
            try:
                outbound.check_url(url)
            except OutboundRefused as exc:
                raise InvalidInput(
                    f"Upstream {index}: “{url[:200]}” is refused: {exc.reason}.",
                    code="upstream_refused",
                    field="upstreams",
                ) from None
        try:
            URLValidator(schemes=["http", "https"])(url)
        except ValidationError:
            raise InvalidInput(
                f"Upstream {index}: “{url[:200]}” is not an absolute http(s) URL.", field="upstreams"
            ) from None
        if parts.query or parts.fragment:
            raise InvalidInput(f"Upstream {index}: the URL must not have a query or fragment.", field="upstreams")
        weight = target.get("weight", 1)
        if isinstance(weight, bool) or not isinstance(weight, int | str) or not str(weight).strip().isdigit():
            raise InvalidInput(f"Upstream {index}: the weight must be a whole number.", field="upstreams")
        weight = int(weight)
        if not 1 <= weight <= MAX_WEIGHT:
            raise InvalidInput(f"Upstream {index}: the weight must be between 1 and {MAX_WEIGHT}.", field="upstreams")
        cleaned.append({"url": url.rstrip("/"), "weight": weight})
    return cleaned


def _timeout(value: Any, field: str) -> int:
    try:
        value = int(value)
    except (TypeError, ValueError):
        raise InvalidInput("Enter a whole number of milliseconds.", field=field) from None
    if not 1 <= value <= MAX_TIMEOUT_MS:
        raise InvalidInput(f"Between 1 and {MAX_TIMEOUT_MS} milliseconds.", field=field)
    return value
