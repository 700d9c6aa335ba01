"""The reference docs and the favicon come from this site: no font, logo or script from another host."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders

#: Any absolute URL in src= / href= attributes: the docs pages may only link to themselves.
ABSOLUTE = re.compile(r'(?:src|href)="(?:https?:)?//', re.I)


def test_vendored_redoc_has_no_redocly_footer_nor_cdn_logo():
    bundle = Path(finders.find("vendor/redoc/redoc.standalone.js")).read_text(encoding="utf-8")
    assert "cdn.redoc.ly" not in bundle
    assert "API docs by Redocly" not in bundle
    assert "//# sourceMappingURL" not in bundle[-300:]  # the map is not vendored: no 404 in devtools
    assert "Redoc" in bundle and len(bundle) > 500_000  # the real bundle, not a stub


@pytest.mark.django_db
def test_redoc_page_loads_nothing_from_another_host(client):
    response = client.get("/api/redoc/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/vendor/redoc/redoc.standalone.js" in html
    assert "fonts.googleapis.com" not in html and "fonts.gstatic.com" not in html
    assert not ABSOLUTE.search(html)
    assert '<link rel="icon" href="/static/favicon.svg"' in html


@pytest.mark.django_db
def test_every_page_links_the_favicon_and_favicon_ico_answers(client):
    home = client.get("/").content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in home
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"] == "/static/favicon.ico"
    assert client.head("/favicon.ico").status_code == 302
    assert client.post("/favicon.ico").status_code == 405
    ico = Path(finders.find("favicon.ico")).read_bytes()
    assert ico[:4] == b"\x00\x00\x01\x00"  # an ICO file (PNG images inside)
    svg = Path(finders.find("favicon.svg")).read_text()
    assert svg.startswith("<svg") and "http://www.w3.org/2000/svg" in svg
    assert settings.STATIC_URL == "/static/"


def test_no_page_loads_the_unpatched_redoc_bundle():
    """Only the vendored copy (footer and its remote logo removed) may be loaded: the sidecar's
    own bundle asks a CDN for the logo on every page that embeds it."""
    from pathlib import Path

    templates = Path(__file__).resolve().parents[2] / "templates"
    users = [str(p) for p in templates.rglob("*.html") if "drf_spectacular_sidecar/redoc" in p.read_text()]
    assert users == []
