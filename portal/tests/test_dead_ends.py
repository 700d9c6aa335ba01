"""Pages that used to end in a sentence instead of a way forward."""

from __future__ import annotations

from subscriptions.models import SubscriptionStatus
from subscriptions.tests.factories import ApplicationFactory, SubscriptionFactory, make_catalog


def test_application_page_links_to_the_catalog(client, globex, charlie):
    app = ApplicationFactory(tenant=globex, name="Shop")
    client.force_login(charlie)
    page = client.get(f"/t/globex/apps/{app.pk}/").content.decode()
    hint = page[page.index('id="subscribe-hint"') :].split("</p>")[0]
    assert 'href="/catalog/"' in hint


def _rejected(acme, globex, plan_name="gold", **api_fields):
    catalog = make_catalog(acme)
    for name, value in api_fields.items():
        setattr(catalog.api, name, value)
    catalog.api.save()
    plan = getattr(catalog, plan_name)
    return catalog, SubscriptionFactory(
        application=ApplicationFactory(tenant=globex),
        plan=plan,
        version=catalog.v1,
        status=SubscriptionStatus.REJECTED,
        reason="Tell us which warehouse you integrate.",
    )


def test_a_rejected_request_offers_next_steps(client, acme, globex, charlie):
    catalog, sub = _rejected(acme, globex, contact_email="api@acme.example", contact_name="Acme API team")
    client.force_login(charlie)
    page = client.get(f"/t/globex/subscriptions/{sub.pk}/").content.decode()
    assert "Tell us which warehouse you integrate." in page
    steps = page[page.index('id="rejected-next-steps"') :]
    assert f'href="/t/globex/apps/subscribe/?plan={catalog.gold.pk}"' in steps
    assert 'href="/catalog/acme/orders/#plans"' in steps
    assert 'href="mailto:api@acme.example' in steps and "Acme API team" in steps
    # The "request again" link leads to a working form for the same plan.
    assert client.get(f"/t/globex/apps/subscribe/?plan={catalog.gold.pk}").status_code == 200


def test_no_request_again_for_a_plan_no_longer_offered(client, acme, globex, charlie):
    _catalog, sub = _rejected(acme, globex, plan_name="archived")
    client.force_login(charlie)
    page = client.get(f"/t/globex/subscriptions/{sub.pk}/").content.decode()
    assert 'id="request-again"' not in page
    assert 'id="choose-another-plan"' in page
    assert 'href="/catalog/"' in page  # no contact given: browse the catalog instead


def test_the_provider_sees_no_consumer_next_steps(client, acme, alice, globex):
    _catalog, sub = _rejected(acme, globex)
    client.force_login(alice)
    page = client.get(f"/t/acme/subscriptions/{sub.pk}/").content.decode()
    assert 'id="rejected-next-steps"' not in page
