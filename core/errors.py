"""Errors raised by services; the web views and the REST API render them the same way.

A service never returns a half-done result: it raises one of these before it writes.
"""

from __future__ import annotations

from collections.abc import Iterable


class ServiceError(Exception):
    """Base class: ``code`` is machine-readable, ``message`` is for people."""

    status_code = 400
    default_code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.field = field

    @property
    def fields(self) -> dict[str, list[str]]:
        return {self.field: [self.message]} if self.field else {}


class InvalidInput(ServiceError):
    status_code = 400
    default_code = "invalid"


def reject_unknown_fields(changes: Iterable[str], allowed: Iterable[str]) -> None:
    """An update service's guard: 400 naming every field it does not know (sorted)."""
    unknown = set(changes) - set(allowed)
    if unknown:
        raise InvalidInput(f"Unknown field: {', '.join(sorted(unknown))}.")


class Forbidden(ServiceError):
    status_code = 403
    default_code = "permission_denied"


class NotFound(ServiceError):
    status_code = 404
    default_code = "not_found"


class Conflict(ServiceError):
    status_code = 409
    default_code = "conflict"


class Gone(ServiceError):
    status_code = 410
    default_code = "gone"


class PayloadTooLarge(ServiceError):
    """The request body (or an upload in it) is over a documented size limit; answered as 413."""

    status_code = 413
    default_code = "too_large"
