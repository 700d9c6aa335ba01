"""core.web.submit_form: one set of status rules for every web form that calls a service."""

from __future__ import annotations

from typing import Any

import pytest
from django import forms
from django.contrib.messages.storage.fallback import FallbackStorage
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from core.errors import Conflict, Forbidden, InvalidInput, NotFound, ServiceError
from core.web import submit_form
from portal.middleware import ServiceErrorMiddleware


class NameForm(forms.Form):
    name = forms.CharField(max_length=10)


def _request(method: str, data: dict[str, Any] | None = None) -> HttpRequest:
    factory = RequestFactory()
    request = factory.post("/x/", data or {}) if method == "POST" else factory.get("/x/")
    request.session = {}  # type: ignore[attr-defined]
    request._messages = FallbackStorage(request)  # type: ignore[attr-defined]
    return request


def _submit(request: HttpRequest, run: Any) -> HttpResponse:
    def page(form: NameForm, status: int) -> HttpResponse:
        errors = "; ".join(f"{k}={v[0]}" for k, v in form.errors.items())
        return HttpResponse(f"page[{errors}]", status=status)

    return submit_form(
        request,
        NameForm(request.POST if request.method == "POST" else None),
        run=run,
        success=lambda result: HttpResponse(f"done:{result}", status=302),
        page=page,
    )


def test_get_renders_the_page_with_200() -> None:
    response = _submit(_request("GET"), run=lambda data: pytest.fail("no service call on GET"))
    assert response.status_code == 200


def test_an_invalid_form_is_a_400_and_the_service_is_not_called() -> None:
    response = _submit(_request("POST", {"name": ""}), run=lambda data: pytest.fail("must not run"))
    assert response.status_code == 400 and b"name=This field is required." in response.content


def test_success_answers_with_the_result() -> None:
    response = _submit(_request("POST", {"name": "ok"}), run=lambda data: data["name"].upper())
    assert response.status_code == 302 and response.content == b"done:OK"


@pytest.mark.parametrize(
    ("error", "status", "shown"),
    [
        (InvalidInput("Bad name.", field="name"), 400, b"name=Bad name."),
        (Forbidden("Not your role."), 403, b"__all__=Not your role."),
        (Conflict("Taken.", field="name"), 409, b"name=Taken."),
        (Conflict("Elsewhere.", field="no_such_field"), 409, b"__all__=Elsewhere."),
    ],
)
def test_a_service_error_goes_on_the_form_with_its_status(error: ServiceError, status: int, shown: bytes) -> None:
    def run(data: Any) -> None:
        raise error

    response = _submit(_request("POST", {"name": "ok"}), run=run)
    assert response.status_code == status and shown in response.content


def test_not_found_propagates_and_the_middleware_renders_the_404_page() -> None:
    def run(data: Any) -> None:
        raise NotFound("No such plan.")

    request = _request("POST", {"name": "ok"})
    with pytest.raises(NotFound) as caught:
        _submit(request, run=run)
    response = ServiceErrorMiddleware(lambda r: HttpResponse()).process_exception(request, caught.value)
    assert response is not None and response.status_code == 404
    assert b"No such plan." in response.content
