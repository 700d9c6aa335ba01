"""Every page sends a strict Content-Security-Policy, and no template needs inline script or style."""

import re
from pathlib import Path

import pytest
from django.conf import settings

from portal.middleware import CONTENT_SECURITY_POLICY

TEMPLATES = Path(settings.BASE_DIR) / "templates"
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style\b|\sstyle\s*=", re.IGNORECASE)
JS_URL = re.compile(r"javascript:", re.IGNORECASE)


def _directives(policy: str) -> dict[str, str]:
    return {part.split()[0]: part.strip() for part in policy.split(";") if part.strip()}


def test_no_template_has_inline_script_handlers_or_styles():
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        for name, pattern in [
            ("inline <script>", INLINE_SCRIPT),
            ("on*= handler", INLINE_HANDLER),
            ("inline style", INLINE_STYLE),
            ("javascript: URL", JS_URL),
        ]:
            if pattern.search(text):
                offenders.append(f"{path.relative_to(TEMPLATES)}: {name}")
    assert offenders == []


def test_the_policy_is_strict():
    policy = _directives(CONTENT_SECURITY_POLICY)
    assert policy["script-src"] == "script-src 'self'"
    assert policy["style-src"] == "style-src 'self'"
    assert policy["object-src"] == "object-src 'none'"
    assert policy["frame-ancestors"] == "frame-ancestors 'none'"
    assert "base-uri" in policy and "form-action" in policy


@pytest.fixture
def site(acme, alice, globex, charlie):
    from subscriptions.tests.factories import ApplicationFactory, make_catalog

    catalog = make_catalog(acme)
    app = ApplicationFactory(tenant=globex, name="Shop", created_by=charlie)
    return catalog, app


def test_main_pages_send_the_policy(client, site, alice, charlie):
    catalog, app = site
    anonymous = ["/", "/catalog/", "/accounts/login/", "/accounts/signup/", "/healthz", "/no-such-page/"]
    for url in anonymous:
        assert client.get(url)["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, url
    client.force_login(alice)
    pages = [
        "/t/acme/",
        "/t/acme/members/",
        "/t/acme/settings/",
        "/t/acme/tokens/",
        "/t/acme/apis/",
        "/t/acme/apis/orders/",
        "/t/acme/webhooks/",
        "/t/acme/approvals/",
        "/accounts/email/",
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, url
    client.force_login(charlie)
    for url in ["/t/globex/apps/", f"/t/globex/apps/{app.pk}/", f"/t/globex/apps/subscribe/?plan={catalog.free.pk}"]:
        assert client.get(url)["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, url
    # JSON answers carry it too (harmless, and nothing is forgotten)
    assert "Content-Security-Policy" in client.get("/api/v1/me/")


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/", "/catalog/acme/orders/"])
def test_documentation_pages_have_their_own_policy_still_without_inline_script(client, site, url):
    response = client.get(url)
    assert response.status_code == 200
    policy = _directives(response["Content-Security-Policy"])
    assert policy["script-src"] == "script-src 'self'"
    body = response.content.decode()
    assert not INLINE_SCRIPT.search(body), url
    assert "fonts.googleapis.com" not in body
