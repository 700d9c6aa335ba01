"""The two page styles of the REST API: numbered pages with a total, and cursors for long lists.

- ``PageNumberPagination`` (the default): ``?page=N&page_size=M``, answers with ``count``,
  ``next``, ``previous``. For lists that stay small per tenant (members, APIs, plans, webhooks…)
  or whose order the caller picks (the catalog).
- ``CursorPagination``: ``?cursor=…&page_size=M``, answers with ``next`` / ``previous`` links
  and no total. For the long, append-mostly lists (subscriptions, their events,
  notifications, keys, audit trails, deliveries): each page is one indexed range scan
  ``WHERE created_at < :position ORDER BY created_at DESC, id DESC LIMIT n``, so page 1,000
  costs what page 1 costs, where an OFFSET page reads and throws away every row before it and
  a COUNT reads the whole list. Rows added while a client walks the list neither shift nor
  repeat the rows it has yet to see.

The cursor follows the list's own ordering (the queryset's ``order_by`` or the model's
``Meta.ordering``), so the approval queue walks oldest first and a trail in time order; that
ordering must end in the primary key so it is total. A cursor that was edited or truncated
is a 400 ``invalid_cursor`` naming the ``cursor`` parameter, never a 500.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.db.models import QuerySet
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination as _CursorBase
from rest_framework.pagination import PageNumberPagination as _Base
from rest_framework.request import Request

from core.errors import InvalidInput

#: The largest page a client may ask for, in either style.
MAX_PAGE_SIZE = 500


class PageNumberPagination(_Base):
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE


class CursorPagination(_CursorBase):
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    ordering = ("-created_at", "-id")
    invalid_cursor_message = "Invalid cursor: use the next or previous link of a page as it is."

    def get_ordering(self, request: Request, queryset: QuerySet, view: Any = None) -> tuple[str, ...]:
        ordering = tuple(queryset.query.order_by or queryset.model._meta.ordering or self.ordering)
        if not all(isinstance(field, str) for field in ordering) or ordering[-1].lstrip("-") not in ("id", "pk"):
            raise AssertionError(
                f"Cursor pagination needs an ordering of field names ending in the primary key; got {ordering!r}."
            )
        return ordering

    def _invalid(self) -> InvalidInput:
        return InvalidInput(self.invalid_cursor_message, code="invalid_cursor", field=self.cursor_query_param)

    def decode_cursor(self, request: Request) -> Any:
        try:
            return super().decode_cursor(request)
        except NotFound:  # DRF's answer to a cursor that does not decode
            raise self._invalid() from None

    def paginate_queryset(self, queryset: QuerySet, request: Request, view: Any = None) -> list | None:
        if not request.query_params.get(self.cursor_query_param):
            return super().paginate_queryset(queryset, request, view)  # page one: an error here is a bug
        try:
            return super().paginate_queryset(queryset, request, view)
        except (DjangoValidationError, DataError, ValueError, TypeError, OverflowError):
            # A cursor that decodes but whose position is no value of the ordering field (a
            # tampered "2026-13-45" or "abc" for a timestamp, a NUL byte): refused, not a 500.
            raise self._invalid() from None
