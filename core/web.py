"""One way for a web view to run a service from a form; no app dependency (core imports no app).

``submit_form`` owns the status codes of every form page:

* GET (or any other non-POST): the page, 200.
* POST with an invalid form: the page with the form's errors, 400.
* POST whose service raises a ``ServiceError``: its message on the field it names (or on the
  form as a whole) and the page again with the error's status (400 invalid, 403 forbidden,
  409 conflict, 410 gone). ``NotFound`` is not a form problem: it propagates, and
  ``portal.middleware.ServiceErrorMiddleware`` renders the 404 page.
* POST that succeeded: whatever ``success`` answers, always ``done(...)`` (flash + 302 to the
  next page; a secret shown once rides along in the session, see ``done``). An HTMX request
  follows the redirect itself and the page answers its GET with a fragment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect

from core.errors import NotFound, ServiceError
from core.http import reveal_once

T = TypeVar("T")
F = TypeVar("F", bound=forms.BaseForm)


def apply_service_error(form: forms.BaseForm, error: ServiceError) -> None:
    """Show a service's refusal on the form field it names, or on the form as a whole."""
    field = error.field if error.field in form.fields else None
    form.add_error(field, error.message)


def refusals(*checks: Callable[[], object]) -> list[ServiceError]:
    """Run read-only checks that raise a ``ServiceError`` (a slug taken…) and return what they raised.

    For ``submit_form(check=…)``: ``check=lambda data: refusals(lambda: services.check_x(data["x"]))``.
    A check that needs a field the form could not clean is skipped (``KeyError``).
    """
    found: list[ServiceError] = []
    for check in checks:
        try:
            check()
        except ServiceError as error:
            found.append(error)
        except KeyError:
            continue
    return found


def flash_service_error(request: HttpRequest, error: ServiceError) -> None:
    messages.error(request, error.message)


def done(
    request: HttpRequest,
    message: str,
    to: str,
    *args: Any,
    reveal: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> HttpResponseRedirect:
    """Flash ``message`` (if any) and redirect to ``to`` (a URL name or path) after a successful POST.

    ``reveal``: a secret shown once (new key, token, webhook secret…) that the next page shows; it
    travels through the session and is read once (``core.http.take_revealed``), so even those
    POSTs redirect and a reload cannot create a second key.
    """
    if message:
        messages.success(request, message)
    response = redirect(to, *args, **kwargs)
    if reveal is not None:
        reveal_once(request, response.url, reveal)
    return response


def submit_form(
    request: HttpRequest,
    form: F,
    *,
    run: Callable[[Mapping[str, Any]], T],
    success: Callable[[T], HttpResponse],
    page: Callable[[F, int], HttpResponse],
    on_error: Callable[[F, ServiceError], None] = apply_service_error,
    check: Callable[[Mapping[str, Any]], Iterable[ServiceError]] | None = None,
) -> HttpResponse:
    """Bind-validate-run-answer for a form that calls one service (status rules in the module doc).

    ``run`` gets the cleaned data and calls the service; ``success`` gets its result;
    ``page`` renders the form page with a status code; ``on_error`` puts a ``ServiceError`` on
    the form (default: on the field it names).

    ``check`` (optional) returns the conflicts the service would refuse (a name or slug already
    taken…) from the fields that are valid so far. It runs even when other fields are invalid,
    so the user sees every problem in one round instead of field errors first and the
    uniqueness error only after fixing them. The answer is 400 when any field is invalid, else
    the conflict's own status (409). The service still checks for itself: ``check`` only reads.
    """
    if request.method != "POST":
        return page(form, 200)
    valid = form.is_valid()
    problems = list(check(getattr(form, "cleaned_data", {}))) if check is not None else []
    for problem in problems:
        on_error(form, problem)
    if not valid:
        return page(form, 400)
    if problems:
        return page(form, problems[0].status_code)
    try:
        result = run(form.cleaned_data)
    except NotFound:
        raise  # the middleware renders the 404 page
    except ServiceError as error:
        on_error(form, error)
        return page(form, error.status_code)
    return success(result)


def perform(
    request: HttpRequest,
    run: Callable[[], T],
    *,
    success: Callable[[T], HttpResponse],
    failure: Callable[[ServiceError], HttpResponse],
) -> HttpResponse:
    """A form-less POST (a button: revoke, delete, archive…) that calls one service.

    A refusal is flashed and ``failure`` answers (normally the page again, with the error's
    status); ``NotFound`` propagates to the middleware like in ``submit_form``.
    """
    try:
        result = run()
    except NotFound:
        raise
    except ServiceError as error:
        flash_service_error(request, error)
        return failure(error)
    return success(result)
