"""Middleware of the portal shell.

* ``RequestHardeningMiddleware`` refuses hostile bytes and oversize URLs/headers first.
* ``ServiceErrorMiddleware`` turns service errors that escape a web view into 4xx pages.
* ``ContentSecurityPolicyMiddleware`` sends the strict Content-Security-Policy on every page.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import unquote_to_bytes

from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.html import escape

from core.api.errors import error_body, integrity_conflict
from core.errors import ServiceError
from core.http import no_store


class ServiceErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, IntegrityError):
            exception = integrity_conflict(exception)
        if not isinstance(exception, ServiceError):
            return None
        return render(
            request,
            "error.html",
            {"status": exception.status_code, "message": exception.message},
            status=exception.status_code,
        )


# --- Request hardening ------------------------------------------------------------------

#: Longest path + query string the portal answers; longer ones get 414 (gunicorn's own
#: --limit-request-line, set higher by the launcher, stops the truly absurd ones).
MAX_URL_LENGTH = 4096
#: Total size of all request headers; more gets 431 (gunicorn's --limit-request-field_size
#: bounds each single header line before Django sees it).
MAX_HEADERS_BYTES = 16 * 1024
_FORM_TYPES = ("application/x-www-form-urlencoded",)


#: URL prefixes answered in JSON (the error shape), never with an HTML page.
JSON_PREFIXES = ("/api/", "/gateway/")


def _bad_bytes(raw: bytes) -> bool:
    """NUL, or bytes that are not UTF-8 (lone surrogates encoded as CESU-8 included)."""
    if b"\x00" in raw:
        return True
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _bad_percent_encoded(text: str) -> bool:
    return _bad_bytes(unquote_to_bytes(text.replace("+", " ")))


def reject(request: HttpRequest, status: int, code: str, message: str) -> HttpResponse:
    """The error shape under /api/ and /gateway/, a plain error page elsewhere."""
    if request.path_info.startswith(JSON_PREFIXES):
        return JsonResponse(error_body(code, message), status=status)
    # A bare page: this runs before sessions and auth, so the site layout is not available.
    return HttpResponse(f"<!doctype html><title>{status}</title><p>{escape(message)}</p>", status=status)


class RequestHardeningMiddleware:
    """Refuse hostile requests before any view, session or database lookup sees them.

    NUL bytes and lone surrogates (percent-encoded or raw) in the path, the query string or
    a form body would reach PostgreSQL (which refuses NUL in text) or the UTF-8 encoder and
    turn into a 500; over-long URLs and header blocks get the 414 / 431 a server would send.
    JSON bodies are checked by ``core.api.parsers.SafeJSONParser`` (DRF reads them itself).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.check(request) or self.get_response(request)

    def check(self, request: HttpRequest) -> HttpResponse | None:
        meta = request.META
        raw_path = meta.get("PATH_INFO", "")
        query = meta.get("QUERY_STRING", "")
        if len(raw_path) + len(query) > MAX_URL_LENGTH:
            return reject(request, 414, "uri_too_long", f"The URL is longer than {MAX_URL_LENGTH} characters.")
        header_bytes = sum(len(k) + len(str(v)) for k, v in meta.items() if k.startswith("HTTP_"))
        if header_bytes > MAX_HEADERS_BYTES:
            return reject(request, 431, "headers_too_large", f"The request headers exceed {MAX_HEADERS_BYTES} bytes.")
        # Django has decoded PATH_INFO as UTF-8 and re-percent-encoded the bytes that were not
        # valid UTF-8 (lone surrogates included): decoding again finds them, and NUL.
        if _bad_percent_encoded(raw_path):
            return reject(request, 400, "invalid_characters", "The URL contains a NUL byte or invalid UTF-8.")
        if _bad_percent_encoded(query):
            return reject(request, 400, "invalid_characters", "The query string contains a NUL byte or invalid UTF-8.")
        content_type = meta.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        # request.body honours DATA_UPLOAD_MAX_MEMORY_SIZE (RequestDataTooBig → 413).
        is_form = request.method in {"POST", "PUT", "PATCH"} and content_type in _FORM_TYPES
        if is_form and _bad_percent_encoded(request.body.decode("latin-1")):
            return reject(request, 400, "invalid_characters", "The form contains a NUL byte or invalid UTF-8.")
        return None


# --- Content-Security-Policy ------------------------------------------------------------

#: Every page: scripts and styles only from our own static files (no inline <script>, no
#: on*= handlers, no style= attributes or <style> elements), nothing framed, no plugins.
#: Bootstrap's CSS draws some icons as data: SVG images, hence ``img-src data:``.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)

#: Swagger UI and Redoc (/api/docs/, /api/redoc/ and the catalog's API pages) inject <style>
#: elements and Redoc searches in a blob: worker; scripts stay strictly our own files.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


class ContentSecurityPolicyMiddleware:
    """Send the strict policy on every response that does not bring its own (see ``with_csp``)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        if request.path.startswith("/accounts/"):
            # allauth's pages show TOTP secrets, recovery codes and sign-in forms: never cached.
            no_store(response)
        return response


def with_csp(policy: str) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Give one view its own policy instead of the site-wide one."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> HttpResponse:
            response = view(*args, **kwargs)
            response["Content-Security-Policy"] = policy
            return response

        return wrapper

    return decorator
