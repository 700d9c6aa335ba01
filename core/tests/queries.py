"""One check for every list page: its number of queries does not grow with the data.

``assert_flat_queries(client, url, grow)`` renders ``url`` (after one warm-up request, so
per-process caches do not count), calls ``grow()`` to add rows, renders again and fails when
the second render issued more or fewer queries, listing the queries of both renders.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext


def _render(client: Any, url: str, status: int) -> tuple[Any, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    return response, [q["sql"] for q in captured.captured_queries]


def assert_flat_queries(client: Any, url: str, grow: Callable[[], Any], *, status: int = 200) -> tuple[Any, Any]:
    """Fail unless ``url`` costs as many queries after ``grow()`` as before; returns both responses."""
    client.get(url)
    small, before = _render(client, url, status)
    grow()
    large, after = _render(client, url, status)
    if len(before) != len(after):
        only_before = [q for q in before if q not in after]
        only_after = [q for q in after if q not in before]
        listing = "\n".join(["only before:", *only_before, "", "only after:", *only_after])
        raise AssertionError(f"{url}: {len(before)} queries, then {len(after)} with more rows\n{listing}")
    return small, large
