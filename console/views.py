"""The console's endpoints: JSON in, JSON out, session auth and CSRF (the page's script calls them).

Under ``/t/<slug>/``: the organisation is explicit, strangers get 404 (``tenant_view``), and
another organisation's application or API is a 404 too. Service errors come back in the REST
error shape (``{"error": {"code", "message", "fields"}}``) with their status.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.http import Http404, HttpResponse, JsonResponse
from django.views.decorators.http import require_POST

from apis import selectors as api_selectors
from console import conf, services
from console import selectors as console_selectors
from core.api.errors import error_body
from core.errors import InvalidInput, NotFound, PayloadTooLarge, ServiceError
from subscriptions.models import Application
from tenants.roles import Perm
from tenants.web import TenantRequest, tenant_view

#: The console's own JSON request: the body it relays plus a little room for the rest.
_ENVELOPE_BYTES = 32 * 1024


def _application(request: TenantRequest, pk: int) -> Application:
    try:
        return console_selectors.application_for(request.tenant, pk)
    except NotFound:
        raise Http404("No such application.") from None


def _json(request: TenantRequest) -> Any:
    limit = conf.max_request_bytes() * 2 + _ENVELOPE_BYTES  # a JSON string may escape every byte
    if len(request.body) > limit:
        raise PayloadTooLarge(f"The console sends bodies of at most {conf.max_request_bytes() // 1024} KB.")
    try:
        return json.loads(request.body or b"{}")
    except ValueError:
        raise InvalidInput("The request is not JSON.") from None


def _answer(run: Callable[[], Any]) -> JsonResponse:
    try:
        result = run()
    except ServiceError as error:
        response = JsonResponse(error_body(error.code, error.message, error.fields), status=error.status_code)
    else:
        response = JsonResponse(result)
    response["Cache-Control"] = "no-store"
    return response


@tenant_view(Perm.TENANT_VIEW)
@require_POST
def session_open(request: TenantRequest, pk: int) -> JsonResponse:
    """Start (or keep) the console session of this application: mints its console key if needed."""
    application = _application(request, pk)
    return _answer(lambda: services.console_open(actor=request.membership, application=application).as_public())


@tenant_view(Perm.TENANT_VIEW)
@require_POST
def session_close(request: TenantRequest, pk: int) -> HttpResponse:
    """End the console session of this application: its key is revoked (the page calls this on leaving)."""
    application = _application(request, pk)
    return _answer(lambda: {"revoked": services.console_close(actor=request.membership, application=application)})


@tenant_view(Perm.TENANT_VIEW)
@require_POST
def send(request: TenantRequest, pk: int) -> JsonResponse:
    """Relay one request through the gateway as this application."""
    application = _application(request, pk)
    return _answer(
        lambda: services.console_send(actor=request.membership, application=application, data=_json(request)).as_dict()
    )


@tenant_view(Perm.TENANT_VIEW)
@require_POST
def provider_send(request: TenantRequest, api_slug: str, label: str) -> JsonResponse:
    """Send one request straight to the version's upstream (the provider's draft console)."""
    try:
        version = api_selectors.version_for(api_selectors.api_for_tenant(request.tenant, api_slug), label)
    except NotFound:
        raise Http404("No such version.") from None
    return _answer(
        lambda: services.provider_send(actor=request.membership, version=version, data=_json(request)).as_dict()
    )
