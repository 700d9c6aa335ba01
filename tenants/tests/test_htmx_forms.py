"""HTMX forms show their 400 / 409 answers, and a new answer replaces the banners of the previous one."""

import re

import pytest
from django.db import connections

from tenants.models import Invitation
from tenants.tests.factories import PASSWORD


def _login(page, base, email):
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_invitation_form_shows_conflict_and_field_errors(live_server, browser, acme, alice, bob):
    page = browser.new_context().new_page()
    _login(page, live_server.url, alice.email)
    page.goto(f"{live_server.url}/t/acme/members/")

    page.fill("#members-panel input[name=email]", "new@example.com")
    page.click("text=Send invitation")
    page.locator("#invitation-table").get_by_text("new@example.com").wait_for()
    assert "Invitation sent to new@example.com." in page.locator("#messages").inner_text()

    # 409: Bob is a member already. The error replaces the success banner of the first invitation.
    page.fill("#members-panel input[name=email]", bob.email)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.click("text=Send invitation")
    assert answer.value.status == 409
    page.get_by_text(f"{bob.email} is already a member.").first.wait_for()
    assert "Invitation sent" not in page.locator("#messages").inner_text()
    assert page.locator("#members-panel input[name=email]").get_attribute("aria-invalid") == "true"
    # The focus moves to the problems once htmx has settled the swap.
    page.wait_for_function("document.activeElement && document.activeElement.classList.contains('error-summary')")

    # 400: a field error shows too, on the field.
    page.fill("#members-panel input[name=email]", "not-an-address")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.click("text=Send invitation")
    assert answer.value.status == 400
    page.locator("#members-panel .invalid-feedback").get_by_text(re.compile("valid e-?mail", re.I)).wait_for()
    assert Invitation.objects.for_tenant(acme).count() == 1
    connections.close_all()


def test_invitation_success_redirects_and_htmx_follows_to_the_panel(client, acme, alice):
    client.force_login(alice)
    posted = client.post(
        "/t/acme/invitations/", {"email": "new@example.com", "role": "developer"}, HTTP_HX_REQUEST="true"
    )
    assert posted.status_code == 302 and posted["Location"] == "/t/acme/members/"
    panel = client.get("/t/acme/members/", HTTP_HX_REQUEST="true")
    html = panel.content.decode()
    assert html.startswith('<div id="members-panel">') and "Invitation sent to new@example.com." in html
    assert "<html" not in html
    # Without htmx, the whole page.
    assert "<html" in client.get("/t/acme/members/").content.decode()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_catalog_filter_form_shows_its_400(live_server, browser):
    page = browser.new_context().new_page()
    page.goto(f"{live_server.url}/catalog/")
    # A value the menus do not offer (an old bookmark, a hand-edited form): the server answers 400
    # with the results fragment saying what was ignored; htmx used to drop it silently.
    page.evaluate(
        """() => { const s = document.querySelector('select[name=sort]');
                   const o = document.createElement('option'); o.value = 'bogus'; s.append(o); s.value = 'bogus'; }"""
    )
    with page.expect_response(lambda r: "/catalog/" in r.url and "bogus" in r.url) as answer:
        page.dispatch_event("select[name=sort]", "change")
    assert answer.value.status == 400
    page.locator("#catalog-results").get_by_text("Filter ignored").wait_for()
    connections.close_all()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_failure_without_a_form_to_show_is_reported(live_server, browser, acme, alice):
    page = browser.new_context().new_page()
    _login(page, live_server.url, alice.email)
    page.goto(f"{live_server.url}/t/acme/members/")
    page.fill("#members-panel input[name=email]", "first@example.com")
    page.click("text=Send invitation")
    page.locator("#messages").get_by_text("Invitation sent").wait_for()
    # Meanwhile Alice lost the right to invite: the answer is the 403 page, not a form to swap in.
    from tenants.models import Membership

    Membership.objects.for_tenant(acme).filter(user=alice).update(role="developer")
    page.fill("#members-panel input[name=email]", "second@example.com")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.click("text=Send invitation")
    assert answer.value.status == 403
    page.locator("#messages").get_by_text("The request failed (HTTP 403)").wait_for()
    assert "Invitation sent" not in page.locator("#messages").inner_text()
    assert page.locator("#members-panel").count() == 1  # the panel was not replaced by the error page
    connections.close_all()
