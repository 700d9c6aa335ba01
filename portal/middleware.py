"""Site-wide middleware: service errors as 4xx pages, and the Content-Security-Policy header."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from core.errors import ServiceError
from core.http import no_store


class ServiceErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, ServiceError):
            return None
        return render(
            request,
            "error.html",
            {"status": exception.status_code, "message": exception.message},
            status=exception.status_code,
        )


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
