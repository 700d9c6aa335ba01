"""Reading OpenAPI uploads without ever holding more than the limit in memory.

Django's multipart parser hands file data to upload handlers chunk by chunk; the handler
below counts the bytes of each file and stops the upload (without reading the rest of the
body) as soon as one passes OPENAPI_MAX_BYTES. Pasted documents are form fields, which Django
caps at DATA_UPLOAD_MAX_MEMORY_SIZE while reading (RequestDataTooBig); raw REST bodies are read
in chunks by apis.openapi.read_limited.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt, csrf_protect


class OpenApiUploadLimit(FileUploadHandler):
    """First upload handler of OpenAPI upload views: refuses any file over OPENAPI_MAX_BYTES while reading.

    ``exceeded`` tells the view to answer 413; the file is then absent from ``request.FILES``.
    """

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.exceeded = False
        self.limit = settings.OPENAPI_MAX_BYTES

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > self.limit:
            self.exceeded = True
            # connection_reset: Django stops parsing without reading the rest of the body.
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handlers (memory / temporary file) build the file


def install_limit(request: Any) -> OpenApiUploadLimit | None:
    """Put the limiting handler first on ``request`` (Django or DRF); None if the body was already parsed."""
    handler = OpenApiUploadLimit(getattr(request, "_request", request))
    try:
        request.upload_handlers.insert(0, handler)
    except AttributeError:  # "cannot alter upload handlers after the upload has been processed"
        return None
    return handler


def upload_exceeded(request: HttpRequest) -> bool:
    """Whether the OpenAPI file of this request was cut off at the limit (see :func:`limit_openapi_upload`)."""
    handler = getattr(request, "_openapi_upload_limit", None)
    return bool(handler and handler.exceeded) or bool(getattr(request, "_openapi_data_too_big", False))


def limit_openapi_upload(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Decorate a web view that receives an OpenAPI file: install the limit before the body is parsed.

    The CSRF check reads ``request.POST`` (and so parses the body), so the handler must be in
    place first: the view is CSRF-exempted and the check is applied again inside, after the
    handler is installed (the pattern Django's documentation gives for upload handlers).
    A form field over DATA_UPLOAD_MAX_MEMORY_SIZE (a huge paste) is recorded the same way
    instead of becoming Django's bare 400, and the view shows the limit on the form.
    """
    protected = csrf_protect(view)

    @csrf_exempt
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        request._openapi_upload_limit = install_limit(request)  # type: ignore[attr-defined]
        if request.method == "POST":
            try:
                request.POST  # noqa: B018 - parse now, under the limit
            except RequestDataTooBig:
                # Django stopped reading at its limit; with no form data there is no CSRF
                # token either, so answer here, without running the view.
                from apis.openapi import too_large

                return render(request, "error.html", {"status": 413, "message": too_large().message}, status=413)
        return protected(request, *args, **kwargs)

    return wrapper
