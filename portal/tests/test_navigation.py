"""The navigation bar: the current section is marked, and the organisation's links stay everywhere."""

from __future__ import annotations

import re

import pytest

from subscriptions.tests.factories import make_catalog
from tenants.tests.factories import MembershipFactory


def _link(page: str, link_id: str) -> str:
    """The opening tag of the navigation link with this id."""
    match = re.search(rf'<a [^>]*id="{link_id}"[^>]*>', page)
    assert match, link_id
    return match.group(0)


def _current(page: str) -> list[str]:
    """Ids of the navigation bar's links marked as the current page (a section's own tabs are not counted)."""
    return re.findall(r'<a [^>]*aria-current="page"[^>]*id="(nav-[\w-]+)"', page)


@pytest.mark.parametrize(
    ("url", "current"),
    [
        ("/t/acme/", "nav-dashboard"),
        ("/t/acme/apis/", "nav-apis"),
        ("/t/acme/apis/new/", "nav-apis"),
        ("/t/acme/apps/", "nav-applications"),
        ("/t/acme/approvals/", "nav-approvals"),
        ("/t/acme/notifications/", "nav-notifications"),
        ("/catalog/", "nav-catalog"),
    ],
)
def test_the_current_section_is_marked(client, alice, url, current):
    client.force_login(alice)
    page = client.get(url).content.decode()
    assert _current(page) == [current]
    assert 'class="nav-link active"' in _link(page, current)


def test_organisation_pages_mark_the_organisation_menu(client, alice):
    client.force_login(alice)
    page = client.get("/t/acme/members/").content.decode()
    assert "active" in _link(page, "org-menu")
    assert re.search(r'<a class="dropdown-item active" aria-current="page" href="/t/acme/members/"', page)
    assert _current(page) == []  # no top-level link claims the page


def test_catalog_and_account_pages_keep_the_last_organisations_links(client, alice, globex):
    MembershipFactory(tenant=globex, user=alice, role="admin")
    client.force_login(alice)
    client.get("/t/globex/apps/")  # the organisation last used
    for url in ("/catalog/", "/accounts/email/", "/accounts/password/change/"):
        page = client.get(url).content.decode()
        assert 'href="/t/globex/apps/"' in _link(page, "nav-applications"), url
        assert 'href="/t/globex/"' in _link(page, "nav-dashboard"), url
        assert "Globex Retail" in page[page.index('id="tenant-switcher"') :].split("</a>")[0]
    account = client.get("/accounts/email/").content.decode()
    assert "active" in _link(account, "account-menu")
    # Switching organisation is remembered too, and the home page leads back to it.
    client.get("/t/acme/")
    assert 'href="/t/acme/apps/"' in _link(client.get("/catalog/").content.decode(), "nav-applications")
    assert client.get("/")["Location"] == "/t/acme/"
    client.get("/t/globex/")
    assert client.get("/")["Location"] == "/t/globex/"


def test_in_the_subscribe_flow_the_catalog_keeps_the_consumers_links(client, acme, globex, charlie):
    make_catalog(acme)
    client.force_login(charlie)
    page = client.get("/catalog/acme/orders/").content.decode()
    assert 'href="/t/globex/apps/"' in _link(page, "nav-applications")


def test_without_an_organisation_only_the_catalog(client, db):
    from tenants.tests.factories import UserFactory

    client.force_login(UserFactory())
    page = client.get("/catalog/").content.decode()
    assert 'id="nav-dashboard"' not in page and 'id="nav-catalog"' in page


def test_staff_get_a_platform_menu_marked_on_platform_pages(client, db):
    from tenants.tests.factories import UserFactory

    client.force_login(UserFactory(is_staff=True))
    page = client.get("/platform/nodes/").content.decode()
    assert "active" in _link(page, "platform-menu")
    assert re.search(r'class="dropdown-item active" aria-current="page" href="/platform/nodes/"', page)


def test_the_menu_button_controls_the_collapsed_menu(client, db):
    page = client.get("/catalog/").content.decode()
    assert re.search(r'<button class="navbar-toggler"[^>]*aria-controls="nav"[^>]*aria-expanded="false"', page)
    assert '<div class="collapse navbar-collapse" id="nav">' in page


@pytest.mark.parametrize(
    ("url", "tab"),
    [
        ("/t/acme/apis/", "APIs"),
        ("/t/acme/ai/providers/", "AI providers &amp; models"),
        ("/t/acme/ai/routes/", "Model routes"),
    ],
)
def test_the_apis_section_marks_its_current_tab_and_keeps_apis_current(client, alice, url, tab):
    client.force_login(alice)
    page = client.get(url).content.decode()
    tabs = page[page.index('id="api-tabs"') :].split("</ul>")[0]
    assert re.findall(r'<a class="nav-link active" aria-current="page"[^>]*>([^<]+)</a>', tabs) == [tab]
    assert _current(page) == ["nav-apis"]
