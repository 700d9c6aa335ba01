from subscriptions.demo import seed_subscriptions
from subscriptions.tests.factories import membership


def test_demo_subscriptions_are_idempotent_and_skip_missing_apis(globex, charlie, acme):
    # no catalog yet: only the application is created
    assert seed_subscriptions(membership(charlie, globex)) == 0
    from subscriptions.tests.factories import make_catalog

    make_catalog(acme)
    assert seed_subscriptions(membership(charlie, globex)) == 1
    assert seed_subscriptions(membership(charlie, globex)) == 1
    assert globex.applications.get().name == "Storefront"
