"""Pagination of the web portal's HTML lists: one helper and one template partial.

Every list page shows one page of rows, a visible total ("51–100 of 1,234") and page links
that keep the current filters in the query string. Where counting would cost more than the
page itself (append-mostly logs), ``count=False`` shows a "more" control instead: the page
fetches one row beyond its size to know whether there is a next page.

Lists that join other tables for their names are read in two steps (ids of the page, then
those rows with their joins): see ``_late_rows``.

Bad page numbers never reach the database: text or numbers below 1 mean page 1, numbers past
the end mean the last page, and (uncounted lists) offsets deeper than ``MAX_OFFSET`` are a 404.

Usage in a view::

    page = paginate(request, selectors.application_rows(tenant))
    render(request, "…", {"applications": page})

and in the template ``{% include "partials/pagination.html" with page=applications %}``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from django.db.models import QuerySet
from django.http import Http404, HttpRequest

T = TypeVar("T")

#: Rows per page unless a list says otherwise.
PAGE_SIZE = 50
#: Deepest row an uncounted list pages to: deeper offsets cost a scan of every row before them.
MAX_OFFSET = 100_000


def _number(raw: str | None) -> int:
    """The page number asked for; 1 for anything that is not a whole number ≥ 1."""
    if not raw or not (raw.isascii() and raw.isdigit()) or len(raw) > 9:
        return 1
    return max(int(raw), 1)


@dataclass
class Page(Generic[T]):
    """One page of a list, iterable like the rows; ``total`` is None when the list is not counted."""

    rows: Sequence[T]
    number: int
    size: int
    total: int | None
    has_next: bool
    param: str = "page"
    #: The request's query string without this page's parameter, ready to prefix ``page=N``.
    query: str = ""
    #: The list page's own path, for pages rendered in answer to a POST to another URL.
    path: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __iter__(self) -> Iterator[T]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __bool__(self) -> bool:
        return bool(self.rows)

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def start(self) -> int:
        return (self.number - 1) * self.size + 1 if self.rows else 0

    @property
    def end(self) -> int:
        return (self.number - 1) * self.size + len(self.rows)

    @property
    def num_pages(self) -> int | None:
        if self.total is None:
            return None
        return max((self.total + self.size - 1) // self.size, 1)

    @property
    def is_paginated(self) -> bool:
        return self.has_next or self.has_previous

    def url(self, number: int) -> str:
        """The link to page ``number`` of this list, filters kept (a query string, or path and query)."""
        return f"{self.path}?{self.query}{self.param}={number}"

    @property
    def previous_url(self) -> str:
        return self.url(self.number - 1)

    @property
    def next_url(self) -> str:
        return self.url(self.number + 1)

    @property
    def links(self) -> list[tuple[int | None, str]]:
        """(number, url) of the pages around this one, first and last; (None, "") marks a gap."""
        if self.num_pages is None:
            return []
        last = self.num_pages
        wanted = sorted({1, last, *range(max(self.number - 2, 1), min(self.number + 2, last) + 1)})
        links: list[tuple[int | None, str]] = []
        for previous, number in zip([0, *wanted], wanted, strict=False):
            if number - previous > 1:
                links.append((None, ""))
            links.append((number, self.url(number)))
        return links


def paginate(
    request: HttpRequest,
    queryset: QuerySet[Any] | Sequence[Any],
    *,
    size: int = PAGE_SIZE,
    param: str = "page",
    count: bool = True,
    path: str = "",
) -> Page[Any]:
    """One page of ``queryset`` for the page number in ``request.GET[param]`` (see the module doc).

    Counted lists cost one COUNT beyond the page's own query. ``queryset`` must be ordered
    (stable pages). A page rendered in answer to a POST (a form error, a new key) passes its own
    ``path``: links relative to the POST's URL would lead to the action, not the page.
    """
    number = _number(request.GET.get(param))
    query = request.GET.copy()
    query.pop(param, None)
    encoded = query.urlencode()
    prefix = f"{encoded}&" if encoded else ""

    total: int | None = None
    if count:
        # Always counted (even when one page holds everything): a page costs the same number
        # of queries whatever the size of its list.
        total = queryset.count() if isinstance(queryset, QuerySet) else len(queryset)
        number = min(number, max((total + size - 1) // size, 1))
    offset = (number - 1) * size
    if not count and offset > MAX_OFFSET:
        raise Http404("That page is too deep: narrow the list with its filters.")
    if isinstance(queryset, QuerySet) and queryset.query.select_related:
        rows = _late_rows(queryset, offset, size + 1)
    else:
        rows = list(queryset[offset : offset + size + 1])
    has_next = len(rows) > size
    rows = rows[:size]
    return Page(
        rows=rows, number=number, size=size, total=total, has_next=has_next, param=param, query=prefix, path=path
    )


def _late_rows(queryset: QuerySet[Any], offset: int, limit: int) -> list[Any]:
    """The rows ``queryset[offset:offset + limit]``, found by their ids first ("deferred join").

    The ids come from the list's own table alone (its filters and order, no joined names), so
    PostgreSQL walks the index of the order and stops after ``offset + limit`` entries; then
    only those rows are read with the joins the page shows. Selecting the joined page directly
    would let the planner join every matching row before sorting (10,000 waiting requests:
    hash joins over whole tables) and spend its planning time on the eight-way join.
    """
    ids = list(queryset.values_list("pk", flat=True)[offset : offset + limit])
    if not ids:
        return []
    found = {row.pk: row for row in queryset.filter(pk__in=ids).order_by()}
    return [found[pk] for pk in ids if pk in found]
