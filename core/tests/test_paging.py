"""core.paging: page numbers from the query string, totals, and links that keep the filters."""

from __future__ import annotations

import pytest
from django.http import Http404
from django.template.loader import render_to_string
from django.test import RequestFactory

from core.paging import MAX_OFFSET, paginate


def _page(query: str, rows: int = 120, **kwargs: object):
    return paginate(RequestFactory().get(f"/x/?{query}"), list(range(rows)), **kwargs)


def test_first_page_shows_the_total_and_a_next_link():
    page = _page("", size=50)
    assert list(page) == list(range(50))
    assert (page.total, page.num_pages, page.has_next) == (120, 3, True)
    assert page.next_url == "?page=2"


def test_links_keep_the_filters_and_drop_the_old_page_number():
    page = _page("q=orders&status=active&page=2", size=50)
    assert page.number == 2
    assert page.rows[0] == 50
    assert page.next_url == "?q=orders&status=active&page=3"
    assert page.previous_url == "?q=orders&status=active&page=1"


@pytest.mark.parametrize(
    ("raw", "number"), [("abc", 1), ("0", 1), ("-3", 1), ("1e9", 1), ("99", 3), ("9" * 40, 1), ("²", 1), ("٣", 1)]
)
def test_bad_page_numbers_clamp(raw, number):
    page = _page(f"page={raw}", size=50)
    assert page.number == number
    assert len(page) > 0


def test_an_empty_list_is_page_one_of_nothing():
    page = _page("page=4", rows=0)
    assert (page.number, page.total, len(page)) == (1, 0, 0)


def test_uncounted_lists_offer_more_instead_of_a_total():
    page = _page("page=2", size=50, count=False)
    assert page.total is None and page.has_next
    html = render_to_string("partials/pagination.html", {"page": page})
    assert "More" in html and "of" not in html


def test_uncounted_lists_refuse_offsets_too_deep_to_scan():
    with pytest.raises(Http404):
        _page(f"page={MAX_OFFSET // 50 + 2}", size=50, count=False)


def test_a_second_list_on_the_page_has_its_own_parameter():
    page = _page("page=2&keys_page=3", size=50, param="keys_page")
    assert page.number == 3
    assert page.next_url == "?page=2&keys_page=4"


def test_the_partial_shows_the_range_the_total_and_page_links():
    html = render_to_string("partials/pagination.html", {"page": _page("q=x&page=2", rows=1234, size=50)})
    assert "51–100 of 1,234" in html
    assert 'href="?q=x&amp;page=25"' in html
    assert 'aria-current="page"' in html
